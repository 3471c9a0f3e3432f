"""`CondenseConfig`: every hyperparameter of Auto-Learngene (paper Algorithm 1) and Heur-Learngene."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import LearngeneError

METHODS = ("auto", "heuristic", "manual")


@dataclass
class CondenseConfig:
    """How to condense an ancestry into a learngene.

    The names follow the paper (Sec. 4.2, Algorithm 1, Appendix A); defaults are the paper's where it gives
    one (meta learning rate 1e-4 with cosine annealing, meta-data = 1/6 of the condense data, selection
    threshold 1/L, FC + ReLU6 meta-network) and otherwise chosen to run on a laptop CPU.

    Args:
        method: ``"auto"`` (Auto-Learngene, the meta-network), ``"heuristic"`` (Heur-Learngene, gradient
            stability) or ``"manual"`` (``layer_indices`` as given).
        layer_indices: the layers for ``method="manual"``.
        num_repeats: pseudo-descendant initialisations (auto) or task sequences (heuristic); the paper used 10.
        pseudo_descendant_layers: depth ``K`` of the pseudo-descendant (``None``: half the ancestry's layers).
        pair_set: candidate pairs ``R``: ``"all"`` or an explicit list of ``[l, k]`` pairs.
        batch_size: ``N``, batch size on the training data ``D`` (per process).
        meta_batch_size: ``M``, batch size on the meta-data ``D-hat`` (per process). Small by default: it is
            the main overhead over plain pseudo-descendant training.
        learning_rate: ``beta``, learning rate of the pseudo-descendant and the alignment.
        meta_learning_rate: ``beta-hat``, learning rate of the meta-network (paper: 1e-4).
        meta_lr_scheduler: ``"cosine"`` (paper: CosineAnnealingLR) or ``"constant"``.
        optimizer: ``"adamw"`` or ``"sgd"`` for the pseudo-descendant (the meta-network uses SGD, Eq. 16).
        weight_decay: weight decay of the pseudo-descendant.
        max_iterations: ``I``; ``None`` derives it from ``epochs`` over ``D``.
        epochs: passes over ``D`` when ``max_iterations`` is ``None``.
        meta_fraction: share of the condense data held out as meta-data (paper: 1/6).
        meta_init_bias: initial bias of each meta FC so that ``alpha`` starts inside ReLU6's linear range.
        meta_init_std: standard deviation of the meta FC weights at initialisation.
        image_size, image_mean, image_std: preprocessing when the ancestry has no image processor.
        max_images: cap on the condense images used (``None``: all), drawn per class, seeded.
        heuristic_num_tasks: Heur-Learngene fine-tunes a copy of the ancestry on this many tasks.
        heuristic_n_way: classes per Heur-Learngene task (drawn from the condense classes).
        heuristic_steps_per_task: fine-tuning steps per Heur-Learngene task.
        heuristic_learning_rate: learning rate of the Heur-Learngene fine-tuning (AdamW).
        heuristic_batch_size: batch size of the Heur-Learngene fine-tuning (per process).
        gradient_accumulation_steps: forwarded to ``accelerate.Accelerator``.
        mixed_precision: ``"no"``, ``"fp16"`` or ``"bf16"``, forwarded to ``accelerate.Accelerator``.
        checkpoint_dir: where to checkpoint and resume from (``None``: no checkpoints).
        checkpoint_every: iterations between checkpoints.
        resume: continue from checkpoints in ``checkpoint_dir`` when present.
        log_every: steps between entries of the JSON log (losses every step are averaged over the window).
        seed: base seed; repeat ``r`` uses ``seed + r``.
        log_with: an accelerate tracker (``"tensorboard"``, ``"wandb"``...) or ``None``.
        progress: show tqdm progress bars.
    """

    method: str = "auto"
    layer_indices: list[int] | None = None
    num_repeats: int = 3
    pseudo_descendant_layers: int | None = None
    pair_set: str | list[list[int]] = "all"
    batch_size: int = 32
    meta_batch_size: int = 8
    learning_rate: float = 1e-3
    meta_learning_rate: float = 1e-4
    meta_lr_scheduler: str = "cosine"
    optimizer: str = "adamw"
    weight_decay: float = 0.05
    max_iterations: int | None = None
    epochs: float = 1.0
    meta_fraction: float = 1 / 6
    meta_init_bias: float = 1.0
    meta_init_std: float = 0.01
    image_size: int | None = None
    image_mean: list[float] | None = None
    image_std: list[float] | None = None
    max_images: int | None = None
    heuristic_num_tasks: int = 4
    heuristic_n_way: int = 5
    heuristic_steps_per_task: int = 20
    heuristic_learning_rate: float = 1e-3
    heuristic_batch_size: int = 32
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "no"
    checkpoint_dir: str | None = None
    checkpoint_every: int = 50
    resume: bool = True
    log_every: int = 10
    seed: int = 0
    log_with: str | None = None
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def _fail(self, name: str, why: str) -> None:
        raise LearngeneError(f"CondenseConfig.{name}: {why}")

    def validate(self) -> None:
        """Check every field; raise :class:`~hf_learngene.LearngeneError` naming the bad one."""
        if self.method not in METHODS:
            self._fail("method", f"must be one of {METHODS}, got {self.method!r}.")
        if self.method == "manual":
            if not self.layer_indices:
                self._fail("layer_indices", "method='manual' needs layer_indices, e.g. [0, 1, 2].")
        elif self.layer_indices is not None:
            self._fail("layer_indices", f"is only used with method='manual' (method is {self.method!r}).")
        positive_ints = ("num_repeats", "batch_size", "meta_batch_size", "gradient_accumulation_steps",
                         "checkpoint_every", "log_every", "heuristic_num_tasks", "heuristic_steps_per_task",
                         "heuristic_batch_size")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                self._fail(name, f"must be an int >= 1, got {value!r}.")
        if self.heuristic_n_way < 2:
            self._fail("heuristic_n_way", f"must be >= 2, got {self.heuristic_n_way}.")
        for name in ("learning_rate", "meta_learning_rate", "heuristic_learning_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                self._fail(name, f"must be a positive finite number, got {value!r}.")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            self._fail("weight_decay", f"must be >= 0, got {self.weight_decay!r}.")
        if not (isinstance(self.meta_fraction, (int, float)) and 0 < self.meta_fraction < 1):
            self._fail("meta_fraction", f"must be strictly between 0 and 1, got {self.meta_fraction!r}.")
        if self.max_iterations is not None and (not isinstance(self.max_iterations, int) or self.max_iterations < 1):
            self._fail("max_iterations", f"must be None or an int >= 1, got {self.max_iterations!r}.")
        if not isinstance(self.epochs, (int, float)) or self.epochs <= 0:
            self._fail("epochs", f"must be > 0, got {self.epochs!r}.")
        if self.pseudo_descendant_layers is not None and self.pseudo_descendant_layers < 1:
            self._fail("pseudo_descendant_layers", f"must be None or >= 1, got {self.pseudo_descendant_layers}.")
        if self.pair_set != "all":
            ok = isinstance(self.pair_set, list) and self.pair_set and all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(i, int) and i >= 0 for i in p)
                for p in self.pair_set
            )
            if not ok:
                self._fail("pair_set", f"must be 'all' or a non-empty list of [l, k] pairs, got {self.pair_set!r}.")
        if self.meta_lr_scheduler not in ("cosine", "constant"):
            self._fail("meta_lr_scheduler", f"must be 'cosine' or 'constant', got {self.meta_lr_scheduler!r}.")
        if self.optimizer not in ("adamw", "sgd"):
            self._fail("optimizer", f"must be 'adamw' or 'sgd', got {self.optimizer!r}.")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            self._fail("mixed_precision", f"must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}.")
        if self.image_size is not None and self.image_size < 1:
            self._fail("image_size", f"must be None or >= 1, got {self.image_size}.")
        for name in ("image_mean", "image_std"):
            value = getattr(self, name)
            if value is not None and (len(value) != 3 or (name == "image_std" and min(value) <= 0)):
                self._fail(name, f"must be 3 numbers (RGB){' > 0' if name == 'image_std' else ''}, got {value!r}.")
        if self.max_images is not None and self.max_images < 2:
            self._fail("max_images", f"must be None or >= 2, got {self.max_images}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CondenseConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise LearngeneError(f"CondenseConfig: unknown fields {unknown}; known: {sorted(names)}.")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
