"""Condensing an ancestry into a learngene: Auto-Learngene (paper Algorithm 1), Heur-Learngene, manual, the
layer-selection methods of :mod:`.selection_methods` (first_k, evenly_spaced, block_influence, angular_block,
probe_greedy), or a method of your own (:func:`register_condense_method`); how many layers it keeps: a size rule of
:mod:`.size_rules` (``"half"``, ``"threshold"``, or one of yours: :func:`register_size_rule`).

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
    "DEFAULT_MAX_IMAGES_PER_CLASS": ".base",
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
    "SizeRule": ".size_rules",
    "available_size_rules": ".size_rules",
    "get_size_rule": ".size_rules",
    "register_size_rule": ".size_rules",
    "AngularBlockConfig": ".selection_methods",
    "BlockInfluenceConfig": ".selection_methods",
    "EvenlySpacedConfig": ".selection_methods",
    "FirstKConfig": ".selection_methods",
    "ProbeGreedyConfig": ".selection_methods",
}

if TYPE_CHECKING:
    from .api import CondenseResult, condense
    from .auto import MetaNetwork, PseudoDescendant, layer_scores_from_pairs
    from .base import DEFAULT_MAX_IMAGES_PER_CLASS, BaseCondenseConfig, CondenseMethod, RepeatResult
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
    from .size_rules import SizeRule, available_size_rules, get_size_rule, register_size_rule


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRIBUTES)


__all__ = [
    "DEFAULT_MAX_IMAGES_PER_CLASS",
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
    "SizeRule",
    "available_methods",
    "available_size_rules",
    "condense",
    "get_condense_method",
    "get_size_rule",
    "layer_scores_from_pairs",
    "register_condense_method",
    "register_size_rule",
    "select_layers",
]
