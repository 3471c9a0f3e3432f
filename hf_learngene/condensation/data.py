"""Condense data: load, check, pick classes, and split into training data D and meta-data D-hat."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict

from ..data import ImageTransform, load_image_dataset, parse_class_spec, select_classes
from ..errors import LearngeneError
from .base import BaseCondenseConfig


@dataclass
class CondenseData:
    """The two disjoint parts of the condense data, ready to be indexed in batches."""

    train: Dataset  # D, with the image transform attached
    meta: Dataset  # D-hat, same transform
    num_classes: int
    classes: list[int] | None
    name_or_path: str | None
    revision: str | None
    transform: ImageTransform
    train_labels: np.ndarray | None = None  # labels of D (0..num_classes-1), without decoding images
    meta_labels: np.ndarray | None = None

    @property
    def num_images(self) -> int:
        return len(self.train) + len(self.meta)

    def batch(self, part: str, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pixel_values, labels)`` for rows ``indices`` of ``"train"`` (D) or ``"meta"`` (D-hat)."""
        rows = (self.train if part == "train" else self.meta)[indices]
        return rows["pixel_values"], torch.as_tensor(rows["labels"], dtype=torch.long)

    def provenance(self) -> dict[str, Any]:
        """What the learngene config records as ``condense_data``.

        A local dataset folder is recorded by its name and a content fingerprint (``"<name>@sha256:<16 hex>"``), a
        Hub id as it is; ``$LEARNGENE_RECORD_LOCAL_PATHS=1`` keeps the full path (see :mod:`hf_learngene.provenance`).
        """
        from ..provenance import source_reference

        return {"name_or_path": source_reference(self.name_or_path), "revision": self.revision, "classes": self.classes,
                "num_images": self.num_images, "num_train": len(self.train), "num_meta": len(self.meta)}


def _dataset_revision(ds: Dataset) -> str | None:
    for cache in getattr(ds, "cache_files", None) or []:
        parts = Path(cache.get("filename", "")).parts
        if "snapshots" in parts:  # a Hub download: .../snapshots/<sha>/...
            return parts[parts.index("snapshots") + 1]
    return None


def _transform_for(ancestry_dir: Path | None, config: BaseCondenseConfig, ancestry_config: Any,
                   image_column: str, label_column: str) -> ImageTransform:
    common = {"image_column": image_column, "label_column": label_column, "train": False}
    if config.image_size is None and ancestry_dir is not None and (ancestry_dir / "preprocessor_config.json").exists():
        overrides = {k: v for k, v in (("mean", config.image_mean), ("std", config.image_std)) if v is not None}
        return ImageTransform.from_processor(str(ancestry_dir), **common, **overrides)
    from ..families import family_for_config

    try:  # the family's defaults, e.g. the config's image_size (timm: its pretrained_cfg)
        defaults = family_for_config(ancestry_config).image_preprocessing(ancestry_config)
    except LearngeneError:
        defaults = {"size": getattr(ancestry_config, "image_size", None)}
    size = config.image_size or defaults.get("size")
    if size is None:
        raise LearngeneError(
            "Cannot tell how to preprocess images: the ancestry has no image processor (preprocessor_config.json) "
            "and no image_size. Pass CondenseConfig(image_size=..., image_mean=[...], image_std=[...])."
        )
    kwargs: dict[str, Any] = {"size": size}
    for key, value in (("mean", config.image_mean), ("std", config.image_std)):
        if value is not None or defaults.get(key) is not None:
            kwargs[key] = value if value is not None else defaults[key]
    if config.image_size is None:  # the ancestry's own eval pipeline at its own resolution (timm: crop_pct, filter)
        kwargs.update({k: defaults[k] for k in ("resize_shortest_edge", "resample", "crop_offset")
                       if defaults.get(k) is not None})
    return ImageTransform(**kwargs, **common)


def _draw_budget(per_class: dict[int, np.ndarray], config: BaseCondenseConfig, rng: np.random.Generator,
                 ) -> dict[int, np.ndarray]:
    """The images of each class that condensing uses (row indices), drawn with ``rng`` (seeded by ``config.seed``):

    - ``max_images`` (a total cap): ``max(2, max_images // classes)`` of every class, the smaller of that and
      ``max_images_per_class`` when both are set (drawn as before the per-class budget existed);
    - ``max_images_per_class`` alone: that many of each class that has more; a class within the budget keeps every
      image and draws nothing, so a budget that binds no class condenses exactly as with every image;
    - neither: every image.
    """
    budget = config.max_images_per_class or None
    if config.max_images is not None:
        quota = max(2, config.max_images // len(per_class))
        quota = quota if budget is None else min(quota, budget)
        return {c: rng.permutation(idx)[:quota] for c, idx in per_class.items()}
    if budget is None:
        return per_class
    return {c: rng.permutation(idx)[:budget] if len(idx) > budget else idx for c, idx in per_class.items()}


def prepare_condense_data(
    dataset: Dataset | DatasetDict | str | os.PathLike,
    config: BaseCondenseConfig,
    *,
    ancestry_config: Any,
    ancestry_dir: Path | None = None,
    image_column: str = "image",
    label_column: str = "label",
    classes: Any = None,
    split: str = "train",
    revision: str | None = None,
) -> CondenseData:
    """Load and check the condense data, keep ``classes``, draw the image budget (``max_images_per_class``, by
    default :data:`~hf_learngene.condensation.base.DEFAULT_MAX_IMAGES_PER_CLASS` per class, and ``max_images``; see
    :func:`_draw_budget`), and split it into D (5/6) and D-hat (1/6).

    The draw and the split are stratified per class and seeded by ``config.seed``, so D and D-hat never share an image
    and the same seed draws the same images.
    """
    name = None
    if isinstance(dataset, (str, os.PathLike)):
        name = str(dataset)
        dataset = load_image_dataset(name, revision=revision)
    if isinstance(dataset, DatasetDict):
        if split not in dataset:
            raise LearngeneError(f"The dataset has no {split!r} split (splits: {list(dataset)}); pass split=...")
        dataset = dataset[split]
    if not isinstance(dataset, Dataset):
        raise LearngeneError(f"dataset must be a datasets.Dataset, a DatasetDict, a path or a Hub id, got "
                             f"{type(dataset).__name__}.")
    if name is None:  # a Dataset object: the name `datasets` gives it (its folder or Hub name), better than none
        name = getattr(dataset.info, "dataset_name", None) or None
    for column, arg in ((image_column, "image_column"), (label_column, "label_column")):
        if column not in dataset.column_names:
            raise LearngeneError(f"The condense dataset has no column {column!r} (columns: {dataset.column_names}). "
                                 f"Pass {arg}=... naming the right column.")
    class_list = parse_class_spec(classes) if classes is not None else None
    if class_list is None:
        present = sorted({int(v) for v in dataset[label_column]})
        ds = select_classes(dataset, present, label_column=label_column) if present != list(range(len(present))) \
            else dataset
    else:
        ds = select_classes(dataset, class_list, label_column=label_column)
        present = class_list
    labels = np.asarray(ds[label_column], dtype=np.int64)
    num_classes = len(set(labels.tolist()))
    if num_classes < 2:
        raise LearngeneError(f"Condensing needs images of at least 2 classes, got {num_classes} "
                             f"(classes={class_list}). Pick more classes with classes=...")
    rng = np.random.default_rng(config.seed)
    per_class = {c: np.flatnonzero(labels == c) for c in sorted(set(labels.tolist()))}
    per_class = _draw_budget(per_class, config, rng)
    train_idx, meta_idx = [], []
    for c, idx in per_class.items():
        idx = rng.permutation(idx)
        n_meta = math.floor(len(idx) * config.meta_fraction + 0.5)
        n_meta = min(max(n_meta, 1), len(idx) - 1)
        if len(idx) < 2:
            raise LearngeneError(f"Class {present[c] if c < len(present) else c} has {len(idx)} image(s): the D / "
                                 "D-hat split needs at least 2 per class (one for each part). Add images or drop it.")
        meta_idx.extend(idx[:n_meta].tolist())
        train_idx.extend(idx[n_meta:].tolist())
    if len(train_idx) < config.batch_size or len(meta_idx) < config.meta_batch_size:
        raise LearngeneError(
            f"Too few images for the D / D-hat split: D has {len(train_idx)} images (batch_size={config.batch_size})"
            f" and D-hat has {len(meta_idx)} (meta_batch_size={config.meta_batch_size}, meta_fraction="
            f"{config.meta_fraction:.3f}). Use more images or classes, or smaller batch sizes."
        )
    transform = _transform_for(ancestry_dir, config, ancestry_config, image_column, label_column)
    keep = [image_column, label_column]
    base = ds.select_columns(keep)
    train_idx, meta_idx = sorted(train_idx), sorted(meta_idx)
    train = base.select(train_idx).with_transform(transform)
    meta = base.select(meta_idx).with_transform(transform)
    return CondenseData(train=train, meta=meta, num_classes=num_classes, classes=class_list, name_or_path=name,
                        revision=revision or _dataset_revision(dataset), transform=transform,
                        train_labels=labels[train_idx], meta_labels=labels[meta_idx])
