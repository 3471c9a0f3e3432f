"""The registry of size rules: :class:`SizeRule`, :func:`register_size_rule`, :func:`get_size_rule`,
:func:`available_size_rules` (see the package docstring). Imports only numpy; the registry's dict lives in
:mod:`~hf_learngene.condensation.base`, so that configs can check a name without importing the rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import LearngeneError
from ..base import SIZE_RULES as _RULES
from ..base import available_size_rules  # noqa: F401  (re-exported)

#: ``select(scores, layer_parameters) -> layers``: the selected layer indices for normalised layer scores (one per
#: integral layer; ``layer_parameters``: the parameter count of each layer, or ``None`` where it is not known).
Select = Callable[[np.ndarray, "Sequence[int] | None"], Sequence[int]]


def top_k(scores: Sequence[float] | np.ndarray, k: int) -> list[int]:
    """The ``k`` best-scoring layers, sorted by index (ties broken by the lower index).

    Example:
        >>> top_k([0.25, 0.15, 0.13, 0.16, 0.31], 3)
        [0, 3, 4]
    """
    values = np.asarray(scores, dtype=np.float64)
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))
    return sorted(int(i) for i in order[:k])


@dataclass(frozen=True)
class SizeRule:
    """A registered size rule.

    Attributes:
        name: what ``CondenseConfig.size_rule`` / ``--size-rule`` say.
        select: ``select(scores, layer_parameters) -> layers`` (see :data:`Select`).
        num_layers: ``num_layers(L) -> k``, the size of the learngene for an ancestry of ``L`` integral layers, which
            the methods that pick a set of ``k`` layers (``first_k``, ``evenly_spaced``, ``angular_block``,
            ``probe_greedy``) need; ``None`` for a rule that gives no ``k`` (``"threshold"``: how many layers it keeps
            depends on the scores).
        description: one line for ``learngene condense --help`` and the model card.
    """

    name: str
    select: Select
    num_layers: Callable[[int], int] | None = None
    description: str = ""

    def selected_layers(self, scores: Sequence[float] | np.ndarray,
                        layer_parameters: Sequence[int] | None = None) -> list[int]:
        """The rule's layers for ``scores``, sorted and checked (distinct indices of existing layers)."""
        values = np.asarray(scores, dtype=np.float64)
        chosen = [int(i) for i in self.select(values, layer_parameters)]
        if len(set(chosen)) != len(chosen) or not all(0 <= i < len(values) for i in chosen):
            raise LearngeneError(f"Size rule {self.name!r} returned {chosen}: expected distinct layer indices in "
                                 f"0..{len(values) - 1}.")
        return sorted(chosen)

    def size(self, total: int) -> int | None:
        """``k`` for an ancestry of ``total`` integral layers (``None``: the rule gives none), checked to be
        ``1 <= k <= total``."""
        if self.num_layers is None:
            return None
        k = self.num_layers(total)
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= total:
            raise LearngeneError(f"Size rule {self.name!r} gave k={k!r} for {total} layers: expected an int in "
                                 f"1..{total}.")
        return int(k)


def register_size_rule(name: str, select: Select | None = None, *, num_layers: Callable[[int], int] | None = None,
                       description: str = "") -> SizeRule:
    """Register a size rule (call it once, in the rule's module) and return its :class:`SizeRule`.

    Args:
        name: the rule's name (``CondenseConfig(size_rule=name)``, ``--size-rule name``); registering a name again
            replaces the rule.
        select: ``select(scores, layer_parameters) -> layers``; ``None``: the top ``num_layers(L)`` layers by score.
        num_layers: ``num_layers(L) -> k`` (see :class:`SizeRule`); needed when ``select`` is ``None``.
        description: one line saying what the rule keeps.

    Example:
        >>> rule = register_size_rule("third", num_layers=lambda total: max(1, total // 3),
        ...                           description="the top L // 3 layers by score")  # doctest: +SKIP
    """
    if not isinstance(name, str) or not name:
        raise LearngeneError(f"A size rule needs a non-empty name, got {name!r}.")
    if select is None:
        if num_layers is None:
            raise LearngeneError(f"Size rule {name!r}: pass select=..., num_layers=... or both.")

        def top_of_size(scores: np.ndarray, layer_parameters: Sequence[int] | None = None) -> list[int]:
            return top_k(scores, rule.size(len(scores)))

        select = top_of_size
    if not callable(select) or (num_layers is not None and not callable(num_layers)):
        raise LearngeneError(f"Size rule {name!r}: select and num_layers must be callables.")
    rule = SizeRule(name=name, select=select, num_layers=num_layers, description=description)
    _RULES[name] = rule
    return rule


def get_size_rule(name: str) -> SizeRule:
    """The size rule registered as ``name``."""
    try:
        return _RULES[name]
    except KeyError:
        raise LearngeneError(f"Unknown size rule {name!r}; registered: {', '.join(_RULES)}.") from None
