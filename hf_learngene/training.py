"""Moved to :mod:`hf_learngene.experiments.training`; re-exported here for code that imports the old path
(``examples/paper/harness.py``)."""

from .experiments.training import (
    EpochHistory,
    TrainResult,
    accuracy_metrics,
    classifier_training_arguments,
    collate_fn,
    epochs_to_reach,
    train_classifier,
)

__all__ = [
    "EpochHistory",
    "TrainResult",
    "accuracy_metrics",
    "classifier_training_arguments",
    "collate_fn",
    "epochs_to_reach",
    "train_classifier",
]
