"""Condensing an ancestry into a learngene: Auto-Learngene (paper Algorithm 1), Heur-Learngene, manual."""

from .api import CondenseResult, condense
from .auto import MetaNetwork, PseudoDescendant, RepeatResult, layer_scores_from_pairs, select_layers
from .config import CondenseConfig

__all__ = [
    "CondenseConfig",
    "CondenseResult",
    "MetaNetwork",
    "PseudoDescendant",
    "RepeatResult",
    "condense",
    "layer_scores_from_pairs",
    "select_layers",
]
