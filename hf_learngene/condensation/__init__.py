"""Condensing an ancestry into a learngene: Auto-Learngene (paper Algorithm 1), Heur-Learngene, manual.

The names below load their modules (``accelerate``, ``datasets``, matplotlib) on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public names loaded on first use: ``{name: module that defines it}``.
_LAZY_ATTRIBUTES: dict[str, str] = {
    "CondenseResult": ".api",
    "condense": ".api",
    "MetaNetwork": ".auto",
    "PseudoDescendant": ".auto",
    "RepeatResult": ".auto",
    "layer_scores_from_pairs": ".auto",
    "select_layers": ".selection",
    "CondenseConfig": ".config",
}

if TYPE_CHECKING:
    from .api import CondenseResult, condense
    from .auto import MetaNetwork, PseudoDescendant, RepeatResult, layer_scores_from_pairs
    from .config import CondenseConfig
    from .selection import select_layers


def __getattr__(name: str) -> Any:
    """Load a public name of :data:`_LAZY_ATTRIBUTES` from its module on first use (PEP 562)."""
    module = _LAZY_ATTRIBUTES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_ATTRIBUTES))


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
