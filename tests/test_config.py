"""LearngeneConfig: validation on construction and on load, provenance fields, round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoConfig

from hf_learngene import LearngeneConfig, LearngeneConfigError, supported_families
from tests.tiny_models import ANCESTRY_KINDS, FAMILY_OF, NUM_LAYERS, tiny_config, tiny_vit_config


def _vit_dict() -> dict[str, Any]:
    return tiny_vit_config().to_dict()


def _kwargs(**overrides: Any) -> dict[str, Any]:
    return {"family": "vit", "layer_indices": [0, 2], "ancestry_config": _vit_dict(), **overrides}


def _full_config() -> LearngeneConfig:
    return LearngeneConfig(
        family="vit",
        layer_indices=[1, 3],
        ancestry_config=_vit_dict(),
        ancestry_name_or_path="test-user/tiny-vit",
        ancestry_revision="a" * 40,
        ancestry_num_parameters=1000,
        selection_method="auto",
        selection_arguments={"meta_lr": 0.1, "steps": 3},
        layer_scores=[0.1, 0.4, 0.2, 0.3],
        pair_scores=[[0.1, 0.2]] * NUM_LAYERS,
        condense_data={"name_or_path": "test-user/tiny-data", "revision": "b" * 40, "classes": [0, 1],
                       "num_images": 10},
        num_parameters=100,
        parameter_fraction=0.1,
        license="mit",
        hf_learngene_version="0.1.0",
    )


# ---------------------------------------------------------------------------------------------------- valid configs
@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_valid_config_per_family_infers_num_layers(kind: str) -> None:
    config = LearngeneConfig(family=FAMILY_OF[kind], layer_indices=[0, 3], ancestry_config=tiny_config(kind).to_dict())
    assert config.model_type == "learngene"
    assert config.ancestry_num_layers == NUM_LAYERS
    assert config.selection_method == "manual"
    rebuilt = config.ancestry_transformers_config()
    assert rebuilt.model_type == tiny_config(kind).model_type
    assert type(rebuilt) is type(tiny_config(kind))


def test_empty_config_is_allowed_for_transformers_defaults() -> None:
    config = LearngeneConfig()  # transformers builds one to diff defaults
    assert config.family is None and config.layer_indices is None
    with pytest.raises(LearngeneConfigError, match="ancestry_config"):
        config.ancestry_transformers_config()


def test_all_provenance_fields_survive_save_and_load(tmp_path: Path) -> None:
    config = _full_config()
    config.save_pretrained(tmp_path)
    on_disk = json.loads((tmp_path / "config.json").read_text())
    assert on_disk["model_type"] == "learngene"
    for loaded in (LearngeneConfig.from_pretrained(tmp_path), AutoConfig.from_pretrained(tmp_path)):
        assert isinstance(loaded, LearngeneConfig)
        for field in ("family", "layer_indices", "ancestry_name_or_path", "ancestry_revision", "ancestry_num_layers",
                      "ancestry_num_parameters", "selection_method", "selection_arguments", "layer_scores",
                      "pair_scores", "condense_data", "num_parameters", "parameter_fraction", "license",
                      "hf_learngene_version"):
            assert getattr(loaded, field) == getattr(config, field), field
        # The full ancestry config round-trips (JSON turns id2label keys into strings, as transformers does).
        assert loaded.ancestry_config == json.loads(json.dumps(config.ancestry_config))
        assert loaded.ancestry_transformers_config().to_dict() == config.ancestry_transformers_config().to_dict()


# ---------------------------------------------------------------------------------------------------- bad input
BAD_FIELDS = [
    # (overrides, field named in the message, words explaining why)
    ({"family": 3}, "family", "must be one of"),
    ({"family": None}, "family", "required"),
    ({"family": "bert"}, "family", "unknown family 'bert'.*dinov2, resnet, timm_resnet, timm_vit, vit"),
    ({"family": "resnet"}, "family", "'vit' model"),
    ({"layer_indices": "0,1"}, "layer_indices", "list of ints"),
    ({"layer_indices": None}, "layer_indices", "list of ints"),
    ({"layer_indices": []}, "layer_indices", "non-empty"),
    ({"layer_indices": [0, "1"]}, "layer_indices", "list of ints"),
    ({"layer_indices": [0.0, 1.0]}, "layer_indices", "list of ints"),
    ({"layer_indices": [True]}, "layer_indices", "list of ints"),
    ({"layer_indices": [2, 1]}, "layer_indices", r"sorted.*use \[1, 2\]"),
    ({"layer_indices": [1, 1]}, "layer_indices", "without repeats"),
    ({"layer_indices": [0, 4]}, "layer_indices", r"\[4\] out of range.*4 layers \(0\.\.3\)"),
    ({"layer_indices": [-1, 0]}, "layer_indices", r"\[-1\] out of range"),
    ({"ancestry_config": None}, "ancestry_config", "required"),
    ({"ancestry_config": {"hidden_size": 32}}, "ancestry_config", "model_type"),
    ({"ancestry_config": {"model_type": "bert"}}, "ancestry_config", "'bert' is not supported.*dinov2, resnet, timm_resnet, timm_vit, vit"),
    ({"ancestry_num_layers": 7}, "ancestry_num_layers", "is 7 but ancestry_config has 4"),
    ({"selection_method": "magic"}, "selection_method", "must be one of"),
    ({"layer_scores": [0.1, 0.2]}, "layer_scores", "4 finite numbers"),
    ({"layer_scores": [0.1, 0.2, float("nan"), 0.3]}, "layer_scores", "finite"),
    ({"pair_scores": [[1.0], [1.0, 2.0], [1.0], [1.0]]}, "pair_scores", "L x K"),
    ({"parameter_fraction": 1.5}, "parameter_fraction", r"\(0, 1\]"),
    ({"num_parameters": -1}, "num_parameters", "non-negative int"),
    ({"ancestry_num_parameters": 2.5}, "ancestry_num_parameters", "non-negative int"),
    ({"license": 3}, "license", "string"),
    ({"ancestry_revision": 5}, "ancestry_revision", "string"),
    ({"ancestry_name_or_path": ["x"]}, "ancestry_name_or_path", "string"),
    ({"condense_data": [1]}, "condense_data", "dict"),
    ({"selection_arguments": "lr=1"}, "selection_arguments", "dict"),
]


@pytest.mark.parametrize(("overrides", "field", "why"), BAD_FIELDS, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_FIELDS)])
def test_bad_field_raises_value_error_naming_field(overrides: dict[str, Any], field: str, why: str) -> None:
    with pytest.raises(ValueError, match=rf"LearngeneConfig\.{field}\b.*{why}") as info:
        LearngeneConfig(**_kwargs(**overrides))
    assert isinstance(info.value, LearngeneConfigError)


def test_bad_value_inside_ancestry_config_names_ancestry_config() -> None:
    with pytest.raises(ValueError, match=r"LearngeneConfig\.ancestry_config.*hidden_size"):
        LearngeneConfig(**_kwargs(ancestry_config={**_vit_dict(), "hidden_size": "big"}))


def test_unknown_family_message_lists_supported_families() -> None:
    with pytest.raises(ValueError) as info:
        LearngeneConfig(**_kwargs(family="convnext"))
    for name in supported_families():
        assert name in str(info.value)
    assert set(supported_families()) == {"vit", "dinov2", "resnet", "timm_vit", "timm_resnet"}


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.update(layer_indices=[3, 1]), "layer_indices"),
        (lambda d: d.update(layer_indices=[0, 9]), "layer_indices"),
        (lambda d: d.update(family="transformer"), "family"),
        (lambda d: d.pop("ancestry_config"), "ancestry_config"),
        (lambda d: d.pop("layer_indices"), "layer_indices"),
        (lambda d: d.update(layer_scores="high"), "layer_scores"),
    ],
    ids=["unsorted", "out-of-range", "unknown-family", "no-ancestry-config", "no-layer-indices", "scores-type"],
)
def test_config_is_validated_on_load(tmp_path: Path, edit: Any, field: str) -> None:
    _full_config().save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    for loader in (LearngeneConfig.from_pretrained, AutoConfig.from_pretrained):
        with pytest.raises(ValueError, match=rf"LearngeneConfig\.{field}"):
            loader(tmp_path)
