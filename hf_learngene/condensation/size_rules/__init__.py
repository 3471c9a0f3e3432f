"""Size rules: how many of the ancestry's layers a learngene keeps when no size is asked for, one module each,
registered with :func:`register_size_rule` (``CondenseConfig(size_rule=...)``, ``learngene condense --size-rule``):

- ``"half"`` (:mod:`.half`, the default, :data:`DEFAULT_SIZE_RULE`): the top ``max(1, L // 2)`` layers by score;
- ``"threshold"`` (:mod:`.threshold`): the paper's rule (Eq. 10), every layer scoring above ``1/L``.

A rule turns the layer scores (and the parameter count of each layer) into the selected layers and, where it can,
gives the size ``k`` for an ancestry of ``L`` layers, which the methods that pick a set of ``k`` layers need
(``first_k``, ``evenly_spaced``, ``angular_block``, ``probe_greedy``:
:func:`~hf_learngene.condensation.selection_methods.common.resolve_size`). ``num_layers`` and
``max_parameter_fraction`` override the rule as they always did (:func:`~hf_learngene.condensation.select_layers`).
A new rule is one new module that calls :func:`register_size_rule`; import it before naming it in a config.

This package imports only numpy.
"""

from __future__ import annotations

from .registry import SizeRule, available_size_rules, get_size_rule, register_size_rule, top_k

# Importing a rule module registers it.
from . import half, threshold  # noqa: F401  isort: skip

from ..base import DEFAULT_SIZE_RULE, PAPER_SIZE_RULE  # isort: skip

__all__ = ["DEFAULT_SIZE_RULE", "PAPER_SIZE_RULE", "SizeRule", "available_size_rules", "get_size_rule",
           "register_size_rule", "top_k"]
