"""What the layer-selection methods share: their size, scores that encode a pick, and the features they read.

**Size.** ``first_k``, ``evenly_spaced``, ``angular_block`` and ``probe_greedy`` pick a set of ``k`` layers, so they
need ``k`` (:class:`SizedPickConfig` refuses a config that gives none):

- neither size control: ``k`` from the config's size rule (:mod:`~hf_learngene.condensation.size_rules`; the default
  ``"half"``: ``max(1, L // 2)``); ``"threshold"`` gives none, so it needs one of the two below;
- ``num_layers=k``: the method's pick for ``k``;
- ``max_parameter_fraction=f`` alone: the largest ``k < L`` whose pick holds at most ``f`` of the parameters of the
  ancestry's integral layers (at least one layer, as :func:`~hf_learngene.condensation.select_layers` keeps);
- both: the pick for ``num_layers``, then :func:`~hf_learngene.condensation.select_layers` drops its lowest-scoring
  layers until it fits (within a pick the scores fall in index order for ``first_k``, ``evenly_spaced`` and
  ``angular_block``, in the order of removal for ``probe_greedy``: the last removed go first).

**Scores.** Such a method's layer scores encode its pick (:func:`pick_scores`): they sum to 1, the ``k`` picked
layers score above ``1/L`` and the others below, and they decrease along the method's ranking (best first), so
``select_layers(scores, num_layers=k)`` and the paper's rule (score ``> 1/L``) both return the pick. They rank, they
measure nothing: what a method measured is in its repeats' logs.

**Features.** :func:`layer_ends` reads every integral layer's input (forward pre-hooks) and output
(:meth:`~hf_learngene.families.ArchitectureFamily.forward_features`) for a batch of condense images, so the methods
work for every family. :func:`token_cosines` compares two features: ``(batch, tokens, width)`` hidden states (ViT,
DeiT, DINOv2, timm ViT) token by token, anything else (ResNet maps ``(batch, C, H, W)``) flattened per image.

**Repeats.** The methods are deterministic (the condense data and its D / D-hat split are fixed by ``config.seed``),
so :func:`once_per_run` runs a method once per :func:`~hf_learngene.condense` call and later repeats reuse that
result (their ``wall_time`` is what reusing took and their log says so).
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import LearngeneError
from ..base import BaseCondenseConfig, RepeatResult
from ..repeats import repeat_seed
from ..selection import select_layers
from ..size_rules import PAPER_SIZE_RULE, get_size_rule

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedModel

    from ...families import ArchitectureFamily
    from ..data import CondenseData

#: ``ranking(k)``: every layer, best first, the method's pick for size ``k`` first; ``None`` when it has no pick of
#: that size.
Ranking = Callable[[int], "list[int] | None"]


@dataclass
class SizedPickConfig(BaseCondenseConfig):
    """The config of a method that picks a set of ``k`` layers: it needs ``num_layers``, ``max_parameter_fraction``
    or a size rule that gives ``k`` (the default ``"half"`` does; see the module docstring); the method's own config
    subclasses it."""

    def validate(self) -> None:
        super().validate()
        if (self.num_layers is None and self.max_parameter_fraction is None
                and get_size_rule(self.size_rule).num_layers is None):
            self._fail("num_layers", f"method={self.method!r} keeps a set of k layers and needs its size: pass "
                       "num_layers=k (CLI --num-layers K) or max_parameter_fraction=f (--max-parameter-fraction F), "
                       f"or a size rule that gives k (size_rule='half'); size_rule={self.size_rule!r} gives none.")

    def scores_size_rule(self) -> str:
        """The method's scores already encode its pick of ``k`` layers above ``1/L`` (:func:`pick_scores`, ``k`` sized
        by the config's rule or controls): the paper's rule reads that pick back."""
        return PAPER_SIZE_RULE


def resolve_size(config: BaseCondenseConfig, layers: Sequence[nn.Module], ranking: Ranking) -> int:
    """``k`` for ``config`` (see the module docstring): ``num_layers``, else the largest ``k < L`` whose pick (the
    first ``k`` of ``ranking(k)``) holds at most ``max_parameter_fraction`` of the layers' parameters (1 when none
    does), else the ``k`` of the config's size rule for ``L`` layers."""
    total = len(layers)
    if config.num_layers is not None:
        if not 1 <= config.num_layers <= total:
            raise LearngeneError(f"num_layers={config.num_layers} must be between 1 and the ancestry's {total} layers.")
        return config.num_layers
    if config.max_parameter_fraction is None:
        k = get_size_rule(config.size_rule).size(total)
        if k is None:
            raise LearngeneError(f"method={config.method!r} needs num_layers=k or max_parameter_fraction=f: "
                                 f"size_rule={config.size_rule!r} gives no k.")
        return k
    sizes = [sum(p.numel() for p in layer.parameters()) for layer in layers]
    whole = max(1, sum(sizes))
    for k in range(total - 1, 0, -1):
        order = ranking(k)
        if order is not None and sum(sizes[i] for i in order[:k]) / whole <= config.max_parameter_fraction + 1e-12:
            return k
    return 1


def pick_scores(order: Sequence[int], k: int) -> list[float]:
    """Layer scores (indexed by layer) that encode a pick: ``order`` ranks every layer, best first, and its first
    ``k`` layers are the pick. The scores sum to 1 and decrease along ``order``; the first ``k`` are above ``1/L`` and
    the others below (all above ``1/(2L)``); with ``k = L`` they only rank.

    Example:
        >>> [round(s, 4) for s in pick_scores([0, 1, 2, 3], 2)]
        [0.375, 0.3125, 0.1875, 0.125]
    """
    total = len(order)
    if sorted(order) != list(range(total)) or not 1 <= k <= total:
        raise LearngeneError(f"pick_scores: order must rank layers 0..{total - 1} and 1 <= k <= {total}, got "
                             f"{list(order)} and k={k}.")
    base = 1.0 / total
    if k == total:  # a ranking only: 1.5/L down to 0.5/L
        half = max(1.0, (total - 1) / 2)
        offsets = [0.5 * base * ((total - 1) / 2 - rank) / half for rank in range(total)]
    else:  # the pick above 1/L, the rest below; the offsets cancel out
        below = 0.5 * base
        above = below * (total - k + 1) / (k + 1)
        offsets = [above * (k - rank) / k for rank in range(k)]
        offsets += [-below * (rank + 1) / (total - k) for rank in range(total - k)]
    scores = [0.0] * total
    for rank, layer in enumerate(order):
        scores[layer] = base + offsets[rank]
    return scores


def pick_result(config: BaseCondenseConfig, repeat: int, layers: Sequence[nn.Module], ranking: Ranking, start: float,
                log: list[dict[str, Any]], images: int = 0, no_pick: str = "") -> RepeatResult:
    """The :class:`RepeatResult` of a method that picks a set: ``k`` from ``config`` (:func:`resolve_size`), the
    method's ``ranking(k)`` (a ``None`` is an error that says ``no_pick``), scores from :func:`pick_scores`, ``k`` and
    the pick appended to ``log``. ``start``: when the method started (``time.perf_counter()``); ``images``: condense
    images it read."""
    k = resolve_size(config, layers, ranking)
    order = ranking(k)
    if order is None:
        raise LearngeneError(f"{config.method}: no pick of {k} layers: {no_pick}")
    log.append({"k": k, "picked": sorted(order[:k]), "ranking": order})
    return timed_result(config, repeat, pick_scores(order, k), start, log, images, num_layers=k)


def timed_result(config: BaseCondenseConfig, repeat: int, scores: Sequence[float], start: float,
                 log: list[dict[str, Any]], images: int = 0, num_layers: int | None = None) -> RepeatResult:
    """A :class:`RepeatResult` with ``scores``, its wall time since ``start`` and its throughput (``images`` read)."""
    wall = time.perf_counter() - start
    return RepeatResult(repeat=repeat, seed=repeat_seed(config, repeat), layer_scores=[float(s) for s in scores],
                        selected_layers=select_layers(scores, num_layers=num_layers), wall_time=wall,
                        images_per_second=images / wall if images and wall > 0 else None, log=log)


def once_per_run(runner: Callable[..., RepeatResult]) -> Callable[..., RepeatResult]:
    """The runner of a deterministic method, computed for the first repeat of a condense run only: a later repeat
    gets a copy of that result (its log says so), kept on the condense ``data`` like the feature store."""

    @functools.wraps(runner)
    def once(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData, config: BaseCondenseConfig,
             accelerator: Accelerator, repeat: int) -> RepeatResult:
        start = time.perf_counter()
        memo = data.__dict__.setdefault("_selection_results", {})
        key = (runner.__qualname__, id(ancestry))
        if key not in memo:
            memo[key] = runner(ancestry, family, data, config, accelerator, repeat)
            return memo[key]
        first: RepeatResult = memo[key]
        result = copy.deepcopy(first)
        result.repeat, result.seed = repeat, repeat_seed(config, repeat)
        result.wall_time, result.images_per_second = time.perf_counter() - start, None
        result.log = [{"same_as_repeat": first.repeat, "reason": "the method is deterministic"}]
        return result

    return once


# ---------------------------------------------------------------------------------------------------- features
def condense_batches(data: CondenseData, batch_size: int, parts: Sequence[str] = ("train", "meta"),
                     ) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(part, pixel_values, labels)`` over every image of ``parts`` of the condense data, in order."""
    for part in parts:
        count = len(data.train if part == "train" else data.meta)
        for begin in range(0, count, batch_size):
            x, y = data.batch(part, list(range(begin, min(count, begin + batch_size))))
            yield part, x, y


class _Stop(Exception):
    """Raised by a forward pre-hook to end a forward pass once what is wanted is captured."""


def layer_ends(ancestry: PreTrainedModel, family: ArchitectureFamily, pixel_values: torch.Tensor,
               accelerator: Accelerator, *, inputs_only_to: int | None = None,
               ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(inputs, outputs)`` of every integral layer for one batch, read with hooks in one forward pass (no grad).

    ``inputs_only_to=l``: stop the forward pass as integral layer ``l`` starts and return the inputs of layers
    ``0..l`` only (``outputs`` empty), e.g. ``0`` for what the input embedding hands the first layer."""
    layers = family.integral_layers(ancestry)
    wanted = range(len(layers)) if inputs_only_to is None else range(inputs_only_to + 1)
    inputs: dict[int, torch.Tensor] = {}
    handles = []
    for index in wanted:
        def hook(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], index: int = index) -> None:
            inputs[index] = args[0] if args else next(v for v in kwargs.values() if isinstance(v, torch.Tensor))
            if index == inputs_only_to:
                raise _Stop
        handles.append(layers[index].register_forward_pre_hook(hook, with_kwargs=True))
    outputs: list[torch.Tensor] = []
    try:
        with torch.no_grad(), accelerator.autocast():
            _, outputs = family.forward_features(ancestry, pixel_values.to(accelerator.device))
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return [inputs[i] for i in wanted], outputs


def token_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
    """Cosine similarity of two batched features, ``(batch, tokens)``: ``(batch, tokens, width)`` token by token, any
    other shape flattened per image (``(batch, 1)``); ``None`` when their shapes differ."""
    if a.shape != b.shape:
        return None
    a, b = a.float(), b.float()
    if a.dim() == 3:
        return F.cosine_similarity(a, b, dim=-1)
    return F.cosine_similarity(a.flatten(1), b.flatten(1), dim=-1).unsqueeze(1)
