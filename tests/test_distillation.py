"""Tests for hf_learngene.experiments.distillation (tiny random ViT and ResNet, a few CPU steps)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset
from transformers import (
    AutoModelForImageClassification,
    ResNetConfig,
    ResNetForImageClassification,
    TrainingArguments,
    ViTConfig,
    ViTForImageClassification,
)

from hf_learngene import LearngeneModel, from_learngene
from hf_learngene.experiments.distillation import (
    FeatureDistillationTrainer,
    layer_pairs_from_learngene,
    scratch_descendant_like,
)

IMAGE = 16
NUM_LABELS = 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FixedBatch(Dataset):
    """8 fixed random images with fixed labels (one batch)."""

    def __init__(self, n: int = 8, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 3, IMAGE, IMAGE, generator=gen)
        self.y = torch.arange(n) % NUM_LABELS

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"pixel_values": self.x[i], "labels": int(self.y[i])}


def collate(rows: list[dict]) -> dict:
    return {
        "pixel_values": torch.stack([r["pixel_values"] for r in rows]),
        "labels": torch.tensor([r["labels"] for r in rows]),
    }


def tiny_vit(hidden: int = 32, layers: int = 4, seed: int = 0) -> ViTForImageClassification:
    torch.manual_seed(seed)
    return ViTForImageClassification(
        ViTConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
                  image_size=IMAGE, patch_size=4, num_labels=NUM_LABELS)
    ).eval()


def tiny_resnet(seed: int = 0) -> ResNetForImageClassification:
    torch.manual_seed(seed)
    return ResNetForImageClassification(
        ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[2, 2, 2, 2], num_labels=NUM_LABELS)
    ).eval()


def make_args(tmp_path, steps: int) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path / "out"), report_to=[], save_strategy="no", use_cpu=True, max_steps=steps,
        per_device_train_batch_size=8, learning_rate=3e-3, logging_steps=1, remove_unused_columns=False,
        disable_tqdm=True, seed=0, lr_scheduler_type="constant",
    )


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def run_checks(tmp_path, student, teacher, pairs, family: str, expect_trainable_aligners: bool) -> None:
    before = snapshot(teacher)
    trainer = FeatureDistillationTrainer(
        model=student, args=make_args(tmp_path, 8), train_dataset=FixedBatch(), data_collator=collate,
        teacher=teacher, layer_pairs=pairs, family=family, distill_weight=1.0,
    )
    trainer.train()
    # losses logged, both terms present, and the total decreased on the fixed batch
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) >= 8
    assert all("ce_loss" in e and "feature_loss" in e for e in logs)
    assert logs[-1]["loss"] < logs[0]["loss"]
    assert all(e["feature_loss"] > 0 for e in logs)
    # teacher frozen and unchanged bit for bit (incl. BatchNorm buffers)
    assert not teacher.training
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, before[key]), key
    # aligners: trainable ones are in the optimizer and receive gradients
    aligner_params = list(trainer.aligners.parameters())
    assert bool(aligner_params) == expect_trainable_aligners
    if aligner_params:
        opt_ids = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
        assert all(id(p) in opt_ids for p in aligner_params)
        trainer.model.train()
        trainer.model.zero_grad()
        for p in aligner_params:
            p.grad = None
        batch = collate([FixedBatch()[i] for i in range(8)])
        trainer.distill_weight = 1.0
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in aligner_params)
    # eval mode: plain CE, no teacher needed
    trainer.model.eval()
    with torch.no_grad():
        eval_loss = trainer.compute_loss(trainer.model, collate([FixedBatch()[i] for i in range(8)]))
    assert torch.isfinite(eval_loss)
    # the saved model is a plain transformers model
    trainer.save_model(str(tmp_path / "saved"))
    loaded = AutoModelForImageClassification.from_pretrained(str(tmp_path / "saved"))
    assert type(loaded) is type(student)
    for key, value in student.state_dict().items():
        assert torch.equal(loaded.state_dict()[key].cpu(), value.cpu()), key
    assert not any("aligner" in k for k in loaded.state_dict())


def test_vit_distillation_identity_alignment(tmp_path) -> None:
    teacher = tiny_vit()
    learngene = LearngeneModel.from_ancestry(teacher, layer_indices=[0, 2])
    student = scratch_descendant_like(learngene, num_labels=NUM_LABELS, seed=1)
    child = from_learngene(learngene, num_labels=NUM_LABELS, seed=1)
    pairs = layer_pairs_from_learngene(student, learngene)
    assert pairs == [(0, 0), (1, 2)] == layer_pairs_from_learngene(child)
    # same architecture and same fresh weights as the learngene descendant; inherited layers differ
    assert student.state_dict().keys() == child.state_dict().keys()
    assert torch.equal(student.classifier.weight, child.classifier.weight)
    assert not torch.equal(student.vit.layers[0].mlp.fc2.weight, child.vit.layers[0].mlp.fc2.weight)
    run_checks(tmp_path, student, teacher, pairs, "vit", expect_trainable_aligners=False)


def test_vit_distillation_linear_alignment(tmp_path) -> None:
    teacher = tiny_vit(hidden=32)
    student = tiny_vit(hidden=16, layers=2, seed=3).train()
    run_checks(tmp_path, student, teacher, [(0, 1), (1, 3)], "vit", expect_trainable_aligners=True)


def test_resnet_distillation(tmp_path) -> None:
    teacher = tiny_resnet()
    learngene = LearngeneModel.from_ancestry(teacher, layer_indices=[0, 7])
    student = scratch_descendant_like(learngene, num_labels=NUM_LABELS, seed=0)
    pairs = layer_pairs_from_learngene(student, learngene)
    child = from_learngene(learngene, num_labels=NUM_LABELS, seed=0)
    assert pairs == layer_pairs_from_learngene(child)
    assert [t for _, t in pairs] == [0, 7]
    assert student.config.depths == child.config.depths
    run_checks(tmp_path, student, teacher, pairs, "resnet", expect_trainable_aligners=True)


def test_relative_feature_loss_is_scale_free() -> None:
    from hf_learngene.experiments.distillation import feature_distance

    torch.manual_seed(0)
    student, teacher = torch.randn(4, 8, 5, 5), torch.randn(4, 8, 5, 5)
    relative = feature_distance(student, teacher)
    assert relative == pytest.approx(float(((student - teacher) ** 2).mean() / (teacher ** 2).mean()))
    # Scaling both features by 100 multiplies plain MSE by 10^4 but leaves the relative loss unchanged.
    assert feature_distance(100 * student, 100 * teacher) == pytest.approx(float(relative), rel=1e-5)
    assert feature_distance(100 * student, 100 * teacher, "mse") == pytest.approx(
        1e4 * float(feature_distance(student, teacher, "mse")), rel=1e-5)


def test_unknown_feature_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="feature_loss must be one of"):
        FeatureDistillationTrainer(teacher=torch.nn.Linear(1, 1), layer_pairs=[(0, 0)], feature_loss="l1")


def test_aligner_gradients_are_clipped_with_the_student(tmp_path) -> None:
    """Trainer clips only the model's gradients; the alignment modules must be clipped too (they diverged)."""
    teacher = tiny_resnet()
    learngene = LearngeneModel.from_ancestry(teacher, layer_indices=[0, 7])
    student = scratch_descendant_like(learngene, num_labels=NUM_LABELS, seed=0)
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), report_to=[], save_strategy="no", use_cpu=True, max_steps=1,
        per_device_train_batch_size=8, learning_rate=1.0, optim="sgd", max_grad_norm=1e-3, lr_scheduler_type="constant",
        remove_unused_columns=False, disable_tqdm=True, seed=0,
    )
    trainer = FeatureDistillationTrainer(model=student, args=args, train_dataset=FixedBatch(), data_collator=collate,
                                         teacher=teacher, layer_pairs=layer_pairs_from_learngene(student, learngene),
                                         feature_loss="mse", distill_weight=100.0)
    trainer.build_aligners(FixedBatch().x[:2])
    before = [p.detach().clone() for p in trainer.aligners.parameters()]
    before += [p.detach().clone() for p in student.parameters()]
    trainer.train()
    after = list(trainer.aligners.parameters()) + list(student.parameters())
    step = torch.sqrt(sum(((a.detach() - b) ** 2).sum() for a, b in zip(after, before)))
    assert 0 < float(step) <= 1e-3 * 1.0001  # SGD step = lr * clipped gradient: the joint norm is at most 1e-3
