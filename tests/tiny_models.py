"""Tiny, seeded `transformers` checkpoints for tests (shared by several test modules).

Every builder returns a **randomly initialised, deterministic** model (same ``seed`` -> same weights) in
``eval()`` mode, small enough to build in a few milliseconds:

- ViT / DeiT / DINOv2: hidden size 32, 4 encoder layers, 4 heads, MLP width 64, 32x32 images, 8x8 patches
  (so 16 patches + [CLS] = 17 tokens; DeiT adds a distillation token).
- ResNet basic: stem width 8, two stages ``hidden_sizes=[8, 16]``, ``depths=[2, 2]`` (4 blocks).
- ResNet bottleneck: stem width 8, two stages ``hidden_sizes=[16, 32]``, ``depths=[2, 2]`` (4 blocks).

By default the weights are **perturbed** after `transformers`' init (every parameter and floating buffer,
including LayerNorm scales, DINOv2 layer scales and BatchNorm running statistics, gets seeded noise), so
inherited tensors can never equal freshly initialised ones by coincidence. Pass ``perturb=False`` to keep
the library's own init.

Typical use::

    from tests.tiny_models import build_ancestry, ANCESTRY_KINDS, pixel_values

    @pytest.mark.parametrize("kind", ANCESTRY_KINDS)
    def test_something(kind):
        ancestry = build_ancestry(kind)            # a *ForImageClassification model with 3 labels
        backbone = build_ancestry(kind, head=False)  # the bare backbone (ViTModel, Dinov2Model, ResNetModel, ...)
        logits = ancestry(pixel_values=pixel_values()).logits
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import (
    BertConfig,
    BertModel,
    ConvNextConfig,
    ConvNextModel,
    DeiTConfig,
    DeiTForImageClassification,
    DeiTModel,
    Dinov2Config,
    Dinov2ForImageClassification,
    Dinov2Model,
    PreTrainedModel,
    ResNetConfig,
    ResNetForImageClassification,
    ResNetModel,
    ViTConfig,
    ViTForImageClassification,
    ViTModel,
)

#: Image side length of every tiny vision model.
IMAGE_SIZE = 32
#: Number of labels of the ``*ForImageClassification`` ancestries.
NUM_LABELS = 3
#: Number of integral layers (encoder layers / residual blocks) of every tiny ancestry.
NUM_LAYERS = 4
#: Keys accepted by :func:`build_ancestry`.
ANCESTRY_KINDS = ("vit", "deit", "dinov2", "resnet-basic", "resnet-bottleneck")
#: The hf_learngene family of each kind.
FAMILY_OF = {"vit": "vit", "deit": "vit", "dinov2": "dinov2", "resnet-basic": "resnet", "resnet-bottleneck": "resnet"}

_TRANSFORMER_KW: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": NUM_LAYERS,
    "num_attention_heads": 4,
    "image_size": IMAGE_SIZE,
    "patch_size": 8,
    "num_channels": 3,
}


# ---------------------------------------------------------------------------------------------------- configs
def tiny_vit_config(**overrides: Any) -> ViTConfig:
    """ViT config: hidden 32, 4 layers, 4 heads, intermediate 64, image 32, patch 8, 3 labels."""
    return ViTConfig(**{**_TRANSFORMER_KW, "intermediate_size": 64, "num_labels": NUM_LABELS, **overrides})


def tiny_deit_config(**overrides: Any) -> DeiTConfig:
    """DeiT config with the same sizes as :func:`tiny_vit_config`."""
    return DeiTConfig(**{**_TRANSFORMER_KW, "intermediate_size": 64, "num_labels": NUM_LABELS, **overrides})


def tiny_dinov2_config(**overrides: Any) -> Dinov2Config:
    """DINOv2 config: hidden 32, 4 layers, 4 heads, ``mlp_ratio=2`` (MLP width 64), image 32, patch 8."""
    return Dinov2Config(**{**_TRANSFORMER_KW, "mlp_ratio": 2, "num_labels": NUM_LABELS, **overrides})


def tiny_resnet_basic_config(**overrides: Any) -> ResNetConfig:
    """ResNet config with basic blocks: stem 8, ``hidden_sizes=[8, 16]``, ``depths=[2, 2]`` (4 blocks)."""
    base = {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [2, 2], "layer_type": "basic",
            "num_labels": NUM_LABELS}
    return ResNetConfig(**{**base, **overrides})


def tiny_resnet_bottleneck_config(**overrides: Any) -> ResNetConfig:
    """ResNet config with bottleneck blocks: stem 8, ``hidden_sizes=[16, 32]``, ``depths=[2, 2]`` (4 blocks)."""
    base = {"embedding_size": 8, "hidden_sizes": [16, 32], "depths": [2, 2], "layer_type": "bottleneck",
            "num_labels": NUM_LABELS}
    return ResNetConfig(**{**base, **overrides})


_CONFIGS = {
    "vit": tiny_vit_config,
    "deit": tiny_deit_config,
    "dinov2": tiny_dinov2_config,
    "resnet-basic": tiny_resnet_basic_config,
    "resnet-bottleneck": tiny_resnet_bottleneck_config,
}
_CLASSES: dict[str, tuple[type[PreTrainedModel], type[PreTrainedModel]]] = {
    "vit": (ViTModel, ViTForImageClassification),
    "deit": (DeiTModel, DeiTForImageClassification),
    "dinov2": (Dinov2Model, Dinov2ForImageClassification),
    "resnet-basic": (ResNetModel, ResNetForImageClassification),
    "resnet-bottleneck": (ResNetModel, ResNetForImageClassification),
}


def tiny_config(kind: str, **overrides: Any):
    """The config of ``kind`` (one of :data:`ANCESTRY_KINDS`) with ``overrides`` applied."""
    return _CONFIGS[kind](**overrides)


# ---------------------------------------------------------------------------------------------------- models
@torch.no_grad()
def perturb(model: PreTrainedModel, seed: int = 0, scale: float = 0.05) -> PreTrainedModel:
    """Add seeded noise to every parameter and floating buffer of ``model`` (in place) and return it.

    BatchNorm running variances stay positive. Used so that tests can tell inherited tensors from fresh ones.
    """
    generator = torch.Generator().manual_seed(10_000 + seed)
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if not tensor.is_floating_point():
            continue
        noise = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype) * scale
        if name.endswith("running_var"):
            tensor.mul_(1 + noise.abs())
        else:
            tensor.add_(noise)
    return model


def build_ancestry(kind: str, *, head: bool = True, seed: int = 0, perturbed: bool = True,
                   **config_overrides: Any) -> PreTrainedModel:
    """A tiny ancestry of ``kind`` (one of :data:`ANCESTRY_KINDS`), deterministic in ``seed``, in eval mode.

    Args:
        kind: ``"vit"``, ``"deit"``, ``"dinov2"``, ``"resnet-basic"`` or ``"resnet-bottleneck"``.
        head: ``True`` for the ``*ForImageClassification`` class, ``False`` for the bare backbone.
        seed: seed of the initialisation (and of the perturbation).
        perturbed: add seeded noise to all weights and buffers (see :func:`perturb`).
        **config_overrides: config fields to change (e.g. ``num_hidden_layers=6``).
    """
    config = tiny_config(kind, **config_overrides)
    cls = _CLASSES[kind][1 if head else 0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    if perturbed:
        perturb(model, seed)
    return model.eval()


def tiny_vit(head: bool = True, seed: int = 0, **overrides: Any) -> PreTrainedModel:
    """``ViTForImageClassification`` (or ``ViTModel`` with ``head=False``), see :func:`build_ancestry`."""
    return build_ancestry("vit", head=head, seed=seed, **overrides)


def tiny_deit(head: bool = True, seed: int = 0, **overrides: Any) -> PreTrainedModel:
    """``DeiTForImageClassification`` (or ``DeiTModel``), see :func:`build_ancestry`."""
    return build_ancestry("deit", head=head, seed=seed, **overrides)


def tiny_dinov2(head: bool = True, seed: int = 0, **overrides: Any) -> PreTrainedModel:
    """``Dinov2ForImageClassification`` (or ``Dinov2Model``), see :func:`build_ancestry`."""
    return build_ancestry("dinov2", head=head, seed=seed, **overrides)


def tiny_resnet_basic(head: bool = True, seed: int = 0, **overrides: Any) -> PreTrainedModel:
    """``ResNetForImageClassification`` with basic blocks (or ``ResNetModel``), see :func:`build_ancestry`."""
    return build_ancestry("resnet-basic", head=head, seed=seed, **overrides)


def tiny_resnet_bottleneck(head: bool = True, seed: int = 0, **overrides: Any) -> PreTrainedModel:
    """``ResNetForImageClassification`` with bottleneck blocks (or ``ResNetModel``), see :func:`build_ancestry`."""
    return build_ancestry("resnet-bottleneck", head=head, seed=seed, **overrides)


def tiny_bert(seed: int = 0) -> PreTrainedModel:
    """A tiny text model (``BertModel``, hidden 32, 2 layers): an architecture hf_learngene does not support."""
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertModel(config).eval()


def tiny_convnext(seed: int = 0) -> PreTrainedModel:
    """A tiny ``ConvNextModel`` (2 stages of 1 block): a vision architecture hf_learngene does not support."""
    config = ConvNextConfig(num_channels=3, num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], image_size=IMAGE_SIZE)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ConvNextModel(config).eval()


# ---------------------------------------------------------------------------------------------------- helpers
def pixel_values(batch: int = 2, size: int = IMAGE_SIZE, seed: int = 0) -> torch.Tensor:
    """A fixed ``(batch, 3, size, size)`` input batch (seeded, independent of the global RNG)."""
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def save_ancestry(model: PreTrainedModel, folder: str | Path, *, license: str | None = None,
                  readme_text: str = "An ancestry used in tests.\n") -> Path:
    """Save ``model`` (safetensors) to ``folder`` with a ``README.md``; ``license`` goes into its metadata."""
    folder = Path(folder)
    model.save_pretrained(folder)
    header = f"---\nlicense: {license}\n---\n" if license else ""
    (folder / "README.md").write_text(header + readme_text, encoding="utf-8")
    return folder


def integral_layer_prefixes(kind: str, head: bool = True) -> list[str]:
    """State-dict prefixes of the ancestry's integral layers, independent of hf_learngene's own mapping."""
    family = FAMILY_OF[kind]
    if family == "resnet":
        config = tiny_config(kind)
        root = "resnet." if head else ""
        return [f"{root}encoder.stages.{s}.layers.{p}." for s, d in enumerate(config.depths) for p in range(d)]
    if family == "dinov2":
        root = "dinov2." if head else ""
        return [f"{root}encoder.layer.{i}." for i in range(NUM_LAYERS)]
    root = f"{kind}." if head else ""
    return [f"{root}layers.{i}." for i in range(NUM_LAYERS)]


def sub_state_dict(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``model.state_dict()`` under ``prefix``, with the prefix stripped."""
    return {k[len(prefix):]: v for k, v in model.state_dict().items() if k.startswith(prefix)}


def tiny_image_dataset(num_classes: int = 4, per_class: int = 8, size: int = 16, seed: int = 0) -> Any:
    """A small seeded ``datasets.Dataset`` with an ``image`` (PIL) and a ``label`` (``ClassLabel``) column.

    Images of class ``c`` are brighter by ``40 * c`` (something to learn). With ``num_classes=100`` it has
    mini-ImageNet's label space, e.g. to test class ranges.
    """
    import numpy as np
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature
    from PIL import Image

    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(num_classes):
        for _ in range(per_class):
            base = rng.integers(0, 80, (size, size, 3)) + 40 * (c % 5)
            images.append(Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)))
            labels.append(c)
    features = Features({"image": ImageFeature(), "label": ClassLabel(num_classes=num_classes)})
    return Dataset.from_dict({"image": images, "label": labels}, features=features)
