"""LearngeneModel: from_ancestry, forward, save/load (safetensors only), bad weight files, atomic saves."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, PreTrainedModel

import hf_learngene
from hf_learngene import LearngeneModel, UnsafeWeightsError, UnsupportedArchitectureError
from hf_learngene.provenance import MODEL_FILE_PATTERNS, content_fingerprint
from tests.tiny_models import (
    ANCESTRY_KINDS,
    FAMILY_OF,
    build_ancestry,
    integral_layer_prefixes,
    pixel_values,
    save_ancestry,
    sub_state_dict,
    tiny_bert,
    tiny_convnext,
    tiny_resnet_basic,
    tiny_vit,
)


def _assert_state_equal(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert actual.keys() == expected.keys()
    for key, tensor in expected.items():
        assert actual[key].dtype == tensor.dtype, key
        assert torch.equal(actual[key], tensor), key


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def saved_learngene(tmp_path: Path) -> tuple[LearngeneModel, Path]:
    learngene = LearngeneModel.from_ancestry(tiny_vit(), layer_indices=[0, 3])
    folder = tmp_path / "learngene"
    learngene.save_pretrained(folder)
    return learngene, folder


# ---------------------------------------------------------------------------------------------------- from_ancestry
@pytest.mark.parametrize("head", [True, False], ids=["classifier", "backbone"])
@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_learngene_holds_only_the_selected_layers_bit_for_bit(kind: str, head: bool) -> None:
    ancestry = build_ancestry(kind, head=head)
    indices = [1, 2]
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=indices, include_embeddings=False)

    assert len(learngene.layers) == len(indices)
    # Only the learngene layers: no embeddings / stem, no final norm, no pooler, no head.
    assert all(key.startswith("layers.") for key in learngene.state_dict())
    prefixes = integral_layer_prefixes(kind, head=head)
    for position, index in enumerate(indices):
        _assert_state_equal(learngene.layers[position].state_dict(), sub_state_dict(ancestry, prefixes[index]))
    assert learngene.config.family == FAMILY_OF[kind]
    assert learngene.config.layer_indices == indices
    assert not learngene.training


@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_forward_runs_the_layers_like_the_ancestry(kind: str) -> None:
    ancestry = build_ancestry(kind)
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1, 2, 3])
    with torch.no_grad():
        hidden = ancestry(pixel_values=pixel_values(), output_hidden_states=True).hidden_states
        if FAMILY_OF[kind] == "resnet":  # hidden_states = (stem, stage 0, stage 1); 2 blocks per stage
            assert torch.equal(learngene(hidden[0], start=0, end=2).last_hidden_state, hidden[1])
            assert torch.equal(learngene(hidden[1], start=2, end=4).last_hidden_state, hidden[2])
            out = learngene(hidden[0], output_hidden_states=True)
            assert torch.equal(out.last_hidden_state, hidden[2])
        else:  # hidden_states = (embeddings, after layer 0, ..., after layer 3), before the final norm
            out = learngene(hidden[0], output_hidden_states=True)
            for position in range(4):
                assert torch.equal(out.hidden_states[position + 1], hidden[position + 1])
            assert torch.equal(out.last_hidden_state, hidden[-1])
            middle = learngene(hidden[1], start=1, end=3).last_hidden_state
            assert torch.equal(middle, hidden[3])
        assert len(out.hidden_states) == 5
        as_tuple = learngene(hidden[0], return_dict=False)
        assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], out.last_hidden_state)


def test_resnet_layers_from_different_stages_need_contiguous_spans() -> None:
    learngene = LearngeneModel.from_ancestry(tiny_resnet_basic(), layer_indices=[0, 3])  # 8->8 then 16->16
    feature = torch.randn(1, 8, 8, 8)
    with pytest.raises(ValueError, match=r"layer 1 \(ancestry layer 3\).*\(1, 8, 8, 8\).*contiguous span"):
        learngene(feature)
    assert learngene(feature, end=1).last_hidden_state.shape == (1, 8, 8, 8)


@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_from_ancestry_records_provenance(kind: str) -> None:
    ancestry = build_ancestry(kind)
    learngene = LearngeneModel.from_ancestry(
        ancestry, layer_indices=[0, 2], selection_method="heuristic", selection_arguments={"k": 2},
        layer_scores=[0.4, 0.1, 0.3, 0.2], condense_data={"name_or_path": "local-data", "num_images": 4},
    )
    config = learngene.config
    assert config.ancestry_config == ancestry.config.to_dict()
    assert config.ancestry_transformers_config().to_dict() == ancestry.config.to_dict()
    assert config.ancestry_num_layers == 4
    ancestry_params = sum(p.numel() for p in ancestry.parameters())
    layer_params = sum(p.numel() for p in learngene.parameters())
    assert config.ancestry_num_parameters == ancestry_params
    assert config.num_parameters == layer_params
    assert config.parameter_fraction == pytest.approx(layer_params / ancestry_params)
    assert 0 < config.parameter_fraction < 1
    assert config.selection_method == "heuristic"
    assert config.selection_arguments == {"k": 2}
    assert config.layer_scores == [0.4, 0.1, 0.3, 0.2]
    assert config.condense_data == {"name_or_path": "local-data", "num_images": 4}
    assert config.hf_learngene_version == hf_learngene.__version__
    assert config.ancestry_revision is None  # an in-memory model has no commit


def test_from_ancestry_local_directory_records_path_and_license(tmp_path: Path) -> None:
    ancestry = tiny_vit()
    folder = save_ancestry(ancestry, tmp_path / "tiny-vit", license="mit")
    learngene = LearngeneModel.from_ancestry(str(folder), layer_indices=[1, 2])
    # A local folder is recorded by name + content fingerprint (no private path), the full path only on request.
    assert learngene.config.ancestry_name_or_path == f"tiny-vit@{content_fingerprint(folder, MODEL_FILE_PATTERNS)}"
    kept = LearngeneModel.from_ancestry(str(folder), layer_indices=[1, 2], record_local_paths=True)
    assert kept.config.ancestry_name_or_path == str(folder.resolve())
    assert learngene.config.ancestry_revision is None
    assert learngene.config.license == "mit"
    prefixes = integral_layer_prefixes("vit")
    _assert_state_equal(learngene.layers[0].state_dict(), sub_state_dict(ancestry, prefixes[1]))
    # A Path works as well as a str.
    assert LearngeneModel.from_ancestry(folder, layer_indices=[0]).config.license == "mit"


@pytest.mark.parametrize("make", [tiny_bert, tiny_convnext], ids=["bert", "convnext"])
def test_unsupported_architecture_names_supported_families(make, tmp_path: Path) -> None:
    model = make()
    pattern = r"not supported.*dinov2, resnet, timm_resnet, timm_vit, vit"
    with pytest.raises(UnsupportedArchitectureError, match=pattern):
        LearngeneModel.from_ancestry(model, layer_indices=[0])
    model.save_pretrained(tmp_path / "model")
    with pytest.raises(ValueError, match=pattern):
        LearngeneModel.from_ancestry(tmp_path / "model", layer_indices=[0])


@pytest.mark.parametrize(
    ("indices", "pattern"),
    [([4], r"layer_indices.*\[4\] out of range"), ([2, 1], r"layer_indices.*sorted"), ([], "layer_indices.*non-empty"),
     ("0,1", "layer_indices.*list of ints"), ([0, 0], "layer_indices.*repeats")],
)
def test_from_ancestry_rejects_bad_layer_indices(indices, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        LearngeneModel.from_ancestry(tiny_vit(), layer_indices=indices)


def test_from_ancestry_rejects_things_that_are_not_models(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither a local directory nor a Hub repo id"):
        LearngeneModel.from_ancestry(str(tmp_path / "missing" / "deep" / "dir"), layer_indices=[0])
    with pytest.raises(ValueError, match="transformers model, a local directory or a Hub id"):
        LearngeneModel.from_ancestry(42, layer_indices=[0])  # type: ignore[arg-type]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        LearngeneModel.from_ancestry(tmp_path / "empty", layer_indices=[0])


# ---------------------------------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_save_and_load_round_trip_is_bit_exact(kind: str, tmp_path: Path) -> None:
    learngene = LearngeneModel.from_ancestry(build_ancestry(kind), layer_indices=[1, 3])
    learngene.save_pretrained(tmp_path / "lg")
    files = {p.name for p in (tmp_path / "lg").iterdir()}
    assert files == {"config.json", "model.safetensors", "README.md"}

    for loaded in (LearngeneModel.from_pretrained(tmp_path / "lg"), AutoModel.from_pretrained(tmp_path / "lg")):
        assert type(loaded) is LearngeneModel
        _assert_state_equal(loaded.state_dict(), learngene.state_dict())
        assert loaded.config.to_dict()["layer_indices"] == [1, 3]
        assert loaded.config.ancestry_config == json.loads(json.dumps(learngene.config.ancestry_config))
        assert loaded.config.num_parameters == learngene.config.num_parameters
        assert loaded.commit_sha is None  # a local folder
        assert not loaded.training
    # The weights file is safetensors holding exactly the learngene tensors.
    assert set(load_file(tmp_path / "lg" / "model.safetensors")) == set(learngene.state_dict())


def test_saved_learngene_config_does_not_leak_commit_sha(saved_learngene: tuple[LearngeneModel, Path]) -> None:
    _, folder = saved_learngene
    loaded = LearngeneModel.from_pretrained(folder)
    loaded.config.commit_sha = "c" * 40
    loaded.save_pretrained(folder.parent / "again")
    assert "commit_sha" not in json.loads((folder.parent / "again" / "config.json").read_text())
    assert loaded.commit_sha == "c" * 40


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to unpickle weights fail loudly (hf_learngene must never call torch.load)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called on a downloaded file")

    monkeypatch.setattr(torch, "load", refuse)


def test_pickled_learngene_is_refused(saved_learngene: tuple[LearngeneModel, Path], tmp_path: Path,
                                      no_unpickling: None) -> None:
    _, folder = saved_learngene
    pickled = tmp_path / "pickled"
    shutil.copytree(folder, pickled)
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"not really a pickle")
    for loader in (LearngeneModel.from_pretrained, AutoModel.from_pretrained):
        with pytest.raises(UnsafeWeightsError, match=r"only has pickled weights \(pytorch_model\.bin\).*safetensors only"):
            loader(pickled)


def test_pickled_ancestry_is_refused(tmp_path: Path, no_unpickling: None) -> None:
    folder = save_ancestry(tiny_vit(), tmp_path / "ancestry")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(UnsafeWeightsError, match="Ancestry .*only has pickled weights.*safetensors only"):
        LearngeneModel.from_ancestry(folder, layer_indices=[0])


def test_unsafe_loading_options_are_refused(saved_learngene: tuple[LearngeneModel, Path]) -> None:
    _, folder = saved_learngene
    with pytest.raises(ValueError, match="safetensors only; drop use_safetensors=False"):
        LearngeneModel.from_pretrained(folder, use_safetensors=False)
    with pytest.raises(ValueError, match="never executes code.*drop trust_remote_code=True"):
        LearngeneModel.from_pretrained(folder, trust_remote_code=True)


def test_missing_weight_file_is_reported(saved_learngene: tuple[LearngeneModel, Path]) -> None:
    _, folder = saved_learngene
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"no weight file \(model\.safetensors\).*Re-save or re-upload"):
        LearngeneModel.from_pretrained(folder)


def test_truncated_weight_file_is_reported(saved_learngene: tuple[LearngeneModel, Path]) -> None:
    _, folder = saved_learngene
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-100])
    with pytest.raises(ValueError, match=rf"model\.safetensors is truncated \({len(data) - 100} of {len(data)} bytes\)"
                                         r".*download it again"):
        LearngeneModel.from_pretrained(folder)
    weights.write_bytes(data[:5])
    with pytest.raises(ValueError, match=r"model\.safetensors is corrupt.*re-save"):
        LearngeneModel.from_pretrained(folder)


def test_weights_not_matching_the_config_are_reported(saved_learngene: tuple[LearngeneModel, Path]) -> None:
    _, folder = saved_learngene
    weights = folder / "model.safetensors"
    tensors = load_file(weights)
    save_file({k: v for k, v in tensors.items() if not k.startswith("layers.1.")}, weights, metadata={"format": "pt"})
    # Must not silently re-initialise the missing layer.
    with pytest.raises(ValueError, match=r"does not match its config.*missing.*layers\.1\."):
        LearngeneModel.from_pretrained(folder)
    tensors["layers.0.mlp.fc1.weight"] = torch.zeros(3, 3)
    save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"does not match its config.*layers\.0\.mlp\.fc1\.weight"):
        LearngeneModel.from_pretrained(folder)


@pytest.mark.parametrize("field", ["family", "layer_indices", "ancestry_config"])
def test_config_without_required_field_is_reported(saved_learngene: tuple[LearngeneModel, Path], field: str) -> None:
    _, folder = saved_learngene
    path = folder / "config.json"
    data = json.loads(path.read_text())
    del data[field]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"LearngeneConfig\.{field}.*(required|list of ints)"):
        LearngeneModel.from_pretrained(folder)


def test_config_without_any_learngene_field_is_reported(saved_learngene: tuple[LearngeneModel, Path]) -> None:
    _, folder = saved_learngene
    (folder / "config.json").write_text(json.dumps({"model_type": "learngene"}))
    with pytest.raises(ValueError, match="lacks the learngene fields.*LearngeneModel.save_pretrained"):
        LearngeneModel.from_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ValueError, match="no config.json"):
        LearngeneModel.from_pretrained(folder)


def test_loading_a_plain_checkpoint_as_learngene_suggests_from_ancestry(tmp_path: Path) -> None:
    tiny_vit().save_pretrained(tmp_path / "vit")
    with pytest.raises(ValueError, match=r"'vit' checkpoint, not a learngene.*LearngeneModel\.from_ancestry"):
        LearngeneModel.from_pretrained(tmp_path / "vit")


def test_learngene_model_requires_a_learngene_config() -> None:
    with pytest.raises(ValueError, match="from_ancestry"):
        LearngeneModel(hf_learngene.LearngeneConfig())


# ---------------------------------------------------------------------------------------------------- atomic saves
def _explode(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom in the middle of the save")


@pytest.mark.parametrize("where", ["card", "weights"])
def test_failed_save_leaves_the_earlier_save_intact(saved_learngene: tuple[LearngeneModel, Path], where: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, folder = saved_learngene
    (folder / "notes.txt").write_text("my notes")
    before = _file_bytes(folder)
    other = LearngeneModel.from_ancestry(tiny_vit(seed=1), layer_indices=[1, 2])
    if where == "card":
        monkeypatch.setattr("hf_learngene.modeling_learngene.learngene_card", _explode)
    else:
        monkeypatch.setattr(PreTrainedModel, "save_pretrained", _explode)
    with pytest.raises(RuntimeError, match="boom"):
        other.save_pretrained(folder)
    assert _file_bytes(folder) == before
    assert sorted(os.listdir(folder.parent)) == ["learngene"], "temporary directories were left behind"
    loaded = LearngeneModel.from_pretrained(folder)
    assert loaded.config.layer_indices == [0, 3]


def test_resave_replaces_weights_and_keeps_other_files(saved_learngene: tuple[LearngeneModel, Path]) -> None:
    _, folder = saved_learngene
    (folder / "notes.txt").write_text("my notes")
    other = LearngeneModel.from_ancestry(tiny_vit(seed=1), layer_indices=[1, 2])
    other.save_pretrained(folder)
    assert (folder / "notes.txt").read_text() == "my notes"
    _assert_state_equal(LearngeneModel.from_pretrained(folder).state_dict(), other.state_dict())
    assert sorted(os.listdir(folder.parent)) == ["learngene"]


def test_extra_files_are_saved_beside_the_learngene(saved_learngene: tuple[LearngeneModel, Path],
                                                    tmp_path: Path) -> None:
    learngene, folder = saved_learngene
    plot = tmp_path / "scores.png"
    plot.write_bytes(b"\x89PNG fake")
    learngene.save_pretrained(folder, extra_files={"scores.png": plot})
    assert (folder / "scores.png").read_bytes() == b"\x89PNG fake"
    assert "![scores](scores.png)" in (folder / "README.md").read_text()


def test_save_pretrained_refuses_push_to_hub_flag(saved_learngene: tuple[LearngeneModel, Path]) -> None:
    learngene, folder = saved_learngene
    with pytest.raises(ValueError, match="push_to_hub"):
        learngene.save_pretrained(folder, push_to_hub=True)


def test_failed_first_save_leaves_no_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    learngene = LearngeneModel.from_ancestry(tiny_vit(), layer_indices=[0])
    monkeypatch.setattr("hf_learngene.modeling_learngene.learngene_card", _explode)
    with pytest.raises(RuntimeError, match="boom"):
        learngene.save_pretrained(tmp_path / "new")
    assert os.listdir(tmp_path) == []


def test_stale_weight_shards_do_not_survive_a_resave(saved_learngene: tuple[LearngeneModel, Path]) -> None:
    learngene, folder = saved_learngene
    shutil.copy(folder / "model.safetensors", folder / "model-00001-of-00002.safetensors")
    (folder / "model.safetensors.index.json").write_text("{}")
    (folder / "training_args.bin").write_bytes(b"kept")
    learngene.save_pretrained(folder)
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "README.md", "training_args.bin"}
    _assert_state_equal(LearngeneModel.from_pretrained(folder).state_dict(), learngene.state_dict())
