"""The registry of condensing methods: a method is a name, its config class and a runner.

:func:`register_condense_method` makes a method available to :func:`~hf_learngene.condense`, to
``learngene condense --method NAME`` (its config fields become options) and to
:class:`~hf_learngene.LearngeneConfig` (``selection_method``). The registry itself is in
:mod:`~hf_learngene.condensation.base` (configs check their ``method`` against it); this module is where to take it
from, because importing it also registers the three built-in methods (at the bottom of
:mod:`~hf_learngene.condensation.config`, next to their configs):

- ``"auto"``: Auto-Learngene (:class:`~hf_learngene.condensation.config.AutoLearngeneConfig`, runner
  :func:`hf_learngene.condensation.auto.run_auto_repeat`);
- ``"heuristic"``: Heur-Learngene (:class:`~hf_learngene.condensation.config.HeuristicConfig`, runner
  :func:`hf_learngene.condensation.heuristic.run_heuristic_repeat`);
- ``"manual"``: the layers given in ``layer_indices`` (:class:`~hf_learngene.condensation.config.ManualConfig`, no
  runner);

and the layer-selection methods of :mod:`~hf_learngene.condensation.selection_methods`, one module each, registered
when this module imports that package: ``"first_k"`` (the library's default, :data:`DEFAULT_CONDENSE_METHOD`),
``"evenly_spaced"`` (both read no data), ``"block_influence"``, ``"angular_block"`` and ``"probe_greedy"``.

A runner scores the ancestry's layers once: ``runner(ancestry, family, data, config, accelerator, repeat)`` returns a
:class:`~hf_learngene.condensation.base.RepeatResult` with ``layer_scores`` (one per integral layer, summing to 1).
``condense`` runs it ``config.num_repeats`` times (resuming finished repeats from ``checkpoint_dir``), averages the
scores and selects the layers. A runner may be given as ``"package.module:function"``, imported on first use, so that
registering a method does not import what it needs to run. See CONTRIBUTING.md for a complete new method.

This module imports nothing heavy (no accelerate or datasets; torch and transformers come with ``hf_learngene``).
"""

from __future__ import annotations

from typing import Any

from .base import (
    DEFAULT_CONDENSE_METHOD,
    BaseCondenseConfig,
    CondenseMethod,
    Runner,
    available_methods,
    get_condense_method,
    register_condense_method,
)
from .config import CondenseConfig
from .selection_methods import SELECTION_METHODS  # importing the package registers them (after the built-ins)

__all__ = [
    "SELECTION_METHODS",
    "CondenseMethod",
    "Runner",
    "available_methods",
    "config_class_for",
    "default_condense_config",
    "get_condense_method",
    "register_condense_method",
]


def config_class_for(method: str) -> type[BaseCondenseConfig]:
    """The class to configure ``method`` with: :class:`CondenseConfig` for the built-in methods (it holds all their
    fields), else the method's own config class."""
    own = get_condense_method(method).config_class
    return CondenseConfig if issubclass(CondenseConfig, own) else own


def default_condense_config(**fields: Any) -> BaseCondenseConfig:
    """The config of ``condense(ancestry, dataset)`` without one: :data:`DEFAULT_CONDENSE_METHOD` with its defaults
    (the default size rule and image budget), ``fields`` on top.

    Example:
        >>> default_condense_config(num_layers=4).num_layers
        4
    """
    return config_class_for(DEFAULT_CONDENSE_METHOD)(**{"method": DEFAULT_CONDENSE_METHOD, **fields})
