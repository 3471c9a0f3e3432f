"""hf_learngene.experiments.training: the metric, the per-epoch history and train_classifier (tiny ViT, a few CPU steps)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import EvalPrediction, Trainer
from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerCallback

from hf_learngene import FeatureDistillationTrainer, LearngeneModel, scratch_descendant_like
from hf_learngene.experiments.distillation import layer_pairs_from_learngene
from hf_learngene.experiments.training import accuracy_metrics, epochs_to_reach, train_classifier
from tests.tiny_models import IMAGE_SIZE, NUM_LABELS, tiny_vit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rows(n: int = 8, seed: int = 0) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen)
    return [{"pixel_values": x[i], "labels": i % NUM_LABELS} for i in range(n)]


def test_accuracy_metrics_takes_eval_predictions_pairs_and_top_k() -> None:
    logits = np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([1, 1, 2, 2])
    assert accuracy_metrics((logits, labels)) == {"accuracy": 0.5}
    assert accuracy_metrics(EvalPrediction(predictions=(logits, logits), label_ids=labels)) == {"accuracy": 0.5}
    top2 = functools.partial(accuracy_metrics, top_k=2)(EvalPrediction(predictions=logits, label_ids=labels))
    assert top2 == {"accuracy": 0.5, "top2_accuracy": 0.75}
    # k is capped at the number of classes; the key keeps the requested k
    assert accuracy_metrics((logits, labels), top_k=5)["top5_accuracy"] == 1.0


def test_epochs_to_reach() -> None:
    assert epochs_to_reach([0.2, 0.5, 0.7], 0.5) == 2
    assert epochs_to_reach([0.2, 0.3], 0.5) is None


class _Count(TrainerCallback):
    def __init__(self) -> None:
        self.evaluations = 0

    def on_evaluate(self, *args, **kwargs) -> None:
        self.evaluations += 1


def test_train_classifier_records_one_row_per_epoch(tmp_path: Path) -> None:
    counter = _Count()
    result = train_classifier(tiny_vit(), _rows(), _rows(seed=1), output_dir=tmp_path, epochs=2, batch_size=4,
                              learning_rate=1e-3, progress=False, callbacks=[counter])
    assert [row["epoch"] for row in result.history] == [1, 2] and counter.evaluations == 2
    for row in result.history:
        assert list(row) == ["epoch", "train_loss", "eval_accuracy", "eval_loss"]
        assert 0.0 <= row["eval_accuracy"] <= 1.0 and row["train_loss"] > 0
    assert result.accuracies == [row["eval_accuracy"] for row in result.history]
    assert result.final_accuracy == result.accuracies[-1] and result.train_metrics["train_runtime"] > 0
    callbacks = {type(c) for c in result.trainer.callback_handler.callbacks}
    assert PrinterCallback not in callbacks and ProgressCallback not in callbacks
    assert result.trainer.args.save_strategy == "no" and result.trainer.args.eval_strategy == "epoch"


def test_train_classifier_with_ready_arguments_and_a_distillation_trainer(tmp_path: Path) -> None:
    teacher = tiny_vit()
    learngene = LearngeneModel.from_ancestry(teacher, layer_indices=[0, 2])
    student = scratch_descendant_like(learngene, num_labels=NUM_LABELS, seed=0)
    first = train_classifier(tiny_vit(), _rows(), _rows(seed=1), output_dir=tmp_path / "a", epochs=1, batch_size=4,
                             progress=False)
    result = train_classifier(
        student, _rows(), _rows(seed=1), args=first.trainer.args, trainer_class=FeatureDistillationTrainer,
        trainer_kwargs={"teacher": teacher, "layer_pairs": layer_pairs_from_learngene(student, learngene)},
        progress=False,
    )
    assert isinstance(result.trainer, FeatureDistillationTrainer) and result.trainer.args is first.trainer.args
    (row,) = result.history
    assert list(row) == ["epoch", "train_loss", "ce_loss", "feature_loss", "eval_accuracy", "eval_loss"]
    with pytest.raises(ValueError, match="needs output_dir"):
        train_classifier(tiny_vit(), _rows(), _rows(), trainer_class=Trainer)
    with pytest.raises(ValueError, match=r"got args and also output_dir / \['epochs'\]"):
        train_classifier(tiny_vit(), _rows(), _rows(), args=first.trainer.args, epochs=3)
