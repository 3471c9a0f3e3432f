"""The methods of the harness, as a registry: one :class:`Method` entry per method, registered by name.

An entry says everything the harness needs to know about a method: its label and colour (tables and plots), which
learngene it uses (Auto-Learngene's, its own - condensed or cut from the ancestry - or none) and so how the
``learngene`` field of its runs' keys is derived, how its descendant is built, whether its runs are Random-k-like
draws, and - for a training-recipe option - the method it modifies and the :class:`~harness.runs.RunSpec` fields it
sets (``inherit_embeddings``, ``inherited_lr_scale``). Everything else (:data:`ALL_METHODS`, :data:`METHOD_LABELS`,
:data:`CONDENSE_METHOD`, :data:`DEFAULT_METHODS`, ...) is derived from the registry; see the package docstring
(``harness/__init__.py``) for how to add a method.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from hf_learngene import LearngeneModel

    from .context import Context
    from .runs import RunSpec

ft = importlib.import_module("hf_learngene.experiments.finetune")  # the module (the package exports a function of that name)

#: Seed of the Random-k layer draws (see :func:`random_layer_indices`).
RANDOM_K_SEED = 0
#: A method's descendant builder: ``(ctx, spec, task) -> (model, extra keyword arguments of ft.finetune)``.
BuildFn = Callable[["Context", "RunSpec", Any], "tuple[Any, dict[str, Any]]"]
#: The ancestry layers of a learngene cut without condensing: ``(Auto's learngene, draw) -> layer indices``.
LayersFn = Callable[["LearngeneModel", "int | None"], "list[int]"]
#: Values of :attr:`Method.learngene`.
LEARNGENE_SOURCES = ("auto", "own", None)
#: Values of :attr:`Method.group`: the paper's methods, the baselines added for the real pretrained ancestry, and
#: training-recipe options beyond the paper.
GROUPS = ("paper", "baseline", "recipe")
#: The families of the harness (``harness.profiles.FAMILIES``): the paper's methods run on all of them by default.
ALL_FAMILIES = ("vit", "resnet", "dinov2")


@dataclass(frozen=True)
class Method:
    """One method of the harness (register it with :func:`register_method`).

    Args:
        name: the method's name (``--methods``, run keys, JSON summaries).
        label: its name in tables and plots.
        color: its matplotlib colour in plots.
        group: ``"paper"`` (:data:`METHODS`), ``"baseline"`` (:data:`NEW_METHODS`) or ``"recipe"``
            (:data:`RECIPE_METHODS`; set with ``base``).
        default_for: the families whose Table 2 / Fig. 3 run it when ``Context.methods`` is not given
            (:data:`DEFAULT_METHODS`).
        build: ``(ctx, spec, task) -> (descendant, extra keyword arguments of ft.finetune)``; every builder shares
            :func:`descendant_options` (labels, image size, seed). Not for a recipe option (its base's is used).
        learngene: the learngene the descendant depends on: ``"auto"`` (Auto-Learngene's: its layers, or only its
            architecture when ``inherits_layers=False``), ``"own"`` (its own learngene: condensed when ``condense``
            is set, else cut from the ancestry by ``layers``) or ``None`` (no learngene). The ``learngene`` field of
            a run (part of its key) is the key of its own condensed learngene, ``""`` without a learngene, else the
            key of Auto's (a learngene cut from the ancestry takes its size k from Auto's).
        inherits_layers: whether the descendant holds the learngene's layers (``False``: it only copies the
            architecture of Auto's descendant, as From-Scratch and Feature Distillation do).
        condense: the :func:`hf_learngene.condense` method of its own learngene (``"auto"``, ``"heuristic"``).
        condense_extra: ``CondenseConfig`` fields of its condensing beyond the profile's (part of the learngene key).
        layers: for a learngene cut from the ancestry: ``(Auto's learngene, draw) -> ancestry layers``.
        draws: one run per task and draw (Random-k: ``Profile.random_k_draws`` draws, the ``draw`` field of a run).
        same_as_auto: when its learngene holds exactly Auto-Learngene's layers (same tensors), its descendant and
            training are Auto-Learngene's, so its run copies Auto's record instead of training it again
            (``identical_to``). Only for a builder that then builds Auto's descendant.
        distill_loss: Feature Distillation from the ancestry with this feature loss (sets ``distill_loss`` and the
            profile's ``distill_weight`` in its runs).
        inherit_carried_embeddings: the descendant inherits the input embedding its learngene carries (the library's
            default, ``from_learngene(inherit_embeddings=None)``); ``False``: a fresh embedding, the paper's
            descendant, whatever the learngene carries (the runs cached before learngenes carried embeddings).
        base: a training-recipe option: the method it modifies (its learngene, builder and everything else).
        spec_fields: a recipe option's :class:`~harness.runs.RunSpec` fields (``inherit_embeddings``,
            ``inherited_lr_scale``); every run of the option carries them (and so gets its own key).
    """

    name: str
    label: str
    color: str
    group: str = "paper"
    default_for: tuple[str, ...] = ()
    build: BuildFn | None = None
    learngene: str | None = "auto"
    inherits_layers: bool = True
    condense: str | None = None
    condense_extra: Mapping[str, Any] = field(default_factory=dict)
    layers: LayersFn | None = None
    draws: bool = False
    same_as_auto: bool = False
    distill_loss: str | None = None
    inherit_carried_embeddings: bool = False
    base: str | None = None
    spec_fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"{self.name}: group must be one of {GROUPS}, got {self.group!r}")
        if self.base is not None:
            if (self.group != "recipe" or self.build is not None or self.condense or self.layers or self.same_as_auto
                    or self.inherit_carried_embeddings):
                raise ValueError(f"{self.name}: a recipe option (base={self.base!r}) has group 'recipe' and takes "
                                 "everything but its label, colour, default families and spec_fields from its base")
            return
        if self.group == "recipe" or self.spec_fields:
            raise ValueError(f"{self.name}: recipe options (group 'recipe', spec_fields) need a base method")
        if self.build is None:
            raise ValueError(f"{self.name}: a method needs a build function")
        if self.learngene not in LEARNGENE_SOURCES:
            raise ValueError(f"{self.name}: learngene must be one of {LEARNGENE_SOURCES}, got {self.learngene!r}")
        if (self.learngene == "own") != bool(self.condense or self.layers):
            raise ValueError(f"{self.name}: its own learngene (learngene='own') is condensed (condense=) or cut from "
                             "the ancestry (layers=), and only then")
        if self.same_as_auto and self.inherit_carried_embeddings:
            raise ValueError(f"{self.name}: a descendant with the carried embedding is never Auto-Learngene's "
                             "(same_as_auto)")


#: Every registered method by name, in registration order (the order of tables, plots and JSON summaries).
METHOD_REGISTRY: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to :data:`METHOD_REGISTRY` (a recipe option after its base). Register in this module, before
    the derived tables at its end (:data:`ALL_METHODS`, ...), so that they list it."""
    if method.name in METHOD_REGISTRY:
        raise ValueError(f"Method {method.name!r} is already registered")
    if method.base is not None and method.base not in METHOD_REGISTRY:
        raise ValueError(f"{method.name}: register its base method {method.base!r} first")
    METHOD_REGISTRY[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method called ``name``."""
    try:
        return METHOD_REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown method {name!r}; choose from {', '.join(METHOD_REGISTRY)}") from None


def base_method(method: str) -> str:
    """The method a recipe option modifies (:data:`RECIPE_METHODS`), else ``method`` itself."""
    return RECIPE_METHODS[method][0] if method in RECIPE_METHODS else method

    return get_method(method).base or method


def behaviour(method: str) -> Method:
    """The entry that says how ``method``'s runs are built: its own, or its base's for a recipe option."""
    return get_method(base_method(method))


def random_layer_indices(num_layers: int, k: int, draw: int, seed: int = RANDOM_K_SEED) -> list[int]:
    """The ``k`` ancestry layers (sorted) of Random-k draw ``draw``: reproducible, and distinct across draws.

    Draw ``d`` is the ``(d + 1)``-th distinct k-subset of ``range(num_layers)`` in a stream of uniform k-subsets
    from ``numpy.random.default_rng(seed)``, so draws 0, 1, 2 differ whenever there are that many subsets (when
    there are fewer, later draws repeat earlier ones).

    Example:
        >>> random_layer_indices(12, 6, 0) == random_layer_indices(12, 6, 0) != random_layer_indices(12, 6, 1)
        True
    """
    if not 1 <= k <= num_layers:
        raise ValueError(f"k must be in 1..{num_layers}, got {k}")
    if draw < 0:
        raise ValueError(f"draw must be >= 0, got {draw}")
    rng = np.random.default_rng(seed)
    total = math.comb(num_layers, k)
    draws: list[list[int]] = []
    while len(draws) <= draw:
        subset = sorted(int(i) for i in rng.choice(num_layers, size=k, replace=False))
        if subset not in draws or len(draws) >= total:
            draws.append(subset)
    return draws[draw]


def first_k_layers(auto: LearngeneModel, draw: int | None = None) -> list[int]:
    """First-k: ancestry layers ``0..k-1`` (k = the size of the Auto learngene)."""
    return list(range(len(auto.config.layer_indices)))


def random_k_layers(auto: LearngeneModel, draw: int | None = None) -> list[int]:
    """Random-k: the k layers of draw ``draw`` (:func:`random_layer_indices`, k = the size of the Auto learngene)."""
    return random_layer_indices(int(auto.config.ancestry_num_layers), len(auto.config.layer_indices), int(draw or 0))


# --------------------------------------------------------------------------------------------------
# Descendant builders
# --------------------------------------------------------------------------------------------------
def descendant_options(ctx: Context, spec: RunSpec, task: Any) -> dict[str, Any]:
    """What every learngene-shaped descendant of a run shares: the task's labels, the image size and the seed."""
    return {"id2label": task.id2label, "label2id": task.label2id, "image_size": ctx.image_size(spec.family),
            "seed": spec.seed}


def inheritance_options(ctx: Context, spec: RunSpec, task: Any) -> dict[str, Any]:
    """:func:`descendant_options` of a descendant that inherits a learngene's layers, with the fresh input embedding
    of the paper's descendant unless the method inherits the embedding its learngene carries
    (:attr:`Method.inherit_carried_embeddings`)."""
    carried = None if behaviour(spec.method).inherit_carried_embeddings else False
    return {**descendant_options(ctx, spec, task), "inherit_embeddings": carried}


def build_auto(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """Auto-Learngene: the descendant of the Auto learngene."""
    return ft.build_descendant("learngene", ctx.learngene(spec.family, "auto"), **inheritance_options(ctx, spec, task)), {}


def build_padded(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """The descendant of the method's own learngene, padded with fresh layers to the depth of Auto's descendant
    (not for ResNets, whose stages fix the layout)."""
    auto = ctx.learngene(spec.family, "auto")
    learngene = ctx.learngene(spec.family, base_method(spec.method))
    pad = None
    if spec.family != "resnet":  # same depth as Auto's descendant
        pad = max(0, len(auto.config.layer_indices) - len(learngene.config.layer_indices)) or None
    model = ft.build_descendant("learngene", learngene, num_random_layers=pad, **inheritance_options(ctx, spec, task))
    return model, {"num_random_layers": pad}


def build_own(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """The descendant of the method's own learngene as it is (First-k / Random-k: k = Auto's size, so the same
    architecture as Auto's descendant, no padding)."""
    learngene = ctx.learngene(spec.family, base_method(spec.method), spec.draw)
    return ft.build_descendant("learngene", learngene, **inheritance_options(ctx, spec, task)), {}


def build_scratch(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """From-Scratch: the architecture of Auto's descendant, all weights fresh."""
    return ft.build_descendant("scratch", ctx.learngene(spec.family, "auto"), **descendant_options(ctx, spec, task)), {}


def build_distill(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """Feature Distillation: From-Scratch's descendant, trained to match the ancestry at the learngene positions."""
    model, _ = build_scratch(ctx, spec, task)
    return model, {"teacher": ctx.ancestry(spec.family), "learngene": ctx.learngene(spec.family, "auto"),
                   "distill_weight": spec.distill_weight, "feature_loss": spec.distill_loss or "mse"}


def build_default_path(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """The library's main path: ``from_learngene`` of a learngene folder that carries Auto's layers and the ancestry's
    input embedding (:meth:`Context.carrying_learngene`), with its defaults (the embedding inherited, the recorded
    ``inherited_lr_scale``, which ``ft.finetune`` applies with ``DescendantTrainer``). Nothing of the ancestry is
    read to build it."""
    return ft.build_descendant("learngene", ctx.learngene(spec.family, "default_path"),
                               **inheritance_options(ctx, spec, task)), {}


def build_default_path_norm(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """An option toward the whole-ancestry fine-tune: the default path plus the ancestry's final norm (its
    ``layernorm``, copied from the ancestry at hand; trained at the full learning rate like the fresh parts)."""
    from hf_learngene.recipes import copy_backbone_parts

    model, extra = build_default_path(ctx, spec, task)
    copy_backbone_parts(ctx.ancestry(spec.family), model, spec.family, ("layernorm.",))
    return model, extra


def ancestry_classifier(ctx: Context, family: str, task: Any, seed: int) -> Any:
    """``finetune_ancestry``'s model: the whole ancestry (embeddings, all layers, final norm; its weights) under a
    fresh ``n_way`` head, as the family's ``*ForImageClassification`` (DINOv2: ``Dinov2ForImageClassification``).

    The head (and nothing else) is freshly initialised, seeded by ``seed``.
    """
    import copy

    from hf_learngene.families import get_family

    fam = get_family(family)
    ancestry = ctx.ancestry(family)
    config = copy.deepcopy(ancestry.config)
    config.num_labels = len(task.id2label)
    config.id2label = {int(k): str(v) for k, v in task.id2label.items()}
    config.label2id = {str(k): int(v) for k, v in task.label2id.items()}
    config.architectures = [fam.descendant_class.__name__]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = fam.build_model(config)
    source = fam.backbone(ancestry).state_dict()
    missing, unexpected = fam.backbone(model).load_state_dict(source, strict=False)
    unexpected = [k for k in unexpected if not k.startswith("pooler.")]
    if missing or unexpected:
        raise ValueError(f"The {family} ancestry does not fit {type(model).__name__}: missing {missing}, "
                         f"unexpected {unexpected}")
    return model


def build_finetune_ancestry(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """Fine-tune the whole ancestry (:func:`ancestry_classifier`); with ``inherited_lr_scale`` everything but the
    fresh head counts as inherited."""
    model = ancestry_classifier(ctx, spec.family, task, spec.seed)
    extra: dict[str, Any] = {}
    if spec.inherited_lr_scale is not None:  # everything but the fresh head counts as inherited
        head = {name for name, _ in model.named_parameters() if name.startswith("classifier")}
        extra["inherited_parameters"] = [name for name, _ in model.named_parameters() if name not in head]
    return model, extra


# --------------------------------------------------------------------------------------------------
# What the harness asks of a method
# --------------------------------------------------------------------------------------------------
def spec_learngene_key(ctx: Context, family: str, method: str) -> str:
    """The ``learngene`` field of a run: the key of the learngene its descendant depends on.

    ``heur`` / ``auto_paper``: their own learngene; ``scratch``, ``distill``, ``auto``, ``first_k``, ``random_k``:
    Auto's (it fixes the architecture and k); ``finetune_ancestry``: none (``""``, the ancestry field keys it).
    """
    entry = behaviour(method)
    if entry.learngene is None:
        return ""
    return ctx.learngene_key(family, entry.name if entry.condense else "auto")


def build_run_model(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """The descendant of ``spec.method`` for ``task`` and the extra training kwargs (teacher for distillation)."""
    extra: dict[str, Any] = {}
    if spec.inherited_lr_scale is not None:
        extra["inherited_lr_scale"] = spec.inherited_lr_scale
    model, own = behaviour(spec.method).build(ctx, spec, task)
    extra.update(own)
    if spec.inherit_embeddings:
        from hf_learngene.recipes import inherit_embeddings

        inherit_embeddings(model, ctx.ancestry(spec.family))
        # a recipe option's lr is its spec's: one learning rate unless it names a scale (inherit_embeddings would
        # otherwise update the descendant's recommended scale, which DescendantTrainer applies)
        extra.setdefault("inherited_lr_scale", 1.0)
    return model, extra


def run_learngene(ctx: Context, spec: RunSpec) -> LearngeneModel | None:
    """The learngene a run inherits (``scratch`` / ``distill``: Auto's, whose architecture they copy; ``None`` for
    ``finetune_ancestry``)."""
    entry = behaviour(spec.method)
    if entry.learngene is None:
        return None
    if entry.learngene == "own":
        return ctx.learngene(spec.family, entry.name, spec.draw)
    return ctx.learngene(spec.family, "auto")


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------
register_method(Method("scratch", "From-Scratch", "tab:gray", default_for=ALL_FAMILIES, build=build_scratch,
                       inherits_layers=False))
register_method(Method("distill", "Feature Distillation", "tab:orange", default_for=ALL_FAMILIES,
                       build=build_distill, inherits_layers=False, distill_loss="relative_mse"))
register_method(Method("heur", "Heur-Learngene", "tab:blue", default_for=ALL_FAMILIES, build=build_padded,
                       learngene="own", condense="heuristic", same_as_auto=True))
register_method(Method("auto", "Auto-Learngene", "tab:red", default_for=ALL_FAMILIES, build=build_auto,
                       learngene="own", condense="auto"))
# Baselines added for the real pretrained ancestry (family dinov2)
register_method(Method("auto_paper", "Auto-Learngene (paper objective)", "tab:pink", group="baseline",
                       default_for=("dinov2",), build=build_padded, learngene="own", condense="auto",
                       condense_extra={"objective": "paper"}, same_as_auto=True))
register_method(Method("first_k", "First-k", "tab:green", group="baseline", default_for=("dinov2",),
                       build=build_own, learngene="own", layers=first_k_layers, same_as_auto=True))
register_method(Method("random_k", "Random-k", "tab:olive", group="baseline", default_for=("dinov2",),
                       build=build_own, learngene="own", layers=random_k_layers, draws=True, same_as_auto=True))
register_method(Method("finetune_ancestry", "Fine-tune the whole ancestry", "tab:purple", group="baseline",
                       default_for=("dinov2",), build=build_finetune_ancestry, learngene=None))
# Training-recipe options beyond the paper (hf_learngene.recipes), measured beside its recipe on dinov2
register_method(Method("auto_embed", "Auto-Learngene + ancestry embeddings", "tab:brown", group="recipe",
                       base="auto", spec_fields={"inherit_embeddings": True}))
register_method(Method("auto_embed_lowlr", "Auto-Learngene + ancestry embeddings, inherited lr x0.1", "tab:cyan",
                       group="recipe", base="auto", spec_fields={"inherit_embeddings": True,
                                                                 "inherited_lr_scale": 0.1}))
register_method(Method("finetune_ancestry_lowlr", "Fine-tune the whole ancestry, lr x0.1 (head x1)", "indigo",
                       group="recipe", base="finetune_ancestry", spec_fields={"inherited_lr_scale": 0.1}))
# The library's main path (a learngene that carries the input embedding -> from_learngene -> DescendantTrainer, with
# their defaults) and an option beyond it, measured against the whole-ancestry fine-tune
register_method(Method("default_path", "Library default path (layers + embedding, DescendantTrainer)", "darkred",
                       group="baseline", build=build_default_path, inherit_carried_embeddings=True))
register_method(Method("default_path_norm", "Default path + the ancestry's final norm", "salmon", group="baseline",
                       build=build_default_path_norm, inherit_carried_embeddings=True))
# Is the recorded inherited lr scale right for a family? The default path at one learning rate (ResNet main path)
register_method(Method("default_path_lr1", "Default path at one learning rate (inherited lr x1)", "rosybrown",
                       group="recipe", base="default_path", spec_fields={"inherited_lr_scale": 1.0}))

# --------------------------------------------------------------------------------------------------
# Derived tables (of the methods registered above)
# --------------------------------------------------------------------------------------------------
#: The paper's four methods (the default of the home-trained families).
METHODS = tuple(m.name for m in METHOD_REGISTRY.values() if m.group == "paper")
#: Baselines added for the real pretrained ancestry.
NEW_METHODS = tuple(m.name for m in METHOD_REGISTRY.values() if m.group == "baseline")
#: Training-recipe options beyond the paper (``hf_learngene.recipes``), measured beside its recipe on ``dinov2``:
#: ``{method: (base method, RunSpec fields)}``. ``auto_embed``: Auto's descendant plus the ancestry's input embedding
#: (patch + position embeddings, [CLS]); ``auto_embed_lowlr``: the same with inherited weights at 0.1 x the learning
#: rate; ``finetune_ancestry_lowlr``: the whole ancestry with everything but the fresh head at 0.1 x.
RECIPE_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    m.name: (m.base, dict(m.spec_fields)) for m in METHOD_REGISTRY.values() if m.base is not None}
ALL_METHODS = tuple(METHOD_REGISTRY)
#: Methods of Table 2 / Fig. 3 per family when ``Context.methods`` is not given.
DEFAULT_METHODS = {family: tuple(m.name for m in METHOD_REGISTRY.values() if family in m.default_for)
                   for family in dict.fromkeys(f for m in METHOD_REGISTRY.values() for f in m.default_for)}
METHOD_LABELS = {m.name: m.label for m in METHOD_REGISTRY.values()}
METHOD_COLORS = {m.name: m.color for m in METHOD_REGISTRY.values()}
#: Methods whose learngene is condensed (``hf_learngene.condense`` method), Auto-Learngene first (it fixes every
#: descendant's architecture), and the extra CondenseConfig fields.
CONDENSE_METHOD = {m.name: m.condense for m in sorted(METHOD_REGISTRY.values(), key=lambda m: m.name != "auto")
                   if m.condense}
CONDENSE_EXTRA: dict[str, dict[str, Any]] = {m.name: dict(m.condense_extra) for m in METHOD_REGISTRY.values()
                                             if m.condense_extra}
#: Manual learngenes built from the ancestry's layers (k = the size of the Auto learngene).
MANUAL_METHODS = tuple(m.name for m in METHOD_REGISTRY.values() if m.layers is not None)
