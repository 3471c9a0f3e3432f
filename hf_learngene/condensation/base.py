"""The types every module of the condensation package shares, in one module that imports none of the others.

- :class:`BaseCondenseConfig`: the settings every condensing method shares (a method's config subclasses it);
- the registry of condensing methods (:class:`CondenseMethod`, :func:`register_condense_method`,
  :func:`available_methods`, :func:`get_condense_method`), which a config checks its ``method`` against (the
  built-in methods are registered in :mod:`~hf_learngene.condensation.config`, where their configs are defined;
  import :mod:`~hf_learngene.condensation.methods` to have them);
- :class:`RepeatResult`: what a method's runner returns for one repeat;
- :class:`PairDistances`: what a meta objective reads of Auto-Learngene's pseudo-descendant.

This module imports nothing heavy (no torch, accelerate or datasets).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import LearngeneError

if TYPE_CHECKING:
    import torch

#: The size rule of ``BaseCondenseConfig.size_rule`` by default (measured: docs/results/mainpath.md; see
#: :mod:`hf_learngene.condensation.size_rules`).
DEFAULT_SIZE_RULE = "half"
#: The rule that reproduces what condensing did before size rules existed (the paper's Eq. 10).
PAPER_SIZE_RULE = "threshold"
#: The registry of size rules, ``{name: SizeRule}``: kept here so that configs can check their ``size_rule`` without
#: importing the rules; :func:`hf_learngene.condensation.size_rules.register_size_rule` fills it, and importing
#: :mod:`hf_learngene.condensation.size_rules` (which :mod:`~hf_learngene.condensation.config` does) registers the
#: built-in rules.
SIZE_RULES: dict[str, Any] = {}


def available_size_rules() -> tuple[str, ...]:
    """Names of the registered size rules, in registration order."""
    return tuple(SIZE_RULES)


#: Condense images drawn per class by default (``BaseCondenseConfig.max_images_per_class``): the measured budget
#: (examples/paper/results/cpu/dinov2/which_layers.md, "How many condense images a selection needs"): on the shared
#: DINOv2 every data-reading method measured picks at 20 images per class what it picks with more (Auto-Learngene's
#: top 3 and top 6 equal those of its committed run on all 500 per class; block influence and angular block equal
#: their picks at 50 per class, for 3 seeds), and it keeps a 10-class condense set at 200 images, seconds to minutes
#: on a CPU. ``None`` there: every image.
DEFAULT_MAX_IMAGES_PER_CLASS = 20

#: The method of ``condense(ancestry)`` without a config and of ``learngene condense`` without ``--method``: First-k,
#: the first ``k`` layers (``k`` from the size rule: half by default), no data, seconds. Why: on the shared DINOv2 no
#: layer-selection method beat it (docs/results/which_layers.md). At k = 6 under the paper's recipe Auto-Learngene,
#: Heur-Learngene and First-k pick the same layers 0-5 and Random-k is within 0.3 points; at k = 3 under the default
#: descendant path every method's pick was within ~1.5 points of First-k or far below it (block influence: -14
#: points), none ahead by >= 2 points on every task. So the default is the cheapest of the tied. The paper's
#: Auto-Learngene is ``--method auto`` / ``CondenseConfig()`` (which stays Auto-Learngene's config); Heur-Learngene is
#: ``--method heuristic``.
DEFAULT_CONDENSE_METHOD = "first_k"

#: Fields added after configs were recorded, with the value that does what condensing did before they existed (the
#: paper's 1/L rule, every image). :meth:`BaseCondenseConfig.to_dict` leaves a field out at that value, so the
#: recorded configs of earlier runs (``condense_config.json``, a learngene's ``selection_arguments`` and the
#: fingerprints and cache keys computed from them) stay what they were, and :meth:`BaseCondenseConfig.from_dict` reads
#: a missing field as that value, so an earlier config loads as what it did.
LEGACY_FIELD_VALUES: dict[str, Any] = {"size_rule": PAPER_SIZE_RULE, "max_images_per_class": None}

_METHOD_HELP = (
    "Condensing method: 'auto' (Auto-Learngene, the meta-network of the paper's Algorithm 1), "
    "'heuristic' (Heur-Learngene, gradient stability), 'manual' (layer_indices as given), one of the layer-selection "
    "methods 'first_k', 'evenly_spaced', 'block_influence', 'angular_block', 'probe_greedy' "
    "(hf_learngene.condensation.selection_methods), or a method registered with "
    "hf_learngene.condensation.register_condense_method."
)


def _method_field(default: str) -> Any:
    """The ``method`` field of a config class whose method is ``default``."""
    return field(default=default, metadata={"help": _METHOD_HELP})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class BaseCondenseConfig:
    """The settings every condensing method shares; subclass it for a method's own config.

    Example:
        >>> from hf_learngene.condensation.config import HeuristicConfig
        >>> HeuristicConfig(heuristic_num_tasks=2).method
        'heuristic'
    """

    method: str = _method_field("auto")
    num_layers: int | None = field(default=None, metadata={"help": (
        "Size control: keep exactly the top-k layers by score instead of what size_rule keeps. None: the rule."
    )})
    max_parameter_fraction: float | None = field(default=None, metadata={"help": (
        "Size control: drop the lowest-scoring selected layers until the learngene holds at most this "
        "share of the ancestry's integral-layer parameters (at least one layer is kept). None: no cap."
    )})
    size_rule: str = field(default=DEFAULT_SIZE_RULE, metadata={"help": (
        "How many layers to keep when num_layers is not given, by default 'half' (the top L // 2 layers by score) "
        "because descendants of the shared DINOv2 reached 85.7 % from 6 of its 12 layers against 50.2 % from the "
        "one layer the paper's rule 'threshold' (score > 1/L) keeps (docs/results/mainpath.md)."
    )})
    num_repeats: int = field(default=3, metadata={"help": (
        "Pseudo-descendant initialisations (auto) or task sequences (heuristic); the paper used 10."
    )})
    batch_size: int = field(default=32, metadata={"help": "N, batch size on the training data D (per process)."})
    meta_batch_size: int = field(default=8, metadata={"help": (
        "M, batch size on the meta-data D-hat (per process). Small by default: it is the main overhead "
        "over plain pseudo-descendant training."
    )})
    meta_fraction: float = field(default=1 / 6, metadata={"help": (
        "Share of the condense data held out as meta-data D-hat (paper: 1/6)."
    )})
    image_size: int | None = field(default=None, metadata={"help": (
        "Image side in pixels (None: the ancestry's image processor, else its config's image_size)."
    )})
    image_mean: list[float] | None = field(default=None, metadata={"help": (
        "Normalisation mean (RGB) when the ancestry has no image processor."
    )})
    image_std: list[float] | None = field(default=None, metadata={"help": (
        "Normalisation std (RGB) when the ancestry has no image processor."
    )})
    max_images: int | None = field(default=None, metadata={"help": (
        "Cap on the condense images used in all (None: no total cap), split evenly over the classes, seeded."
    )})
    max_images_per_class: int | None = field(default=DEFAULT_MAX_IMAGES_PER_CLASS, metadata={"help": (
        "Condense images drawn per class, seeded by seed; the default is the measured budget (a class with fewer "
        "images keeps them all); 0 on the command line (None in Python): every image. max_images also applies."
    )})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Forwarded to accelerate.Accelerator."})
    mixed_precision: str = field(default="no", metadata={"help": (
        "'no', 'fp16' or 'bf16', forwarded to accelerate.Accelerator."
    )})
    checkpoint_dir: str | None = field(default=None, metadata={"help": (
        "Where to checkpoint and resume from (None: no checkpoints)."
    )})
    checkpoint_every: int = field(default=50, metadata={"help": "Iterations between checkpoints."})
    resume: bool = field(default=True, metadata={"help": "Continue from checkpoints in checkpoint_dir when present."})
    log_every: int = field(default=10, metadata={"help": (
        "Steps between entries of the JSON log (losses are averaged over the window; pair scores too)."
    )})
    include_embeddings: bool | None = field(default=None, metadata={"help": (
        "Whether the learngene also carries the ancestry's input embedding (ViT / DINOv2 patch embedding, tokens and "
        "position table; ResNet stem), which descendants then inherit. Default (None): yes where the family can, "
        "the measured better form (shared DINOv2: 85.7 % vs 54.1 % for the layers only); False: the layers only, "
        "the paper's form and the safest to share.")})
    seed: int = field(default=0, metadata={"help": "Base seed; repeat r uses seed + r."})
    log_with: str | None = field(default=None, metadata={"help": (
        "An accelerate tracker ('tensorboard', 'wandb', ...) or None."
    )})
    progress: bool = field(default=True, metadata={"help": "Show tqdm progress bars."})
    extra: dict[str, Any] = field(default_factory=dict, metadata={"help": (
        "Free-form notes recorded with the config (not used by condensing)."
    )})

    def __post_init__(self) -> None:
        if self.max_images_per_class == 0:  # 0 (the CLI's spelling): every image, recorded as None
            self.max_images_per_class = None
        self.validate()

    def _fail(self, name: str, why: str) -> None:
        raise LearngeneError(f"{type(self).__name__}.{name}: {why}")

    def _check_positive_ints(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                self._fail(name, f"must be an int >= 1, got {value!r}.")

    def _check_positive_numbers(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                self._fail(name, f"must be a positive finite number, got {value!r}.")

    def scores_size_rule(self) -> str:
        """The size rule :func:`~hf_learngene.condense` turns the (averaged) layer scores into the learngene's layers
        with when ``num_layers`` is unset: ``size_rule``; a method whose scores already encode a pick of ``k``
        layers overrides it (:class:`~hf_learngene.condensation.selection_methods.common.SizedPickConfig`)."""
        return self.size_rule

    def runs(self, config_class: type[BaseCondenseConfig]) -> bool:
        """Whether ``self.method`` is a method configured by ``config_class`` (or by a subclass of it).

        Example:
            >>> CondenseConfig(method="heuristic").runs(HeuristicConfig)
            True
        """
        return issubclass(get_condense_method(self.method).config_class, config_class)

    def validate(self) -> None:
        """Check every field; raise :class:`~hf_learngene.LearngeneError` naming the bad one."""
        methods = available_methods()
        if self.method not in methods:
            self._fail("method", f"must be one of {methods}, got {self.method!r}.")
        own = get_condense_method(self.method).config_class
        if not isinstance(self, own):
            self._fail("method", f"{self.method!r} is configured with {own.__name__}, which {type(self).__name__} is "
                       f"not: pass {own.__name__}(...).")
        self._check_positive_ints("num_repeats", "batch_size", "meta_batch_size", "gradient_accumulation_steps",
                                  "checkpoint_every", "log_every")
        rules = available_size_rules()
        if self.size_rule not in rules:
            self._fail("size_rule", f"must be one of {', '.join(rules)}, got {self.size_rule!r}.")
        if self.num_layers is not None and (not _is_int(self.num_layers) or self.num_layers < 1):
            self._fail("num_layers", f"must be None or an int >= 1 (keep the top-k layers), got {self.num_layers!r}.")
        if self.max_parameter_fraction is not None and not (
                isinstance(self.max_parameter_fraction, (int, float)) and 0 < self.max_parameter_fraction <= 1):
            self._fail("max_parameter_fraction", f"must be None or in (0, 1], e.g. 0.5, got "
                       f"{self.max_parameter_fraction!r}.")
        if not (isinstance(self.meta_fraction, (int, float)) and 0 < self.meta_fraction < 1):
            self._fail("meta_fraction", f"must be strictly between 0 and 1, got {self.meta_fraction!r}.")
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
        per_class = self.max_images_per_class
        if per_class is not None and per_class != 0 and (not _is_int(per_class) or per_class < 2):
            self._fail("max_images_per_class", f"must be None or 0 (every image) or an int >= 2 (the D / D-hat split "
                       f"takes one image of each class for each part), got {per_class!r}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of all fields; ``include_embeddings`` only when it was set (``None``, its default, leaves
        the dict, its saved ``condense_config.json`` and the cache keys hashed from it as they were before the
        field existed), and the :data:`LEGACY_FIELD_VALUES` fields only when they differ from what condensing did
        before they existed (so ``size_rule="threshold"`` with ``max_images_per_class=None`` records exactly what
        an earlier config recorded)."""
        data = dataclasses.asdict(self)
        if data.get("include_embeddings", False) is None:
            del data["include_embeddings"]
        for name, legacy in LEGACY_FIELD_VALUES.items():
            if name in data and data[name] == legacy:
                del data[name]
        return data

    def recorded_dict(self) -> dict[str, Any]:
        """The config as the learngene records it (``selection_arguments``, ``condense_config.json``): no local
        checkpoint path (only whether there was one: it does not change the result and would publish a path of this
        machine); subclasses add what they resolve (e.g. the meta learning rate)."""
        data = self.to_dict()
        if data.get("checkpoint_dir"):
            data["checkpoint_dir"] = "<local>"
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaseCondenseConfig:
        """Rebuild from :meth:`to_dict` output (a missing :data:`LEGACY_FIELD_VALUES` field is its legacy value: a
        config recorded before size rules and the image budget loads as what it did); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise LearngeneError(f"{cls.__name__}: unknown fields {unknown}; known: {sorted(names)}.")
        return cls(**{**LEGACY_FIELD_VALUES, **data})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


# -------------------------------------------------------------------------------------------------- the method registry
#: ``runner(ancestry, family, data, config, accelerator, repeat) -> RepeatResult``.
Runner = Callable[..., "RepeatResult"]

_METHODS: dict[str, CondenseMethod] = {}


@dataclass(frozen=True)
class CondenseMethod:
    """A registered condensing method.

    Attributes:
        name: what ``CondenseConfig.method`` / ``--method`` / ``LearngeneConfig.selection_method`` say.
        config_class: its config, a subclass of :class:`BaseCondenseConfig` with the method's own fields.
        runner: scores the layers once (see the module docstring), or ``"module:function"`` naming it; ``None`` for a
            method that scores nothing and takes its layers from ``config.layer_indices`` (``"manual"``).
        label: display name, e.g. ``"Auto-Learngene"``.
        description: one line for ``learngene condense --help``.
        score_note: what the model card says about the layer scores; ``{threshold}`` is ``1/L``.
        uses_data: whether the runner reads condense data; ``False`` (e.g. ``"first_k"``): ``condense`` loads none
            and hands the runner ``data=None``.
    """

    name: str
    config_class: type[BaseCondenseConfig]
    runner: Runner | str | None
    label: str
    description: str = ""
    score_note: str = ""
    uses_data: bool = True

    @property
    def needs_data(self) -> bool:
        """Whether the method reads condense data (every method with a runner does, unless registered with
        ``uses_data=False``)."""
        return self.runner is not None and self.uses_data

    def load_runner(self) -> Runner:
        """The runner, imported on first use when registered as ``"module:function"``."""
        if self.runner is None:
            raise LearngeneError(f"Condensing method {self.name!r} has no runner: its layers come from "
                                 "config.layer_indices.")
        if callable(self.runner):
            return self.runner
        module, _, attribute = self.runner.partition(":")
        return getattr(importlib.import_module(module), attribute)


def register_condense_method(name: str, config_class: type[BaseCondenseConfig], runner: Runner | str | None, *,
                             label: str | None = None, description: str = "", score_note: str = "",
                             uses_data: bool = True) -> CondenseMethod:
    """Register a condensing method (call it once, in the method's module) and return its :class:`CondenseMethod`.

    Args:
        name: the method's name (``config.method``); registering a name again replaces the method.
        config_class: a dataclass subclassing :class:`BaseCondenseConfig`; its ``method`` field should default to
            ``name``, and its own fields become ``learngene condense`` options (help from ``metadata["help"]``).
        runner: ``runner(ancestry, family, data, config, accelerator, repeat) -> RepeatResult`` or
            ``"module:function"``; ``None``: the layers are ``config.layer_indices``.
        label, description, score_note, uses_data: see :class:`CondenseMethod` (``label`` defaults to ``name``).

    Example:
        >>> from hf_learngene.condensation.methods import available_methods
        >>> available_methods()[:3]
        ('auto', 'heuristic', 'manual')
    """
    if not isinstance(config_class, type) or not issubclass(config_class, BaseCondenseConfig):
        raise LearngeneError(f"Condensing method {name!r}: config_class must subclass BaseCondenseConfig, got "
                             f"{config_class!r}.")
    if runner is not None and not callable(runner) and (not isinstance(runner, str) or ":" not in runner):
        raise LearngeneError(f"Condensing method {name!r}: runner must be a callable, 'module:function' or None, "
                             f"got {runner!r}.")
    method = CondenseMethod(name=name, config_class=config_class, runner=runner, label=label or name,
                            description=description, score_note=score_note, uses_data=uses_data)
    _METHODS[name] = method
    return method


def available_methods() -> tuple[str, ...]:
    """Names of the registered condensing methods, in registration order."""
    return tuple(_METHODS)


def get_condense_method(name: str) -> CondenseMethod:
    """The method registered as ``name``."""
    try:
        return _METHODS[name]
    except KeyError:
        raise LearngeneError(f"Unknown condensing method {name!r}; registered: {', '.join(_METHODS)}.") from None


@dataclass
class RepeatResult:
    """The outcome of one pseudo-descendant initialisation (auto) or task sequence (heuristic)."""

    repeat: int
    seed: int
    layer_scores: list[float]
    selected_layers: list[int]
    pair_scores: list[list[float]] | None = None
    steps: int = 0
    wall_time: float = 0.0
    images_per_second: float | None = None
    log: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RepeatResult:
        return cls(**data)


class PairDistances(Protocol):
    """What a meta objective (:mod:`~hf_learngene.condensation.objectives`) reads of the pseudo-descendant
    (:class:`~hf_learngene.condensation.auto.PseudoDescendant`)."""

    def psi(self, ancestry_features: list[torch.Tensor], feats: list[torch.Tensor]) -> torch.Tensor:
        """``psi-bar^{l,k}`` per image, shape ``(batch, L, K)`` (zero outside ``R``)."""
        ...

    def pair_mask_like(self, ancestry_features: list[torch.Tensor], feats: list[torch.Tensor]) -> torch.Tensor:
        """The ``(L, K)`` indicator of ``R`` for these features (dtype and device of ``feats``)."""
        ...
