"""Evenly spaced: ``k`` layers spread over the ancestry's ``L`` from the first one. No data, no compute.

- **Rule**: layer ``floor(i * L / k)`` for ``i = 0 .. k-1``: the first layer, then one every ``L/k`` layers (rounded
  down), so each kept layer stands for the ``L/k`` layers that start at it. 12 layers: ``k=3`` -> 0, 4, 8;
  ``k=4`` -> 0, 3, 6, 9; ``k=5`` -> 0, 2, 4, 7, 9; ``k=6`` -> 0, 2, 4, 6, 8, 10. The last layer is kept only when
  ``k = L``.
- **k**: ``num_layers``, or the largest ``k`` whose spread fits ``max_parameter_fraction``, else the size rule's ``k``
  (default ``"half"``: ``L // 2``); ``size_rule="threshold"`` with neither is refused
  (:class:`~hf_learngene.condensation.selection_methods.common.SizedPickConfig`).
- **Scores**: the picked layers above ``1/L``, then the others, each group in index order
  (:func:`~hf_learngene.condensation.selection_methods.common.pick_scores`); nothing is measured.
- **ResNet**: the rule over the blocks in global order; a descendant puts each inherited block in its stage.
- **Data**: none is read; a dataset passed is not used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..base import RepeatResult, _method_field, register_condense_method
from .common import SizedPickConfig, pick_result

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedModel

    from ...families import ArchitectureFamily
    from ..data import CondenseData


@dataclass
class EvenlySpacedConfig(SizedPickConfig):
    """``method="evenly_spaced"``: ``num_layers`` layers, ``floor(i * L / k)`` (no own fields; no data)."""

    method: str = _method_field("evenly_spaced")


def evenly_spaced_layers(total: int, k: int) -> list[int]:
    """The ``k`` of ``total`` layers that ``evenly_spaced`` keeps.

    Example:
        >>> evenly_spaced_layers(12, 3), evenly_spaced_layers(12, 5)
        ([0, 4, 8], [0, 2, 4, 7, 9])
    """
    return [i * total // k for i in range(k)]


def run_evenly_spaced_repeat(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData | None,
                             config: EvenlySpacedConfig, accelerator: Accelerator, repeat: int) -> RepeatResult:
    """The runner of ``"evenly_spaced"``."""
    start = time.perf_counter()
    layers = family.integral_layers(ancestry)

    def ranking(k: int) -> list[int]:
        picked = evenly_spaced_layers(len(layers), k)
        return picked + [i for i in range(len(layers)) if i not in picked]

    return pick_result(config, repeat, layers, ranking, start, [])


register_condense_method(
    "evenly_spaced", EvenlySpacedConfig, run_evenly_spaced_repeat, label="Evenly spaced", uses_data=False,
    description="k layers evenly spaced from the first, floor(i*L/k) (k: --num-layers, else the size rule's; no "
                "data, no compute)",
    score_note=("Evenly spaced keeps layers floor(i*L/k), i = 0..k-1; these scores only encode that pick (the k kept "
                "layers score above 1/L = {threshold:.4f}): no data was read."),
)
