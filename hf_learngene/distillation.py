"""Moved to :mod:`hf_learngene.experiments.distillation`; re-exported here for code that imports the old path
(``examples/paper/harness.py``)."""

from .experiments.distillation import (
    FeatureDistillationTrainer,
    capture_layer_outputs,
    layer_pairs_from_learngene,
    scratch_descendant_like,
)

__all__ = [
    "FeatureDistillationTrainer",
    "capture_layer_outputs",
    "layer_pairs_from_learngene",
    "scratch_descendant_like",
]
