"""Provenance records Hub ids as they are and local folders as name + content fingerprint, never their paths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hf_learngene import CondenseConfig, LearngeneModel, condense
from hf_learngene.condensation.data import prepare_condense_data
from hf_learngene.constants import RECORD_LOCAL_PATHS_ENV_VAR
from hf_learngene.provenance import MODEL_FILE_PATTERNS, content_fingerprint, source_reference
from tests.tiny_models import tiny_image_dataset, tiny_vit

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REFERENCE = re.compile(r"^(?P<name>[^/@]+)@sha256:[0-9a-f]{16}$")


@pytest.fixture(autouse=True)
def _no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RECORD_LOCAL_PATHS_ENV_VAR, raising=False)


def _files_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.iterdir() if p.suffix in (".json", ".md"))


def test_local_ancestry_is_recorded_by_name_and_fingerprint(tmp_path: Path) -> None:
    for name, seed in (("vit", 0), ("copy", 0), ("other", 1)):
        tiny_vit(seed=seed).save_pretrained(tmp_path / "private" / name)
    learngene = LearngeneModel.from_ancestry(tmp_path / "private" / "vit", layer_indices=[0, 1])
    recorded = learngene.config.ancestry_name_or_path
    assert REFERENCE.match(recorded) and recorded.startswith("vit@")
    learngene.save_pretrained(tmp_path / "lg")
    assert str(tmp_path) not in _files_text(tmp_path / "lg")  # config.json and the model card
    # The fingerprint is the content's: a copy elsewhere has the same one, other weights another one.
    copy = LearngeneModel.from_ancestry(tmp_path / "private" / "copy", layer_indices=[0]).config.ancestry_name_or_path
    other = LearngeneModel.from_ancestry(tmp_path / "private" / "other", layer_indices=[0]).config.ancestry_name_or_path
    assert copy.split("@")[1] == recorded.split("@")[1] != other.split("@")[1]
    # A model object loaded from a folder is recorded the same way.
    from transformers import AutoModelForImageClassification

    loaded = AutoModelForImageClassification.from_pretrained(tmp_path / "private" / "vit")
    assert LearngeneModel.from_ancestry(loaded, layer_indices=[0]).config.ancestry_name_or_path == recorded


def test_full_paths_only_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_vit().save_pretrained(tmp_path / "vit")
    kept = LearngeneModel.from_ancestry(tmp_path / "vit", layer_indices=[0], record_local_paths=True)
    assert kept.config.ancestry_name_or_path == str((tmp_path / "vit").resolve())
    monkeypatch.setenv(RECORD_LOCAL_PATHS_ENV_VAR, "1")
    assert LearngeneModel.from_ancestry(tmp_path / "vit", layer_indices=[0]).config.ancestry_name_or_path == str(
        (tmp_path / "vit").resolve())
    assert LearngeneModel.from_ancestry(tmp_path / "vit", layer_indices=[0], record_local_paths=False).config \
        .ancestry_name_or_path.startswith("vit@sha256:")


def test_source_reference_cases(tmp_path: Path) -> None:
    assert source_reference("google/vit-base-patch16-224") == "google/vit-base-patch16-224"
    assert source_reference("gpt2") == "gpt2"
    assert source_reference("/home/someone/data/mini-imagenet") == "mini-imagenet"  # gone: the name only
    assert source_reference(None) is None and source_reference("") is None
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.parquet").write_bytes(b"rows")
    before = source_reference(tmp_path / "data")
    (tmp_path / "data" / "cache-123.arrow").write_bytes(b"written by datasets")  # caches do not count
    (tmp_path / "data" / ".lock").write_bytes(b"")
    assert source_reference(tmp_path / "data") == before
    (tmp_path / "data" / "train.parquet").write_bytes(b"other rows")
    assert source_reference(tmp_path / "data") != before
    assert content_fingerprint(tmp_path / "data", MODEL_FILE_PATTERNS) != content_fingerprint(tmp_path / "data")


def test_condensed_learngene_records_no_private_path(tmp_path: Path) -> None:
    tiny_vit().save_pretrained(tmp_path / "private" / "ancestry")
    tiny_image_dataset(num_classes=3, per_class=12).save_to_disk(str(tmp_path / "private" / "my-data"))
    data = prepare_condense_data(str(tmp_path / "private" / "my-data"), CondenseConfig(batch_size=4, meta_batch_size=4),
                                 ancestry_config=tiny_vit().config)
    assert REFERENCE.match(data.provenance()["name_or_path"]).group("name") == "my-data"

    config = CondenseConfig(batch_size=4, meta_batch_size=4, max_iterations=2, num_repeats=1, progress=False)
    result = condense(str(tmp_path / "private" / "ancestry"), str(tmp_path / "private" / "my-data"), config)
    result.save(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["ancestry_name_or_path"].startswith("ancestry@sha256:")
    assert saved["condense_data"]["name_or_path"] == data.provenance()["name_or_path"]
    assert str(tmp_path) not in _files_text(tmp_path / "out")  # config, scores, logs and the card
