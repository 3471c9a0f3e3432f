"""Probe greedy (after SLEB, Song et al. 2024): drop one layer at a time, the one whose removal least hurts a
nearest-class-mean probe of the truncated ancestry on the condense classes.

The truncated ancestry runs the input embedding, then the kept layers in order
(:meth:`~hf_learngene.families.ArchitectureFamily.layer_forward`); its features are the last kept layer's output,
pooled (:meth:`~hf_learngene.families.ArchitectureFamily.pool`). The probe is SimpleShot's CL2N nearest class mean:
features centred by the mean of the fit images and L2-normalised, class means fitted on D (the condense data's
training part), accuracy measured on D-hat (its held-out part, ``meta_fraction``, split per class by ``seed``).

- **Each step** removes the layer whose removal costs the fewest correct D-hat images; a gain counts as no cost (on
  a few held-out images it is noise). Ties (common: a probe on a few classes saturates) go to the removal that changes
  the pooled features least (mean over all condense images of ``1 - cos`` between the truncated ancestry's features
  with and without the layer), then to the later layer (the earlier one is kept).
- **To the end**: steps go on until one layer is left, so the order of removal ranks every layer (the last removed
  ranks highest) and the pick for any ``k`` is the ``k`` layers left after ``L - k`` steps. The repeat's log has each
  step (probe accuracy, feature change of every candidate).
- **First and last layers**: no special case by default: every layer may go, and when the last layer goes the probe
  reads the new last one. ``probe_keep_first=True`` never removes layer 0 (the layer the input embedding feeds).
- **ResNet**: a block whose output has another shape than its input (a stage transition) cannot be removed (the next
  block needs its shape) and is never a candidate; such blocks rank above every removed one (in index order), so a
  ``k`` below their number keeps the first of them. Kept blocks are placed in their stages by a descendant.
- **k**: ``num_layers``, or the largest ``k`` whose pick fits ``max_parameter_fraction``, else the size rule's ``k``
  (default ``"half"``: ``L // 2``); ``size_rule="threshold"`` with neither is refused. Scores encode the ranking
  with the pick above ``1/L`` (:func:`~hf_learngene.condensation.selection_methods.common.pick_scores`).
- **Cost**: about ``L**3 / 6`` layer passes over the condense images (12 layers: some 360, as many as 30 forward
  passes of the ancestry); repeats reuse the result (the method is deterministic).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..base import RepeatResult, _method_field, register_condense_method
from .common import SizedPickConfig, condense_batches, layer_ends, once_per_run, pick_result

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedModel

    from ...families import ArchitectureFamily
    from ..data import CondenseData

#: Pooled features of the condense images by part (``"train"``: D, ``"meta"``: D-hat).
Features = dict[str, torch.Tensor]


@dataclass
class ProbeGreedyConfig(SizedPickConfig):
    """``method="probe_greedy"``: remove layers one at a time by a nearest-class-mean probe (``batch_size`` is the
    forward batch)."""

    method: str = _method_field("probe_greedy")
    probe_keep_first: bool = field(default=False, metadata={"help": (
        "probe_greedy: never remove layer 0 (the layer the input embedding feeds). Default: every layer may go."
    )})


def ncm_correct(features: Features, labels: Features) -> int:
    """D-hat images that a CL2N nearest-class-mean probe fitted on D classifies correctly."""
    center = features["train"].mean(dim=0)
    fit = F.normalize(features["train"] - center, dim=1)
    held_out = F.normalize(features["meta"] - center, dim=1)
    classes = torch.unique(labels["train"])
    means = torch.stack([fit[labels["train"] == c].mean(dim=0) for c in classes])
    predicted = classes[torch.cdist(held_out, means).argmin(dim=1)]
    return int((predicted == labels["meta"]).sum())


def truncated_features(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData,
                       config: ProbeGreedyConfig, accelerator: Accelerator, kept: list[int], candidates: list[int],
                       ) -> tuple[Features, dict[int, Features], Features]:
    """``(features with the kept layers, {candidate: features without it}, labels)`` of every condense image."""
    layers = family.integral_layers(ancestry)
    current: dict[str, list[torch.Tensor]] = {}
    without: dict[int, dict[str, list[torch.Tensor]]] = {j: {} for j in candidates}
    labels: dict[str, list[torch.Tensor]] = {}
    for part, x, y in condense_batches(data, config.batch_size):
        (hidden,), _ = layer_ends(ancestry, family, x, accelerator, inputs_only_to=0)
        before = {}
        with torch.no_grad(), accelerator.autocast():
            for layer in kept:
                before[layer] = hidden
                hidden = family.layer_forward(layers[layer], hidden)
            current.setdefault(part, []).append(family.pool(hidden).float().cpu())
            for j in candidates:
                hidden = before[j]
                for layer in kept[kept.index(j) + 1:]:
                    hidden = family.layer_forward(layers[layer], hidden)
                without[j].setdefault(part, []).append(family.pool(hidden).float().cpu())
        labels.setdefault(part, []).append(y)

    def joined(parts: dict[str, list[torch.Tensor]]) -> Features:
        return {part: torch.cat(chunks) for part, chunks in parts.items()}

    return joined(current), {j: joined(parts) for j, parts in without.items()}, joined(labels)


def feature_change(a: Features, b: Features) -> float:
    """Mean over all images of ``1 - cos`` between two sets of pooled features."""
    first, second = torch.cat([a["train"], a["meta"]]), torch.cat([b["train"], b["meta"]])
    return float((1 - F.cosine_similarity(first, second, dim=1)).mean())


def removal_order(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData,
                  config: ProbeGreedyConfig, accelerator: Accelerator) -> tuple[list[int], list[dict[str, Any]]]:
    """``(ranking of every layer, best first; the log of the steps)``."""
    layers = family.integral_layers(ancestry)
    probe, _ = data.batch("train", [0])
    inputs, outputs = layer_ends(ancestry, family, probe, accelerator)
    removable = [inputs[i].shape == outputs[i].shape for i in range(len(layers))]
    if config.probe_keep_first:
        removable[0] = False
    kept, removed = list(range(len(layers))), []
    log: list[dict[str, Any]] = [{"not_removable": [i for i, ok in enumerate(removable) if not ok]}]
    while len(kept) > 1:
        candidates = [j for j in kept if removable[j]]
        if not candidates:
            break
        current, without, labels = truncated_features(ancestry, family, data, config, accelerator, kept, candidates)
        held_out = len(labels["meta"])
        correct = ncm_correct(current, labels)
        rows = {j: (ncm_correct(without[j], labels), feature_change(current, without[j])) for j in candidates}
        best = min(candidates, key=lambda j: (max(0, correct - rows[j][0]), rows[j][1], -j))
        log.append({"step": len(removed) + 1, "kept": list(kept), "removed": best,
                    "probe_accuracy": correct / held_out, "probe_accuracy_after": rows[best][0] / held_out,
                    "candidates": {str(j): {"probe_accuracy": rows[j][0] / held_out, "feature_change": rows[j][1]}
                                   for j in candidates}})
        kept.remove(best)
        removed.append(best)
    return kept + removed[::-1], log


@once_per_run
def run_probe_greedy_repeat(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData,
                            config: ProbeGreedyConfig, accelerator: Accelerator, repeat: int) -> RepeatResult:
    """The runner of ``"probe_greedy"``."""
    start = time.perf_counter()
    order, log = removal_order(ancestry, family, data, config, accelerator)
    return pick_result(config, repeat, family.integral_layers(ancestry), lambda k: order, start, log, data.num_images)


register_condense_method(
    "probe_greedy", ProbeGreedyConfig, run_probe_greedy_repeat, label="Probe greedy",
    description="remove layers one at a time, each the one whose removal least hurts a nearest-class-mean probe",
    score_note=("Probe greedy removes one layer at a time, the one whose removal least hurts a nearest-class-mean "
                "probe of the truncated ancestry on the condense classes; these scores only encode the order of "
                "removal (the last removed highest; the k kept layers above 1/L = {threshold:.4f})."),
)
