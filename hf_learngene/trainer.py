"""`DescendantTrainer`: a ``transformers.Trainer`` that trains a descendant the measured best way and shares it with
its descendant card.

What it adds to ``Trainer`` (everything else is ``Trainer``'s, so ``TrainingArguments``, callbacks, ``evaluate``,
``save_model`` and ``push_to_hub`` work as usual):

* **The learning rate of inherited weights.** The descendant's ``config.learngene["inherited_lr_scale"]`` (set by
  :func:`~hf_learngene.from_learngene` from the evidence: 0.1 for a full-width descendant that inherited the input
  embedding, else 1.0) or ``inherited_lr_scale=`` scales the learning rate of every inherited parameter: the
  optimizer ``TrainingArguments.optim`` names gets two kinds of parameter groups (inherited / fresh, each with and
  without weight decay, as ``Trainer`` splits them) and ``Trainer``'s schedule scales them all alike.
* **The image processor.** Without ``processing_class``, the descendant's
  (:func:`~hf_learngene.processing.descendant_image_processor`), so every save ships ``preprocessor_config.json``
  and ``pipeline("image-classification", model=output_dir)`` works.
* **The descendant card.** Every checkpoint gets it (:class:`~hf_learngene.DescendantCardCallback`), and
  ``create_model_card`` (which ``push_to_hub`` calls) writes it merged with ``Trainer``'s own card: the learngene,
  its inherited layers and the recipe, plus ``Trainer``'s training hyperparameters and results, with the last
  evaluation as ``model-index`` metadata.

Models without a ``config.learngene`` record (e.g. a From-Scratch twin) train exactly as with ``Trainer``.

Example:
    >>> child = from_learngene("user/dinov2-learngene", num_labels=5, image_size=84, seed=0)  # doctest: +SKIP
    >>> trainer = DescendantTrainer(model=child, args=TrainingArguments("out", learning_rate=2e-4),  # doctest: +SKIP
    ...                             train_dataset=train, eval_dataset=test)
    >>> trainer.train(); trainer.evaluate(); trainer.push_to_hub()  # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, ModelCardData
from transformers import Trainer

from .cards import END, START, eval_results_from_metrics
from .constants import MODEL_CARD_NAME
from .errors import LearngeneError
from .inherit import DescendantCardCallback, save_descendant_card
from .recipes import check_inherited_lr_scale


def _origin(model: Any) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    origin = getattr(config, "learngene", None)
    return origin if isinstance(origin, dict) and "family" in origin else None


class DescendantTrainer(Trainer):
    """``Trainer`` for learngene descendants: inherited weights at ``inherited_lr_scale`` x the learning rate, the
    descendant's image processor, and the descendant card on every save and push (module docstring).

    Args:
        *args, **kwargs: ``Trainer``'s.
        inherited_lr_scale: the multiple of ``args.learning_rate`` for inherited parameters; default the descendant's
            recorded ``config.learngene["inherited_lr_scale"]`` (1.0 when it records none). 1.0 gives ``Trainer``'s
            own optimizer.

    Example:
        >>> trainer = DescendantTrainer(model=child, args=args, train_dataset=train)  # doctest: +SKIP
        >>> trainer.inherited_lr_scale  # doctest: +SKIP
        0.1
    """

    def __init__(self, *args: Any, inherited_lr_scale: float | None = None, **kwargs: Any) -> None:
        model = kwargs.get("model", args[0] if args else None)
        origin = _origin(model)
        if origin is not None and kwargs.get("processing_class") is None and len(args) <= 5:  # processing_class: 6th
            from .processing import descendant_image_processor

            kwargs["processing_class"] = descendant_image_processor(model)
        super().__init__(*args, **kwargs)
        if inherited_lr_scale is None:
            inherited_lr_scale = (origin or {}).get("inherited_lr_scale", 1.0)
        inherited_lr_scale = check_inherited_lr_scale(inherited_lr_scale)
        if inherited_lr_scale != 1.0 and origin is None:
            raise LearngeneError(f"inherited_lr_scale={inherited_lr_scale} needs a descendant built by "
                                 "hf_learngene.from_learngene (its config.learngene names the inherited weights).")
        self.inherited_lr_scale = float(inherited_lr_scale)
        if origin is not None and not any(isinstance(c, DescendantCardCallback)
                                          for c in self.callback_handler.callbacks):
            self.add_callback(DescendantCardCallback(repo_id=self.args.hub_model_id))

    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        """``Trainer``'s optimizer class and settings over :func:`~hf_learngene.inherited_lr_param_groups`: inherited
        parameters at ``inherited_lr_scale`` x the learning rate (with ``inherited_lr_scale == 1``: ``Trainer``'s)."""
        if self.optimizer is None and self.inherited_lr_scale != 1.0:
            from .recipes import inherited_lr_param_groups

            target = self.model if model is None else model
            groups = inherited_lr_param_groups(target, learning_rate=self.args.learning_rate,
                                               weight_decay=self.args.weight_decay,
                                               inherited_lr_scale=self.inherited_lr_scale)
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, target)
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return super().create_optimizer(model) if model is not None else super().create_optimizer()

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        """``Trainer``'s card merged into the descendant card: the learngene and the recipe first, then ``Trainer``'s
        sections (hyperparameters, results); the last evaluation is the card's ``model-index``."""
        super().create_model_card(*args, **kwargs)
        origin = _origin(self.model)
        if origin is None or not self.is_world_process_zero():
            return
        path = Path(self.args.output_dir) / MODEL_CARD_NAME
        trainer_card = ModelCard.load(path)
        body = re.sub(r"<!--.*?-->", "", trainer_card.text, flags=re.DOTALL)  # Trainer's "proofread" note
        # its title and its "fine-tuned version of [](...)" line (the descendant's origin is in the generated part)
        body = "\n".join(line for line in body.splitlines()
                         if not line.startswith("# ") and not line.startswith("This model is a fine-tuned version of")
                         and not line.startswith("This model was trained from scratch"))
        metadata = trainer_card.data.to_dict()
        metadata.pop("model-index", None)  # replaced by the descendant's eval results
        metadata.pop("model_name", None)
        tags = [t for t in (metadata.get("tags") or []) if t != "generated_from_trainer"] + ["generated_from_trainer"]
        metadata["tags"] = tags
        text = f"---\n{ModelCardData(**metadata).to_yaml()}\n---\n\n# Descendant of a learngene\n\n{START}\n{END}\n{body}\n"
        path.write_text(text, encoding="utf-8")
        dataset = kwargs.get("dataset") or kwargs.get("dataset_tags")
        dataset_name = (dataset[0] if isinstance(dataset, list) and dataset else dataset) or "custom"
        metrics = self.last_eval_metrics()
        results = eval_results_from_metrics(metrics, dataset_name=str(dataset_name), dataset_split="eval") \
            if metrics else None
        save_descendant_card(self.model, self.args.output_dir, repo_id=self.hub_model_id, eval_results=results)

    def last_eval_metrics(self) -> dict[str, float]:
        """The metrics of the last evaluation in ``state.log_history`` (``{}`` when there was none)."""
        for entry in reversed(self.state.log_history):
            if any(key.startswith("eval_") for key in entry):
                return {key: value for key, value in entry.items() if key.startswith("eval_")}
        return {}
