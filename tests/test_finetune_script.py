"""examples/finetune_descendant.py (hf_learngene.experiments.finetune.main): the main path from a learngene folder,
its flags, what it saves, and its `evaluate` metric with and without the Hub / the package."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from datasets import DatasetDict
from huggingface_hub import ModelCard
from transformers import AutoImageProcessor

from hf_learngene import LearngeneModel
from hf_learngene.experiments import metrics
from hf_learngene.experiments.finetune import main, parse_args
from tests.tiny_models import build_ancestry, tiny_image_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def data_and_learngene(tmp_path: Path) -> tuple[Path, Path]:
    data = tiny_image_dataset(num_classes=4, per_class=4, size=32)
    DatasetDict({"train": data, "test": data}).save_to_disk(tmp_path / "data")
    LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0, 1]).save_pretrained(tmp_path / "lg")
    return tmp_path / "data", tmp_path / "lg"


def _args(data: Path, learngene: Path, out: Path, *extra: str) -> list[str]:
    return ["--learngene", str(learngene), "--dataset", str(data), "--classes", "0-3", "--n_way", "2",
            "--samples_per_class", "2", "--num_train_epochs", "1", "--per_device_train_batch_size", "2",
            "--output_dir", str(out), "--num_threads", "1", *extra]


def test_the_script_trains_the_default_path_and_saves_a_usable_descendant(data_and_learngene, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data, learngene = data_and_learngene
    summary = main(_args(data, learngene, tmp_path / "out"))
    out = tmp_path / "out"
    config = json.loads((out / "config.json").read_text())["learngene"]
    assert config["embeddings"]["carried_by"] == "learngene" and config["inherited_lr_scale"] == 0.1
    processor = AutoImageProcessor.from_pretrained(out)
    assert processor.size == {"height": 32, "width": 32}
    card = ModelCard.load(out / "README.md")
    results = card.data.to_dict()["model-index"][0]["results"]
    accuracy = next(m["value"] for r in results for m in r["metrics"] if m["type"] == "accuracy")
    assert accuracy == pytest.approx(summary["final_accuracy"])
    paper = main(_args(data, learngene, tmp_path / "paper", "--inherit_embeddings", "false"))
    assert "embeddings" not in json.loads((tmp_path / "paper" / "config.json").read_text())["learngene"]
    assert paper["model_args"]["inherit_embeddings"] is False


def test_help_names_the_main_path_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--inherited_lr_scale", "--inherit_embeddings", "--metric_name"):
        assert flag in text
    assert "0.1 for a full-width descendant that inherited the embedding" in text


def test_metric_offline_uses_the_shipped_module(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import evaluate

    def offline(name, *args, **kwargs):
        if name == "accuracy":
            raise ConnectionError("no route to the Hub")
        return real(name, *args, **kwargs)

    real = evaluate.load
    monkeypatch.setattr(evaluate, "load", offline)
    compute = metrics.metric_compute_fn("accuracy")
    notice = capsys.readouterr().out.strip()
    assert notice.count("\n") == 0 and "shipped with hf_learngene" in notice and "Traceback" not in notice
    assert compute(([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], [1, 1, 1])) == {"accuracy": pytest.approx(2 / 3)}
    with pytest.raises(ValueError, match="ships no copy"):
        metrics.load_metric("f1")


def test_metric_without_evaluate_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "evaluate", None)  # `import evaluate` raises ImportError
    compute = metrics.metric_compute_fn("accuracy")
    assert "not installed" in capsys.readouterr().out
    assert compute(([[0.1, 0.9], [0.8, 0.2]], [1, 1])) == {"accuracy": 0.5}
    with pytest.raises(ValueError, match="needs `evaluate`"):
        metrics.metric_compute_fn("f1")
