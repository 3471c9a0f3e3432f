"""The layer-selection methods (``hf_learngene.condensation.selection_methods``): registered like the built-ins, sized
by ``num_layers`` / ``max_parameter_fraction``, and each picks what it should on an ancestry with planted identity
layers (a layer whose attention output and MLP down-projection are zero, or a ResNet block whose last BatchNorm is
zero, returns its input)."""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hf_learngene import LearngeneError, LearngeneModel, condense
from hf_learngene.cards import learngene_card
from hf_learngene.cli import build_parser, config_from_args, main
from hf_learngene.condensation import (
    AngularBlockConfig,
    BlockInfluenceConfig,
    EvenlySpacedConfig,
    FirstKConfig,
    ProbeGreedyConfig,
    available_methods,
    get_condense_method,
)
from hf_learngene.condensation.methods import SELECTION_METHODS
from hf_learngene.condensation.selection_methods.common import layer_ends, pick_scores
from hf_learngene.condensation.selection_methods.evenly_spaced import evenly_spaced_layers
from hf_learngene.families import get_family
from tests.tiny_models import pixel_values, tiny_image_dataset, tiny_resnet_basic, tiny_vit

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIGS = {"first_k": FirstKConfig, "evenly_spaced": EvenlySpacedConfig, "block_influence": BlockInfluenceConfig,
           "angular_block": AngularBlockConfig, "probe_greedy": ProbeGreedyConfig}
#: Small batches for the tiny condense data (4 classes x 8 images: D has 28, D-hat 4).
FAST = {"batch_size": 4, "meta_batch_size": 4, "num_repeats": 2, "progress": False}
#: The tiny ResNet has no image size in its config.
RESNET = {**FAST, "image_size": 32}


@pytest.fixture(scope="module")
def dataset():
    return tiny_image_dataset(num_classes=4, per_class=8)


@torch.no_grad()
def with_identity_layers(model, layers: list[int]):
    """``model`` with integral layers ``layers`` turned into the identity: ViT attention output and MLP
    down-projection zeroed (the residual stream passes unchanged); ResNet basic block: last BatchNorm zeroed, so the
    block returns ``relu(input) = input`` (its input is a ReLU output)."""
    family = get_family("resnet" if model.config.model_type == "resnet" else "vit")
    modules = family.integral_layers(model)
    for index in layers:
        for name, parameter in modules[index].named_parameters():
            if name.startswith(("attention.o_proj.", "mlp.fc2.", "layer.1.normalization.")):
                parameter.zero_()
    on_cpu = SimpleNamespace(device=torch.device("cpu"), autocast=contextlib.nullcontext)  # no accelerate state
    inputs, outputs = layer_ends(model, family, pixel_values(), on_cpu)
    for index in range(len(modules)):  # the plant holds: exactly the planted layers return their input
        assert torch.equal(inputs[index], outputs[index]) == (index in layers), index
    return model


def run(model, config, dataset=None):
    return condense(model, dataset, config)


# ---------------------------------------------------------------------------------------------------- registration
def test_the_five_methods_register_like_the_built_ins() -> None:
    assert available_methods()[:3] == ("auto", "heuristic", "manual")
    assert set(SELECTION_METHODS) == set(CONFIGS) and set(SELECTION_METHODS) <= set(available_methods())
    for name, cls in CONFIGS.items():
        method = get_condense_method(name)
        assert method.config_class is cls and method.label and method.description and "{threshold" in method.score_note
        assert method.needs_data == (name not in ("first_k", "evenly_spaced"))
    condense_parser = build_parser()._subparsers._group_actions[0].choices["condense"]
    method_action = next(a for a in condense_parser._actions if a.dest == "method")
    assert set(CONFIGS) <= set(method_action.choices)
    assert "--probe-keep-first" in condense_parser._option_string_actions


@pytest.mark.parametrize("name", ["first_k", "evenly_spaced", "angular_block", "probe_greedy"])
def test_set_pickers_refuse_a_config_without_a_size(name: str) -> None:
    with pytest.raises(LearngeneError, match=rf"^{CONFIGS[name].__name__}\.num_layers: method='{name}' keeps a set of "
                       r"k layers and needs its size: pass num_layers=k \(CLI --num-layers K\) or max_parameter_"):
        CONFIGS[name](size_rule="threshold")  # the paper's rule gives no k
    assert CONFIGS[name](size_rule="threshold", max_parameter_fraction=0.5).method == name
    assert CONFIGS[name]().size_rule == "half"  # the default rule gives k (tests/test_size_rules.py)


def test_block_influence_needs_no_size() -> None:
    assert BlockInfluenceConfig().num_layers is None


@pytest.mark.parametrize(("order", "k"), [([0, 1, 2, 3], 2), ([3, 0, 2, 1], 1), ([2, 0, 1], 3), ([5, 4, 3, 2, 1, 0], 5),
                                          ([0], 1)])
def test_pick_scores_encode_the_pick_and_the_order(order: list[int], k: int) -> None:
    scores = np.array(pick_scores(order, k))
    total = len(order)
    assert abs(scores.sum() - 1) < 1e-12 and (scores > 0).all()
    assert (np.diff(scores[order]) < 0).all()
    if k < total:
        assert sorted(np.flatnonzero(scores > 1 / total).tolist()) == sorted(order[:k])


# ---------------------------------------------------------------------------------------------------- first_k, evenly
def test_first_k_needs_no_data_and_no_time() -> None:
    result = run(tiny_vit(num_hidden_layers=12), FirstKConfig(num_layers=5, **FAST))
    assert result.selected_layers == [0, 1, 2, 3, 4] and result.learngene.config.layer_indices == [0, 1, 2, 3, 4]
    assert 0 < result.wall_time < 1 and all(r.wall_time < 1 for r in result.repeats)
    assert result.learngene.config.selection_method == "first_k" and result.learngene.config.condense_data is None
    card = str(learngene_card(result.learngene.config))
    assert "First-k keeps the first k layers" in card and "no data was read" in card
    half = run(tiny_vit(num_hidden_layers=12), FirstKConfig(max_parameter_fraction=0.5, **FAST))
    assert half.selected_layers == [0, 1, 2, 3, 4, 5]  # equal layers: the most first layers within half


def test_first_k_on_a_resnet_keeps_the_first_blocks_in_their_stages() -> None:
    ancestry = tiny_resnet_basic()  # blocks 0-1 in stage 0 (8 -> 8), 2-3 in stage 1 (8 -> 16, 16 -> 16)
    result = run(ancestry, FirstKConfig(num_layers=3, **RESNET))
    assert result.selected_layers == [0, 1, 2]
    sizes = [sum(p.numel() for p in layer.parameters()) for layer in get_family("resnet").integral_layers(ancestry)]
    capped = run(ancestry, FirstKConfig(max_parameter_fraction=(sizes[0] + sizes[1]) / sum(sizes), **RESNET))
    assert capped.selected_layers == [0, 1]  # block 2 (the stage transition) no longer fits


def test_a_dataset_given_to_a_method_that_reads_none_is_not_used(dataset) -> None:
    with pytest.warns(UserWarning, match="method='first_k' reads no condense data: the dataset is not used"):
        result = run(tiny_vit(), FirstKConfig(num_layers=2, **FAST), dataset)
    assert result.learngene.config.condense_data is None and result.data == {}


@pytest.mark.parametrize(("k", "expected"), [(3, [0, 4, 8]), (4, [0, 3, 6, 9]), (5, [0, 2, 4, 7, 9]),
                                             (6, [0, 2, 4, 6, 8, 10]), (1, [0]), (12, list(range(12)))])
def test_evenly_spaced_keeps_floor_i_l_over_k(k: int, expected: list[int]) -> None:
    assert evenly_spaced_layers(12, k) == expected


def test_evenly_spaced_condenses_its_pick() -> None:
    result = run(tiny_vit(num_hidden_layers=12), EvenlySpacedConfig(num_layers=4, **FAST))
    assert result.selected_layers == [0, 3, 6, 9] and result.learngene.config.selection_method == "evenly_spaced"
    assert run(tiny_vit(num_hidden_layers=12), EvenlySpacedConfig(max_parameter_fraction=0.25, **FAST)
               ).selected_layers == [0, 4, 8]


# ---------------------------------------------------------------------------------------------------- planted layers
@pytest.mark.filterwarnings("ignore:The selection keeps")
def test_block_influence_drops_identity_layers(dataset) -> None:
    ancestry = with_identity_layers(tiny_vit(num_hidden_layers=6), [1, 4])
    result = run(ancestry, BlockInfluenceConfig(num_layers=4, **FAST), dataset)
    assert result.selected_layers == [0, 2, 3, 5]
    influence = np.array(result.repeats[0].log[0]["block_influence"])
    assert influence[[1, 4]].max() < 1e-6 < influence[[0, 2, 3, 5]].min()
    assert result.repeats[1].log == [{"same_as_repeat": 0, "reason": "the method is deterministic"}]
    rule = run(ancestry, BlockInfluenceConfig(size_rule="threshold", **FAST), dataset)  # above-average influence
    assert not {1, 4} & set(rule.selected_layers)


def test_block_influence_on_a_resnet(dataset) -> None:
    ancestry = with_identity_layers(tiny_resnet_basic(), [1, 3])
    result = run(ancestry, BlockInfluenceConfig(num_layers=2, **RESNET), dataset)
    assert result.selected_layers == [0, 2]
    log = result.repeats[0].log[0]
    assert log["shape_changing_layers"] == [2] and log["block_influence"][2] == 1.0  # the stage transition
    assert max(log["block_influence"][i] for i in (1, 3)) < 1e-6


def test_angular_block_drops_a_contiguous_identity_run(dataset) -> None:
    ancestry = with_identity_layers(tiny_vit(num_hidden_layers=6), [2, 3])
    result = run(ancestry, AngularBlockConfig(num_layers=4, **FAST), dataset)
    assert result.selected_layers == [0, 1, 4, 5]
    distances = np.array(result.repeats[0].log[0]["angular_distance"], dtype=float)
    assert distances[2, 3] < 1e-3 < min(distances[s, s + 1] for s in (0, 1, 3, 4))
    one = run(ancestry, AngularBlockConfig(num_layers=5, **FAST), dataset).selected_layers
    assert one in ([0, 1, 3, 4, 5], [0, 1, 2, 4, 5])  # either identity layer alone


def test_angular_block_skips_blocks_across_a_resnet_stage_transition(dataset) -> None:
    result = run(tiny_resnet_basic(), AngularBlockConfig(num_layers=2, **RESNET), dataset)
    assert result.selected_layers == [2, 3]  # blocks 1-2 and 2-3 change shape: only 0-1 can go
    with pytest.raises(LearngeneError, match=r"angular_block: no pick of 1 layers: every contiguous block of the other layers spans a change of shape"):
        run(tiny_resnet_basic(), AngularBlockConfig(num_layers=1, **RESNET), dataset)


def test_probe_greedy_removes_layers_that_change_nothing_first(dataset) -> None:
    ancestry = with_identity_layers(tiny_vit(num_hidden_layers=6), [1, 4])
    result = run(ancestry, ProbeGreedyConfig(num_layers=4, **FAST), dataset)
    assert result.selected_layers == [0, 2, 3, 5]
    steps = [entry for entry in result.repeats[0].log if "step" in entry]
    assert {steps[0]["removed"], steps[1]["removed"]} == {1, 4} and len(steps) == 5  # ranked to the last layer
    assert steps[0]["candidates"]["1"]["feature_change"] < 1e-6
    kept_first = run(with_identity_layers(tiny_vit(), [0]), ProbeGreedyConfig(num_layers=3, probe_keep_first=True,
                                                                               **FAST), dataset)
    assert 0 in kept_first.selected_layers
    assert run(with_identity_layers(tiny_vit(), [0]), ProbeGreedyConfig(num_layers=3, **FAST),
               dataset).selected_layers == [1, 2, 3]


def test_probe_greedy_never_removes_a_resnet_stage_transition(dataset) -> None:
    ancestry = with_identity_layers(tiny_resnet_basic(), [1])
    result = run(ancestry, ProbeGreedyConfig(num_layers=3, **RESNET), dataset)
    assert result.selected_layers == [0, 2, 3]
    log = result.repeats[0].log
    assert log[0] == {"not_removable": [2]} and all(entry.get("removed") != 2 for entry in log)
    assert run(ancestry, ProbeGreedyConfig(num_layers=1, **RESNET), dataset).selected_layers == [2]


# ---------------------------------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("name", list(CONFIGS))
def test_each_method_condenses_records_itself_and_saves(name: str, dataset, tmp_path: Path) -> None:
    method = get_condense_method(name)
    result = condense(tiny_vit(), dataset if method.needs_data else None, CONFIGS[name](num_layers=2, **FAST))
    assert len(result.selected_layers) == 2 and result.method == name and result.wall_time > 0
    assert result.repeats[0].wall_time > 0 and len(result.repeats) == 2
    assert abs(sum(result.layer_scores) - 1) < 1e-9
    folder = result.save(tmp_path / "learngene")
    loaded = LearngeneModel.from_pretrained(folder)
    assert loaded.config.selection_method == name and loaded.config.layer_indices == result.selected_layers
    card = (folder / "README.md").read_text()
    assert method.score_note.split(";")[0].format(threshold=0.25) in card
    assert json.loads((folder / "scores.json").read_text())["method"] == name


def test_cli_condenses_with_first_k_and_no_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tiny_vit().save_pretrained(tmp_path / "vit")
    args = ["condense", "--ancestry", str(tmp_path / "vit"), "--method", "first_k", "--num-layers", "2",
            "--output", str(tmp_path / "out"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "**first_k** condensing: selected layers [0, 1]" in out
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["layer_indices"] == [0, 1] and saved["selection_method"] == "first_k"
    assert main(args[:5] + args[7:] + ["--size-rule", "threshold"]) == 2  # no --num-layers, a rule without k
    err = capsys.readouterr().err.strip()
    assert err.startswith("learngene condense: error: FirstKConfig.num_layers: method='first_k' keeps a set of k layers")
    assert "--num-layers K" in err and "\n" not in err


def test_cli_builds_the_probe_greedy_config() -> None:
    args = build_parser().parse_args(["condense", "--ancestry", "a", "--output", "o", "--method", "probe_greedy",
                                      "--num-layers", "3", "--probe-keep-first", "true"])
    config = config_from_args(args)
    assert type(config) is ProbeGreedyConfig and config.probe_keep_first and config.num_layers == 3
    other = build_parser().parse_args(["condense", "--ancestry", "a", "--output", "o", "--method", "first_k",
                                       "--num-layers", "3", "--probe-keep-first", "true"])
    with pytest.raises(LearngeneError, match="--probe-keep-first is not an option of --method first_k"):
        config_from_args(other)


def test_condense_warns_when_the_1_over_l_rule_keeps_a_tiny_learngene(dataset) -> None:
    """The 1/L rule kept one layer of the shared DINOv2, whose descendants are far weaker than those of 6 or 7 layers
    (docs/results/mainpath.md): condense says so and how to ask for a size; an explicit size (or the default rule,
    half the layers) gets no such warning."""
    ancestry = with_identity_layers(tiny_vit(num_hidden_layers=8), [1, 2, 3, 4, 5, 6, 7])  # only layer 0 acts
    with pytest.warns(UserWarning, match=r"1/L rule keeps 1 of 8 layers .*--num-layers"):
        assert run(ancestry, BlockInfluenceConfig(size_rule="threshold", **FAST), dataset).selected_layers == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert len(run(ancestry, BlockInfluenceConfig(num_layers=4, **FAST), dataset).selected_layers) == 4
        assert len(run(ancestry, BlockInfluenceConfig(**FAST), dataset).selected_layers) == 4
