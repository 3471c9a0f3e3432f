"""Feature Distillation baseline (FitNets-style, paper ref. [26]) as a :class:`transformers.Trainer`.

The *student* (a plain `transformers` descendant, usually randomly initialised with the same architecture as a
learngene descendant) is trained with cross-entropy plus a feature-matching loss: for every pair
``(student_layer, teacher_layer)`` the student's integral-layer output goes through a learned alignment
``h`` (:meth:`ArchitectureFamily.make_alignment`: identity / linear map for ViT tokens, 1x1 conv + resize for
ResNet feature maps) and is matched with MSE to the frozen teacher's output at that layer::

    loss = CE(student(x), y) + distill_weight * mean_j MSE(h_j(student_j(x)), teacher_{pair_j}(x))

Following the paper, the pairs are the learngene positions: descendant layer ``j`` <-> ancestry layer
``layer_indices[j]`` (see :func:`layer_pairs_from_learngene`).

Example:
    >>> from hf_learngene import FeatureDistillationTrainer, LearngeneModel, scratch_descendant_like
    >>> from hf_learngene.experiments.distillation import layer_pairs_from_learngene
    >>> learngene = LearngeneModel.from_pretrained("outputs/learngene-vit")            # doctest: +SKIP
    >>> student = scratch_descendant_like(learngene, num_labels=5, seed=0)              # doctest: +SKIP
    >>> trainer = FeatureDistillationTrainer(
    ...     model=student, args=args, train_dataset=train, eval_dataset=test, data_collator=collate_fn,
    ...     teacher="outputs/ancestry/vit", layer_pairs=layer_pairs_from_learngene(student, learngene),
    ...     family="vit", distill_weight=1.0)                                              # doctest: +SKIP
    >>> trainer.train()                                                                  # doctest: +SKIP
    >>> trainer.save_model("outputs/distilled")   # a plain ViTForImageClassification   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, Trainer

from ..errors import LearngeneError
from ..families import ArchitectureFamily, family_for_config, get_family
from ..inherit import scratch_descendant_like  # re-exported: it used to live here

logger = logging.getLogger(__name__)

__all__ = [
    "FeatureDistillationTrainer",
    "capture_layer_outputs",
    "layer_pairs_from_learngene",
    "scratch_descendant_like",
]


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def capture_layer_outputs(
    model: nn.Module,
    family: ArchitectureFamily,
    pixel_values: torch.Tensor,
    layers: Sequence[int],
    hook_model: nn.Module | None = None,
) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """Run ``model(pixel_values=...)`` and return ``(logits or None, [output of integral layer i for i in layers])``.

    :meth:`ArchitectureFamily.forward_features` (hooks, differentiable) with the layer indices checked first; the
    hooks are placed on ``hook_model`` (default ``model``) so that ``model`` may be a wrapper (DDP, ``accelerate``).
    """
    num_layers = len(family.integral_layers(hook_model if hook_model is not None else model))
    for index in layers:
        if not 0 <= index < num_layers:
            raise LearngeneError(f"Layer index {index} is out of range: the model has {num_layers} integral layers.")
    return family.forward_features(model, pixel_values, list(layers), hook_model=hook_model)


def _integral_index_by_prefix(model: PreTrainedModel, family: ArchitectureFamily) -> dict[str, int]:
    """``{"<state-dict prefix of integral layer i>.": i}`` for ``model``."""
    names = {id(module): name for name, module in model.named_modules()}
    return {names[id(layer)] + ".": i for i, layer in enumerate(family.integral_layers(model))}


def layer_pairs_from_learngene(student: PreTrainedModel, learngene: Any = None) -> list[tuple[int, int]]:
    """``[(student_layer, ancestry_layer)]`` for the learngene positions of a descendant-shaped ``student``.

    Uses ``student.config.learngene["layer_map"]`` when the student was built by
    :func:`~hf_learngene.from_learngene`; otherwise (e.g. a randomly initialised student of the same
    architecture) it lays out the descendant of ``learngene`` (a :class:`~hf_learngene.LearngeneModel`) and maps
    each inherited position to the student's integral-layer index. Pairs are in learngene order.

    Example:
        >>> pairs = layer_pairs_from_learngene(child)       # doctest: +SKIP
        [(0, 0), (1, 2), (2, 5)]
    """
    family = family_for_config(student.config)
    by_prefix = _integral_index_by_prefix(student, family)
    record = getattr(student.config, "learngene", None)
    if isinstance(record, Mapping) and record.get("layer_map"):
        inherited = [(int(item["ancestry_layer"]), str(item["descendant"])) for item in record["layer_map"]]
    elif learngene is not None:
        config = learngene.config
        plan = get_family(config.family).plan_descendant(
            config.ancestry_transformers_config(), list(config.layer_indices), num_labels=student.config.num_labels
        )
        inherited = list(plan.inherited)
    else:
        raise LearngeneError(
            "The student has no `config.learngene` layer map (it was not built by from_learngene): pass the learngene "
            "whose layer positions it should distil, or give layer_pairs explicitly."
        )
    pairs = []
    for ancestry_index, prefix in inherited:
        if prefix not in by_prefix:
            raise LearngeneError(
                f"The student has no integral layer at {prefix!r}: it does not have the learngene descendant's "
                "architecture. Build it with scratch_descendant_like(learngene, ...) or pass layer_pairs explicitly."
            )
        pairs.append((by_prefix[prefix], ancestry_index))
    return pairs


FEATURE_LOSSES = ("relative_mse", "mse")


def feature_distance(student: torch.Tensor, teacher: torch.Tensor, kind: str = "relative_mse") -> torch.Tensor:
    """The feature-matching loss of one layer pair.

    ``"mse"`` is the plain mean squared error. ``"relative_mse"`` (default) divides it by the teacher features' mean
    square (a constant for the gradient), so the term is scale-free: deep layers with large activations do not swamp
    the cross-entropy (with plain MSE and a ResNet teacher the cross-entropy stopped learning in our runs).
    """
    mse = F.mse_loss(student, teacher)
    if kind == "mse":
        return mse
    return mse / teacher.pow(2).mean().clamp_min(1e-8)


class _StudentWithAligners(nn.Module):
    """Groups the student and the alignment modules so one optimizer sees both (only used for optimisation)."""

    def __init__(self, student: nn.Module, aligners: nn.ModuleList) -> None:
        super().__init__()
        self.student = student
        self.aligners = aligners


# --------------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------------
class FeatureDistillationTrainer(Trainer):
    """:class:`~transformers.Trainer` for FitNets-style feature distillation from a frozen teacher (the ancestry).

    Args:
        teacher: the teacher model (a `transformers` model, a local directory or a Hub id; loaded with
            :func:`hf_learngene.hub.load_ancestry`). It is frozen (``requires_grad=False``), kept in eval mode and
            moved to the student's device; its weights never change.
        layer_pairs: ``[(student_integral_layer, teacher_integral_layer)]`` to match (see
            :func:`layer_pairs_from_learngene`).
        family: the architecture family name or object (default: from the student's config). The teacher's family
            is taken from its own config, so student and teacher must be of the same kind of model only in the
            sense that :meth:`make_alignment` can map one feature shape onto the other.
        distill_weight: weight of the feature loss (default 1.0).
        feature_loss: ``"relative_mse"`` (default: MSE divided by the teacher features' mean square) or ``"mse"``.
        **kwargs: everything :class:`~transformers.Trainer` takes (``model`` is the student).

    The alignment modules ``h_j = family.make_alignment(student_shape_j, teacher_shape_j)`` are created lazily from the
    shapes of the first training batch (the first rows of ``train_dataset``, probed without touching the global RNG
    state) when the optimizer is created, or from the first batch ``compute_loss`` sees if that comes first. They are
    optimised together with the student (same optimizer, learning-rate schedule and weight decay) and live on
    ``self.aligners``; they are *not* part of the saved model: ``save_model`` writes the plain student.

    ``compute_loss`` returns ``CE + distill_weight * mean_j MSE_j`` in training mode and the plain CE in evaluation
    mode (so the teacher costs nothing at evaluation and ``eval_loss`` is comparable with other methods). The two
    training terms are logged as ``ce_loss`` and ``feature_loss`` next to ``loss``.

    Limitations: the aligners are not wrapped for distributed data parallel training (their gradients are not
    all-reduced across processes) and are not saved in checkpoints (resuming re-creates them).
    """

    # compute_loss returns per-batch means: let Trainer divide by the gradient-accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args: Any,
        teacher: PreTrainedModel | str | os.PathLike,
        layer_pairs: Sequence[tuple[int, int]],
        family: str | ArchitectureFamily | None = None,
        distill_weight: float = 1.0,
        feature_loss: str = "relative_mse",
        **kwargs: Any,
    ) -> None:
        if feature_loss not in FEATURE_LOSSES:
            raise LearngeneError(f"feature_loss must be one of {FEATURE_LOSSES}, got {feature_loss!r}.")
        super().__init__(*args, **kwargs)
        self.feature_loss = feature_loss
        if not isinstance(teacher, nn.Module):
            from ..hub import load_ancestry

            teacher = load_ancestry(teacher).model
        self.teacher = teacher
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        if family is None:
            family = family_for_config(self.model.config)
        self.family: ArchitectureFamily = get_family(family) if isinstance(family, str) else family
        self.teacher_family: ArchitectureFamily = (
            family_for_config(teacher.config) if hasattr(teacher, "config") else self.family
        )
        self.layer_pairs = [(int(s), int(t)) for s, t in layer_pairs]
        if not self.layer_pairs:
            raise LearngeneError("layer_pairs is empty: nothing to distil.")
        n_student = len(self.family.integral_layers(self.model))
        n_teacher = len(self.teacher_family.integral_layers(self.teacher))
        for s, t in self.layer_pairs:
            if not (0 <= s < n_student and 0 <= t < n_teacher):
                raise LearngeneError(
                    f"Layer pair ({s}, {t}) is out of range: the student has {n_student} and the teacher {n_teacher} "
                    "integral layers."
                )
        self.distill_weight = float(distill_weight)
        self.aligners: nn.ModuleList | None = None
        self._loss_sums = {"ce_loss": 0.0, "feature_loss": 0.0}
        self._loss_count = 0
        self._move_teacher(self.args.device)

    # ---------------------------------------------------------------- devices & aligners
    def _move_teacher(self, device: torch.device | str) -> None:
        first = next(self.teacher.parameters(), None)
        if first is not None and first.device != torch.device(device):
            self.teacher.to(device)
        self.teacher.eval()

    @property
    def _student_layers(self) -> list[int]:
        return [s for s, _ in self.layer_pairs]

    @property
    def _teacher_layers(self) -> list[int]:
        return [t for _, t in self.layer_pairs]

    def _student_device(self) -> torch.device:
        first = next(self.model.parameters(), None)
        return first.device if first is not None else torch.device(self.args.device)

    def build_aligners(self, pixel_values: torch.Tensor) -> nn.ModuleList:
        """Create the alignment modules from the feature shapes this ``pixel_values`` batch produces.

        Called automatically; call it yourself to create them earlier. Does nothing if they already exist.
        """
        if self.aligners is not None:
            return self.aligners
        device = self._student_device()
        pixel_values = pixel_values.to(device)
        self._move_teacher(device)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                _, student_feats = capture_layer_outputs(self.model, self.family, pixel_values, self._student_layers)
                teacher_input = pixel_values.to(dtype=self._teacher_dtype())
                _, teacher_feats = capture_layer_outputs(
                    self.teacher, self.teacher_family, teacher_input, self._teacher_layers
                )
        finally:
            self.model.train(was_training)
        aligners = nn.ModuleList([
            self.family.make_alignment(tuple(s.shape[1:]), tuple(t.shape[1:]))
            for s, t in zip(student_feats, teacher_feats)
        ])
        self.aligners = aligners.to(device)
        return self.aligners

    def _teacher_dtype(self) -> torch.dtype:
        first = next(self.teacher.parameters(), None)
        return first.dtype if first is not None else torch.float32

    def _probe_pixel_values(self) -> torch.Tensor:
        """``pixel_values`` of the first training rows, without changing any global RNG state."""
        if self.train_dataset is None:
            raise LearngeneError("FeatureDistillationTrainer needs a train_dataset to create the alignment modules.")
        with torch.random.fork_rng(devices=[]):
            if isinstance(self.train_dataset, torch.utils.data.IterableDataset) or not hasattr(
                self.train_dataset, "__getitem__"
            ):
                rows = [next(iter(self.train_dataset))]
            else:
                rows = [self.train_dataset[i] for i in range(min(2, len(self.train_dataset)))]
            batch = self.data_collator(rows)
        if "pixel_values" not in batch:
            raise LearngeneError("The data collator must produce `pixel_values`.")
        return batch["pixel_values"]

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """Create the optimizer over the student *and* the alignment modules (built first if needed)."""
        if self.optimizer is None:
            if self.aligners is None:
                self.build_aligners(self._probe_pixel_values())
            student = self.model if model is None else model
            return super().create_optimizer(_StudentWithAligners(student, self.aligners))
        return super().create_optimizer(model)

    def _clip_grad_norm(self, model: nn.Module) -> torch.Tensor:
        """Clip the student's and the alignment modules' gradients together (Trainer clips only the model's).

        Unclipped aligners diverged with SGD at lr 0.05 (feature loss growing to 1e4) and the clipped student then
        only followed the feature loss: its cross-entropy stayed at chance.
        """
        params = list(model.parameters()) + (list(self.aligners.parameters()) if self.aligners is not None else [])
        return self.accelerator.clip_grad_norm_(params, self.args.max_grad_norm)

    def _register_late_aligners(self) -> None:
        """Aligners built after the optimizer: add them as a parameter group (no schedule warm-up for them)."""
        if self.optimizer is None or self.aligners is None:
            return
        optimizer = getattr(self.optimizer, "optimizer", self.optimizer)
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        params = [p for p in self.aligners.parameters() if id(p) not in known]
        if params:
            logger.warning("Alignment modules were created after the optimizer; adding them as a new parameter group.")
            optimizer.add_param_group({"params": params, "weight_decay": self.args.weight_decay})

    # ---------------------------------------------------------------- loss
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """``CE + distill_weight * mean MSE(h(student features), teacher features)`` (CE only in eval mode)."""
        pixel_values = inputs["pixel_values"]
        labels = inputs.get("labels")
        unwrapped = self.accelerator.unwrap_model(model)
        if not model.training:
            outputs = model(pixel_values=pixel_values)
            loss = F.cross_entropy(outputs.logits, labels) if labels is not None else None
            if loss is not None:
                outputs["loss"] = loss
            return (loss, outputs) if return_outputs else loss

        if self.aligners is None:
            self.build_aligners(pixel_values)
            self._register_late_aligners()
        logits, student_feats = capture_layer_outputs(
            model, self.family, pixel_values, self._student_layers, hook_model=unwrapped
        )
        self._move_teacher(pixel_values.device)
        with torch.no_grad():
            _, teacher_feats = capture_layer_outputs(
                self.teacher, self.teacher_family, pixel_values.to(dtype=self._teacher_dtype()), self._teacher_layers
            )
        feature_losses = [
            feature_distance(aligner(s).float(), t.detach().float(), self.feature_loss)
            for aligner, s, t in zip(self.aligners, student_feats, teacher_feats)
        ]
        feature_loss = torch.stack(feature_losses).mean()
        if labels is None:
            raise LearngeneError("FeatureDistillationTrainer needs `labels` in the training batches.")
        ce_loss = F.cross_entropy(logits.float(), labels)
        loss = ce_loss + self.distill_weight * feature_loss
        self._loss_sums["ce_loss"] += float(ce_loss.detach())
        self._loss_sums["feature_loss"] += float(feature_loss.detach())
        self._loss_count += 1
        if return_outputs:
            from transformers.modeling_outputs import ImageClassifierOutput

            return loss, ImageClassifierOutput(loss=loss, logits=logits)
        return loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the mean ``ce_loss`` and ``feature_loss`` since the last log to training logs."""
        if "loss" in logs and self._loss_count:
            for key, total in self._loss_sums.items():
                logs[key] = round(total / self._loss_count, 6)
                self._loss_sums[key] = 0.0
            self._loss_count = 0
        super().log(logs, start_time)
