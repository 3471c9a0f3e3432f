"""Block influence (ShortGPT, Men et al. 2024): keep the layers that change their input most.

A layer's influence is the mean over the condense images (D and D-hat) of ``1 - cos(layer input, layer output)``:
for hidden states ``(batch, tokens, width)`` (ViT, DeiT, DINOv2, timm ViT) the cosine of each token, averaged over the
tokens; for ResNet maps ``(batch, C, H, W)`` the cosine of the flattened map of each image. A layer whose output is
its input has influence 0, one that turns it orthogonal has 1.

- **Shape changes**: a block whose output has another shape than its input (a ResNet stage transition: more
  channels, stride 2) has no input to compare with and cannot be dropped from the network (the next block needs its
  output's shape), so its influence is set to **1**, as for an output orthogonal to its input: it ranks with the most
  influential layers (ties by the lower index). The log says which blocks were so scored.
- **Scores**: the influences normalised to sum to 1; so ``num_layers=k`` keeps the ``k`` most influential layers,
  and without a size control the size rule chooses (default ``"half"``: the ``L // 2`` most influential;
  ``"threshold"``: the layers of above-average influence, score ``> 1/L``), then ``max_parameter_fraction`` caps
  them, as for Auto-Learngene.
- **ResNet**: blocks are scored and chosen in global order; a descendant puts each inherited block in its stage.
- **Cost**: one forward pass of the ancestry over the condense images; repeats reuse it (the method is
  deterministic).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..base import BaseCondenseConfig, RepeatResult, _method_field, register_condense_method
from .common import condense_batches, layer_ends, once_per_run, timed_result, token_cosines

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedModel

    from ...families import ArchitectureFamily
    from ..data import CondenseData


@dataclass
class BlockInfluenceConfig(BaseCondenseConfig):
    """``method="block_influence"``: ShortGPT's block influence (no own fields; ``batch_size`` is the forward batch)."""

    method: str = _method_field("block_influence")


def block_influences(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData,
                     config: BaseCondenseConfig, accelerator: Accelerator) -> tuple[np.ndarray, list[int], int]:
    """``(influence per layer, layers that change shape, images read)``; see the module docstring."""
    total = len(family.integral_layers(ancestry))
    sums = np.zeros(total)
    reshaped: set[int] = set()
    images = 0
    for _, x, _ in condense_batches(data, config.batch_size):
        inputs, outputs = layer_ends(ancestry, family, x, accelerator)
        for layer in range(total):
            cosines = token_cosines(inputs[layer], outputs[layer])
            if cosines is None:
                reshaped.add(layer)
            else:
                sums[layer] += float((1 - cosines).mean(dim=1).sum())
        images += x.shape[0]
    influence = sums / max(1, images)
    influence[sorted(reshaped)] = 1.0
    return influence, sorted(reshaped), images


@once_per_run
def run_block_influence_repeat(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData,
                               config: BlockInfluenceConfig, accelerator: Accelerator, repeat: int) -> RepeatResult:
    """The runner of ``"block_influence"``: normalised influences as layer scores."""
    start = time.perf_counter()
    influence, reshaped, images = block_influences(ancestry, family, data, config, accelerator)
    total = influence.sum()
    scores = influence / total if total > 0 else np.full(len(influence), 1 / len(influence))
    log = [{"block_influence": influence.tolist(), "shape_changing_layers": reshaped, "images": images}]
    return timed_result(config, repeat, scores, start, log, images)


register_condense_method(
    "block_influence", BlockInfluenceConfig, run_block_influence_repeat, label="Block influence",
    description="ShortGPT's block influence: the layers with the largest mean 1 - cos(input, output)",
    score_note=("Scores are each layer's block influence (ShortGPT: mean 1 - cos(layer input, layer output) over the "
                "condense images; 1 for a block that changes shape), normalised to sum to 1; 1/L = {threshold:.4f}."),
)
