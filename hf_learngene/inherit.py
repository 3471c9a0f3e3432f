"""Inheriting a learngene: build a plain `transformers` descendant around its layers (paper Sec. 4.3).

A descendant is a plain `transformers` model: ``save_pretrained`` / ``push_to_hub`` are `transformers`' own and
write no model card. Its origin lives in ``config.learngene`` (so it survives a reload), and the descendant card is
written explicitly from it: :func:`save_descendant` (weights + card), :func:`save_descendant_card` (the card
alone, e.g. after ``trainer.save_model(dir)``), :func:`push_descendant_to_hub`, and
:class:`DescendantCardCallback` for every checkpoint a ``Trainer`` saves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import CommitInfo, EvalResult
from transformers import PreTrainedModel, TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .cards import descendant_card
from .constants import MODEL_CARD_NAME
from .errors import LearngeneError
from .families import DescendantPlan
from .hub import push_with_card
from .modeling_learngene import LearngeneModel
from .recipes import (
    check_inherited_lr_scale,
    copy_carried_embeddings,
    embedding_record,
    recommended_inherited_lr_scale,
)
from .sizing import get_width_selection, reduce_layer_state, select_width_indices, width_record
from .utils import atomic_directory, count_parameters
from .version import __version__

#: The element selection rule of a narrower descendant when none is given; accepted at full width too.
DEFAULT_WIDTH_SELECTION = "uniform"


@dataclass
class PlannedDescendant:
    """What the descendant builder returns: the resolved learngene, the layout and the model (all weights fresh)."""

    learngene: LearngeneModel
    plan: DescendantPlan
    model: PreTrainedModel
    seed: int | None
    #: the index sets of each inherited layer (by descendant prefix) when it is narrowed (``None``: full width)
    width_indices: dict[str, dict[str, list[int]]] | None = None
    #: the width selection rule and the explicit index sets it was given
    width_selection: str = "uniform"
    explicit_indices: dict[str, list[int]] | None = None
    #: the descendant's sizes (``family.descendant_sizes`` plus parameter counts at this and at full width)
    sizes: dict[str, Any] | None = None


def _build_planned_descendant(learngene: LearngeneModel | str | os.PathLike, num_labels: int | None = None,
                              **options: Any) -> PlannedDescendant:
    """Resolve ``learngene``, check the labels, lay out its descendant and build it with fresh weights.

    ``options`` are :func:`from_learngene`'s architecture and label arguments (``id2label``, ``label2id``,
    ``image_size``, ``num_random_layers``, ``seed``, ``revision``, ``token``, ``layout``, ``width_selection``,
    ``width_indices``), the rest family options.

    :func:`from_learngene` and :func:`scratch_descendant_like` both build through it, so that both give the same
    architecture and, for one seed, the same fresh weights. Every weight of the model is fresh (seeded by ``seed``;
    the global RNG state is left as it was).
    """
    id2label, label2id = options.pop("id2label", None), options.pop("label2id", None)
    image_size, num_random_layers = options.pop("image_size", None), options.pop("num_random_layers", None)
    seed, revision, token = options.pop("seed", None), options.pop("revision", None), options.pop("token", None)
    layout, width_indices = options.pop("layout", None), options.pop("width_indices", None)
    width_selection = options.pop("width_selection", DEFAULT_WIDTH_SELECTION)
    family_options = options
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
    if layout is not None:
        if not family.supports_layout:
            raise LearngeneError(f"layout= places fresh layers between or before inherited ones, which the "
                                 f"{family.label} family does not support; drop layout.")
        family_options["layout"] = layout
    plan = family.plan_descendant(
        config.ancestry_transformers_config(),
        list(config.layer_indices),
        num_labels=num_labels,
        num_random_layers=num_random_layers,
        image_size=image_size,
        **family_options,
    )
    width = getattr(plan, "width", None)
    chosen = None
    if width is not None:
        position_of = {index: position for position, index in enumerate(config.layer_indices)}
        states = {prefix: learngene.layers[position_of[index]].state_dict() for index, prefix in plan.inherited}
        chosen = select_width_indices(width, states, width_selection, width_indices)
    else:
        get_width_selection(width_selection)  # an unknown name is an error at any width
        if width_indices:
            raise LearngeneError("width_indices were given but the descendant keeps the ancestry's width: ask for a "
                                 "smaller width (e.g. hidden_size=, hidden_sizes=) or drop width_indices.")
        if width_selection != DEFAULT_WIDTH_SELECTION:
            raise LearngeneError(
                f"width_selection={width_selection!r} was given but the descendant keeps the ancestry's width, so no "
                "elements are selected: width_selection only applies when a smaller width is asked for (e.g. "
                "hidden_size=, num_attention_heads=, intermediate_size=, hidden_sizes=, embedding_size=). Ask for "
                "one or drop width_selection.")
    if id2label is not None:
        plan.config.id2label = id2label
        plan.config.label2id = label2id
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = family.build_model(plan.config)
    sizes = dict(family.descendant_sizes(plan.config))
    sizes["num_parameters"] = count_parameters(model)
    full_config = getattr(plan, "full_width_config", None)
    if full_config is not None:
        with torch.device("meta"):
            sizes["full_width_num_parameters"] = count_parameters(family.build_model(full_config))
    else:
        sizes["full_width_num_parameters"] = sizes["num_parameters"]
    return PlannedDescendant(learngene, plan, model, seed, chosen, width_selection,
                             dict(width_indices) if width_indices else None, sizes)


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
    layout: str | list[int] | None = None,
    width_selection: str = DEFAULT_WIDTH_SELECTION,
    width_indices: dict[str, list[int]] | None = None,
    inherit_embeddings: bool | None = None,
    inherited_lr_scale: float | None = None,
    **family_options: Any,
) -> PreTrainedModel:
    """Build a descendant model that inherits ``learngene``'s layers (and the input embedding it carries).

    The result is a plain ``ViTForImageClassification`` / ``Dinov2ForImageClassification`` /
    ``ResNetForImageClassification``: it trains with ``Trainer`` and loads with ``transformers`` alone.
    Inherited tensors equal the learngene's bit for bit; everything else gets the family's normal
    initialisation (seeded by ``seed``). Train it with :class:`~hf_learngene.DescendantTrainer` (a ``Trainer`` that
    applies the recorded ``inherited_lr_scale`` and publishes the descendant card) for the measured best recipe.

    - Input embedding: a learngene that carries the ancestry's (``learngene.config.include_embeddings``, the
      default of condensing) gives it to the descendant (ViT / DINOv2: patch embedding, tokens, position table
      resampled to the descendant's ``image_size`` as the ancestry resamples it; ResNet: the stem), element-selected
      for a narrower descendant; ``inherit_embeddings=False`` keeps it fresh (the paper's descendant), ``True``
      requires it.
    - ViT / DINOv2: the learngene layers, in order, form the encoder; ``num_random_layers`` fresh layers
      (default 0) are stacked after them (``layout="before"`` / ``"interleave"`` / a list of the inherited layers'
      positions places them elsewhere); final norm and head are fresh. ``image_size`` and ``patch_size=`` may
      differ from the ancestry's (another patch size needs ``inherit_embeddings=False``).
    - Narrower descendants (ViT / DINOv2: ``hidden_size=``, ``num_attention_heads=``, ``intermediate_size=``;
      ResNet: ``hidden_sizes=``, ``embedding_size=``, at most the ancestry's): each inherited layer keeps a
      subset of its elements, one channel subset for the whole residual stream (element selection, Weight
      Selection, Xu et al., ICLR 2024; :mod:`hf_learngene.sizing`). Without an MLP width (``intermediate_size=``,
      DINOv2 also ``mlp_ratio=``) the MLP keeps the ancestry's ratio to the width (ViT-S narrowed to 192: 768).
      ``width_selection`` picks the rule
      (``"uniform"``: evenly spaced, the paper's; ``"heads"``: whole heads; ``"magnitude"``: the largest
      weights), ``width_indices={"channels": [...], ...}`` gives index sets by hand.
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
        layout: where the fresh layers sit (ViT / DINOv2): ``"after"`` (default), ``"before"``, ``"interleave"``
            or the encoder positions of the inherited layers, e.g. ``[0, 2, 4]``.
        width_selection: the element selection rule of a narrower descendant (a registered one, see
            :func:`hf_learngene.sizing.register_width_selection`); another rule than the default ``"uniform"`` for
            a descendant that keeps the ancestry's width is an error (nothing would be selected).
        width_indices: index sets chosen by hand, by role (``"channels"``, ``"attention"``, ``"mlp"``; ResNet
            ``"embedding"``, ``"stage<s>"``, ``"inner0"``, ``"inner1"``), overriding the rule for those roles.
        inherit_embeddings: copy the input embedding the learngene carries (``None``: when it carries one).
        inherited_lr_scale: the multiple of the learning rate the inherited weights should train at, recorded in
            ``config.learngene["inherited_lr_scale"]`` for :class:`~hf_learngene.DescendantTrainer`. ``None``: the
            measured recommendation, :func:`recommended_inherited_lr_scale` (0.1 for a full-width descendant with
            the inherited embedding, else 1.0).
        **family_options: extra config fields for the descendant (e.g. ``patch_size=8``,
            ``hidden_dropout_prob=0.1``, ``hidden_size=192``); fields that would change inherited layers' type or
            computation, or widen them, are refused.

    The origin is recorded in ``config.learngene`` (for a narrower descendant also the selected indices of every
    inherited tensor, ``["width"]``, and its sizes, ``["sizes"]``); write the model card with
    :func:`save_descendant` (or :func:`save_descendant_card`, :class:`DescendantCardCallback`,
    :func:`push_descendant_to_hub`).

    Example:
        >>> child = from_learngene("user/vit-learngene", num_labels=5, seed=0)  # doctest: +SKIP
        >>> save_descendant(child, "my-descendant")  # doctest: +SKIP  (weights + model card)
        >>> small = from_learngene("user/dinov2-learngene", num_labels=5, hidden_size=192,  # doctest: +SKIP
        ...                        num_attention_heads=3, intermediate_size=768, width_selection="heads")
    """
    planned = _build_planned_descendant(
        learngene, num_labels, id2label=id2label, label2id=label2id, image_size=image_size,
        num_random_layers=num_random_layers, seed=seed, revision=revision, token=token, layout=layout,
        width_selection=width_selection, width_indices=width_indices, **family_options)
    learngene, plan, model, seed = planned.learngene, planned.plan, planned.model, planned.seed
    config = learngene.config
    if inherit_embeddings and not learngene.carries_embeddings:
        raise LearngeneError(
            f"inherit_embeddings=True but the learngene {learngene_reference(learngene)} carries no input embedding "
            "(it holds the layers only): condense it with include_embeddings=True, or build the descendant with "
            "inherit_embeddings=None and copy the ancestry's with hf_learngene.inherit_embeddings(child, ancestry).")
    if inherited_lr_scale is not None:
        check_inherited_lr_scale(inherited_lr_scale)
    state = model.state_dict()
    position_of = {index: position for position, index in enumerate(config.layer_indices)}
    width = getattr(plan, "width", None)
    with torch.no_grad():
        for index, prefix in plan.inherited:
            source = learngene.layers[position_of[index]].state_dict()
            if width is not None:  # element selection (sizing.select_elements) with the layer's index sets
                source = reduce_layer_state(source, width.layers[prefix].axes, planned.width_indices[prefix])
            for key, tensor in source.items():
                target_key = prefix + key
                if target_key not in state or state[target_key].shape != tensor.shape:
                    raise LearngeneError(
                        f"Learngene layer {index} does not fit the descendant at {target_key!r} "
                        f"({tuple(tensor.shape)} vs {tuple(state[target_key].shape) if target_key in state else 'missing'})."
                    )
                state[target_key].copy_(tensor)

    model.config.learngene = {
        "learngene": learngene_reference(learngene),
        "revision": learngene.commit_sha,
        "family": config.family,
        "ancestry": config.ancestry_name_or_path,
        "ancestry_revision": config.ancestry_revision,
        "selection_method": config.selection_method,
        "layer_map": [{"descendant": prefix, "ancestry_layer": index} for index, prefix in plan.inherited],
        "fresh_layers": plan.fresh,
        "layout": getattr(plan, "layout", "after"),
        "sizes": planned.sizes,
        "seed": seed,
        "license": config.license,
        "hf_learngene_version": __version__,
    }
    if width is not None:
        record, per_layer = width_record(width, planned.width_indices, planned.width_selection,
                                         planned.explicit_indices)
        model.config.learngene["width"] = record
        for item, (index, prefix) in zip(model.config.learngene["layer_map"], plan.inherited):
            item.update(learngene_layer=position_of[index], **per_layer[prefix])
    if learngene.carries_embeddings and inherit_embeddings is not False:
        try:
            copied, resampled = copy_carried_embeddings(learngene.embeddings, model, config.family)
        except LearngeneError as err:
            raise LearngeneError(f"{err} (The learngene carries the ancestry's input embedding; pass "
                                 "inherit_embeddings=False for a fresh one.)") from err
        model.config.learngene["embeddings"] = embedding_record(
            model, config.family, copied, resampled, learngene_reference(learngene), learngene.commit_sha,
            carried_by="learngene")
    from .processing import preprocessing_record

    family_defaults = learngene.family.image_preprocessing(model.config)
    model.config.learngene["preprocessing"] = preprocessing_record(
        config.image_processor, image_size or getattr(model.config, "image_size", None) or family_defaults.get("size"),
        learngene.family.image_preprocessing(config.ancestry_transformers_config()))
    model.config.learngene["inherited_lr_scale"] = float(
        recommended_inherited_lr_scale(model) if inherited_lr_scale is None else inherited_lr_scale)
    model.config.learngene["inherited_lr_scale_given"] = inherited_lr_scale is not None
    return model


def learngene_reference(learngene: LearngeneModel) -> str:
    """How a descendant names its learngene: the Hub id (its revision is recorded beside it), a local folder's name
    plus a content fingerprint (``"<folder>@sha256:<16 hex>"``, like an ancestry), or, for one never saved,
    ``"learngene of <ancestry>"``.

    Example:
        >>> learngene_reference(LearngeneModel.from_pretrained("user/vit-learngene"))  # doctest: +SKIP
        'user/vit-learngene'
    """
    from .provenance import MODEL_FILE_PATTERNS, source_reference

    name = getattr(learngene, "name_or_path", None) or learngene.config._name_or_path or None
    if name:
        return source_reference(str(name), patterns=MODEL_FILE_PATTERNS)
    layers = ",".join(str(i) for i in learngene.config.layer_indices)
    return f"learngene of {learngene.config.ancestry_name_or_path or 'an unnamed ancestry'} (layers {layers})"


def scratch_descendant_like(
    learngene: LearngeneModel | str | os.PathLike,
    num_labels: int | None = None,
    *,
    seed: int | None = None,
    **options: Any,
) -> PreTrainedModel:
    """A descendant with exactly the architecture :func:`from_learngene` would build, all weights fresh.

    ``options`` are :func:`from_learngene`'s architecture and label arguments (``id2label``, ``label2id``,
    ``image_size``, ``num_random_layers``, ``revision``, ``token``, ``layout``, ``width_selection``,
    ``width_indices`` and family options such as ``hidden_size=``). With the same ``seed`` the non-inherited weights
    equal those of ``from_learngene(learngene, ..., seed=seed, inherit_embeddings=False)``; the learngene layers (and
    the embedding) are random here. This is the *From-Scratch* / *Feature Distillation* baseline; it records no
    ``config.learngene`` origin.

    Example:
        >>> student = scratch_descendant_like(learngene, num_labels=5, seed=0)  # doctest: +SKIP
    """
    for name in ("inherit_embeddings", "inherited_lr_scale"):
        if name in options:
            raise LearngeneError(f"scratch_descendant_like inherits nothing: drop {name}.")
    return _build_planned_descendant(learngene, num_labels, seed=seed, **options).model


# ---------------------------------------------------------------------------------------------------- model cards
def save_descendant_card(model: PreTrainedModel, save_directory: str | os.PathLike, repo_id: str | None = None,
                         eval_results: list[EvalResult] | None = None) -> Path:
    """Write (or update) the descendant card ``README.md`` in ``save_directory``; returns its path.

    ``eval_results`` (:func:`hf_learngene.cards.eval_results_from_metrics` of ``trainer.evaluate()``) become the card's
    ``model-index`` metadata, which the Hub shows; without them, results already in the card are kept.

    The card is rendered from ``model.config.learngene``, so a reloaded descendant
    (``AutoModelForImageClassification.from_pretrained(...)``) gets the same card. Text a user added to an
    existing card outside the generated block is kept.

    Example:
        >>> trainer.save_model("my-descendant")  # doctest: +SKIP
        >>> save_descendant_card(trainer.model, "my-descendant")  # doctest: +SKIP
    """
    path = Path(save_directory) / MODEL_CARD_NAME
    existing = path.read_text(encoding="utf-8") if path.exists() else None
    card = descendant_card(model.config, type(model).__name__, repo_id=repo_id, existing_text=existing,
                           eval_results=eval_results)
    card.save(path)
    return path


def save_descendant(model: PreTrainedModel, save_directory: str | os.PathLike, *args: Any,
                    repo_id: str | None = None, image_processor: Any = None, **kwargs: Any) -> Path:
    """``model.save_pretrained(save_directory, ...)`` plus its image processor and the descendant card, written
    atomically.

    ``image_processor`` (default :func:`hf_learngene.processing.descendant_image_processor`: the preprocessing the
    descendant was trained with in this library) is saved as ``preprocessor_config.json``, so
    ``pipeline("image-classification", model=save_directory)`` works.

    A failure in the middle leaves an earlier save in ``save_directory`` intact. ``*args`` / ``**kwargs`` go to
    ``save_pretrained``; ``repo_id`` is the Hub id used in the card's usage snippet; ``push_to_hub=True`` also
    uploads the folder with :func:`push_descendant_to_hub` (to ``repo_id`` or the folder name). Returns the folder.

    Example:
        >>> save_descendant(child, "my-descendant")  # doctest: +SKIP
    """
    push = kwargs.pop("push_to_hub", False)
    target = Path(save_directory)
    if not kwargs.get("is_main_process", True):
        model.save_pretrained(save_directory, *args, **kwargs)
        return target
    with atomic_directory(target) as tmp:
        if (target / MODEL_CARD_NAME).exists():
            (tmp / MODEL_CARD_NAME).write_bytes((target / MODEL_CARD_NAME).read_bytes())
        model.save_pretrained(tmp, *args, **kwargs)
        if image_processor is None:
            from .processing import descendant_image_processor

            image_processor = descendant_image_processor(model)
        image_processor.save_pretrained(tmp)
        save_descendant_card(model, tmp, repo_id=repo_id)
    if push:
        push_descendant_to_hub(model, repo_id or target.name, token=kwargs.get("token"))
    return target


def push_descendant_to_hub(model: PreTrainedModel, repo_id: str, *, commit_message: str | None = None,
                           private: bool | None = None, token: str | bool | None = None, revision: str | None = None,
                           create_pr: bool = False) -> CommitInfo:
    """Upload a descendant (weights, config and model card) to the Hub; returns the commit.

    Text a user added to the repo's existing card is kept. (``model.push_to_hub`` is `transformers`' own and
    writes no descendant card.)

    Example:
        >>> commit = push_descendant_to_hub(child, "user/my-descendant")  # doctest: +SKIP
    """
    return push_with_card(repo_id, lambda folder, repo: save_descendant(model, folder, repo_id=repo),
                          commit_message=commit_message or "Upload learngene descendant", private=private,
                          token=token, revision=revision, create_pr=create_pr)


class DescendantCardCallback(TrainerCallback):
    """Writes the descendant card into every checkpoint a ``Trainer`` saves (``checkpoint-<step>/README.md``).

    Models without a ``config.learngene`` origin (e.g. :func:`scratch_descendant_like` baselines) are skipped.
    ``trainer.save_model(dir)`` fires no callback event: call :func:`save_descendant_card` after it (or use
    :func:`save_descendant`).

    Example:
        >>> trainer = Trainer(model=child, args=args, train_dataset=train,  # doctest: +SKIP
        ...                   callbacks=[DescendantCardCallback()])
    """

    def __init__(self, repo_id: str | None = None) -> None:
        self.repo_id = repo_id

    def on_save(self, args: Any, state: Any, control: Any, model: PreTrainedModel | None = None,
                **kwargs: Any) -> None:
        if model is None or not getattr(model.config, "learngene", None) or not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if folder.is_dir():
            save_descendant_card(model, folder, repo_id=self.repo_id)
