"""The plan of a descendant whose size differs from the ancestry's (see :mod:`hf_learngene.sizing`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..sizing import WidthSpec
from .base import DescendantPlan


@dataclass
class SizedDescendantPlan(DescendantPlan):
    """A :class:`DescendantPlan` with a width reduction and a depth layout.

    Attributes:
        width: how each inherited layer is reduced (``None``: the layers keep the ancestry's width).
        layout: where the fresh layers sit (``"after"``, ``"before"``, ``"interleave"`` or ``"explicit"``), recorded
            in ``config.learngene["layout"]``.
        full_width_config: the same descendant at the ancestry's width (to compare parameter counts), when
            ``width`` is set.
    """

    width: WidthSpec | None = None
    layout: str = "after"
    full_width_config: object | None = None
