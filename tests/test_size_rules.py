"""How many layers, how many images: the size rules (``hf_learngene.condensation.size_rules``: the default ``"half"``,
the paper's ``"threshold"``, rules registered from a new module), the size controls that override them, the per-class
image budget (``max_images_per_class``), their CLI options and cards, and the pins that keep earlier results."""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from hf_learngene import CondenseConfig, LearngeneError, condense
from hf_learngene.cards import learngene_card
from hf_learngene.cli import build_parser, config_from_args, main
from hf_learngene.condensation import (
    DEFAULT_MAX_IMAGES_PER_CLASS,
    BaseCondenseConfig,
    EvenlySpacedConfig,
    FirstKConfig,
    RepeatResult,
    available_size_rules,
    get_size_rule,
    register_condense_method,
    select_layers,
)
from hf_learngene.condensation.data import prepare_condense_data
from hf_learngene.condensation.repeats import repeat_seed
from hf_learngene.condensation.size_rules import registry
from tests.tiny_models import tiny_image_dataset, tiny_vit

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = {"batch_size": 4, "meta_batch_size": 4, "num_repeats": 1, "progress": False}
#: Auto-Learngene, two iterations.
AUTO = {**FAST, "max_iterations": 2}
#: Planted scores of 8 layers: only layer 0 is above 1/8 (the paper's rule keeps it alone), the top four are 0-3.
ONE_ABOVE = [0.3, 0.12, 0.11, 0.1, 0.1, 0.09, 0.09, 0.09]
#: Two above 1/8 (layers 0, 4); the top four are 0, 4, 2, 6; the top three 0, 4, 2.
TWO_ABOVE = [0.30, 0.05, 0.12, 0.08, 0.20, 0.06, 0.10, 0.09]


# ---------------------------------------------------------------------------------------------------- a planted method
PLANTED: dict[str, list[float]] = {"scores": ONE_ABOVE}


def run_planted_repeat(ancestry, family, data, config, accelerator, repeat) -> RepeatResult:
    scores = PLANTED["scores"]
    assert len(scores) == len(family.integral_layers(ancestry))
    return RepeatResult(repeat=repeat, seed=repeat_seed(config, repeat), layer_scores=list(scores),
                        selected_layers=select_layers(scores))


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch):
    """A method ``"planted"`` whose layer scores are ``PLANTED["scores"]`` (no data), registered for one test."""
    from dataclasses import dataclass, field

    from hf_learngene.condensation import base

    @dataclass
    class Config(BaseCondenseConfig):
        method: str = field(default="planted", metadata={"help": "Condensing method."})

    monkeypatch.setattr(base, "_METHODS", dict(base._METHODS))
    monkeypatch.setitem(PLANTED, "scores", ONE_ABOVE)
    register_condense_method("planted", Config, run_planted_repeat, label="Planted", uses_data=False)
    return Config


def condense_planted(config_class, scores: list[float], **kwargs) -> list[int]:
    PLANTED["scores"] = scores
    return condense(tiny_vit(num_hidden_layers=len(scores)), None, config_class(**FAST, **kwargs)).selected_layers


# ---------------------------------------------------------------------------------------------------- the rules
def test_the_registry_has_half_then_threshold_and_half_is_the_default() -> None:
    assert available_size_rules()[:2] == ("half", "threshold")
    assert CondenseConfig().size_rule == "half" and FirstKConfig().size_rule == "half"
    assert [get_size_rule("half").size(total) for total in (1, 2, 3, 8, 12)] == [1, 1, 1, 4, 6]
    assert get_size_rule("threshold").size(12) is None  # how many it keeps depends on the scores


def test_select_layers_keeps_the_paper_rule_by_default_for_direct_callers() -> None:
    assert select_layers(TWO_ABOVE) == [0, 4]
    assert select_layers(TWO_ABOVE, size_rule="threshold") == [0, 4]
    assert select_layers(TWO_ABOVE, size_rule="half") == [0, 2, 4, 6]
    assert select_layers(TWO_ABOVE, size_rule="half", num_layers=3) == [0, 2, 4]  # num_layers overrides
    sizes = [10] * 8
    assert select_layers(TWO_ABOVE, size_rule="half", max_parameter_fraction=0.25, layer_parameters=sizes) == [0, 4]


def test_default_condense_of_an_8_layer_ancestry_keeps_4_layers() -> None:
    dataset = tiny_image_dataset(num_classes=4, per_class=8)
    result = condense(tiny_vit(num_hidden_layers=8), dataset, CondenseConfig(**AUTO))
    order = sorted(range(8), key=lambda i: (-result.layer_scores[i], i))
    assert result.selected_layers == sorted(order[:4])
    assert result.learngene.config.selection_arguments["size_rule"] == "half"
    assert result.scores_dict()["selection_rule"]["size_rule"] == "half"


def test_threshold_gives_the_paper_selection_and_half_the_top_half(planted) -> None:
    assert condense_planted(planted, TWO_ABOVE, size_rule="threshold") == [0, 4]
    assert condense_planted(planted, TWO_ABOVE) == [0, 2, 4, 6]
    assert condense_planted(planted, TWO_ABOVE, num_layers=3) == [0, 2, 4]  # num_layers overrides either rule
    assert condense_planted(planted, TWO_ABOVE, size_rule="threshold", num_layers=3) == [0, 2, 4]


def test_the_1_over_l_warnings_apply_to_the_threshold_rule_only(planted) -> None:
    with pytest.warns(UserWarning, match=r"1/L rule keeps 1 of 8 layers .*size_rule='half'"):
        assert condense_planted(planted, ONE_ABOVE, size_rule="threshold") == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert condense_planted(planted, ONE_ABOVE) == [0, 1, 2, 3]


def test_set_pickers_take_k_from_the_size_rule() -> None:
    assert condense(tiny_vit(num_hidden_layers=8), None, FirstKConfig(**FAST)).selected_layers == [0, 1, 2, 3]
    assert condense(tiny_vit(num_hidden_layers=12), None, EvenlySpacedConfig(**FAST)).selected_layers == [
        0, 2, 4, 6, 8, 10]
    assert condense(tiny_vit(num_hidden_layers=8), None, FirstKConfig(num_layers=3, **FAST)).selected_layers == [
        0, 1, 2]
    with pytest.raises(LearngeneError, match=r"FirstKConfig.num_layers: .*size_rule='threshold' gives none"):
        FirstKConfig(size_rule="threshold")
    assert FirstKConfig(size_rule="threshold", num_layers=2).num_layers == 2


def test_an_unknown_rule_is_a_one_line_error_naming_the_choices() -> None:
    with pytest.raises(LearngeneError) as error:
        CondenseConfig(size_rule="most")
    assert str(error.value) == "CondenseConfig.size_rule: must be one of half, threshold, got 'most'."
    with pytest.raises(LearngeneError, match=r"^Unknown size rule 'most'; registered: half, threshold"):
        get_size_rule("most")


@pytest.fixture
def third_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A rule ``"third"`` registered by importing a new module (the registry and ``sys.modules`` are restored)."""
    (tmp_path / "my_third_rule.py").write_text(
        "from hf_learngene.condensation import register_size_rule\n\n"
        "register_size_rule('third', num_layers=lambda total: max(1, total // 3), description='the top L // 3')\n")
    # the registry (the dict base.SIZE_RULES) gets its entries back on teardown: "third" is removed again
    monkeypatch.setitem(registry._RULES, "third", None)
    monkeypatch.delitem(registry._RULES, "third")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_third_rule", raising=False)
    import my_third_rule  # noqa: F401

    yield "third"
    sys.modules.pop("my_third_rule", None)


def test_a_rule_registered_from_a_new_module_is_usable_by_name(third_rule: str, planted) -> None:
    assert third_rule in available_size_rules()
    assert condense_planted(planted, TWO_ABOVE, size_rule=third_rule) == [0, 4]  # top 8 // 3 = 2
    assert condense(tiny_vit(num_hidden_layers=9), None, FirstKConfig(size_rule=third_rule, **FAST)
                    ).selected_layers == [0, 1, 2]
    args = build_parser().parse_args(["condense", "--ancestry", "a", "--output", "o", "--size-rule", third_rule])
    assert config_from_args(args).size_rule == third_rule


def test_the_registered_rule_is_gone_after_its_test() -> None:
    assert "third" not in available_size_rules()


def test_a_bad_rule_result_is_named() -> None:
    rule = registry.SizeRule("broken", select=lambda scores, sizes: [0, 0])
    with pytest.raises(LearngeneError, match="Size rule 'broken' returned \\[0, 0\\]"):
        rule.selected_layers(TWO_ABOVE)


# ---------------------------------------------------------------------------------------------------- images
def _drawn(config: CondenseConfig, dataset) -> tuple[list[str], list[int]]:
    """Content hashes of the images condensing uses (D and D-hat) and how many of each class."""
    data = prepare_condense_data(dataset, config, ancestry_config=tiny_vit().config)
    hashes, counts = [], {}
    for part in (data.train, data.meta):
        rows = part.with_format(None)
        for image, label in zip(rows["image"], rows["label"]):
            hashes.append(hashlib.sha256(np.asarray(image).tobytes()).hexdigest())
            counts[label] = counts.get(label, 0) + 1
    return sorted(hashes), [counts[c] for c in sorted(counts)]


@pytest.fixture(scope="module")
def uneven():
    """Class 0 has 30 images, class 1 20, class 2 6."""
    full = tiny_image_dataset(num_classes=3, per_class=30)  # class by class
    return full.select([i for i, label in enumerate(full["label"]) if i % 30 < (30, 20, 6)[label]])


def test_the_per_class_budget_draws_at_most_n_per_class_seeded(uneven) -> None:
    base = {"batch_size": 4, "meta_batch_size": 2, "method": "heuristic"}
    images, counts = _drawn(CondenseConfig(**base, max_images_per_class=10), uneven)
    assert counts == [10, 10, 6]  # a class within the budget keeps every image
    assert _drawn(CondenseConfig(**base, max_images_per_class=10), uneven)[0] == images  # same seed, same images
    assert _drawn(CondenseConfig(**base, max_images_per_class=10, seed=1), uneven)[0] != images
    every = _drawn(CondenseConfig(**base, max_images_per_class=None), uneven)
    assert every[1] == [30, 20, 6] and _drawn(CondenseConfig(**base, max_images_per_class=0), uneven) == every
    assert _drawn(CondenseConfig(**base, max_images_per_class=10, max_images=24), uneven)[1] == [8, 8, 6]  # both
    assert _drawn(CondenseConfig(**base, max_images=24, max_images_per_class=None), uneven)[1] == [8, 8, 6]


def test_a_budget_that_binds_no_class_condenses_as_with_every_image(uneven) -> None:
    base = {"batch_size": 4, "meta_batch_size": 2, "method": "heuristic"}
    bound = prepare_condense_data(uneven, CondenseConfig(**base, max_images_per_class=30),
                                  ancestry_config=tiny_vit().config)
    every = prepare_condense_data(uneven, CondenseConfig(**base, max_images_per_class=None),
                                  ancestry_config=tiny_vit().config)
    assert bound.train_labels.tolist() == every.train_labels.tolist()
    assert bound.train.with_format(None)["image"] == every.train.with_format(None)["image"]


def test_a_budget_below_two_images_is_refused() -> None:
    with pytest.raises(LearngeneError, match=r"^CondenseConfig.max_images_per_class: must be None or 0 .* got 1\."):
        CondenseConfig(max_images_per_class=1)


# ---------------------------------------------------------------------------------------------------- records, CLI, card
def test_the_old_behaviour_records_what_earlier_configs_recorded() -> None:
    old = CondenseConfig(size_rule="threshold", max_images_per_class=None)
    assert "size_rule" not in old.to_dict() and "max_images_per_class" not in old.to_dict()
    assert {"size_rule": "half", "max_images_per_class": DEFAULT_MAX_IMAGES_PER_CLASS}.items() <= \
        CondenseConfig().to_dict().items()
    loaded = CondenseConfig.from_dict(old.to_dict())  # a config recorded before the fields: what it did
    assert (loaded.size_rule, loaded.max_images_per_class) == ("threshold", None)
    assert CondenseConfig.from_dict(CondenseConfig().to_dict()) == CondenseConfig()


def test_cli_help_lists_the_size_rule_and_the_image_budget_with_their_defaults() -> None:
    sub = build_parser()._subparsers._group_actions[0].choices["condense"]
    text = " ".join(sub.format_help().split()).split("options of every method:", 1)[1]  # past the usage line
    assert "--size-rule {half,threshold}" in text
    rule_help = text.split("--size-rule {half,threshold}", 1)[1].split(" --num-repeats NUM_REPEATS", 1)[0]
    assert "(default: half)" in rule_help and "threshold: the paper's rule" in rule_help and "85.7 %" in rule_help
    budget_help = text.split("--max-images-per-class MAX_IMAGES_PER_CLASS", 1)[1].split(" --gradient-", 1)[0]
    assert f"(default: {DEFAULT_MAX_IMAGES_PER_CLASS})" in budget_help and "0 on the command line" in budget_help
    args = build_parser().parse_args(["condense", "--ancestry", "a", "--output", "o", "--method", "auto",
                                      "--size-rule", "threshold", "--max-images-per-class", "0"])
    config = config_from_args(args)
    assert (config.size_rule, config.max_images_per_class) == ("threshold", None)


def test_cli_refuses_an_unknown_rule_in_one_line(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["condense", "--ancestry", "a", "--output", "o", "--size-rule", "most"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "invalid choice: 'most'" in err and "half" in err and "\n" not in err


def test_cli_first_k_with_no_size_keeps_half(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tiny_vit(num_hidden_layers=6).save_pretrained(tmp_path / "vit")
    assert main(["condense", "--ancestry", str(tmp_path / "vit"), "--method", "first_k", "--output",
                 str(tmp_path / "out"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "out" / "config.json").read_text())["layer_indices"] == [0, 1, 2]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| learngene size | size rule `half`: the top L // 2 layers by score" in card


def test_the_card_states_the_size_rule_and_the_image_budget() -> None:
    dataset = tiny_image_dataset(num_classes=4, per_class=8)
    default = condense(tiny_vit(), dataset, CondenseConfig(**AUTO)).learngene.config
    card = str(learngene_card(default))
    assert "| learngene size | size rule `half`" in card
    assert f"| condense image budget | at most {DEFAULT_MAX_IMAGES_PER_CLASS} images per class" in card
    paper = condense(tiny_vit(), dataset, CondenseConfig(**AUTO, size_rule="threshold", max_images_per_class=None,
                                                         max_images=16)).learngene.config
    card = str(learngene_card(paper))
    assert "| learngene size | size rule `threshold`: the paper's rule" in card
    assert "| condense image budget | every image of the condense classes; at most 16 in all" in card
    sized = condense(tiny_vit(), None, FirstKConfig(num_layers=2, max_parameter_fraction=0.9, **FAST)).learngene
    card = str(learngene_card(sized.config))
    assert "| learngene size | the top 2 layers by score (`num_layers=2`), capped at 90%" in card
    assert "| condense image budget | - |" in card  # first_k reads no data


# ---------------------------------------------------------------------------------------------------- the harness pin
def test_the_paper_harness_condenses_as_its_committed_learngenes_were(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's learngenes were condensed with the 1/L rule and every image: it pins both, outside the key, and
    at those values the recorded config (selection_arguments, hence the fingerprint) is what it was."""
    import harness  # examples/paper/harness/ (pytest.ini: pythonpath = examples/paper)

    ctx = harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "results",
                          work_dir=tmp_path / "work", progress=False)
    built: list[CondenseConfig] = []

    class Stop(Exception):
        pass

    def capture(**settings):
        built.append(CondenseConfig(**settings))
        raise Stop

    monkeypatch.setattr(harness.learngenes, "CondenseConfig", capture)
    for family, method in (("vit", "auto"), ("vit", "heur"), ("dinov2", "auto")):
        with pytest.raises(Stop):
            harness.learngenes._condense_learngene(method, family, ctx, "key", tmp_path / "lg", tmp_path / "m.json")
        config = built[-1]
        assert (config.size_rule, config.max_images_per_class) == ("threshold", None)
        assert not {"size_rule", "max_images_per_class"} & set(config.recorded_dict())
        assert not {"size_rule", "max_images_per_class"} & set(ctx.condense_settings(family, method))


# ---------------------------------------------------------------------------------------------------- default method
def test_condense_without_a_config_and_the_cli_use_the_default_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """``condense(ancestry)`` without a config and ``learngene condense`` without ``--method`` run
    ``DEFAULT_CONDENSE_METHOD`` with its defaults: First-k (no method measured beat it on the shared DINOv2), the first
    half of the layers and the input embedding, without data. ``CondenseConfig()`` stays Auto-Learngene's config, and
    the constant drives both (switched here to ``evenly_spaced`` to see it move)."""
    from hf_learngene import cli
    from hf_learngene.condensation import base, methods

    assert base.DEFAULT_CONDENSE_METHOD == "first_k" and CondenseConfig().method == "auto"
    assert methods.default_condense_config().method == "first_k"
    assert build_parser().parse_args(["condense", "--ancestry", "a", "--output", "o"]).method == "first_k"
    result = condense(tiny_vit(num_hidden_layers=8))  # no dataset, no config: reads no data
    assert result.method == "first_k" and result.selected_layers == [0, 1, 2, 3]
    assert result.learngene.carries_embeddings and result.learngene.config.condense_data is None
    assert methods.default_condense_config(num_layers=2).num_layers == 2
    monkeypatch.setattr(methods, "DEFAULT_CONDENSE_METHOD", "evenly_spaced")
    monkeypatch.setattr(cli, "DEFAULT_CONDENSE_METHOD", "evenly_spaced")
    moved = condense(tiny_vit(num_hidden_layers=8))
    assert moved.method == "evenly_spaced" and moved.selected_layers == [0, 2, 4, 6]
    assert build_parser().parse_args(["condense", "--ancestry", "a", "--output", "o"]).method == "evenly_spaced"


def test_cli_help_states_the_default_method_and_that_it_needs_no_dataset() -> None:
    sub = build_parser()._subparsers._group_actions[0].choices["condense"]
    text = " ".join(sub.format_help().split()).split("options:", 1)[1]  # past the usage line
    method_help = text.split("--method {", 1)[1].split(" --layer-indices LAYER_INDICES", 1)[0]
    assert "the default, first_k" in method_help and "docs/results/which_layers.md" in method_help
    assert "auto is the paper's Auto-Learngene" in method_help and "(default: first_k)" in method_help
    dataset_help = text.split("--dataset DATASET", 1)[1].split(" --dataset-revision", 1)[0]
    assert "not needed for --method" in dataset_help and "first_k (the default method)" in dataset_help
