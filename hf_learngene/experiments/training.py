"""Training descendants (and small ancestries) with `transformers.Trainer`, recording accuracy per epoch.

The pieces are shared by the demo (:mod:`hf_learngene.experiments.demo`) and the examples (``train_ancestry.py``,
``finetune_descendant.py``, the paper harness): :func:`collate_fn` (the collator), :func:`accuracy_metrics`
(``compute_metrics``), :class:`EpochHistory` (one row per evaluation), :func:`classifier_training_arguments` (the
usual ``TrainingArguments``) and :func:`train_classifier` (all of them around one ``Trainer``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import PreTrainedModel, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback

__all__ = [
    "EpochHistory",
    "TrainResult",
    "accuracy_metrics",
    "classifier_training_arguments",
    "collate_fn",
    "epochs_to_reach",
    "train_classifier",
]


def collate_fn(examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack ``pixel_values`` and labels (``"labels"`` or ``"label"``) of transformed rows, for ``Trainer``.

    Example:
        >>> trainer = Trainer(model=model, args=args, train_dataset=ds_train, data_collator=collate_fn)
        >>> collate_fn([{"pixel_values": torch.zeros(3, 8, 8), "labels": 1}] * 2)["labels"]
        tensor([1, 1])
    """
    out = {"pixel_values": torch.stack([torch.as_tensor(e["pixel_values"]) for e in examples])}
    key = "labels" if "labels" in examples[0] else ("label" if "label" in examples[0] else None)
    if key is not None:
        out["labels"] = torch.as_tensor([int(e[key]) for e in examples], dtype=torch.long)
    return out



def accuracy_metrics(eval_pred: Any, top_k: int | None = None) -> dict[str, float]:
    """``compute_metrics`` for `Trainer`: top-1 accuracy (numpy; works offline, unlike ``evaluate.load``).

    ``eval_pred`` is an ``EvalPrediction`` or a ``(logits, labels)`` pair. With ``top_k`` the result also has
    ``f"top{top_k}_accuracy"`` (``k`` capped at the number of classes); pass it with ``functools.partial``.

    Example:
        >>> import numpy as np
        >>> accuracy_metrics((np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])))
        {'accuracy': 0.5}
    """
    if hasattr(eval_pred, "predictions"):
        logits, labels = eval_pred.predictions, eval_pred.label_ids
    else:
        logits, labels = eval_pred
    logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits)
    labels = np.asarray(labels)
    metrics = {"accuracy": float((logits.argmax(-1) == labels).mean())}
    if top_k is not None:
        k = min(top_k, logits.shape[-1])
        top = np.argpartition(-logits, k - 1, axis=-1)[..., :k]
        metrics[f"top{top_k}_accuracy"] = float((top == labels[..., None]).any(-1).mean())
    return metrics


class EpochHistory(TrainerCallback):
    """Collects one row per evaluation: the evaluation metrics and the mean training losses since the last one.

    A row is ``{"epoch", "train_loss", <train_keys>..., "eval_accuracy", "eval_loss"}`` (keys only when logged;
    ``epoch`` is an int when the evaluation falls on an epoch boundary). ``train_keys`` are further training-log
    values averaged the same way, e.g. the ``ce_loss`` / ``feature_loss`` that
    :class:`~hf_learngene.FeatureDistillationTrainer` logs.
    """

    def __init__(self, train_keys: Sequence[str] = ("ce_loss", "feature_loss")) -> None:
        self.train_keys = tuple(train_keys)
        self.epochs: list[dict[str, float]] = []
        self._logged: dict[str, list[float]] = {}

    def on_log(self, args: TrainingArguments, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
        if logs and "loss" in logs:
            for key in ("loss", *self.train_keys):
                if key in logs:
                    self._logged.setdefault(key, []).append(float(logs[key]))

    def on_evaluate(self, args: TrainingArguments, state: Any, control: Any, metrics: dict | None = None,
                    **kw: Any) -> None:
        metrics = metrics or {}
        epoch = float(state.epoch or 0.0)
        entry: dict[str, float] = {"epoch": round(epoch) if abs(epoch - round(epoch)) < 1e-6 else round(epoch, 4)}
        for key, values in self._logged.items():
            entry["train_loss" if key == "loss" else key] = float(np.mean(values))
        self._logged = {}
        entry["eval_accuracy"] = float(metrics.get("eval_accuracy", float("nan")))
        if "eval_loss" in metrics:
            entry["eval_loss"] = float(metrics["eval_loss"])
        self.epochs.append(entry)


@dataclass
class TrainResult:
    """Per-epoch history of a :func:`train_classifier` run."""

    history: list[dict[str, float]]
    wall_time: float
    trainer: Trainer | None = field(default=None, repr=False)
    #: what ``trainer.train()`` returned in ``.metrics`` (``train_runtime``, ``train_loss``, ...).
    train_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def accuracies(self) -> list[float]:
        return [entry["eval_accuracy"] for entry in self.history]

    @property
    def final_accuracy(self) -> float:
        return self.accuracies[-1] if self.history else float("nan")


def epochs_to_reach(curve: Sequence[float], target: float) -> int | None:
    """First epoch (1-based) at which the per-epoch accuracies ``curve`` reach ``target``; ``None`` if never.

    Example:
        >>> epochs_to_reach([0.2, 0.5, 0.7], 0.5)
        2
    """
    for i, value in enumerate(curve):
        if value >= target - 1e-12:
            return i + 1
    return None


def classifier_training_arguments(
    output_dir: str | os.PathLike,
    *,
    epochs: float = 10,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 32,
    eval_batch_size: int | None = None,
    seed: int = 0,
    optim: str = "adamw_torch",
    lr_scheduler_type: str = "cosine",
    warmup: float = 0.0,
    eval_strategy: str = "epoch",
    progress: bool = True,
    **training_args: Any,
) -> TrainingArguments:
    """``TrainingArguments`` for a small image classifier: evaluation and logging every epoch (``eval_strategy``),
    no checkpoints, no reporting, seeded data order, single-process data loading, the CPU when there is no GPU.

    ``warmup`` goes to ``warmup_steps`` (a number < 1 is a fraction of the steps); ``**training_args`` override any
    of these defaults or set other ``TrainingArguments`` fields.
    """
    values: dict[str, Any] = {
        "num_train_epochs": epochs,
        "per_device_train_batch_size": batch_size,
        "per_device_eval_batch_size": eval_batch_size or max(batch_size, 64),
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "optim": optim,
        "lr_scheduler_type": lr_scheduler_type,
        "warmup_steps": warmup,
        "eval_strategy": eval_strategy,
        "logging_strategy": eval_strategy,
        "save_strategy": "no",
        "report_to": [],
        "remove_unused_columns": False,
        "seed": seed,
        "data_seed": seed,
        "disable_tqdm": not progress,
        "dataloader_num_workers": 0,
        "use_cpu": not torch.cuda.is_available(),
    }
    values.update(training_args)
    return TrainingArguments(output_dir=str(output_dir), **values)


def train_classifier(
    model: PreTrainedModel,
    train_dataset: Dataset,
    eval_dataset: Dataset,
    *,
    output_dir: str | os.PathLike | None = None,
    args: TrainingArguments | None = None,
    compute_metrics: Callable[[Any], dict[str, float]] = accuracy_metrics,
    callbacks: Sequence[TrainerCallback] | None = None,
    trainer_class: type[Trainer] = Trainer,
    trainer_kwargs: dict[str, Any] | None = None,
    resume_from_checkpoint: str | bool | None = None,
    progress: bool = True,
    **training_args: Any,
) -> TrainResult:
    """Train ``model`` with `Trainer` (or ``trainer_class``) and evaluate accuracy after every epoch.

    The datasets must yield ``pixel_values`` and ``labels`` (e.g. with :class:`~hf_learngene.data.ImageTransform`).

    Args:
        output_dir, **training_args: build the ``TrainingArguments`` with :func:`classifier_training_arguments`
            (``epochs``, ``learning_rate``, ``weight_decay``, ``batch_size``, ``eval_batch_size``, ``seed``,
            ``optim``, ``lr_scheduler_type``, ``warmup``, ``eval_strategy`` or any ``TrainingArguments`` field) ...
        args: ... or give ready ``TrainingArguments`` instead (e.g. parsed from a command line).
        compute_metrics: default :func:`accuracy_metrics`.
        callbacks: run beside the :class:`EpochHistory` that fills ``TrainResult.history`` (and, for a descendant
            of :func:`~hf_learngene.from_learngene`, a :class:`~hf_learngene.DescendantCardCallback` that writes its
            model card into every checkpoint, unless ``callbacks`` has one).
        trainer_class, trainer_kwargs: the trainer and its extra arguments (e.g.
            :class:`~hf_learngene.FeatureDistillationTrainer` with ``teacher=...``, or ``processing_class=...``).
        resume_from_checkpoint: passed to ``trainer.train``.
        progress: ``False`` hides the progress bars and Trainer's printing of every log dict (a quiet console, e.g.
            for many short runs).

    Example:
        >>> result = train_classifier(child, task.train.with_transform(tf), task.test.with_transform(tf),  # doctest: +SKIP
        ...                           output_dir="runs/child", epochs=10, learning_rate=1e-3)
        >>> result.accuracies  # doctest: +SKIP
    """
    if args is None:
        if output_dir is None:
            raise ValueError("train_classifier needs output_dir (or ready TrainingArguments as args).")
        args = classifier_training_arguments(output_dir, progress=progress, **training_args)
    elif output_dir is not None or training_args:
        raise ValueError(f"train_classifier got args and also output_dir / {sorted(training_args)}: put those "
                         "settings into args.")
    from ..inherit import DescendantCardCallback

    history = EpochHistory()
    callbacks = [history, *(callbacks or [])]
    if getattr(model.config, "learngene", None) and not any(isinstance(c, DescendantCardCallback) for c in callbacks):
        callbacks.append(DescendantCardCallback())
    trainer = trainer_class(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                            data_collator=collate_fn, compute_metrics=compute_metrics,
                            callbacks=callbacks, **(trainer_kwargs or {}))
    if not progress:  # without progress bars Trainer prints every log dict; keep the console quiet instead
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    return TrainResult(history=history.epochs, wall_time=time.perf_counter() - start, trainer=trainer,
                       train_metrics=dict(output.metrics))
