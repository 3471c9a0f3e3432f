"""The experiment toolkit, apart from the library core: what the demo, the examples and the paper harness use to
train ancestries and descendants and to compare them.

- :mod:`~hf_learngene.experiments.tasks`: where the dataset is by default (``$LEARNGENE_DATASET`` or
  ``../shared/datasets/mini-imagenet``), the mini-ImageNet class split and seeded N-way tasks;
- :mod:`~hf_learngene.experiments.training`: ``train_classifier`` (``Trainer`` + per-epoch accuracy), the collator;
- :mod:`~hf_learngene.experiments.distillation`: the Feature Distillation baseline (``FeatureDistillationTrainer``);
- :mod:`~hf_learngene.experiments.finetune`: build a descendant (learngene / scratch / distill) and fine-tune it on
  a task (``examples/finetune_descendant.py`` is its command line);
- :mod:`~hf_learngene.experiments.demo`: ``learngene demo``.

Condensing and inheriting need none of this. The names below load their modules (``Trainer``, ``datasets``) on
first use.

Example:
    >>> from hf_learngene.experiments import MINI_IMAGENET_SPLIT
    >>> MINI_IMAGENET_SPLIT.as_specs()
    {'ancestry': '0-63', 'condense': '64-79', 'descendant': '80-99'}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

#: Public names loaded on first use: ``{name: module that defines it}``.
_LAZY_ATTRIBUTES: dict[str, str] = {
    "run_demo": ".demo",
    "FeatureDistillationTrainer": ".distillation",
    "layer_pairs_from_learngene": ".distillation",
    "build_descendant": ".finetune",
    "finetune": ".finetune",
    "MINI_IMAGENET_SPLIT": ".tasks",
    "ClassSplit": ".tasks",
    "Task": ".tasks",
    "default_dataset_path": ".tasks",
    "make_task": ".tasks",
    "EpochHistory": ".training",
    "TrainResult": ".training",
    "accuracy_metrics": ".training",
    "classifier_training_arguments": ".training",
    "collate_fn": ".training",
    "epochs_to_reach": ".training",
    "train_classifier": ".training",
}

if TYPE_CHECKING:
    from .demo import run_demo
    from .distillation import FeatureDistillationTrainer, layer_pairs_from_learngene
    from .finetune import build_descendant, finetune
    from .tasks import MINI_IMAGENET_SPLIT, ClassSplit, Task, default_dataset_path, make_task
    from .training import (
        EpochHistory,
        TrainResult,
        accuracy_metrics,
        classifier_training_arguments,
        collate_fn,
        epochs_to_reach,
        train_classifier,
    )

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRIBUTES)

__all__ = [
    "MINI_IMAGENET_SPLIT",
    "ClassSplit",
    "EpochHistory",
    "FeatureDistillationTrainer",
    "Task",
    "TrainResult",
    "accuracy_metrics",
    "build_descendant",
    "classifier_training_arguments",
    "collate_fn",
    "default_dataset_path",
    "epochs_to_reach",
    "finetune",
    "layer_pairs_from_learngene",
    "make_task",
    "run_demo",
    "train_classifier",
]
