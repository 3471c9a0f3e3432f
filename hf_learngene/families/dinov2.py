"""DINOv2: encoder layers with layer scale (and optionally SwiGLU), `Dinov2Model.encoder.layer[i]`."""

from __future__ import annotations

from typing import Any

from torch import nn
from transformers import Dinov2Config, Dinov2ForImageClassification, PreTrainedConfig, PreTrainedModel
from transformers.models.dinov2.modeling_dinov2 import Dinov2Layer

from .base import BACKBONE_CONFIG_KEYS
from .registry import register_family
from .vit import ViTFamily


class Dinov2Family(ViTFamily):
    """DINOv2 checkpoints (`Dinov2Model`, `Dinov2ForImageClassification`)."""

    name = "dinov2"
    label = "DINOv2"
    model_types = ("dinov2",)
    descendant_class = Dinov2ForImageClassification
    backbone_attributes = ("dinov2",)
    descendant_prefix = "dinov2.encoder.layer"
    layer_fields = (
        "hidden_size", "num_attention_heads", "mlp_ratio", "hidden_act", "layer_norm_eps", "qkv_bias",
        "use_swiglu_ffn", "layerscale_value",
    )

    def config_from_dict(self, config_dict: dict[str, Any]) -> PreTrainedConfig:
        data = dict(config_dict)
        data.pop("model_type", None)
        return Dinov2Config(**data)

    def integral_layers(self, model: PreTrainedModel) -> list[nn.Module]:
        return list(self.backbone(model).encoder.layer)

    def build_layer(self, config: PreTrainedConfig, index: int) -> nn.Module:
        return Dinov2Layer(config)

    def _descendant_config_class(self) -> type[PreTrainedConfig]:
        return Dinov2Config

    def _adjust_descendant_dict(self, data: dict[str, Any]) -> dict[str, Any]:
        # Backbone bookkeeping depends on the depth; let Dinov2Config recompute it.
        for key in BACKBONE_CONFIG_KEYS:
            data.pop(key, None)
        return data


register_family(Dinov2Family())
