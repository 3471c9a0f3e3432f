"""The frozen ancestry's features of condense images, cached in memory.

The ancestry never changes while condensing and the condense images carry no augmentation, so ``Z^l`` of an image
is the same in every epoch and every repeat. :class:`AncestryFeatureStore` computes them once for as many images as
``CondenseConfig.feature_cache_mb`` allows (the meta-data first, then the training data, in index order and in
fixed batches, so a resumed run sees exactly the numbers an uninterrupted one does) and computes the rest on the
fly. It also measures the variance of each layer's features, the normaliser of the ``scale_free`` objective.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from ..families import ArchitectureFamily
from .config import CondenseConfig
from .data import CondenseData

Features = list[torch.Tensor]


class AncestryFeatureStore:
    """Ancestry features ``Z^l`` of condense images, cached in memory within a byte budget.

    Example:
        >>> store = AncestryFeatureStore(ancestry, family, data, config, accelerator)  # doctest: +SKIP
        >>> big, big_hat = store.get([("train", [0, 5], x), ("meta", [3], x_hat)])  # doctest: +SKIP
    """

    def __init__(self, ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData,
                 config: CondenseConfig, accelerator: Accelerator) -> None:
        self.ancestry, self.family, self.data, self.config, self.accelerator = ancestry, family, data, config, accelerator
        self._store: dict[str, Features] = {}
        self._cached: dict[str, int] = {"train": 0, "meta": 0}
        self._scale: torch.Tensor | None = None
        self.filled = False

    # ------------------------------------------------------------------ computing
    def _forward(self, x: torch.Tensor) -> Features:
        with torch.no_grad(), self.accelerator.autocast():
            _, feats = self.family.forward_features(self.ancestry, x.to(self.accelerator.device))
        return [f.detach() for f in feats]

    def get(self, requests: list[tuple[str, list[int], torch.Tensor]]) -> list[Features]:
        """Features of several batches (``(part, indices, pixel_values)``), with one forward pass for all misses."""
        miss_x, miss_where = [], []
        for r, (part, indices, x) in enumerate(requests):
            limit = self._cached[part]
            miss = [i for i, index in enumerate(indices) if index >= limit]
            if miss:
                miss_x.append(x[miss] if len(miss) < len(indices) else x)
                miss_where.append((r, miss))
        computed: Features | None = self._forward(torch.cat(miss_x)) if miss_x else None
        out: list[Features] = []
        offsets, start = {}, 0
        for r, miss in miss_where:
            offsets[r] = (start, miss)
            start += len(miss)
        for r, (part, indices, x) in enumerate(requests):
            if r in offsets and len(offsets[r][1]) == len(indices):  # nothing cached: the forward's rows as they are
                begin = offsets[r][0]
                out.append([z[begin:begin + len(indices)] for z in computed])
                continue
            index = torch.as_tensor(indices)
            hit = (index < self._cached[part]).nonzero().flatten()
            feats = []
            for layer, stored in enumerate(self._store.get(part, [])):
                shape = (len(indices), *stored.shape[1:])
                full = stored.new_empty(shape)
                full[hit] = stored[index[hit]]
                if r in offsets:
                    begin, miss = offsets[r]
                    full[torch.as_tensor(miss)] = computed[layer][begin:begin + len(miss)].to(full.dtype)
                feats.append(full.to(self.accelerator.device))
            out.append(feats)
        return out

    # ------------------------------------------------------------------ cache
    def fill(self, draws: int) -> None:
        """Cache features within the budget if the run draws at least as many training images as ``D`` holds
        (``draws``: images drawn over all repeats); otherwise computing them up front would cost more than it saves.
        """
        if self.filled:
            return
        self.filled = True
        budget = self.config.feature_cache_mb * 2 ** 20
        if budget <= 0 or draws < len(self.data.train):
            return
        probe_x, _ = self.data.batch("train", [0])
        per_image = sum(z[0].numel() * z.element_size() for z in self._forward(probe_x))
        capacity = int(budget // max(1, per_image))
        plan = {"meta": min(len(self.data.meta), capacity)}
        plan["train"] = min(len(self.data.train), capacity - plan["meta"])
        batch = self.config.batch_size
        total = sum(math.ceil(n / batch) for n in plan.values())
        bar = tqdm(total=total, desc="Caching ancestry features", dynamic_ncols=True,
                   disable=not (self.config.progress and self.accelerator.is_local_main_process))
        for part, count in plan.items():
            if count <= 0:
                continue
            store: Features | None = None
            for start in range(0, count, batch):
                x, _ = self.data.batch(part, list(range(start, min(count, start + batch))))
                feats = self._forward(x)
                if store is None:
                    store = [z.new_empty((count, *z.shape[1:]), device="cpu") for z in feats]
                for target, z in zip(store, feats):
                    target[start:start + z.shape[0]] = z.cpu()
                bar.update(1)
            self._store[part], self._cached[part] = store or [], count
        bar.close()

    @property
    def cached_images(self) -> dict[str, int]:
        """How many images of D (``"train"``) and D-hat (``"meta"``) are cached."""
        return dict(self._cached)


def feature_store(ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData, config: CondenseConfig,
                  accelerator: Accelerator) -> AncestryFeatureStore:
    """The store shared by all repeats of one condense run (kept on ``data``)."""
    key: Any = (id(ancestry), config.feature_cache_mb, config.batch_size)
    store = getattr(data, "_feature_store", None)
    if store is None or getattr(data, "_feature_store_key", None) != key:
        store = AncestryFeatureStore(ancestry, family, data, config, accelerator)
        data._feature_store, data._feature_store_key = store, key  # type: ignore[attr-defined]
    return store
