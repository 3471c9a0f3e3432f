"""Assets of the ``smoke`` profile: a synthetic image dataset and tiny random ancestries (built in-process)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch


def synthetic_dataset(num_classes: int = 100, classes: Iterable[int] = range(64, 100), train_per_class: int = 6,
                      test_per_class: int = 4, size: int = 16, seed: int = 0) -> Any:
    """A small DatasetDict of PNG images whose colour pattern depends on the class (learnable), labels 0..99.

    Only ``classes`` have rows (the condense and descendant classes by default).
    """
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Image
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    names = [f"class{c:03d}" for c in range(num_classes)]
    proto = rng.integers(0, 256, size=(num_classes, 2, 3))
    splits = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        images, labels = [], []
        for c in classes:
            for _ in range(per_class):
                arr = np.empty((size, size, 3), dtype=np.float64)
                arr[: size // 2] = proto[c, 0]
                arr[size // 2:] = proto[c, 1]
                arr += rng.normal(0, 30, size=arr.shape)
                buf = io.BytesIO()
                PILImage.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, format="PNG")
                images.append({"bytes": buf.getvalue(), "path": None})
                labels.append(int(c))
        feats = Features({"image": Image(), "label": ClassLabel(names=names)})
        splits[split] = Dataset.from_dict({"image": images, "label": labels}, features=feats)
    return DatasetDict(splits)


def tiny_ancestry(family: str, image_size: int = 16, num_labels: int = 64, seed: int = 0) -> Any:
    """A tiny randomly initialised ancestry (ViT: 4 layers of width 32; ResNet: ResNet-18 layout, widths 8-32;
    DINOv2: a bare ``Dinov2Model`` like the real one, 4 layers of width 32 with layer scale, patch 4)."""
    from transformers import (
        Dinov2Config,
        Dinov2Model,
        ResNetConfig,
        ResNetForImageClassification,
        ViTConfig,
        ViTForImageClassification,
    )

    torch.manual_seed(seed)
    if family == "vit":
        config = ViTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                           image_size=image_size, patch_size=4, num_labels=num_labels)
        return ViTForImageClassification(config).eval()
    if family == "resnet":
        config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[2, 2, 2, 2],
                              num_labels=num_labels)
        return ResNetForImageClassification(config).eval()
    if family == "dinov2":
        config = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2,
                              image_size=image_size, patch_size=4)
        return Dinov2Model(config).eval()
    raise ValueError(f"Unknown family {family!r}")
