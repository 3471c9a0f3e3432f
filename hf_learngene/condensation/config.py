"""Condensing configs of the built-in methods, their registration, and :class:`CondenseConfig`, which holds them all.

- :class:`~hf_learngene.condensation.base.BaseCondenseConfig` (in :mod:`~hf_learngene.condensation.base`): what
  every method uses (condense data split, batch sizes, size controls, repeats, seeds, checkpoints, logging,
  ``accelerate`` settings).
- :class:`AutoLearngeneConfig` (``method="auto"``, paper Algorithm 1), :class:`HeuristicConfig`
  (``method="heuristic"``, the ``heuristic_*`` fields) and :class:`ManualConfig` (``method="manual"``,
  ``layer_indices``): the shared fields plus the method's own.
- :class:`CondenseConfig`: all of the above in one config (the default of :func:`~hf_learngene.condense` and what
  ``learngene condense`` builds for a built-in method).

The three built-in methods are registered at the bottom of this module (the only place that lists their names), so
a config can check its ``method`` as soon as this module is imported. A new condensing method subclasses
:class:`BaseCondenseConfig` with its own fields and registers it with
:func:`~hf_learngene.condensation.methods.register_condense_method`. Every field's meaning is in its
``metadata["help"]`` (also the ``learngene condense --help`` text). Each class validates its own fields in
``validate()`` (calling ``super().validate()`` first), so a config holding several methods' fields checks them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import size_rules  # noqa: F401  (registers the built-in size rules that configs check size_rule against)
from .base import BaseCondenseConfig, _is_int, _method_field, register_condense_method


@dataclass
class ManualConfig(BaseCondenseConfig):
    """``method="manual"``: the learngene is the layers in ``layer_indices``; nothing is scored."""

    method: str = _method_field("manual")
    layer_indices: list[int] | None = field(default=None, metadata={"help": (
        "The layers to keep with method='manual', e.g. [0, 1, 2]."
    )})

    def validate(self) -> None:
        super().validate()
        if self.runs(ManualConfig):
            if not self.layer_indices:
                self._fail("layer_indices", "method='manual' needs layer_indices, e.g. [0, 1, 2].")
        elif self.layer_indices is not None:
            self._fail("layer_indices", f"is only used with method='manual' (method is {self.method!r}).")


@dataclass
class HeuristicConfig(BaseCondenseConfig):
    """``method="heuristic"``: Heur-Learngene, the gradient heuristic of the conference version (its own fields are
    the ``heuristic_*`` ones)."""

    method: str = _method_field("heuristic")
    heuristic_num_tasks: int = field(default=4, metadata={"help": (
        "Heur-Learngene fine-tunes a copy of the ancestry on this many tasks."
    )})
    heuristic_n_way: int = field(default=5, metadata={"help": (
        "Classes per Heur-Learngene task (drawn from the condense classes)."
    )})
    heuristic_steps_per_task: int = field(default=20, metadata={"help": "Fine-tuning steps per Heur-Learngene task."})
    heuristic_learning_rate: float = field(default=1e-3, metadata={"help": (
        "Learning rate of the Heur-Learngene fine-tuning (AdamW)."
    )})
    heuristic_batch_size: int = field(default=32, metadata={"help": (
        "Batch size of the Heur-Learngene fine-tuning (per process)."
    )})

    def validate(self) -> None:
        super().validate()
        self._check_positive_ints("heuristic_num_tasks", "heuristic_steps_per_task", "heuristic_batch_size")
        if self.heuristic_n_way < 2:
            self._fail("heuristic_n_way", f"must be >= 2, got {self.heuristic_n_way}.")
        self._check_positive_numbers("heuristic_learning_rate")


@dataclass
class AutoLearngeneConfig(BaseCondenseConfig):
    """``method="auto"``: Auto-Learngene, every hyperparameter of the paper's Algorithm 1.

    The names follow the paper (Sec. 4.2, Algorithm 1, Appendix A); defaults are the paper's where it gives
    one (meta-data = 1/6 of the condense data, cosine-annealed meta learning rate; the selection threshold 1/L is
    ``size_rule="threshold"``, the default keeps the top half) and
    otherwise chosen to run on a laptop CPU. The default ``objective="scale_free"`` deviates from the paper (see
    :mod:`hf_learngene.condensation.objectives` and ``docs/guide/condensing.md``); ``objective="paper"`` is Algorithm 1
    as written.
    """

    method: str = _method_field("auto")
    objective: str = field(default="scale_free", metadata={"help": (
        "Auto-Learngene meta objective: 'scale_free' (default: psi-bar = 1 - linear CKA of z^k and Z^l, "
        "alpha a softmax over ancestry layers for each pseudo-descendant layer; a documented deviation "
        "from the paper) or 'paper' (Algorithm 1 literally: raw MSE, alpha = ReLU6(FC), which ranks "
        "layers by feature scale on real checkpoints)."
    )})
    pseudo_descendant_layers: int | None = field(default=None, metadata={"help": (
        "Depth K of the pseudo-descendant (None: half the ancestry's layers)."
    )})
    pair_set: str | list[list[int]] = field(default="all", metadata={"help": (
        "Candidate pairs R: 'all' or an explicit list of [l, k] pairs."
    )})
    learning_rate: float = field(default=1e-3, metadata={"help": (
        "beta, learning rate of the pseudo-descendant and the alignment."
    )})
    meta_learning_rate: float | None = field(default=None, metadata={"help": (
        "beta-hat, learning rate of the meta-network (SGD, Eq. 16). None: the objective's default (paper: "
        "1e-4; scale_free: 2.0)."
    )})
    meta_lr_scheduler: str = field(default="cosine", metadata={"help": (
        "'cosine' (paper: CosineAnnealingLR) or 'constant'."
    )})
    optimizer: str = field(default="adamw", metadata={"help": (
        "'adamw' or 'sgd' for the pseudo-descendant (the meta-network uses SGD, Eq. 16)."
    )})
    weight_decay: float = field(default=0.05, metadata={"help": "Weight decay of the pseudo-descendant."})
    max_iterations: int | None = field(default=None, metadata={"help": (
        "I, the iterations of one repeat; None derives it from epochs over D."
    )})
    epochs: float = field(default=1.0, metadata={"help": "Passes over D when max_iterations is None."})
    meta_init_bias: float = field(default=1.0, metadata={"help": (
        "Initial bias of each meta FC (objective paper: so that alpha starts inside ReLU6's linear "
        "range)."
    )})
    meta_init_std: float = field(default=0.01, metadata={"help": (
        "Standard deviation of the meta FC weights at initialisation."
    )})
    feature_cache_mb: int = field(default=4096, metadata={"help": (
        "Cache the frozen ancestry's features of condense images in memory, up to this many MiB (0: off). "
        "Without augmentation they are the same every epoch and repeat, so results do not change."
    )})

    def validate(self) -> None:
        super().validate()
        self._check_positive_numbers("learning_rate")
        if self.meta_learning_rate is not None:
            self._check_positive_numbers("meta_learning_rate")
        from .objectives import available_objectives

        if self.objective not in available_objectives():
            self._fail("objective", f"must be one of {available_objectives()}, got {self.objective!r}.")
        if self.runs(AutoLearngeneConfig) and self.objective == "scale_free":
            for name in ("batch_size", "meta_batch_size"):
                if getattr(self, name) < 4:
                    self._fail(name, f"must be >= 4 per process with objective='scale_free' (its debiased CKA needs "
                               f"4 images per batch), got {getattr(self, name)}.")
        value = self.feature_cache_mb
        if not _is_int(value) or value < 0:
            self._fail("feature_cache_mb", f"must be an int >= 0 (0: no cache), got {value!r}.")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            self._fail("weight_decay", f"must be >= 0, got {self.weight_decay!r}.")
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

    @property
    def effective_meta_learning_rate(self) -> float:
        """``meta_learning_rate``, or the objective's default when it is ``None``."""
        from .objectives import get_objective

        if self.meta_learning_rate is not None:
            return float(self.meta_learning_rate)
        return float(get_objective(self.objective).default_meta_learning_rate)

    def recorded_dict(self) -> dict[str, Any]:
        """:meth:`BaseCondenseConfig.recorded_dict` with the meta learning rate resolved (when the method is auto)."""
        data = super().recorded_dict()
        if self.runs(AutoLearngeneConfig):
            data["meta_learning_rate"] = self.effective_meta_learning_rate
        return data


@dataclass
class CondenseConfig(AutoLearngeneConfig, HeuristicConfig, ManualConfig):
    """How to condense an ancestry into a learngene: the shared fields and those of every built-in method
    (:class:`AutoLearngeneConfig`, :class:`HeuristicConfig`, :class:`ManualConfig`) in one config.

    Only the fields of ``method`` are used; the others keep their defaults (and are still checked). The defaults run
    Auto-Learngene (see :class:`AutoLearngeneConfig`); ``to_dict()`` always has every field, so configs saved as
    ``condense_config.json`` load with :meth:`from_dict`.

    Example:
        >>> from hf_learngene import CondenseConfig
        >>> CondenseConfig(num_layers=4).objective
        'scale_free'
        >>> CondenseConfig(method="heuristic", heuristic_num_tasks=2).heuristic_num_tasks
        2
    """

    method: str = _method_field("auto")


# ------------------------------------------------------------------------------------------------ built-in methods
register_condense_method(
    "auto", AutoLearngeneConfig, "hf_learngene.condensation.auto:run_auto_repeat", label="Auto-Learngene",
    description="Auto-Learngene (meta-network, paper Alg. 1)",
    score_note=("Scores are the meta-network's normalised layer scores; the paper keeps the layers scoring above "
                "1/L = {threshold:.4f} (Eq. 10), hf_learngene by default the top half (the size used is under "
                "Provenance)."),
)
register_condense_method(
    "heuristic", HeuristicConfig, "hf_learngene.condensation.heuristic:run_heuristic_repeat", label="Heur-Learngene",
    description="Heur-Learngene (gradient stability)",
)
register_condense_method("manual", ManualConfig, None, label="Manual", description="keep --layer-indices")
