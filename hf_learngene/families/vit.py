"""ViT and DeiT: the integral layers are the Transformer encoder layers (paper Eq. 3)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import DeiTConfig, PreTrainedConfig, PreTrainedModel, ViTConfig, ViTForImageClassification
from transformers.models.deit.modeling_deit import DeiTLayer
from transformers.models.vit.modeling_vit import ViTLayer

from ..errors import LearngeneError
from .base import ArchitectureFamily, DescendantPlan, FeatureAlignment, descendant_config_dict
from .registry import register_family


class TokenAlignment(FeatureAlignment):
    """``h(.; zeta)`` for token features: a linear map on the token width (Sec. 4.2.1)."""

    def __init__(self, source_width: int, target_width: int) -> None:
        super().__init__()
        self.proj = nn.Linear(source_width, target_width)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden)


class ViTFamily(ArchitectureFamily):
    """ViT and DeiT checkpoints (`ViTModel`, `ViTForImageClassification`, `DeiT*`)."""

    name = "vit"
    label = "ViT"
    model_types = ("vit", "deit")
    descendant_class = ViTForImageClassification
    backbone_attributes: ClassVar[tuple[str, ...]] = ("vit", "deit")
    descendant_prefix: ClassVar[str] = "vit.layers"
    #: config fields that fix the shape or computation of an encoder layer: a descendant must keep them.
    layer_fields: ClassVar[tuple[str, ...]] = (
        "hidden_size", "num_attention_heads", "intermediate_size", "hidden_act", "layer_norm_eps", "qkv_bias"
    )

    def config_from_dict(self, config_dict: dict[str, Any]) -> PreTrainedConfig:
        data = dict(config_dict)
        model_type = data.pop("model_type", "vit")
        cls = DeiTConfig if model_type == "deit" else ViTConfig
        return cls(**data)

    def num_layers(self, config: PreTrainedConfig) -> int:
        return int(config.num_hidden_layers)

    def backbone(self, model: PreTrainedModel) -> nn.Module:
        for attribute in self.backbone_attributes:
            inner = getattr(model, attribute, None)
            if isinstance(inner, nn.Module):
                return inner
        return model

    def integral_layers(self, model: PreTrainedModel) -> list[nn.Module]:
        return list(self.backbone(model).layers)

    def build_layer(self, config: PreTrainedConfig, index: int) -> nn.Module:
        layer_cls = DeiTLayer if config.model_type == "deit" else ViTLayer
        return layer_cls(config)

    def pool(self, feature: torch.Tensor) -> torch.Tensor:
        return feature.mean(dim=1)

    def make_alignment(self, source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> nn.Module:
        if tuple(source_shape) == tuple(target_shape):
            return nn.Identity()
        if source_shape[0] != target_shape[0]:
            raise LearngeneError(
                f"Cannot align token features of shape {tuple(source_shape)} to {tuple(target_shape)}: the number "
                "of tokens differs. Give the pseudo-descendant the ancestry's image size and patch size."
            )
        return TokenAlignment(source_shape[-1], target_shape[-1])

    def _descendant_config_class(self) -> type[PreTrainedConfig]:
        return ViTConfig

    def _base_descendant_dict(self, ancestry_config: PreTrainedConfig) -> dict[str, Any]:
        return descendant_config_dict(ancestry_config, drop=("distillation_type",))

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
        self.check_layer_options(ancestry_config, options)
        extra = self.num_fresh_layers(num_random_layers)  # fresh layers stacked after the inherited ones
        data = self._base_descendant_dict(ancestry_config)
        data.update(options)
        data["num_hidden_layers"] = len(layer_indices) + extra
        if image_size is not None:
            data["image_size"] = image_size
        data = self._adjust_descendant_dict(data)
        config = self._descendant_config_class()(num_labels=num_labels, **data)
        inherited = [(index, f"{self.descendant_prefix}.{position}.") for position, index in enumerate(layer_indices)]
        fresh = [f"{self.descendant_prefix}.{position}." for position in range(len(layer_indices), len(layer_indices) + extra)]
        return DescendantPlan(config=config, inherited=inherited, fresh=fresh)

    def _adjust_descendant_dict(self, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def pseudo_descendant_config(
        self, ancestry_config: PreTrainedConfig, num_layers: int | None, num_labels: int
    ) -> PreTrainedConfig:
        depth = num_layers if num_layers is not None else max(1, self.num_layers(ancestry_config) // 2)
        data = self._base_descendant_dict(ancestry_config)
        data["num_hidden_layers"] = int(depth)
        data = self._adjust_descendant_dict(data)
        return self._descendant_config_class()(num_labels=num_labels, **data)

    def describe_layer(self, config: PreTrainedConfig, index: int) -> str:
        return f"encoder layer {index}"


register_family(ViTFamily())
