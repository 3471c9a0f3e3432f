"""Training descendants (and small ancestries) with `transformers.Trainer`, recording accuracy per epoch."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import PreTrainedModel, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback

from .data import collate_fn


def accuracy_metrics(eval_pred: Any) -> dict[str, float]:
    """``compute_metrics`` for `Trainer`: top-1 accuracy (numpy; works offline, unlike ``evaluate.load``)."""
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


class EpochHistory(TrainerCallback):
    """Collects the evaluation metrics and the mean training loss of every epoch."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self._losses: list[float] = []

    def on_log(self, args: TrainingArguments, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
        if logs and "loss" in logs:
            self._losses.append(float(logs["loss"]))

    def on_evaluate(self, args: TrainingArguments, state: Any, control: Any, metrics: dict | None = None,
                    **kw: Any) -> None:
        metrics = metrics or {}
        entry = {"epoch": round(float(state.epoch or 0.0), 4),
                 "accuracy": float(metrics.get("eval_accuracy", float("nan"))),
                 "eval_loss": float(metrics.get("eval_loss", float("nan")))}
        if self._losses:
            entry["train_loss"] = float(np.mean(self._losses))
            self._losses = []
        self.epochs.append(entry)


@dataclass
class TrainResult:
    """Per-epoch history of a :func:`train_classifier` run."""

    history: list[dict[str, float]]
    wall_time: float
    trainer: Trainer | None = field(default=None, repr=False)

    @property
    def accuracies(self) -> list[float]:
        return [entry["accuracy"] for entry in self.history]

    @property
    def final_accuracy(self) -> float:
        return self.accuracies[-1] if self.history else float("nan")


def train_classifier(
    model: PreTrainedModel,
    train_dataset: Dataset,
    eval_dataset: Dataset,
    *,
    output_dir: str | os.PathLike,
    epochs: float = 10,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 32,
    eval_batch_size: int | None = None,
    seed: int = 0,
    optim: str = "adamw_torch",
    lr_scheduler_type: str = "cosine",
    warmup: float = 0.0,
    trainer_class: type[Trainer] = Trainer,
    trainer_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    **training_args: Any,
) -> TrainResult:
    """Train ``model`` with `Trainer` and evaluate accuracy after every epoch.

    The datasets must yield ``pixel_values`` and ``labels`` (e.g. with :class:`~hf_learngene.data.ImageTransform`).

    Example:
        >>> result = train_classifier(child, task.train.with_transform(tf), task.test.with_transform(tf),  # doctest: +SKIP
        ...                           output_dir="runs/child", epochs=10, learning_rate=1e-3)
        >>> result.accuracies  # doctest: +SKIP
    """
    args = TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=eval_batch_size or max(batch_size, 64),
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        optim=optim,
        lr_scheduler_type=lr_scheduler_type,
        warmup_steps=warmup,
        eval_strategy="epoch",
        logging_strategy="epoch",
        save_strategy="no",
        report_to=[],
        remove_unused_columns=False,
        seed=seed,
        data_seed=seed,
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        **training_args,
    )
    history = EpochHistory()
    trainer = trainer_class(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                            data_collator=collate_fn, compute_metrics=accuracy_metrics, callbacks=[history],
                            **(trainer_kwargs or {}))
    if not progress:  # without progress bars Trainer prints every log dict; keep the console quiet instead
        trainer.remove_callback(PrinterCallback)
    start = time.perf_counter()
    trainer.train()
    return TrainResult(history=history.epochs, wall_time=time.perf_counter() - start, trainer=trainer)
