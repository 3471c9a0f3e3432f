"""Condensing an ancestry into a learngene: Auto-Learngene (paper Algorithm 1), Heur-Learngene, manual, the
layer-selection methods of :mod:`.selection_methods` (first_k, evenly_spaced, block_influence, angular_block,
probe_greedy), or a method of your own (:func:`register_condense_method`).

The names below load their modules (``accelerate``, ``datasets``, matplotlib) on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

#: Public names loaded on first use: ``{name: module that defines it}``.
_LAZY_ATTRIBUTES: dict[str, str] = {
    "CondenseResult": ".api",
    "condense": ".api",
    "MetaNetwork": ".auto",
    "PseudoDescendant": ".auto",
    "layer_scores_from_pairs": ".auto",
    "BaseCondenseConfig": ".base",
    "CondenseMethod": ".base",
    "RepeatResult": ".base",
    "AutoLearngeneConfig": ".config",
    "CondenseConfig": ".config",
    "HeuristicConfig": ".config",
    "ManualConfig": ".config",
    "available_methods": ".methods",
    "get_condense_method": ".methods",
    "register_condense_method": ".methods",
    "select_layers": ".selection",
    "AngularBlockConfig": ".selection_methods",
    "BlockInfluenceConfig": ".selection_methods",
    "EvenlySpacedConfig": ".selection_methods",
    "FirstKConfig": ".selection_methods",
    "ProbeGreedyConfig": ".selection_methods",
}

if TYPE_CHECKING:
    from .api import CondenseResult, condense
    from .auto import MetaNetwork, PseudoDescendant, layer_scores_from_pairs
    from .base import BaseCondenseConfig, CondenseMethod, RepeatResult
    from .config import AutoLearngeneConfig, CondenseConfig, HeuristicConfig, ManualConfig
    from .methods import available_methods, get_condense_method, register_condense_method
    from .selection import select_layers
    from .selection_methods import (
        AngularBlockConfig,
        BlockInfluenceConfig,
        EvenlySpacedConfig,
        FirstKConfig,
        ProbeGreedyConfig,
    )


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRIBUTES)


__all__ = [
    "AngularBlockConfig",
    "AutoLearngeneConfig",
    "BaseCondenseConfig",
    "BlockInfluenceConfig",
    "CondenseConfig",
    "CondenseMethod",
    "CondenseResult",
    "EvenlySpacedConfig",
    "FirstKConfig",
    "HeuristicConfig",
    "ManualConfig",
    "MetaNetwork",
    "ProbeGreedyConfig",
    "PseudoDescendant",
    "RepeatResult",
    "available_methods",
    "condense",
    "get_condense_method",
    "layer_scores_from_pairs",
    "register_condense_method",
    "select_layers",
]
