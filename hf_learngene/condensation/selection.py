"""From layer scores to the learngene's layers: a size rule (:mod:`.size_rules`: the default ``"half"``, the paper's
``"threshold"``, Eq. 10) and the size controls that override it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import LearngeneError
from .size_rules import PAPER_SIZE_RULE, get_size_rule, top_k


def select_layers(layer_scores: Sequence[float] | np.ndarray, *, num_layers: int | None = None,
                  max_parameter_fraction: float | None = None,
                  layer_parameters: Sequence[int] | None = None, size_rule: str = PAPER_SIZE_RULE) -> list[int]:
    """The learngene's layers (sorted) from normalised layer scores.

    - default: the size rule ``size_rule`` (a name of :mod:`~hf_learngene.condensation.size_rules`); here it defaults
      to the paper's rule (Eq. 10, ``"threshold"``), every layer whose score exceeds ``1/L`` (``condense`` passes
      ``CondenseConfig.size_rule``, whose default is ``"half"``: the top ``L // 2``);
    - ``num_layers=k``: the ``k`` best-scoring layers instead, whatever the rule (ties broken by the lower index);
    - ``max_parameter_fraction=f``: then drop the lowest-scoring layers until the kept ones hold at most ``f`` of
      the parameters of all layers (``layer_parameters``: one count per layer); at least one layer stays.

    Example:
        >>> select_layers([0.25, 0.15, 0.13, 0.16, 0.31])  # paper Sec. 4.2.1: the 1st and 5th layers
        [0, 4]
        >>> select_layers([0.25, 0.15, 0.13, 0.16, 0.31], num_layers=3)
        [0, 3, 4]
        >>> select_layers([0.25, 0.15, 0.13, 0.16, 0.31], size_rule="half")  # the top 5 // 2
        [0, 4]
    """
    scores = np.asarray(layer_scores, dtype=np.float64)
    total = len(scores)
    if num_layers is not None:
        if not 1 <= num_layers <= total:
            raise LearngeneError(f"num_layers={num_layers} must be between 1 and the ancestry's {total} layers.")
        chosen = top_k(scores, num_layers)
    else:
        chosen = get_size_rule(size_rule).selected_layers(scores, layer_parameters)
    if max_parameter_fraction is not None and chosen:
        if layer_parameters is None or len(layer_parameters) != total:
            raise LearngeneError("max_parameter_fraction needs the parameter count of every ancestry layer.")
        sizes = np.asarray(layer_parameters, dtype=np.float64)
        chosen = sorted(chosen, key=lambda i: (-scores[i], i))
        while len(chosen) > 1 and sizes[chosen].sum() / sizes.sum() > max_parameter_fraction + 1e-12:
            chosen.pop()
    return sorted(int(i) for i in chosen)
