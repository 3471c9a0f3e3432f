"""Meta objectives: the default cannot collapse to feature scale; the paper's literal objective ranks by scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset
from torch import nn

from hf_learngene import CondenseConfig, LearngeneError, condense
from hf_learngene.condensation import select_layers
from hf_learngene.condensation.objectives import available_objectives, cka_distance, get_objective
from tests.test_condense import FAST, make_dataset, tiny_resnet, tiny_vit


def planted_scales(clean_gain: float, noise_sigma: float) -> nn.Module:
    """A 2-layer ViT whose layer 0 emits ``clean_gain`` x its input (clean features the pseudo-descendant can learn to
    match) and layer 1 noise of size ``noise_sigma`` (fresh random numbers each call, nothing to match).

    The layers keep their real weights (so a learngene can be cut from them); forward hooks replace their outputs.
    """
    model = tiny_vit(seed=2, layers=2)

    def clean(_module: nn.Module, inputs: tuple, _output: torch.Tensor) -> torch.Tensor:
        return inputs[0] * clean_gain

    def noise(_module: nn.Module, inputs: tuple, _output: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(inputs[0]) * noise_sigma

    model.vit.layers[0].register_forward_hook(clean)
    model.vit.layers[1].register_forward_hook(noise)
    return model


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return make_dataset()


PLANTED = {**FAST, "max_iterations": 30, "num_repeats": 2, "learning_rate": 3e-3, "feature_cache_mb": 0}


def test_registered_objectives() -> None:
    assert {"paper", "scale_free"} <= set(available_objectives())
    assert CondenseConfig().objective == "scale_free"
    assert CondenseConfig(objective="paper").effective_meta_learning_rate == 1e-4
    with pytest.raises(LearngeneError, match="objective"):
        CondenseConfig(objective="nope")


def test_scale_free_alpha_is_a_softmax_over_ancestry_layers_per_pseudo_layer() -> None:
    objective = get_objective("scale_free")
    mask = torch.ones(3, 2)
    mask[2, 1] = 0  # pair (2, 1) is not in R
    alpha = objective.alpha(torch.randn(4, 3, 2), mask)
    torch.testing.assert_close(alpha.sum(dim=1), torch.ones(4, 2))
    assert torch.all(alpha[:, 2, 1] == 0)
    # psi-bar = 1 - linear CKA: invariant to scale, offset and rotation of either side; ~1 for unrelated features.
    torch.manual_seed(0)
    z, other = torch.randn(16, 5, 8), torch.randn(16, 5, 8)
    rotation = torch.linalg.qr(torch.randn(8, 8))[0]
    distance = cka_distance([z, 3 * z @ rotation + 2, other], [z, 0.01 * z])
    torch.testing.assert_close(distance[:2], torch.zeros(2, 2), atol=1e-5, rtol=0)
    assert torch.all(distance[2] > distance[:2].max() + 0.3)
    torch.testing.assert_close(cka_distance([100 * other], [0.01 * z]), cka_distance([other], [z]))


def test_default_selects_small_matchable_layer_not_large_noise(dataset: Dataset) -> None:
    """Layer 0: small features the pseudo-descendant can match; layer 1: large-magnitude noise."""
    result = condense(planted_scales(clean_gain=0.05, noise_sigma=20.0), dataset,
                      CondenseConfig(**PLANTED, image_size=16))
    assert result.selected_layers == [0]
    assert all(r.selected_layers == [0] for r in result.repeats)


def test_default_selects_large_matchable_layer_where_paper_picks_small_noise(dataset: Dataset) -> None:
    """Swap the scales: the clean layer is large, the noise small. The default still picks the clean layer; the
    paper's objective, taken literally, picks the noise because it ranks layers by (inverse) feature scale."""
    model = planted_scales(clean_gain=20.0, noise_sigma=0.05)
    default = condense(model, dataset, CondenseConfig(**PLANTED, image_size=16))
    assert default.selected_layers == [0]
    paper = condense(model, dataset, CondenseConfig(**PLANTED, image_size=16, objective="paper",
                                                    meta_learning_rate=1e-3))
    assert paper.selected_layers == [1]
    assert paper.pair_scores[1, 0] > paper.pair_scores[0, 0]


# Pair scores of objective="paper" recorded with the code before objectives existed (commit 10df27a), for the
# settings below: the literal Algorithm 1 must stay bit-for-bit what it was.
PAPER_REFERENCE = {
    "vit": ([[0.9923926778137684, 0.9935513250529766], [0.9965453632175922, 0.997998796403408],
             [0.997004721313715, 0.995679646730423], [1.0007477290928364, 0.9959280118346214]], [1, 3]),
    "resnet": ([[0.5672906618565321, 0.8309621661901474], [0.311064762994647, 0.5501931495964527],
                [0.6012466698884964, 0.7449485436081886], [0.5703815370798111, 0.6486231312155724]], [0, 2]),
}


@pytest.mark.parametrize("family", ["vit", "resnet"])
def test_paper_objective_reproduces_pre_objective_scores(family: str) -> None:
    model = tiny_vit() if family == "vit" else tiny_resnet()
    config = CondenseConfig(batch_size=8, meta_batch_size=4, max_iterations=6, num_repeats=1, progress=False,
                            log_every=1, meta_learning_rate=1e-2, image_size=16, objective="paper",
                            max_images_per_class=None)  # every image, as the reference was computed
    result = condense(model, make_dataset(), config, classes=[0, 1, 2, 3])
    pairs, selected = PAPER_REFERENCE[family]
    np.testing.assert_allclose(result.pair_scores, pairs, rtol=1e-5, atol=1e-6)
    assert result.selected_layers == selected


# --------------------------------------------------------------------------- size control
def test_top_k_and_parameter_cap() -> None:
    scores = [0.30, 0.05, 0.25, 0.40]
    assert select_layers(scores) == [0, 3]  # the paper's rule: > 1/L = 0.25 (strictly)
    assert select_layers(scores, num_layers=2) == [0, 3]
    assert select_layers(scores, num_layers=3) == [0, 2, 3]
    # Layer 3 holds 70 % of the parameters: the cap drops the lowest-scoring layers first and keeps at least one.
    sizes = [10, 10, 10, 70]
    assert select_layers(scores, max_parameter_fraction=0.85, layer_parameters=sizes) == [0, 3]
    assert select_layers(scores, max_parameter_fraction=0.5, layer_parameters=sizes) == [3]
    assert select_layers(scores, num_layers=3, max_parameter_fraction=0.3, layer_parameters=[10, 10, 10, 10]) == [3]
    assert select_layers(scores, num_layers=3, max_parameter_fraction=0.5,
                         layer_parameters=[10, 10, 10, 10]) == [0, 3]
    with pytest.raises(LearngeneError, match="num_layers"):
        select_layers(scores, num_layers=5)


def test_condense_size_controls_state_fraction(dataset: Dataset) -> None:
    base = {**FAST, "image_size": 16, "feature_cache_mb": 0}
    top1 = condense(tiny_vit(), dataset, CondenseConfig(**base, num_layers=1))
    assert top1.selected_layers == [int(np.argmax(top1.layer_scores))]
    assert top1.parameter_fraction == pytest.approx(0.25)  # 1 of 4 equal layers
    assert top1.learngene.config.layer_parameter_fraction == pytest.approx(0.25)
    assert top1.scores_dict()["parameter_fraction"] == pytest.approx(0.25)
    assert all(len(r.selected_layers) == 1 for r in top1.repeats)  # each repeat under the same rule
    capped = condense(tiny_vit(), dataset, CondenseConfig(**base, num_layers=4, max_parameter_fraction=0.5))
    assert len(capped.selected_layers) == 2
    assert capped.parameter_fraction == pytest.approx(0.5)


def test_warns_when_the_rule_keeps_most_parameters(dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    from hf_learngene.condensation import api

    original = api.select_layers
    monkeypatch.setattr(api, "select_layers", lambda scores, **rule: original(scores, **{**rule, "num_layers": 3}))
    with pytest.warns(UserWarning, match="max_parameter_fraction"):  # the paper's rule keeps as many as scores say
        condense(tiny_vit(), dataset, CondenseConfig(**FAST, image_size=16, feature_cache_mb=0, size_rule="threshold"))


# --------------------------------------------------------------------------- feature cache
def test_feature_cache_gives_the_same_scores(dataset: Dataset) -> None:
    config = {**FAST, "image_size": 16, "max_iterations": 12, "num_repeats": 2}
    cached = condense(tiny_vit(), dataset, CondenseConfig(**config))
    plain = condense(tiny_vit(), dataset, CondenseConfig(**config, feature_cache_mb=0))
    np.testing.assert_allclose(cached.pair_scores, plain.pair_scores, rtol=1e-5, atol=1e-6)
    assert cached.selected_layers == plain.selected_layers


def test_score_trajectory_is_logged_and_plotted(dataset: Dataset, tmp_path) -> None:
    result = condense(tiny_vit(), dataset, CondenseConfig(**{**FAST, "max_iterations": 4, "log_every": 2}, image_size=16))
    log = result.repeats[0].log
    assert [e["step"] for e in log] == [2, 4]
    assert np.asarray(log[0]["pair_scores"]).shape == (4, 2)
    folder = result.save(tmp_path / "lg")
    assert (folder / "score_trajectory.png").stat().st_size > 0
    assert "score_trajectory.png" in (folder / "README.md").read_text()


def test_cli_size_controls(tmp_path, dataset: Dataset, capsys: pytest.CaptureFixture) -> None:
    import json

    from hf_learngene.cli import main

    model_dir, data_dir = tmp_path / "ancestry", tmp_path / "data"
    tiny_vit().save_pretrained(model_dir)
    dataset.save_to_disk(str(data_dir))
    common = ["condense", "--ancestry", str(model_dir), "--dataset", str(data_dir), "--method", "auto",
              "--no-progress", "--max-iterations", "2", "--batch-size", "8", "--meta-batch-size", "4", "--num-repeats", "1",
              "--image-size", "16"]
    assert main([*common, "--output", str(tmp_path / "top1"), "--num-layers", "1"]) == 0
    config = json.loads((tmp_path / "top1" / "config.json").read_text())
    assert len(config["layer_indices"]) == 1 and config["layer_parameter_fraction"] == pytest.approx(0.25)
    assert "25% of the layer parameters" in capsys.readouterr().out
    assert main([*common, "--output", str(tmp_path / "capped"), "--num-layers", "4",
                 "--max-parameter-fraction", "0.5"]) == 0
    assert len(json.loads((tmp_path / "capped" / "config.json").read_text())["layer_indices"]) == 2
    assert main([*common, "--output", str(tmp_path / "bad"), "--max-parameter-fraction", "1.5"]) == 2
    assert "max_parameter_fraction" in capsys.readouterr().err


def test_select_top_k_script_cuts_the_best_layers_from_a_finished_run(tmp_path, dataset: Dataset) -> None:
    """examples/paper/select_top_k.py: the top-k learngene of saved scores, without condensing again."""
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "paper" / "select_top_k.py"
    spec = importlib.util.spec_from_file_location("select_top_k", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tiny_vit().save_pretrained(tmp_path / "ancestry")
    result = condense(str(tmp_path / "ancestry"), dataset, CondenseConfig(**FAST, image_size=16))
    result.save(tmp_path / "run")
    assert module.main(["--scores", str(tmp_path / "run"), "--ancestry", str(tmp_path / "ancestry"),
                        "--num-layers", "2", "--output", str(tmp_path / "top2")]) == 0
    config = json.loads((tmp_path / "top2" / "config.json").read_text())
    assert config["layer_indices"] == select_layers(result.layer_scores, num_layers=2)
    assert config["selection_method"] == "auto" and config["selection_arguments"]["num_layers"] == 2
    assert config["layer_scores"] == pytest.approx(result.layer_scores.tolist())
