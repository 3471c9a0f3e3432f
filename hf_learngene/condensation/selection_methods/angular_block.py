"""Angular block (Gromov et al., "The Unreasonable Ineffectiveness of the Deeper Layers", 2024): drop the contiguous
block of ``L - k`` layers that changes the representation least, keep the other ``k``.

For a block of ``n = L - k`` layers starting at ``l``, the distance is the mean over the condense images (D and D-hat)
of the angular distance ``arccos(cos(x, y)) / pi`` between ``x``, the input of layer ``l``, and ``y``, the output of
layer ``l + n - 1``: token by token (averaged over the tokens) for hidden states ``(batch, tokens, width)``, of the
flattened map of each image for ResNet maps. The block with the smallest distance is dropped (ties: the earlier one).

- **k**: ``num_layers``, or the largest ``k`` whose pick fits ``max_parameter_fraction``, else the size rule's ``k``
  (default ``"half"``: ``L // 2``); ``size_rule="threshold"`` with neither is refused
  (:class:`~hf_learngene.condensation.selection_methods.common.SizedPickConfig`). The distances of all blocks
  are measured in one pass (the repeat's log holds the matrix), so any ``k`` costs the same.
- **Scores**: the kept layers above ``1/L``, then the dropped block, each in index order
  (:func:`~hf_learngene.condensation.selection_methods.common.pick_scores`).
- **ResNet**: a block whose two ends differ in shape (it spans a stage transition) cannot be dropped and is not a
  candidate; when no block of ``L - k`` layers can be dropped, ``k`` is refused with a message. The kept blocks are
  placed in their stages by a descendant.
- **Cost**: one forward pass over the condense images; repeats reuse it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..base import RepeatResult, _method_field, register_condense_method
from .common import (
    SizedPickConfig,
    condense_batches,
    layer_ends,
    once_per_run,
    pick_result,
    token_cosines,
)

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedModel

    from ...families import ArchitectureFamily
    from ..data import CondenseData


@dataclass
class AngularBlockConfig(SizedPickConfig):
    """``method="angular_block"``: drop the contiguous block of ``L - num_layers`` layers whose ends are closest in
    angular distance (no own fields; ``batch_size`` is the forward batch)."""

    method: str = _method_field("angular_block")


def angular_distances(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData,
                      config: SizedPickConfig, accelerator: Accelerator) -> tuple[np.ndarray, int]:
    """``(distances, images read)``: ``distances[l, m]`` is the mean angular distance between the input of layer
    ``l`` and the output of layer ``m >= l`` (``nan`` for ``m < l`` and where the shapes differ)."""
    total = len(family.integral_layers(ancestry))
    sums = np.zeros((total, total))
    feasible = np.triu(np.ones((total, total), dtype=bool))
    images = 0
    for _, x, _ in condense_batches(data, config.batch_size):
        inputs, outputs = layer_ends(ancestry, family, x, accelerator)
        for first in range(total):
            for last in range(first, total):
                cosines = token_cosines(inputs[first], outputs[last])
                if cosines is None:
                    feasible[first, last] = False
                    continue
                angles = torch.arccos(cosines.clamp(-1.0, 1.0)) / math.pi
                sums[first, last] += float(angles.mean(dim=1).sum())
        images += x.shape[0]
    distances = np.where(feasible, sums / max(1, images), np.nan)
    return distances, images


def angular_ranking(distances: np.ndarray, k: int) -> list[int] | None:
    """The layers kept for size ``k``, then the dropped block (each in index order), or ``None`` when no block of
    ``L - k`` layers can be dropped."""
    total = len(distances)
    span = total - k
    if span == 0:
        return list(range(total))
    starts = [s for s in range(total - span + 1) if not np.isnan(distances[s, s + span - 1])]
    if not starts:
        return None
    start = min(starts, key=lambda s: (distances[s, s + span - 1], s))
    dropped = list(range(start, start + span))
    return [i for i in range(total) if i not in dropped] + dropped


@once_per_run
def run_angular_block_repeat(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData,
                             config: AngularBlockConfig, accelerator: Accelerator, repeat: int) -> RepeatResult:
    """The runner of ``"angular_block"``."""
    start = time.perf_counter()
    distances, images = angular_distances(ancestry, family, data, config, accelerator)
    log = [{"images": images,
            "angular_distance": [[None if np.isnan(v) else float(v) for v in row] for row in distances]}]
    return pick_result(config, repeat, family.integral_layers(ancestry), partial(angular_ranking, distances), start,
                       log, images, no_pick="every contiguous block of the other layers spans a change of shape (e.g. "
                       "a ResNet stage transition) and cannot be dropped; pick another num_layers.")


register_condense_method(
    "angular_block", AngularBlockConfig, run_angular_block_repeat, label="Angular block",
    description="drop the contiguous block of L - k layers whose ends are closest in angular distance (k: "
                "--num-layers, else the size rule's)",
    score_note=("Angular block (Gromov et al.) drops the contiguous block of layers whose input and output are "
                "closest in angular distance; these scores only encode the pick (the k kept layers score above "
                "1/L = {threshold:.4f}); the distances are in the condense log."),
)
