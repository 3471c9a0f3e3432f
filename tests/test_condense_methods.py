"""Condensing methods register themselves: the registry, the per-method configs, the CLI options they give, and a new
method condensing (and resuming) through ``condense`` without any change to the library."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from hf_learngene import LearngeneConfig, LearngeneError, condense, register_condense_method
from hf_learngene.cards import learngene_card
from hf_learngene.cli import build_parser, config_from_args
from hf_learngene.condensation import (
    AutoLearngeneConfig,
    BaseCondenseConfig,
    CondenseConfig,
    HeuristicConfig,
    ManualConfig,
    RepeatResult,
    available_methods,
    get_condense_method,
    select_layers,
)
from hf_learngene.condensation.base import DEFAULT_MAX_IMAGES_PER_CLASS
from hf_learngene.condensation.methods import SELECTION_METHODS
from hf_learngene.condensation.repeats import repeat_seed
from hf_learngene.families import get_family
from tests.tiny_models import tiny_image_dataset, tiny_vit, tiny_vit_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: ``CondenseConfig().to_dict()`` before the methods had their own configs: saved ``condense_config.json`` files and
#: the experiment cache keys (hashes of ``to_dict()``) depend on exactly these keys.
LEGACY_DEFAULTS = json.loads("""{"batch_size": 32, "checkpoint_dir": null, "checkpoint_every": 50, "epochs": 1.0,
 "extra": {}, "feature_cache_mb": 4096, "gradient_accumulation_steps": 1, "heuristic_batch_size": 32,
 "heuristic_learning_rate": 0.001, "heuristic_n_way": 5, "heuristic_num_tasks": 4, "heuristic_steps_per_task": 20,
 "image_mean": null, "image_size": null, "image_std": null, "layer_indices": null, "learning_rate": 0.001,
 "log_every": 10, "log_with": null, "max_images": null, "max_iterations": null, "max_parameter_fraction": null,
 "meta_batch_size": 8, "meta_fraction": 0.16666666666666666, "meta_init_bias": 1.0, "meta_init_std": 0.01,
 "meta_learning_rate": null, "meta_lr_scheduler": "cosine", "method": "auto", "mixed_precision": "no",
 "num_layers": null, "num_repeats": 3, "objective": "scale_free", "optimizer": "adamw", "pair_set": "all",
 "progress": true, "pseudo_descendant_layers": null, "resume": true, "seed": 0, "weight_decay": 0.05}""")
#: The fields added since, at their defaults (at ``size_rule="threshold"``, ``max_images_per_class=None``, what condensing
#: did before them, ``to_dict`` leaves them out: :data:`~hf_learngene.condensation.base.LEGACY_FIELD_VALUES`).
NEW_DEFAULTS = {"size_rule": "half", "max_images_per_class": DEFAULT_MAX_IMAGES_PER_CLASS}
HEURISTIC_FIELDS = ["heuristic_num_tasks", "heuristic_n_way", "heuristic_steps_per_task", "heuristic_learning_rate",
                    "heuristic_batch_size"]


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


# ---------------------------------------------------------------------------------------------------- the registry
def test_the_built_in_methods_are_three_registrations() -> None:
    assert available_methods() == ("auto", "heuristic", "manual", *sorted(SELECTION_METHODS))  # the selection
    # methods (tests/test_selection_methods.py) register when the registry is imported, after the built-ins
    assert {name: get_condense_method(name).config_class for name in available_methods()[:3]} == {
        "auto": AutoLearngeneConfig, "heuristic": HeuristicConfig, "manual": ManualConfig}
    assert get_condense_method("manual").runner is None and not get_condense_method("manual").needs_data
    assert get_condense_method("heuristic").load_runner().__name__ == "run_heuristic_repeat"
    method_action = next(a for a in build_parser()._subparsers._group_actions[0].choices["condense"]._actions
                         if a.dest == "method")
    assert tuple(method_action.choices) == available_methods()  # --method choices come from the registry
    with pytest.raises(LearngeneError, match="Unknown condensing method 'magic'; registered: auto, heuristic, manual, "):
        get_condense_method("magic")


def test_condense_config_keeps_every_field_and_key_it_had() -> None:
    assert CondenseConfig().to_dict() == {**LEGACY_DEFAULTS, **NEW_DEFAULTS}
    assert CondenseConfig(size_rule="threshold", max_images_per_class=None).to_dict() == LEGACY_DEFAULTS
    saved = {**LEGACY_DEFAULTS, "method": "heuristic", "heuristic_num_tasks": 2, "heuristic_n_way": 3}
    loaded = CondenseConfig.from_dict(json.loads(json.dumps(saved)))  # a condense_config.json of before
    assert loaded.to_dict() == saved and loaded.heuristic_num_tasks == 2
    assert CondenseConfig(**saved, size_rule="threshold", max_images_per_class=None) == loaded  # what it did
    with pytest.raises(LearngeneError, match=r"CondenseConfig: unknown fields \['nope'\]"):
        CondenseConfig.from_dict({**saved, "nope": 1})


def test_each_method_has_its_own_config_over_a_shared_base() -> None:
    base = _names(BaseCondenseConfig)
    assert not base & {*HEURISTIC_FIELDS, "layer_indices", "objective", "meta_learning_rate"}
    assert _names(HeuristicConfig) - base == set(HEURISTIC_FIELDS)
    assert _names(ManualConfig) - base == {"layer_indices"}
    assert not _names(AutoLearngeneConfig) & set(HEURISTIC_FIELDS)
    assert _names(CondenseConfig) == _names(AutoLearngeneConfig) | _names(HeuristicConfig) | _names(ManualConfig)
    for cls in (BaseCondenseConfig, AutoLearngeneConfig, HeuristicConfig, ManualConfig, CondenseConfig):
        assert all(f.metadata.get("help") for f in dataclasses.fields(cls)), cls  # the CLI help comes from there
    assert HeuristicConfig().method == "heuristic" and ManualConfig(layer_indices=[1]).method == "manual"
    assert CondenseConfig().method == AutoLearngeneConfig().method == "auto"


@pytest.mark.parametrize(("make", "pattern"), [
    (lambda: HeuristicConfig(heuristic_n_way=1), r"^HeuristicConfig\.heuristic_n_way: must be >= 2"),
    (lambda: CondenseConfig(heuristic_n_way=1), r"^CondenseConfig\.heuristic_n_way: must be >= 2"),
    (lambda: HeuristicConfig(batch_size=0), r"^HeuristicConfig\.batch_size: must be an int >= 1"),
    (lambda: AutoLearngeneConfig(learning_rate=-1.0), r"^AutoLearngeneConfig\.learning_rate: must be a positive"),
    (lambda: HeuristicConfig(method="auto"), r"'auto' is configured with AutoLearngeneConfig.*HeuristicConfig"),
    (lambda: ManualConfig(), r"^ManualConfig\.layer_indices: method='manual' needs layer_indices"),
    (lambda: CondenseConfig(method="heuristic", layer_indices=[0]), r"layer_indices: is only used with method"),
], ids=["heuristic-own", "heuristic-in-condense-config", "shared-field", "auto-own", "wrong-class", "manual",
        "manual-field-elsewhere"])
def test_each_config_checks_its_own_fields(make, pattern: str) -> None:
    with pytest.raises(LearngeneError, match=pattern):
        make()


def test_recorded_config_resolves_the_auto_meta_learning_rate_only_for_auto() -> None:
    auto = CondenseConfig(checkpoint_dir="/home/me/ckpt").recorded_dict()
    assert auto["meta_learning_rate"] == CondenseConfig().effective_meta_learning_rate and auto["checkpoint_dir"] == "<local>"
    assert CondenseConfig(method="heuristic").recorded_dict()["meta_learning_rate"] is None
    assert "meta_learning_rate" not in HeuristicConfig().recorded_dict()


# ---------------------------------------------------------------------------------------------------- the CLI
def _condense_args(*extra: str):
    return build_parser().parse_args(["condense", "--ancestry", "a", "--output", "o", *extra])


def test_cli_builds_condense_config_with_the_heuristic_options() -> None:
    config = config_from_args(_condense_args("--method", "heuristic", "--heuristic-num-tasks", "2",
                                             "--heuristic-n-way", "3", "--batch-size", "8"))
    assert type(config) is CondenseConfig  # built-in methods: every field recorded, as before
    assert (config.method, config.heuristic_num_tasks, config.heuristic_n_way, config.batch_size) == (
        "heuristic", 2, 3, 8)
    assert set(config.to_dict()) == set(LEGACY_DEFAULTS) | set(NEW_DEFAULTS)


# ---------------------------------------------------------------------------------------------------- a new method
@dataclass
class WeightNormConfig(BaseCondenseConfig):
    """A toy method: layers with larger weights score higher (no training)."""

    method: str = field(default="weight_norm", metadata={"help": "Condensing method."})
    norm_power: float = field(default=2.0, metadata={"help": "p of the p-norm of each layer's weights."})


CALLS: list[int] = []


def run_weight_norm_repeat(ancestry, family, data, config, accelerator, repeat) -> RepeatResult:
    CALLS.append(repeat)
    norms = np.array([sum(float(p.detach().norm(config.norm_power)) for p in layer.parameters())
                      for layer in family.integral_layers(ancestry)])
    scores = norms / norms.sum()
    return RepeatResult(repeat=repeat, seed=repeat_seed(config, repeat), layer_scores=scores.tolist(),
                        selected_layers=select_layers(scores))


@pytest.fixture
def weight_norm(monkeypatch: pytest.MonkeyPatch):
    """``weight_norm`` registered for one test (the registry is restored afterwards)."""
    from hf_learngene.condensation import base

    monkeypatch.setattr(base, "_METHODS", dict(base._METHODS))
    CALLS.clear()
    return register_condense_method("weight_norm", WeightNormConfig, run_weight_norm_repeat, label="Weight norm",
                                    description="toy: layers with larger weights")


def test_a_registered_method_condenses_and_resumes_through_condense(weight_norm, tmp_path) -> None:
    ancestry = tiny_vit()
    config = WeightNormConfig(num_repeats=2, batch_size=4, meta_batch_size=4, checkpoint_dir=str(tmp_path / "ckpt"),
                              progress=False)
    result = condense(ancestry, tiny_image_dataset(), config)
    assert CALLS == [0, 1] and result.method == "weight_norm" and result.pair_scores is None
    norms = np.array([sum(float(p.detach().norm()) for p in layer.parameters()) for layer in get_family("vit").integral_layers(ancestry)])
    np.testing.assert_allclose(result.layer_scores, norms / norms.sum())
    assert result.learngene.config.selection_method == "weight_norm"
    assert result.learngene.config.selection_arguments["norm_power"] == 2.0
    assert (tmp_path / "ckpt" / "weight_norm-repeat-1" / "result.json").is_file()
    again = condense(ancestry, tiny_image_dataset(), config)  # finished repeats come from checkpoint_dir
    assert CALLS == [0, 1] and again.selected_layers == result.selected_layers
    assert "Scores come from the `weight_norm` selection." in learngene_card(result.learngene.config).text
    assert CondenseConfig(method="auto").method == "auto"
    with pytest.raises(LearngeneError, match="'weight_norm' is configured with WeightNormConfig"):
        CondenseConfig(method="weight_norm")


def test_a_registered_method_gets_cli_options_and_learngene_configs_accept_it(weight_norm) -> None:
    config = config_from_args(_condense_args("--method", "weight_norm", "--norm-power", "1", "--num-repeats", "1"))
    assert type(config) is WeightNormConfig and (config.norm_power, config.num_repeats) == (1.0, 1)
    assert "--norm-power" in build_parser()._subparsers._group_actions[0].choices["condense"].format_help()
    with pytest.raises(LearngeneError, match="--heuristic-num-tasks is not an option of --method weight_norm"):
        config_from_args(_condense_args("--method", "weight_norm", "--heuristic-num-tasks", "3"))
    LearngeneConfig(family="vit", layer_indices=[0], ancestry_config=tiny_vit_config().to_dict(),
                    selection_method="weight_norm")
    with pytest.raises(ValueError, match="selection_method: must be one of"):
        LearngeneConfig(family="vit", layer_indices=[0], ancestry_config=tiny_vit_config().to_dict(),
                        selection_method="magic")


def test_write_json_atomic_replaces_the_file_whole(tmp_path) -> None:
    from hf_learngene.utils import write_json_atomic

    path = write_json_atomic(tmp_path / "new" / "result.json", {"step": 1})  # the folder is created
    assert json.loads(path.read_text()) == {"step": 1}
    write_json_atomic(path, {"step": 2}, indent=1, end="\n")
    assert path.read_text() == '{\n "step": 2\n}\n' and [p.name for p in path.parent.iterdir()] == ["result.json"]
