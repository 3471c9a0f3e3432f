"""Condensing: Auto-Learngene (Algorithm 1), Heur-Learngene, manual selection, resume, bad input, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, Features
from datasets import Image as ImageFeature
from PIL import Image
from transformers import (
    BertConfig,
    BertModel,
    ResNetConfig,
    ResNetForImageClassification,
    ViTConfig,
    ViTForImageClassification,
)

import hf_learngene.condensation.auto as auto_module
from hf_learngene import CondenseConfig, LearngeneError, condense
from hf_learngene.cli import build_parser, main
from hf_learngene.condensation import MetaNetwork, layer_scores_from_pairs, select_layers

FAST = {"batch_size": 8, "meta_batch_size": 4, "max_iterations": 4, "num_repeats": 1, "progress": False, "log_every": 1}


def make_dataset(num_classes: int = 4, per_class: int = 24, size: int = 16, seed: int = 0) -> Dataset:
    """Random RGB images whose mean colour depends on the class (so there is something to learn)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(num_classes):
        for _ in range(per_class):
            base = rng.integers(0, 80, (size, size, 3)) + 40 * c
            images.append(Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)))
            labels.append(c)
    features = Features({"image": ImageFeature(), "label": ClassLabel(num_classes=num_classes)})
    return Dataset.from_dict({"image": images, "label": labels}, features=features)


def tiny_vit(seed: int = 0, layers: int = 4) -> ViTForImageClassification:
    torch.manual_seed(seed)
    config = ViTConfig(hidden_size=16, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=32,
                       image_size=16, patch_size=8, num_labels=3)
    return ViTForImageClassification(config).eval()


def tiny_resnet(seed: int = 0) -> ResNetForImageClassification:
    torch.manual_seed(seed)
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[2, 2], layer_type="basic", num_labels=3)
    return ResNetForImageClassification(config).eval()


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return make_dataset()


# --------------------------------------------------------------------------- the selection rule and the pieces
def test_selection_rule_matches_paper_example() -> None:
    # Paper Sec. 4.2.1: alpha~ = {0.25, 0.15, 0.13, 0.16, 0.31} selects the 1st and 5th layers.
    assert select_layers(np.array([0.25, 0.15, 0.13, 0.16, 0.31])) == [0, 4]
    assert select_layers(np.full(4, 0.25)) == []  # equal scores: nothing is above 1/L


def test_layer_scores_are_softmax_of_max_over_k() -> None:
    pairs = np.array([[0.1, 2.0], [0.5, 0.4], [3.0, 0.0]])
    scores = layer_scores_from_pairs(pairs)
    expected = np.exp([2.0, 0.5, 3.0]) / np.exp([2.0, 0.5, 3.0]).sum()
    np.testing.assert_allclose(scores, expected)
    # Pairs outside R do not count: without (2, 0) layer 2's best pair is 0.0.
    restricted = layer_scores_from_pairs(pairs, [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1)])
    np.testing.assert_allclose(restricted, np.exp([2.0, 0.5, 0.0]) / np.exp([2.0, 0.5, 0.0]).sum())


def test_meta_network_is_fc_relu6_per_pair_and_masks_pairs_outside_R() -> None:
    torch.manual_seed(0)
    meta = MetaNetwork([4, 6], num_pseudo_layers=3, pairs=[(0, 0), (0, 2), (1, 1)], init_bias=1.0, init_std=10.0)
    alpha = meta([torch.randn(5, 4), torch.randn(5, 6)])
    assert alpha.shape == (5, 2, 3)
    assert alpha.min() >= 0 and alpha.max() <= 6  # ReLU6
    assert torch.all(alpha[:, 0, 1] == 0) and torch.all(alpha[:, 1, 0] == 0) and torch.all(alpha[:, 1, 2] == 0)
    x = torch.randn(5, 4)
    manual = torch.clamp(x @ meta.heads[0].weight[2] + meta.heads[0].bias[2], 0, 6)
    torch.testing.assert_close(meta([x, torch.randn(5, 6)])[:, 0, 2], manual)


def test_psi_fast_path_equals_definition() -> None:
    """psi-bar^{l,k} = mean over feature dims of (h(z^k) - Z^l)^2 (Eq. 11/12), for every pair at once."""
    from hf_learngene.condensation.auto import PseudoDescendant
    from hf_learngene.families import get_family

    family = get_family("vit")
    pairs = [(l, k) for l in range(3) for k in range(2)]
    student = PseudoDescendant(tiny_vit(layers=2), family, pairs, {p: torch.nn.Identity() for p in pairs})
    big = [torch.randn(4, 5, 16) * (l + 1) for l in range(3)]
    small = [torch.randn(4, 5, 16) for _ in range(2)]
    psi = student.psi(big, small)
    for l, k in pairs:
        torch.testing.assert_close(psi[:, l, k], ((small[k] - big[l]) ** 2).mean(dim=(1, 2)), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- Auto-Learngene end to end
def test_auto_scores_shapes_normalisation_and_provenance(dataset: Dataset) -> None:
    result = condense(tiny_vit(), dataset, CondenseConfig(**{**FAST, "num_repeats": 2, "max_images_per_class": None}),
                      classes=[0, 1, 2, 3])
    num_layers, num_pseudo = 4, 2  # pseudo-descendant: half the ancestry's layers
    assert result.pair_scores.shape == (num_layers, num_pseudo)
    assert result.layer_scores.shape == (num_layers,)
    assert result.layer_scores.sum() == pytest.approx(1.0)
    assert np.all(result.pair_scores >= 0) and np.all(result.pair_scores <= 6)
    # the default size rule: the top half of the layers by score (the paper's 1/L rule: size_rule="threshold")
    assert result.selected_layers == sorted(np.argsort(-result.layer_scores, kind="stable")[:num_layers // 2].tolist())
    assert len(result.repeats) == 2 and {r.seed for r in result.repeats} == {0, 1}
    np.testing.assert_allclose(result.layer_scores, np.mean([r.layer_scores for r in result.repeats], axis=0))
    config = result.learngene.config
    assert config.selection_method == "auto"
    assert config.layer_indices == result.selected_layers
    assert config.layer_scores == pytest.approx(result.layer_scores.tolist())
    assert np.asarray(config.pair_scores).shape == (num_layers, num_pseudo)
    assert config.condense_data["classes"] == [0, 1, 2, 3]
    assert config.condense_data["num_train"] + config.condense_data["num_meta"] == len(dataset)
    assert config.selection_arguments["objective"] == "scale_free"  # the default
    assert config.selection_arguments["size_rule"] == "half"  # the default
    assert config.selection_arguments["meta_learning_rate"] == 2.0  # the objective's default, recorded resolved


def test_train_and_meta_data_are_disjoint_and_one_sixth(dataset: Dataset) -> None:
    from hf_learngene.condensation.data import prepare_condense_data

    data = prepare_condense_data(dataset, CondenseConfig(**FAST, max_images_per_class=None),  # every image
                                 ancestry_config=tiny_vit().config)
    train_ids = {tuple(np.asarray(img).ravel()[:32]) for img in data.train.with_format(None)["image"]}
    meta_ids = {tuple(np.asarray(img).ravel()[:32]) for img in data.meta.with_format(None)["image"]}
    assert not train_ids & meta_ids
    assert len(data.meta) == 4 * 4  # round(24 / 6) per class
    assert len(data.train) + len(data.meta) == len(dataset)


def test_same_seed_gives_same_scores(dataset: Dataset) -> None:
    first = condense(tiny_vit(), dataset, CondenseConfig(**FAST, seed=3))
    second = condense(tiny_vit(), dataset, CondenseConfig(**FAST, seed=3))
    np.testing.assert_array_equal(first.pair_scores, second.pair_scores)
    other = condense(tiny_vit(), dataset, CondenseConfig(**FAST, seed=4))
    assert not np.array_equal(first.pair_scores, other.pair_scores)


def planted_vit() -> ViTForImageClassification:
    """Layers 0 and 1 are exact identities (easy to match); layers 2 and 3 blow features up (scramble them)."""
    model = tiny_vit(seed=1)
    with torch.no_grad():
        for index, layer in enumerate(model.vit.layers):
            if index < 2:
                for module in (layer.attention.o_proj, layer.mlp.fc2):
                    module.weight.zero_()
                    module.bias.zero_()
            else:  # large random MLP: the residual stream is swamped by a scrambled, large signal
                layer.mlp.fc1.weight.normal_(0.0, 1.0)
                layer.mlp.fc2.weight.normal_(0.0, 3.0)
    return model


@pytest.mark.parametrize(("objective", "iterations", "meta_lr"), [("paper", 12, 1e-3), ("scale_free", 30, None)])
def test_planted_identity_layers_are_selected(dataset: Dataset, objective: str, iterations: int,
                                              meta_lr: float | None) -> None:
    config = CondenseConfig(**{**FAST, "max_iterations": iterations, "num_repeats": 2, "meta_learning_rate": meta_lr,
                               "objective": objective})
    result = condense(planted_vit(), dataset, config)
    assert result.selected_layers == [0, 1]
    assert all(r.selected_layers == [0, 1] for r in result.repeats)
    assert result.selection_frequency.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_resnet_auto_uses_conv_alignment(dataset: Dataset) -> None:
    result = condense(tiny_resnet(), dataset, CondenseConfig(**FAST, image_size=16))
    assert result.pair_scores.shape == (4, 2)  # 4 blocks, pseudo-descendant depths [1, 1]
    assert result.learngene.config.family == "resnet"
    assert result.learngene.config.selection_method == "auto"


# --------------------------------------------------------------------------- heuristic and manual
def test_heuristic_method_same_result_type(dataset: Dataset) -> None:
    config = CondenseConfig(method="heuristic", num_repeats=1, heuristic_num_tasks=2, heuristic_n_way=2,
                            heuristic_steps_per_task=2, heuristic_batch_size=8, batch_size=8, meta_batch_size=4,
                            progress=False)
    result = condense(tiny_vit(), dataset, config)
    assert result.method == "heuristic" and result.pair_scores is None
    assert result.layer_scores.sum() == pytest.approx(1.0)
    assert result.selected_layers == select_layers(result.layer_scores, size_rule="half")
    grads = np.asarray(result.repeats[0].log[-1]["relative_gradient_per_task"])
    assert grads.shape == (2, 4) and np.all(grads > 0)
    assert result.learngene.config.selection_method == "heuristic"


def test_manual_method_keeps_given_layers() -> None:
    model = tiny_vit()
    result = condense(model, None, CondenseConfig(method="manual", layer_indices=[1, 3]))
    assert result.selected_layers == [1, 3]
    assert result.learngene.config.selection_method == "manual"
    torch.testing.assert_close(result.learngene.layers[1].mlp.fc1.weight, model.vit.layers[3].mlp.fc1.weight,
                               rtol=0, atol=0)


# --------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("objective", ["paper", "scale_free"])
def test_resume_after_kill_gives_the_same_result(dataset: Dataset, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, objective: str) -> None:
    base = {**FAST, "max_iterations": 6, "checkpoint_every": 2, "objective": objective}
    reference = condense(tiny_vit(), dataset, CondenseConfig(**base))

    def crash(step: int) -> None:
        if step == 5:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(auto_module, "_after_step", crash)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        condense(tiny_vit(), dataset, CondenseConfig(**base, checkpoint_dir=str(ckpt)))
    progress = json.loads((ckpt / "auto-repeat-0" / "progress.json").read_text())
    assert progress["step"] == 4  # the last checkpoint before the kill
    monkeypatch.setattr(auto_module, "_after_step", lambda step: None)
    resumed = condense(tiny_vit(), dataset, CondenseConfig(**base, checkpoint_dir=str(ckpt)))
    np.testing.assert_array_equal(resumed.pair_scores, reference.pair_scores)
    assert resumed.selected_layers == reference.selected_layers
    # A finished repeat is not run again.
    again = condense(tiny_vit(), dataset, CondenseConfig(**base, checkpoint_dir=str(ckpt)))
    np.testing.assert_array_equal(again.pair_scores, reference.pair_scores)


# --------------------------------------------------------------------------- two processes
@pytest.mark.parametrize(
    ("launch", "world", "objective"),
    [
        # Data-parallel over 2 CPU processes (torch.distributed + gloo). On a machine without GPU accelerate
        # launches several CPU processes with --multi_gpu; condense() then picks the CPU backend itself.
        (["--multi_gpu", "--num_processes", "2"], 2, "scale_free"),
        (["--multi_gpu", "--num_processes", "2"], 2, "paper"),
        # The command line of the docs: in accelerate 1.x `--cpu` without an MPI hostfile starts one process.
        (["--cpu", "--num_processes", "2"], 1, "scale_free"),
    ],
)
def test_accelerate_launch_processes_select_the_same_layers(dataset: Dataset, tmp_path: Path, launch: list[str],
                                                            world: int, objective: str) -> None:
    model_dir, data_dir = tmp_path / "ancestry", tmp_path / "data"
    tiny_vit().save_pretrained(model_dir)
    dataset.save_to_disk(str(data_dir))
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        from accelerate import PartialState
        from hf_learngene import CondenseConfig, condense
        result = condense({str(model_dir)!r}, {str(data_dir)!r},
                          CondenseConfig(batch_size=4, meta_batch_size=4, max_iterations=3, num_repeats=1,
                                         progress=False, objective={objective!r}))
        state = PartialState()  # after condense(), which set up the distributed CPU backend
        out = {{"rank": state.process_index, "world": state.num_processes,
               "pair_scores": result.pair_scores.tolist(), "selected": result.selected_layers}}
        open(sys.argv[1] + f"/rank{{state.process_index}}.json", "w").write(json.dumps(out))
    """))
    accelerate = Path(sys.executable).parent / "accelerate"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(accelerate), "launch", *launch, "--num_machines", "1", "--mixed_precision", "no",
                           "--dynamo_backend", "no", str(script), str(tmp_path)],
                          check=False, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(world)]
    assert [r["world"] for r in ranks] == [world] * world
    assert all(r["pair_scores"] == ranks[0]["pair_scores"] for r in ranks)
    assert all(r["selected"] == ranks[0]["selected"] for r in ranks)


# --------------------------------------------------------------------------- bad input
def test_missing_columns_are_named(dataset: Dataset) -> None:
    with pytest.raises(LearngeneError, match="no column 'img'.*image_column"):
        condense(tiny_vit(), dataset, CondenseConfig(**FAST), image_column="img")
    with pytest.raises(LearngeneError, match="no column 'target'.*label_column"):
        condense(tiny_vit(), dataset, CondenseConfig(**FAST), label_column="target")


def test_fewer_than_two_classes(dataset: Dataset) -> None:
    with pytest.raises(LearngeneError, match="at least 2 classes"):
        condense(tiny_vit(), dataset, CondenseConfig(**FAST), classes=[1])


def test_too_few_images_for_the_split() -> None:
    small = make_dataset(num_classes=2, per_class=3)
    with pytest.raises(LearngeneError, match="Too few images for the D / D-hat split"):
        condense(tiny_vit(), small, CondenseConfig(**FAST))


def test_unsupported_architecture(dataset: Dataset) -> None:
    bert = BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16))
    with pytest.raises(LearngeneError, match="not supported.*dinov2, resnet, timm_resnet, timm_vit, vit"):
        condense(bert, dataset, CondenseConfig(**FAST))


def test_nan_loss_stops_with_step_and_hint(dataset: Dataset) -> None:
    config = CondenseConfig(**FAST, learning_rate=1e30, optimizer="sgd")
    with pytest.raises(LearngeneError, match=r"NaN/inf at step \d+ .*Lower learning_rate"):
        condense(tiny_vit(), dataset, config)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "magic"}, "CondenseConfig.method"),
        ({"method": "manual"}, "CondenseConfig.layer_indices"),
        ({"batch_size": 0}, "CondenseConfig.batch_size"),
        ({"meta_fraction": 1.5}, "CondenseConfig.meta_fraction"),
        ({"meta_learning_rate": -1.0}, "CondenseConfig.meta_learning_rate"),
        ({"num_repeats": 0}, "CondenseConfig.num_repeats"),
        ({"pair_set": [[0]]}, "CondenseConfig.pair_set"),
        ({"mixed_precision": "fp8"}, "CondenseConfig.mixed_precision"),
        ({"image_std": [0.0, 1.0, 1.0]}, "CondenseConfig.image_std"),
    ],
)
def test_impossible_config_values(kwargs: dict, message: str) -> None:
    with pytest.raises(LearngeneError, match=message):
        CondenseConfig(**kwargs)


def test_pair_set_out_of_range(dataset: Dataset) -> None:
    with pytest.raises(LearngeneError, match=r"pairs \[\(9, 0\)\] are out of range"):
        condense(tiny_vit(), dataset, CondenseConfig(**FAST, pair_set=[[0, 0], [9, 0]]))


# --------------------------------------------------------------------------- CLI
@pytest.fixture
def saved(tmp_path: Path, dataset: Dataset) -> tuple[Path, Path]:
    model_dir, data_dir = tmp_path / "ancestry", tmp_path / "data"
    tiny_vit().save_pretrained(model_dir)
    dataset.save_to_disk(str(data_dir))
    return model_dir, data_dir


def test_cli_condense_end_to_end(saved: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model_dir, data_dir = saved
    out = tmp_path / "learngene"
    code = main(["condense", "--ancestry", str(model_dir), "--dataset", str(data_dir), "--classes", "0-3",
                 "--output", str(out), "--method", "auto", "--max-iterations", "3", "--batch-size", "8", "--meta-batch-size", "4",
                 "--num-repeats", "1", "--no-progress"])
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "scores.json", "condense_config.json",
            "condense_log.json", "pair_scores.png", "layer_scores.png"} <= names
    scores = json.loads((out / "scores.json").read_text())
    assert scores["method"] == "auto" and len(scores["layer_scores"]) == 4
    card = (out / "README.md").read_text()
    assert "pair_scores.png" in card and "layer_scores.png" in card
    assert f"Learngene written to {out.resolve()}" in capsys.readouterr().out
    from hf_learngene import LearngeneModel

    learngene = LearngeneModel.from_pretrained(out)
    assert learngene.config.layer_indices == scores["selected_layers"]


def test_cli_bad_input_leaves_no_output(saved: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    model_dir, data_dir = saved
    out = tmp_path / "never"
    code = main(["condense", "--ancestry", str(model_dir), "--dataset", str(data_dir), "--classes", "2",
                 "--output", str(out), "--method", "auto", "--no-progress"])  # a method that reads the data
    assert code == 2
    assert "at least 2 classes" in capsys.readouterr().err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".never")]


def test_cli_help_documents_every_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["condense"]
    undocumented = [a.dest for a in sub._actions if a.dest != "help" and not (a.help or "").strip()]
    assert not undocumented
    text = sub.format_help()
    for flag in ("--ancestry", "--dataset", "--classes", "--output", "--method", "--push-to-hub",
                 "--meta-learning-rate", "--num-repeats", "--pseudo-descendant-layers", "--checkpoint-dir"):
        assert flag in text


def test_gradient_accumulation_runs_and_scores_stay_normalised(dataset: Dataset) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. "lr_scheduler.step() before optimizer.step()"
        result = condense(tiny_vit(), dataset, CondenseConfig(**FAST, gradient_accumulation_steps=2))
    assert result.repeats[0].steps == FAST["max_iterations"]
    # The cosine schedules follow the optimizer updates (2 of them), not the 4 micro-batches.
    lrs = [entry["lr"] for entry in result.repeats[0].log]
    assert lrs == pytest.approx([1e-3, 5e-4, 5e-4, 0.0], abs=1e-12)
    assert result.layer_scores.sum() == pytest.approx(1.0)
    plain = condense(tiny_vit(), dataset, CondenseConfig(**FAST))
    assert not np.array_equal(result.pair_scores, plain.pair_scores)  # updates every 2nd batch: different path
