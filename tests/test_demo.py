"""`learngene demo` end to end on a tiny synthetic 100-class dataset (the real run is timed in the note)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features
from datasets import Image as ImageFeature
from PIL import Image

from hf_learngene.cli import main


def synthetic_mini_imagenet(path: Path, train_per_class: int = 6, test_per_class: int = 3) -> Path:
    rng = np.random.default_rng(0)
    features = Features({"image": ImageFeature(), "label": ClassLabel(num_classes=100)})

    def split(per_class: int) -> Dataset:
        images = [Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)) for _ in range(100 * per_class)]
        labels = [i // per_class for i in range(100 * per_class)]
        return Dataset.from_dict({"image": images, "label": labels}, features=features)

    DatasetDict({"train": split(train_per_class), "test": split(test_per_class)}).save_to_disk(str(path))
    return path


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    data = synthetic_mini_imagenet(tmp_path / "data")
    tiny = {"image_size": 16, "ancestry_samples_per_class": 4, "ancestry_epochs": 1, "condense_images": 48,
            "condense_epochs": 1.0, "condense_repeats": 1, "task_samples_per_class": 4}
    (tmp_path / "tiny.json").write_text(json.dumps(tiny))
    out, cache = tmp_path / "demo", tmp_path / "cache"
    args = ["demo", "--dataset", str(data), "--output", str(out), "--cache-dir", str(cache), "--no-progress",
            "--epochs", "2", "--config", str(tmp_path / "tiny.json"), "--train-ancestry"]
    from hf_learngene.experiments import demo

    real_condense, moved = demo.condense, []

    def condense_then_hide_the_ancestry(ancestry, *a, **k):  # the main path: nothing of the ancestry after condensing
        result = real_condense(ancestry, *a, **k)
        Path(ancestry).rename(Path(str(ancestry) + "-hidden"))
        moved.append(Path(ancestry))
        return result

    monkeypatch.setattr(demo, "condense", condense_then_hide_the_ancestry)
    assert main(args) == 0
    assert moved
    moved[0].with_name(moved[0].name + "-hidden").rename(moved[0])
    monkeypatch.setattr(demo, "condense", real_condense)
    text = capsys.readouterr().out
    assert f"| {demo.DEFAULT_LABEL} |" in text and "| From-Scratch |" in text and f"| {demo.PAPER_LABEL} |" in text
    results = json.loads((out / "demo_results.json").read_text())
    table = results["table"]
    assert len(table[demo.DEFAULT_LABEL]["accuracy_per_epoch"]) == 2
    assert table[demo.DEFAULT_LABEL]["inherited_lr_scale"] == 0.1 and table[demo.PAPER_LABEL]["inherited_lr_scale"] == 1
    assert results["learngene"]["include_embeddings"] is True
    descendant = json.loads((out / "descendant" / "config.json").read_text())["learngene"]
    assert descendant["embeddings"]["carried_by"] == "learngene"
    assert (out / "descendant" / "preprocessor_config.json").exists()
    assert (out / "learning_curves.png").stat().st_size > 0
    assert (out / "learngene" / "model.safetensors").exists() and (out / "descendant" / "config.json").exists()
    assert results["ancestry"]["reused"] is False
    # Shareable results: no local path (dataset, cache, output) in the results, the learngene or the descendant.
    assert results["dataset"].startswith("data@sha256:") and results["ancestry"]["name_or_path"].startswith("ancestry-")
    for written in ("demo_results.json", "learngene/config.json", "learngene/README.md", "learngene/scores.json",
                    "descendant/config.json", "descendant/README.md"):
        assert str(tmp_path) not in (out / written).read_text(), written
    # A second run reuses the cached ancestry instead of training it again.
    assert main(args) == 0
    assert json.loads((out / "demo_results.json").read_text())["ancestry"]["reused"] is True


def test_demo_config_file_rejects_unknown_fields(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"image_sise": 16}))
    assert main(["demo", "--config", str(tmp_path / "bad.json"), "--output", str(tmp_path / "out")]) == 2
    assert "unknown DemoConfig fields ['image_sise']" in capsys.readouterr().err


def test_demo_condenses_a_given_pretrained_ancestry(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The default demo trains nothing before condensing: it takes a pretrained checkpoint (here a tiny DINOv2)."""
    from tests.tiny_models import tiny_dinov2

    data = synthetic_mini_imagenet(tmp_path / "data")
    ancestry = tmp_path / "my-dinov2"
    tiny_dinov2(head=False).save_pretrained(ancestry)
    tiny = {"image_size": 16, "condense_images": 48, "condense_epochs": 1.0, "task_samples_per_class": 4,
            "condense_num_layers": 1}
    (tmp_path / "tiny.json").write_text(json.dumps(tiny))
    out = tmp_path / "demo"
    assert main(["demo", "--dataset", str(data), "--ancestry", str(ancestry), "--output", str(out), "--no-progress",
                 "--epochs", "1", "--config", str(tmp_path / "tiny.json"), "--cache-dir", str(tmp_path / "c")]) == 0
    text = capsys.readouterr().out
    assert "pretrained checkpoint" in text and "| Learngene, default path" in text
    results = json.loads((out / "demo_results.json").read_text())
    assert results["ancestry"]["pretrained"] is True and results["ancestry"]["name_or_path"].startswith("my-dinov2@")
    assert len(results["condense"]["selected_layers"]) == 1  # condense_num_layers
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())  # nothing trained or cached
    assert str(tmp_path) not in (out / "demo_results.json").read_text()
    # the default path: the descendant inherits the embedding the learngene carries; the paper's beside it
    from hf_learngene.experiments.demo import DEFAULT_LABEL, PAPER_LABEL

    assert f"| {DEFAULT_LABEL} |" in text and PAPER_LABEL in results["table"]
    default = json.loads((out / "descendant" / "config.json").read_text())["learngene"]["embeddings"]
    assert default["carried_by"] == "learngene" and default["from"].startswith("learngene@sha256:")
    assert str(tmp_path) not in (out / "descendant" / "config.json").read_text()
    assert "truncated copy of the ancestry" in (out / "descendant" / "README.md").read_text()
    assert "embeddings" not in json.loads((out / "descendant-paper" / "config.json").read_text())["learngene"]
    card = (out / "learngene" / "README.md").read_text()  # the condense data is named, not "(unknown)"
    assert "`data@sha256:" in card and "(unknown)" not in card


def test_default_ancestry_path_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from hf_learngene.experiments.demo import default_ancestry_path

    monkeypatch.setenv("LEARNGENE_ANCESTRY", "facebook/dinov2-small")
    assert default_ancestry_path() == "facebook/dinov2-small"
