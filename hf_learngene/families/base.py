"""The small interface every architecture family implements.

A *family* knows, for one kind of `transformers` vision model:

- which modules are its **integral layers** (the candidates for a learngene) and how to build an
  empty one from the ancestry's config, so a learngene can be loaded without the ancestry;
- how to run a model and read **each integral layer's output** (used when condensing);
- how to **align** features whose shapes differ between an ancestry and a pseudo-descendant;
- how to **build a descendant** around inherited layers, returning a plain `transformers` model and
  the state-dict prefix at which each inherited layer lives.

Adding a family is one new module that subclasses :class:`ArchitectureFamily` and calls
:func:`hf_learngene.families.register_family`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel


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


class ArchitectureFamily(ABC):
    """Base class of the per-architecture adapters (one subclass per family)."""

    #: short name stored in :class:`~hf_learngene.LearngeneConfig.family`.
    name: ClassVar[str]
    #: `transformers` ``model_type`` values this family handles.
    model_types: ClassVar[tuple[str, ...]]
    #: the plain `transformers` class a descendant is built as.
    descendant_class: ClassVar[type[PreTrainedModel]]

    # ---------------------------------------------------------------- configs
    @abstractmethod
    def config_from_dict(self, config_dict: dict[str, Any]) -> PreTrainedConfig:
        """Rebuild the ancestry's `transformers` config from its ``to_dict()``."""

    @abstractmethod
    def num_layers(self, config: PreTrainedConfig) -> int:
        """Number of integral layers ``L`` of a model with this config."""

    def hidden_size(self, config: PreTrainedConfig) -> int | list[int]:
        """Width(s) of the integral layers (token width, or channels per layer for CNNs)."""
        return int(config.hidden_size)

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
        """The alignment ``h`` mapping a pseudo-descendant feature (without batch dim) to the ancestry's."""

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
        """Lay out a descendant that inherits ``layer_indices`` of the ancestry."""

    @abstractmethod
    def pseudo_descendant_config(
        self, ancestry_config: PreTrainedConfig, num_layers: int | None, num_labels: int
    ) -> PreTrainedConfig:
        """Config of a randomly initialised pseudo-descendant (default: half the ancestry's layers)."""

    def build_model(self, config: PreTrainedConfig) -> PreTrainedModel:
        """Instantiate the descendant class with the family's normal initialisation."""
        return self.descendant_class(config)

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
