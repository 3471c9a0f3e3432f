"""Fine-tune a Learngene *descendant* on an N-way task: the reusable pieces and the command line of
``examples/finetune_descendant.py``.

Three ways to initialise the descendant (``--init`` / :func:`build_descendant`):

* ``learngene`` (default): ``from_learngene(--learngene, ...)``: the learngene layers are inherited, the rest is
  fresh (Auto-/Heur-Learngene, depending on how the learngene was condensed);
* ``scratch``: the same architecture, every weight fresh (``--like_learngene DIR`` gives the architecture);
* ``distill``: like ``scratch`` and trained with Feature Distillation from the ancestry (``--teacher DIR``) at the
  learngene positions (:class:`hf_learngene.experiments.distillation.FeatureDistillationTrainer`).

The task is drawn with :func:`hf_learngene.experiments.make_task` (``--classes 80-99 --n_way 5 --samples_per_class K
--task_seed S``). Training uses :class:`~transformers.Trainer` with one cheap evaluation per epoch (optionally on the
first ``--eval_per_class`` test images of each class); test accuracy per epoch is written to ``--results_file``
(default ``<output_dir>/finetune_results.json``).

:func:`build_descendant` and :func:`finetune` are reused by ``examples/paper/harness.py``; :func:`main` is the command
line (``python examples/finetune_descendant.py --help``).

Example:
    >>> from hf_learngene.experiments.finetune import build_descendant, finetune  # doctest: +SKIP
    >>> model = build_descendant("learngene", "outputs/learngenes/vit-auto", num_labels=5, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from transformers import HfArgumentParser, PreTrainedModel, Trainer, TrainingArguments, set_seed

from ..constants import FINETUNE_RESULTS_NAME
from ..data import ImageTransform, default_dataset_path, format_class_spec, load_image_dataset, parse_class_spec
from ..inherit import from_learngene, save_descendant_card
from ..modeling_learngene import LearngeneModel
from ..processing import learngene_image_processor
from ..utils import count_parameters
from ..version import __version__
from .distillation import FeatureDistillationTrainer, layer_pairs_from_learngene, scratch_descendant_like
from .metrics import metric_compute_fn
from .tasks import Task, make_task
from .training import train_classifier

logger = logging.getLogger("finetune_descendant")

INIT_CHOICES = ("learngene", "scratch", "distill")


# --------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------
@dataclass
class ModelArguments:
    """How the descendant is built."""

    init: str = field(default="learngene", metadata={"help": "learngene | scratch | distill", "choices": INIT_CHOICES})
    learngene: str | None = field(
        default=None, metadata={"help": "Learngene directory or Hub id to inherit from (--init learngene)."}
    )
    like_learngene: str | None = field(
        default=None,
        metadata={"help": "Learngene whose descendant architecture to copy with fresh weights (scratch / distill)."},
    )
    teacher: str | None = field(default=None, metadata={"help": "Ancestry directory or Hub id (--init distill)."})
    distill_weight: float = field(default=1.0, metadata={"help": "Weight of the feature-distillation loss."})
    distill_loss: str = field(default="relative_mse", metadata={
        "help": "Feature loss: relative_mse (MSE / teacher mean square) or mse."})
    num_random_layers: int | None = field(
        default=None, metadata={"help": "Fresh layers to add (ViT: stacked on top; ResNet: per empty stage)."}
    )
    image_size: int | None = field(
        default=None, metadata={"help": "Input resolution (default: the ancestry's image_size, else 84)."}
    )
    model_seed: int | None = field(default=None, metadata={"help": "Seed of the fresh weights (default: --seed)."})
    inherit_embeddings: bool | None = field(default=None, metadata={"help": (
        "--init learngene: copy the input embedding the learngene carries (default: when it carries one; false: a "
        "fresh embedding, the paper's descendant).")})
    inherited_lr_scale: float | None = field(default=None, metadata={"help": (
        "--init learngene: train the inherited weights at this multiple of --learning_rate (default: the "
        "descendant's recorded recommendation, 0.1 for a full-width descendant that inherited the embedding, else "
        "1.0; hf_learngene.DescendantTrainer).")})
    save_final_model: bool = field(default=True, metadata={"help": "Save the trained descendant in --output_dir."})


@dataclass
class DataArguments:
    """Which task to train on."""

    dataset: str | None = field(
        default=None,
        metadata={"help": "Local dataset folder or Hub id (default: $LEARNGENE_DATASET or ../shared mini-ImageNet)."},
    )
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub revision of --dataset."})
    train_split: str = field(default="train", metadata={"help": "Split the task's training rows come from."})
    eval_split: str = field(default="test", metadata={"help": "Split the task's test rows come from."})
    classes: str = field(default="80-99", metadata={"help": "Descendant class pool, e.g. '80-99'."})
    n_way: int = field(default=5, metadata={"help": "Classes per task."})
    samples_per_class: int | None = field(default=500, metadata={"help": "Training images per class."})
    task_seed: int = field(default=0, metadata={"help": "Seed of the task draw."})
    eval_per_class: int | None = field(
        default=None, metadata={"help": "Evaluate on the first K test images of each class (default: all)."}
    )
    image_column: str = field(default="image", metadata={"help": "Image column."})
    label_column: str = field(default="label", metadata={"help": "Label column."})
    metric_name: str = field(default="accuracy", metadata={"help": (
        "The `evaluate` metric of the evaluations (evaluate.load; offline: the copy hf_learngene ships; without "
        "evaluate installed: numpy accuracy).")})
    no_augmentation: bool = field(default=False, metadata={"help": "Disable random crop + flip."})
    num_threads: int = field(default=2, metadata={"help": "torch.set_num_threads value."})
    results_file: str | None = field(
        default=None, metadata={"help": "Where to write the JSON results (default <output_dir>/finetune_results.json)."}
    )


TRAINING_DEFAULTS: dict[str, Any] = {
    "output_dir": "outputs/finetune/run",
    "num_train_epochs": 50,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 128,
    "learning_rate": 2e-4,
    "weight_decay": 0.05,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.05,
    "eval_strategy": "epoch",
    "logging_strategy": "epoch",
    "save_strategy": "no",
    "report_to": "none",
    "remove_unused_columns": False,
    "dataloader_num_workers": 0,
    "use_cpu": not torch.cuda.is_available(),
    "seed": 0,
}


# --------------------------------------------------------------------------------------------------
# Reusable pieces
# --------------------------------------------------------------------------------------------------
def load_learngene(learngene: LearngeneModel | str | os.PathLike) -> LearngeneModel:
    """A :class:`LearngeneModel` from an instance, a local directory or a Hub id."""
    return learngene if isinstance(learngene, LearngeneModel) else LearngeneModel.from_pretrained(learngene)


def default_image_size(learngene: LearngeneModel, fallback: int = 84) -> int:
    """The ancestry's ``image_size`` (ViT/DINOv2 configs have one), else ``fallback``."""
    size = (learngene.config.ancestry_config or {}).get("image_size")
    if isinstance(size, (list, tuple)):
        size = size[0]
    return int(size) if size else fallback


def build_descendant(
    init: str,
    learngene: LearngeneModel | str | os.PathLike,
    num_labels: int | None = None,
    *,
    seed: int | None = 0,
    **options: Any,
) -> PreTrainedModel:
    """A descendant: ``init="learngene"`` inherits ``learngene``; ``"scratch"``/``"distill"`` copy its architecture.

    ``options`` are :func:`~hf_learngene.from_learngene`'s (``id2label``, ``label2id``, ``image_size``,
    ``num_random_layers``, ...). With the same ``seed``, all three share every fresh weight; only the learngene layers
    differ.

    Example:
        >>> model = build_descendant("scratch", "outputs/learngenes/vit-auto", num_labels=5, seed=0)  # doctest: +SKIP
    """
    if init not in INIT_CHOICES:
        raise ValueError(f"init must be one of {INIT_CHOICES}, got {init!r}")
    build = from_learngene if init == "learngene" else scratch_descendant_like
    return build(load_learngene(learngene), num_labels, seed=seed, **options)


def first_per_class(ds: Any, k: int | None, label_column: str = "label") -> Any:
    """The first ``k`` rows of each label of ``ds`` (original order); ``None`` keeps everything."""
    if k is None:
        return ds
    labels = np.asarray(ds.select_columns([label_column]).with_format("numpy")[:][label_column])
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:k] for c in np.unique(labels)]))
    return ds.select(keep.tolist())


def finetune(
    model: PreTrainedModel,
    task: Task,
    training_args: TrainingArguments,
    *,
    transform: ImageTransform,
    teacher: PreTrainedModel | str | None = None,
    layer_pairs: list[tuple[int, int]] | None = None,
    learngene: LearngeneModel | None = None,
    distill_weight: float = 1.0,
    feature_loss: str = "relative_mse",
    eval_per_class: int | None = None,
    label_column: str = "label",
    callbacks: list[Any] | None = None,
    quiet: bool = False,
    inherited_lr_scale: float | None = None,
    inherited_parameters: list[str] | None = None,
    compute_metrics: Any = None,
    processing_class: Any = None,
) -> dict[str, Any]:
    """Train ``model`` on ``task`` with per-epoch evaluation; Feature Distillation when ``teacher`` is given.

    ``transform`` is the training :class:`ImageTransform` (its ``with_train(False)`` copy is used for evaluation).
    For distillation, ``layer_pairs`` defaults to :func:`layer_pairs_from_learngene(model, learngene)`.
    ``quiet=True`` removes Trainer's console printing / progress callbacks (for many short runs).
    A descendant of :func:`~hf_learngene.from_learngene` trains with :class:`~hf_learngene.DescendantTrainer`: its
    inherited weights at ``inherited_lr_scale`` (default: its recorded ``inherited_lr_scale``) x the learning rate.
    ``inherited_parameters`` names the inherited weights of another model (e.g. a whole ancestry under a fresh head)
    for ``inherited_lr_scale`` (:func:`hf_learngene.recipes.inherited_lr_param_groups`; the optimizer is
    ``training_args.optim``'s, the schedule Trainer's). ``compute_metrics`` defaults to numpy accuracy;
    ``processing_class`` is saved with the model (default for descendants: their image processor).

    Returns ``{"history": [per-epoch rows], "final_accuracy", "best_accuracy", "train_runtime_s", "wall_time_s",
    "num_parameters", "num_train_samples", "num_eval_samples", "trainer"}``.
    """
    start = time.time()
    train_ds = task.train.with_transform(transform)
    eval_ds = first_per_class(task.test, eval_per_class, label_column).with_transform(transform.with_train(False))
    trainer_class: type[Trainer] = Trainer
    trainer_kwargs: dict[str, Any] = {}
    if teacher is not None:
        if layer_pairs is None:
            layer_pairs = layer_pairs_from_learngene(model, learngene)
        trainer_class = FeatureDistillationTrainer
        trainer_kwargs = {"teacher": teacher, "layer_pairs": layer_pairs, "distill_weight": distill_weight,
                          "feature_loss": feature_loss}
    if teacher is None and inherited_parameters is None and getattr(model.config, "learngene", None):
        from ..trainer import DescendantTrainer

        # the given inherited_lr_scale, else the descendant's recorded one (1.0: Trainer's own optimizer)
        trainer_class = DescendantTrainer
        trainer_kwargs["inherited_lr_scale"] = inherited_lr_scale
    elif inherited_lr_scale is not None:
        from ..recipes import inherited_lr_param_groups

        groups = inherited_lr_param_groups(model, learning_rate=training_args.learning_rate,
                                           weight_decay=training_args.weight_decay,
                                           inherited_lr_scale=inherited_lr_scale, inherited=inherited_parameters)
        optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(training_args, model)
        trainer_kwargs["optimizers"] = (optimizer_cls(groups, **optimizer_kwargs), None)
    extra: dict[str, Any] = {}
    if processing_class is not None:
        trainer_kwargs["processing_class"] = processing_class
    if compute_metrics is not None:
        extra["compute_metrics"] = compute_metrics
    result = train_classifier(model, train_ds, eval_ds, args=training_args, callbacks=callbacks, **extra,
                              trainer_class=trainer_class, trainer_kwargs=trainer_kwargs, progress=not quiet)
    accs = result.accuracies
    return {
        "history": result.history,
        "final_accuracy": accs[-1] if accs else None,
        "best_accuracy": max(accs) if accs else None,
        "train_runtime_s": float(result.train_metrics.get("train_runtime", 0.0)),
        "wall_time_s": time.time() - start,
        "num_parameters": count_parameters(model),
        "num_train_samples": len(train_ds),
        "num_eval_samples": len(eval_ds),
        "layer_pairs": [list(p) for p in layer_pairs] if layer_pairs else None,
        "trainer": result.trainer,
    }


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    parser.set_defaults(**TRAINING_DEFAULTS)
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(args=argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    margs, dargs, targs = parse_args(argv)
    targs.remove_unused_columns = False  # the image column is needed by the on-the-fly transform
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO)
    transformers.utils.logging.set_verbosity_warning()
    torch.set_num_threads(dargs.num_threads)
    set_seed(targs.seed)

    source = margs.learngene if margs.init == "learngene" else (margs.like_learngene or margs.learngene)
    if source is None:
        flag = "--learngene" if margs.init == "learngene" else "--like_learngene"
        raise SystemExit(f"--init {margs.init} needs {flag} DIR_OR_HUB_ID")
    if margs.init == "distill" and margs.teacher is None:
        raise SystemExit("--init distill needs --teacher ANCESTRY_DIR_OR_HUB_ID")
    learngene = load_learngene(source)
    image_size = margs.image_size or default_image_size(learngene)

    raw = load_image_dataset(dargs.dataset, revision=dargs.dataset_revision)
    task = make_task(raw[dargs.train_split], raw[dargs.eval_split], dargs.classes, n_way=dargs.n_way,
                     samples_per_class=dargs.samples_per_class, seed=dargs.task_seed, label_column=dargs.label_column)
    logger.info("task seed %d: classes %s, %d train / %d test rows", dargs.task_seed, task.classes,
                len(task.train), len(task.test))
    seed = targs.seed if margs.model_seed is None else margs.model_seed
    inherit = {"inherit_embeddings": margs.inherit_embeddings} if margs.init == "learngene" else {}
    if margs.init != "learngene" and (margs.inherit_embeddings or margs.inherited_lr_scale is not None):
        raise SystemExit(f"--inherit_embeddings / --inherited_lr_scale apply to --init learngene, not {margs.init}")
    model = build_descendant(margs.init, learngene, id2label=task.id2label, label2id=task.label2id,
                             image_size=image_size, num_random_layers=margs.num_random_layers, seed=seed, **inherit)
    origin = getattr(model.config, "learngene", None) or {}
    logger.info("%s descendant (%s): %.2fM parameters%s", margs.init, type(model).__name__,
                count_parameters(model) / 1e6,
                f"; input embedding inherited, inherited lr x{margs.inherited_lr_scale or origin['inherited_lr_scale']:g}"
                if origin.get("embeddings") else "")
    processor = learngene_image_processor(learngene, image_size)  # saved with the model: pipeline() works on it
    transform = ImageTransform.from_processor(processor, train=not dargs.no_augmentation,
                                              image_column=dargs.image_column, label_column=dargs.label_column)
    result = finetune(model, task, targs, transform=transform,
                      teacher=margs.teacher if margs.init == "distill" else None, learngene=learngene,
                      distill_weight=margs.distill_weight, feature_loss=margs.distill_loss, eval_per_class=dargs.eval_per_class,
                      label_column=dargs.label_column, inherited_lr_scale=margs.inherited_lr_scale,
                      compute_metrics=metric_compute_fn(dargs.metric_name), processing_class=processor)
    trainer = result.pop("trainer")
    if margs.save_final_model:
        trainer.save_model()
        if origin:  # a descendant of --learngene: its model card, with the last evaluation as model-index
            from ..cards import eval_results_from_metrics
            from ..provenance import source_reference

            last = trainer.last_eval_metrics()  # a descendant trains with DescendantTrainer
            dataset = source_reference(dargs.dataset or default_dataset_path()) or "custom"
            save_descendant_card(trainer.model, targs.output_dir, eval_results=eval_results_from_metrics(
                last, dataset_name=str(dataset), dataset_split=dargs.eval_split) or None)
    summary = {
        **{k: v for k, v in result.items()},
        "init": margs.init,
        "learngene": str(source),
        "learngene_layers": list(learngene.config.layer_indices),
        "selection_method": learngene.config.selection_method,
        "family": learngene.config.family,
        "ancestry_num_parameters": learngene.config.ancestry_num_parameters,
        "task": {"classes": task.classes, "class_pool": format_class_spec(parse_class_spec(dargs.classes)),
                 "n_way": dargs.n_way, "samples_per_class": dargs.samples_per_class, "seed": dargs.task_seed},
        "model_args": asdict(margs),
        "data_args": asdict(dargs),
        "training": {k: getattr(targs, k) for k in ("num_train_epochs", "per_device_train_batch_size", "learning_rate",
                                                    "weight_decay", "seed")}
        | {"optim": str(targs.optim), "lr_scheduler_type": str(targs.lr_scheduler_type)},
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv[:1], *(argv or sys.argv[1:])]),
        "versions": {"hf_learngene": __version__, "torch": torch.__version__,
                     "transformers": transformers.__version__},
    }
    out = Path(dargs.results_file or Path(targs.output_dir) / FINETUNE_RESULTS_NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    logger.info("final test accuracy %.4f (best %.4f); wrote %s", summary["final_accuracy"] or float("nan"),
                summary["best_accuracy"] or float("nan"), out)
    return summary


