"""``"threshold"``: the paper's rule (Eq. 10), every layer whose normalised score exceeds ``1/L``.

How many layers it keeps depends on the scores (on the shared DINOv2: 1 of 12 with the default objective, 11 of 12
with ``objective="paper"``), so it gives no ``k``: the methods that pick a set of ``k`` layers (``first_k`` ...) need
``num_layers`` or ``max_parameter_fraction`` with it. It is what :func:`~hf_learngene.condensation.select_layers` does
by default, and what every learngene condensed before size rules existed was made with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .registry import register_size_rule


def above_average(scores: np.ndarray, layer_parameters: Sequence[int] | None = None) -> list[int]:
    """The layers scoring above ``1/L`` (none when the scores are uniform).

    Example:
        >>> above_average(np.array([0.25, 0.15, 0.13, 0.16, 0.31]))  # paper Sec. 4.2.1: the 1st and 5th layers
        [0, 4]
    """
    return [int(i) for i in np.flatnonzero(np.asarray(scores, dtype=np.float64) > 1.0 / len(scores))]


register_size_rule("threshold", above_average,
                   description="the paper's rule (Eq. 10): every layer scoring above 1/L (as many as the scores "
                   "say; gives no k, so first_k, evenly_spaced, angular_block and probe_greedy need --num-layers)")
