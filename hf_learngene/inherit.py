"""Inheriting a learngene: build a plain `transformers` descendant around its layers (paper Sec. 4.3)."""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import CommitInfo
from transformers import PreTrainedModel

from .cards import descendant_card
from .constants import MODEL_CARD_NAME
from .errors import LearngeneError
from .families import DescendantPlan
from .hub import push_with_card
from .modeling_learngene import LearngeneModel
from .utils import atomic_directory
from .version import __version__


def from_learngene(
    learngene: LearngeneModel | str | os.PathLike,
    num_labels: int | None = None,
    *,
    id2label: dict[int, str] | None = None,
    label2id: dict[str, int] | None = None,
    image_size: int | None = None,
    num_random_layers: int | None = None,
    seed: int | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    **family_options: Any,
) -> PreTrainedModel:
    """Build a descendant model that inherits ``learngene``'s layers.

    The result is a plain ``ViTForImageClassification`` / ``Dinov2ForImageClassification`` /
    ``ResNetForImageClassification``: it trains with ``Trainer`` and loads with ``transformers`` alone.
    Inherited tensors equal the learngene's bit for bit; everything else gets the family's normal
    initialisation (seeded by ``seed``).

    - ViT / DINOv2: the learngene layers, in order, form the encoder; ``num_random_layers`` fresh layers
      (default 0) are stacked after them; patch embedding, [CLS] token, position embeddings, final norm and
      head are fresh. ``image_size`` and ``patch_size=`` may differ from the ancestry's.
    - ResNet: inherited blocks keep their stage; stages without inherited blocks get ``num_random_layers``
      (default 1) fresh blocks, so a ResNet-18 learngene of 4 blocks gives a ResNet-12-like descendant.

    Args:
        learngene: a :class:`LearngeneModel`, a local directory or a Hub id.
        num_labels: number of classes (or give ``id2label``).
        id2label, label2id: label names for the head.
        image_size: input size of the descendant (ViT/DINOv2).
        num_random_layers: see above.
        seed: seed for the fresh weights (``None``: the current RNG state).
        revision, token: Hub revision / token when ``learngene`` is a Hub id.
        **family_options: extra config fields for the descendant (e.g. ``patch_size=8``,
            ``hidden_dropout_prob=0.1``); fields that would change inherited layers' shapes are refused.

    Example:
        >>> child = from_learngene("user/vit-learngene", num_labels=5, seed=0)  # doctest: +SKIP
        >>> child.save_pretrained("my-descendant")  # doctest: +SKIP  (also writes a model card)
    """
    learngene, plan, model = _build_planned_descendant(
        learngene, num_labels, id2label=id2label, label2id=label2id, image_size=image_size,
        num_random_layers=num_random_layers, seed=seed, revision=revision, token=token, family_options=family_options,
    )
    config = learngene.config
    state = model.state_dict()
    position_of = {index: position for position, index in enumerate(config.layer_indices)}
    with torch.no_grad():
        for index, prefix in plan.inherited:
            source = learngene.layers[position_of[index]].state_dict()
            for key, tensor in source.items():
                target_key = prefix + key
                if target_key not in state or state[target_key].shape != tensor.shape:
                    raise LearngeneError(
                        f"Learngene layer {index} does not fit the descendant at {target_key!r} "
                        f"({tuple(tensor.shape)} vs {tuple(state[target_key].shape) if target_key in state else 'missing'})."
                    )
                state[target_key].copy_(tensor)

    source_name = getattr(learngene, "name_or_path", None) or config._name_or_path or None
    model.config.learngene = {
        "learngene": str(source_name) if source_name else None,
        "revision": learngene.commit_sha,
        "family": config.family,
        "ancestry": config.ancestry_name_or_path,
        "ancestry_revision": config.ancestry_revision,
        "selection_method": config.selection_method,
        "layer_map": [{"descendant": prefix, "ancestry_layer": index} for index, prefix in plan.inherited],
        "fresh_layers": plan.fresh,
        "seed": seed,
        "license": config.license,
        "hf_learngene_version": __version__,
    }
    attach_card_writer(model)
    return model


def scratch_descendant_like(
    learngene: LearngeneModel | str | os.PathLike,
    num_labels: int | None = None,
    *,
    id2label: dict[int, str] | None = None,
    label2id: dict[str, int] | None = None,
    image_size: int | None = None,
    num_random_layers: int | None = None,
    seed: int | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    **family_options: Any,
) -> PreTrainedModel:
    """A descendant with exactly the architecture :func:`from_learngene` would build, all weights fresh.

    Takes the same arguments as :func:`from_learngene`. With the same ``seed`` the non-inherited weights equal
    those of ``from_learngene(learngene, ..., seed=seed)``; only the learngene layers differ (random here). This
    is the *From-Scratch* / *Feature Distillation* baseline; it records no ``config.learngene`` origin.

    Example:
        >>> student = scratch_descendant_like(learngene, num_labels=5, seed=0)  # doctest: +SKIP
    """
    _, _, model = _build_planned_descendant(
        learngene, num_labels, id2label=id2label, label2id=label2id, image_size=image_size,
        num_random_layers=num_random_layers, seed=seed, revision=revision, token=token, family_options=family_options,
    )
    return model


def _build_planned_descendant(
    learngene: LearngeneModel | str | os.PathLike,
    num_labels: int | None,
    *,
    id2label: dict[int, str] | None,
    label2id: dict[str, int] | None,
    image_size: int | None,
    num_random_layers: int | None,
    seed: int | None,
    revision: str | None,
    token: str | bool | None,
    family_options: dict[str, Any],
) -> tuple[LearngeneModel, DescendantPlan, PreTrainedModel]:
    """Resolve ``learngene``, check the labels, lay out its descendant and build it with fresh weights.

    Returns ``(learngene, plan, model)``; every weight of ``model`` is fresh (seeded by ``seed``; the global RNG
    state is left as it was). Shared by :func:`from_learngene` and :func:`scratch_descendant_like`,
    so that both give the same architecture and, for one seed, the same fresh weights.
    """
    if not isinstance(learngene, LearngeneModel):
        learngene = LearngeneModel.from_pretrained(learngene, revision=revision, token=token)
    if id2label is not None:
        id2label = {int(k): str(v) for k, v in id2label.items()}
        if num_labels is not None and num_labels != len(id2label):
            raise LearngeneError(f"num_labels={num_labels} but id2label has {len(id2label)} entries.")
        num_labels = len(id2label)
        label2id = label2id or {v: k for k, v in id2label.items()}
    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 1:
        raise LearngeneError(f"num_labels must be a positive int (or pass id2label), got {num_labels!r}.")
    config = learngene.config
    family = learngene.family
    plan = family.plan_descendant(
        config.ancestry_transformers_config(),
        list(config.layer_indices),
        num_labels=num_labels,
        num_random_layers=num_random_layers,
        image_size=image_size,
        **family_options,
    )
    if id2label is not None:
        plan.config.id2label = id2label
        plan.config.label2id = label2id
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = family.build_model(plan.config)
    return learngene, plan, model


def attach_card_writer(model: PreTrainedModel) -> PreTrainedModel:
    """Make ``model.save_pretrained``/``push_to_hub`` also write the descendant model card.

    Only this instance changes: it stays a plain `transformers` class.
    """
    model.save_pretrained = types.MethodType(_save_descendant, model)
    model.push_to_hub = types.MethodType(_push_descendant, model)
    return model


def save_descendant_card(model: PreTrainedModel, save_directory: str | os.PathLike, repo_id: str | None = None) -> Path:
    """Write (or update) the descendant card ``README.md`` in ``save_directory``; returns its path."""
    path = Path(save_directory) / MODEL_CARD_NAME
    existing = path.read_text(encoding="utf-8") if path.exists() else None
    card = descendant_card(model.config, type(model).__name__, repo_id=repo_id, existing_text=existing)
    card.save(path)
    return path


def _save_descendant(self: PreTrainedModel, save_directory: str | os.PathLike, *args: Any,
                     repo_id: str | None = None, **kwargs: Any) -> None:
    """``save_pretrained`` of a descendant: the `transformers` save plus the card, written atomically."""
    push = kwargs.pop("push_to_hub", False)
    if not kwargs.get("is_main_process", True):
        type(self).save_pretrained(self, save_directory, *args, **kwargs)
        return
    target = Path(save_directory)
    with atomic_directory(target) as tmp:
        if (target / MODEL_CARD_NAME).exists():
            (tmp / MODEL_CARD_NAME).write_bytes((target / MODEL_CARD_NAME).read_bytes())
        type(self).save_pretrained(self, tmp, *args, **kwargs)
        save_descendant_card(self, tmp, repo_id=repo_id)
    if push:
        _push_descendant(self, repo_id or target.name, token=kwargs.get("token"))


def _push_descendant(self: PreTrainedModel, repo_id: str, *, commit_message: str | None = None,
                     private: bool | None = None, token: str | bool | None = None, revision: str | None = None,
                     create_pr: bool = False, **kwargs: Any) -> CommitInfo:
    return push_with_card(repo_id, lambda folder, repo: _save_descendant(self, folder, repo_id=repo),
                          commit_message=commit_message or "Upload learngene descendant", private=private,
                          token=token, revision=revision, create_pr=create_pr)
