"""First-k: keep the ancestry's first ``k`` integral layers. No data, no compute (a model of 12 layers: milliseconds).

What Weight Selection (Xu et al., ICLR 2024) takes implicitly, and what layer-pruning studies find hard to beat once
the network is fine-tuned (Lu et al., "Reassessing Layer Pruning"; Sajjad et al. 2023 for BERT).

- **k**: ``num_layers``, or the most first layers within ``max_parameter_fraction``, else the size rule's ``k``
  (default ``"half"``: ``L // 2``); ``size_rule="threshold"`` with neither is refused
  (:class:`~hf_learngene.condensation.selection_methods.common.SizedPickConfig`).
- **Scores**: they rank the layers in index order (layer 0 highest) with the first ``k`` above ``1/L``
  (:func:`~hf_learngene.condensation.selection_methods.common.pick_scores`); nothing is measured.
- **ResNet**: the first ``k`` blocks in global order (stage 0 first); a descendant puts each inherited block in its
  stage, as for every ResNet learngene.
- **Data**: none is read (``condense(ancestry, None, FirstKConfig(num_layers=k))``); a dataset passed is not used.
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
class FirstKConfig(SizedPickConfig):
    """``method="first_k"``: the first ``num_layers`` integral layers (no own fields; no data)."""

    method: str = _method_field("first_k")


def run_first_k_repeat(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData | None,
                       config: FirstKConfig, accelerator: Accelerator, repeat: int) -> RepeatResult:
    """The runner of ``"first_k"``: the first ``k`` layers, scores in index order."""
    start = time.perf_counter()
    layers = family.integral_layers(ancestry)
    return pick_result(config, repeat, layers, lambda k: list(range(len(layers))), start, [])


register_condense_method(
    "first_k", FirstKConfig, run_first_k_repeat, label="First-k", uses_data=False,
    description="the first k layers (--num-layers, else the size rule's k; no data, no compute)",
    score_note=("First-k keeps the first k layers; these scores only encode that pick (they fall with the layer "
                "index, and the k kept layers score above 1/L = {threshold:.4f}): no data was read."),
)
