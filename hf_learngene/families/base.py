"""The small interface every architecture family implements.

A *family* knows, for one kind of `transformers` vision model:

- which modules are its **integral layers** (the candidates for a learngene) and how to build an
  empty one from the ancestry's config, so a learngene can be loaded without the ancestry;
- how to run a model and read **each integral layer's output** (used when condensing);
- how to **align** features whose shapes differ between an ancestry and a pseudo-descendant (a
  :class:`FeatureAlignment`, optionally with a batched :meth:`FeatureAlignment.squared_distances`);
- how to **build a descendant** around inherited layers, returning a plain `transformers` model and
  the state-dict prefix at which each inherited layer lives, refusing options that would change an inherited
  layer (its :attr:`ArchitectureFamily.layer_fields`, see :meth:`ArchitectureFamily.check_layer_options`);
- its display name (:attr:`ArchitectureFamily.label`, used in model cards).

Adding a family is one new module that subclasses :class:`ArchitectureFamily` and calls
:func:`hf_learngene.families.register_family`; ``tests/test_family_contract.py`` then checks it like every other
family once it has a tiny test case (see CONTRIBUTING.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel

from ..errors import LearngeneError

#: Config keys of a classification model that describe its head, not its layers: a descendant gets its own.
HEAD_CONFIG_KEYS = ("id2label", "label2id", "num_labels", "problem_type")
#: Config keys of backbone configs that follow from the depth (the config class recomputes them).
BACKBONE_CONFIG_KEYS = ("stage_names", "out_features", "out_indices")


@dataclass
class DescendantPlan:
    """How a descendant is laid out.

    Attributes:
        config: the descendant's `transformers` config (already has `num_labels` etc.).
        inherited: ``(ancestry_layer_index, descendant_state_dict_prefix)`` for every learngene layer,
            in learngene order. The prefix ends with a dot, e.g. ``"vit.layers.0."``.
        fresh: state-dict prefixes of layers that are freshly initialised (for the record).
    """

    config: PreTrainedConfig
    inherited: list[tuple[int, str]]
    fresh: list[str] = field(default_factory=list)


class FeatureAlignment(nn.Module):
    """Base class of the alignments ``h(.; zeta)`` that :meth:`ArchitectureFamily.make_alignment` returns.

    ``forward`` maps a pseudo-descendant feature ``z^k`` (batched) to the shape of the ancestry's ``Z^l``. Where the
    two shapes are equal, a family may return ``nn.Identity()`` instead.

    Optional batched protocol: a subclass may define a static method ``squared_distances(items)`` taking a list of
    ``(alignment, source, target)`` and returning ``mean((alignment(source) - target) ** 2)`` per image, shape
    ``(batch, len(items))``, with less work than one call per item (e.g. shared resizing,
    :meth:`hf_learngene.families.resnet.ConvAlignment.squared_distances`). Auto-Learngene uses it when every
    alignment of a pseudo-descendant is of that one class (:func:`batched_squared_distances`); ``None`` (the
    default) means one call per pair.
    """

    squared_distances: ClassVar[Callable[[list[tuple[Any, torch.Tensor, torch.Tensor]]], torch.Tensor] | None] = None


def batched_squared_distances(alignments: Iterable[nn.Module]) -> Callable[..., torch.Tensor] | None:
    """The ``squared_distances`` shared by ``alignments`` when they are all of one :class:`FeatureAlignment` class
    that defines it, else ``None``."""
    kinds = {type(m) for m in alignments}
    if len(kinds) != 1:
        return None
    kind = next(iter(kinds))
    return kind.squared_distances if issubclass(kind, FeatureAlignment) else None


class ArchitectureFamily(ABC):
    """Base class of the per-architecture adapters (one subclass per family)."""

    #: short name stored in :class:`~hf_learngene.LearngeneConfig.family`.
    name: ClassVar[str]
    #: display name, e.g. ``"ResNet"`` (model cards, tables).
    label: ClassVar[str]
    #: `transformers` ``model_type`` values this family handles.
    model_types: ClassVar[tuple[str, ...]]
    #: the plain `transformers` class a descendant is built as.
    descendant_class: ClassVar[type[PreTrainedModel]]
    #: config fields that fix the shape, type or computation of an integral layer: a descendant must keep them
    #: (:meth:`check_layer_options`).
    layer_fields: ClassVar[tuple[str, ...]] = ()
    #: whether :meth:`plan_descendant` takes ``layout=`` (where fresh layers sit, :mod:`hf_learngene.sizing`).
    supports_layout: ClassVar[bool] = False
    #: attribute of the input embedding under :meth:`backbone` (ViT / DINOv2 ``"embeddings"``, ResNet ``"embedder"``)
    #: when a learngene of this family can carry it (:meth:`build_embeddings`); ``None`` when it cannot.
    embedding_attribute: ClassVar[str | None] = None

    # ---------------------------------------------------------------- configs
    def handles_config(self, config: PreTrainedConfig | dict[str, Any]) -> bool:
        """Whether this family handles ``config`` (a config or its dict), whose ``model_type`` is one of
        :attr:`model_types`. Families that share a model type (the timm ones all read ``"timm_wrapper"``) tell
        their configs apart here; the default accepts every config of its model types."""
        return True

    def wrap_model(self, model: nn.Module) -> PreTrainedModel | None:
        """A `transformers` model around ``model``, a module that is not one (e.g. a bare timm model), when this
        family can wrap it without changing its weights; ``None`` (the default) when it cannot."""
        return None

    def prepare_config(self, config: PreTrainedConfig) -> PreTrainedConfig:
        """The config a checkpoint of this family is loaded with, from the one `transformers` read (default: as it
        is). A family fixes here what its checkpoints may carry that their model class cannot load."""
        return config

    def image_preprocessing(self, config: PreTrainedConfig) -> dict[str, Any]:
        """How to preprocess images for a model with ``config`` when its checkpoint has no image processor:
        ``{"size": ..., "mean": ..., "std": ...}``, each key only where the config tells (default: ``image_size``);
        optionally ``resize_shortest_edge`` / ``resample`` (:class:`~hf_learngene.data.ImageTransform` fields), used
        when images are preprocessed at the ancestry's own resolution (timm: its ``crop_pct`` and interpolation)."""
        size = getattr(config, "image_size", None)
        return {} if size is None else {"size": size}

    @abstractmethod
    def config_from_dict(self, config_dict: dict[str, Any]) -> PreTrainedConfig:
        """Rebuild the ancestry's `transformers` config from its ``to_dict()``."""

    @abstractmethod
    def num_layers(self, config: PreTrainedConfig) -> int:
        """Number of integral layers ``L`` of a model with this config."""

    # ---------------------------------------------------------------- layers
    @abstractmethod
    def backbone(self, model: PreTrainedModel) -> nn.Module:
        """The bare backbone of ``model`` (e.g. ``model.vit`` for ``ViTForImageClassification``)."""

    @abstractmethod
    def integral_layers(self, model: PreTrainedModel) -> list[nn.Module]:
        """The integral layers of ``model`` (bare backbone or ``*ForImageClassification``), in order."""

    @abstractmethod
    def build_layer(self, config: PreTrainedConfig, index: int) -> nn.Module:
        """A freshly initialised module with the shape of integral layer ``index`` of ``config``."""

    def layer_forward(self, layer: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        """Run one integral layer on hidden states / feature maps."""
        return layer(hidden)

    def embeddings_unsupported(self, config: PreTrainedConfig) -> str | None:
        """Why a learngene of an ancestry with ``config`` cannot carry its input embedding, or ``None`` when it can
        (default: it can when the family names an :attr:`embedding_attribute`)."""
        if self.embedding_attribute is None:
            return (f"the {self.label} family does not support carrying the input embedding in a learngene (families "
                    "that do: vit, dinov2, resnet)")
        return None

    def build_embeddings(self, config: PreTrainedConfig) -> nn.Module:
        """A fresh input embedding shaped as a descendant's at the ancestry's ``config`` (what a learngene that carries
        the embedding holds, :attr:`LearngeneConfig.include_embeddings`). Families with an
        :attr:`embedding_attribute` override it."""
        raise LearngeneError(f"Cannot carry the input embedding: {self.embeddings_unsupported(config)}.")

    # ---------------------------------------------------------------- features
    def forward_features(
        self,
        model: PreTrainedModel,
        pixel_values: torch.Tensor,
        layers: list[int] | None = None,
        *,
        hook_model: nn.Module | None = None,
    ) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        """Run ``model`` and return ``(logits or None, [output of each requested integral layer])``.

        Outputs are read with forward hooks, so gradients flow through them when the caller wants. The hooks are
        placed on ``hook_model`` (default ``model``), so ``model`` may be a wrapper of it (DDP, ``accelerate``).
        """
        modules = self.integral_layers(model if hook_model is None else hook_model)
        wanted = list(range(len(modules))) if layers is None else list(layers)
        captured: dict[int, torch.Tensor] = {}
        handles = []
        for index in wanted:
            def hook(_module: nn.Module, _inputs: Any, output: Any, index: int = index) -> None:
                captured[index] = output[0] if isinstance(output, tuple) else output
            handles.append(modules[index].register_forward_hook(hook))
        try:
            output = model(pixel_values=pixel_values)
        finally:
            for handle in handles:
                handle.remove()
        logits = getattr(output, "logits", None)
        return logits, [captured[index] for index in wanted]

    @abstractmethod
    def pool(self, feature: torch.Tensor) -> torch.Tensor:
        """Pool one layer output to ``(batch, width)`` (input of the meta-network)."""

    @abstractmethod
    def make_alignment(self, source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> nn.Module:
        """The alignment ``h`` mapping a pseudo-descendant feature of ``source_shape`` to ``target_shape`` (shapes
        without the batch dim): a :class:`FeatureAlignment`, or ``nn.Identity()`` when the shapes are equal."""

    # ---------------------------------------------------------------- descendants
    @abstractmethod
    def plan_descendant(
        self,
        ancestry_config: PreTrainedConfig,
        layer_indices: list[int],
        *,
        num_labels: int,
        num_random_layers: int | None = None,
        image_size: int | None = None,
        **options: Any,
    ) -> DescendantPlan:
        """Lay out a descendant that inherits ``layer_indices`` of the ancestry.

        ``options`` are config fields of the descendant; implementations refuse those that would change an
        inherited layer with :meth:`check_layer_options` and read ``num_random_layers`` with
        :meth:`num_fresh_layers`.
        """

    @abstractmethod
    def pseudo_descendant_config(
        self, ancestry_config: PreTrainedConfig, num_layers: int | None, num_labels: int
    ) -> PreTrainedConfig:
        """Config of a randomly initialised pseudo-descendant (default: half the ancestry's layers)."""

    def build_model(self, config: PreTrainedConfig) -> PreTrainedModel:
        """Instantiate the descendant class with the family's normal initialisation."""
        return self.descendant_class(config)

    # ---------------------------------------------------------------- shared option checks
    def check_layer_options(self, ancestry_config: PreTrainedConfig, options: dict[str, Any]) -> None:
        """Refuse descendant ``options`` that change a :attr:`layer_fields` entry of the ancestry's config: inherited
        layers keep their shape, type and computation."""
        for key in self.layer_fields:
            if key in options and options[key] != getattr(ancestry_config, key, None):
                raise LearngeneError(
                    f"The learngene layers have {key}={getattr(ancestry_config, key)!r} but the descendant was "
                    f"asked for {key}={options[key]!r}. Inherited layers cannot change shape or type: drop `{key}` or "
                    "condense a learngene from an ancestry built that way."
                )

    def layer_field_values(self, config: PreTrainedConfig) -> dict[str, Any]:
        """The value of every :attr:`layer_fields` entry for a model with ``config`` (the ones it defines), i.e. what
        :meth:`check_layer_options` keeps fixed. Families whose configs do not hold them as attributes override it."""
        return {key: getattr(config, key) for key in self.layer_fields if hasattr(config, key)}

    @staticmethod
    def num_fresh_layers(num_random_layers: int | None, *, default: int = 0, minimum: int = 0,
                         reason: str | None = None) -> int:
        """``num_random_layers`` as an int (``default`` when ``None``); fewer than ``minimum`` is an error that
        says ``reason`` (why the family needs that many)."""
        count = default if num_random_layers is None else int(num_random_layers)
        if count < minimum:
            if reason:
                raise LearngeneError(f"num_random_layers={num_random_layers}: {reason}")
            raise LearngeneError(f"num_random_layers must be >= {minimum}, got {num_random_layers}.")
        return count

    def descendant_sizes(self, config: PreTrainedConfig) -> dict[str, Any]:
        """The size fields of a descendant with ``config`` (width, heads, MLP width, depth, ...), recorded in
        ``config.learngene["sizes"]`` and shown on its card; ``{}`` (the default) when the family names none."""
        return {}

    # ---------------------------------------------------------------- helpers
    def describe_layer(self, config: PreTrainedConfig, index: int) -> str:
        """Human-readable name of an integral layer, e.g. ``"encoder layer 3"``."""
        return f"layer {index}"


def copy_config_dict(config: PreTrainedConfig) -> dict[str, Any]:
    """A JSON-able copy of a config without the fields that only describe one checkpoint."""
    data = config.to_dict()
    for key in ("_name_or_path", "_commit_hash", "transformers_version", "architectures", "dtype", "torch_dtype"):
        data.pop(key, None)
    return data


def descendant_config_dict(config: PreTrainedConfig, drop: Iterable[str] = ()) -> dict[str, Any]:
    """:func:`copy_config_dict` without ``model_type``, the head's keys (:data:`HEAD_CONFIG_KEYS`) and ``drop``: the
    start of a descendant's (or pseudo-descendant's) config."""
    data = copy_config_dict(config)
    for key in ("model_type", *HEAD_CONFIG_KEYS, *drop):
        data.pop(key, None)
    return data
