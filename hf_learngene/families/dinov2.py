"""DINOv2: encoder layers with layer scale (and optionally SwiGLU), `Dinov2Model.encoder.layer[i]`."""

from __future__ import annotations

from typing import Any

from torch import nn
from transformers import Dinov2Config, Dinov2ForImageClassification, PreTrainedConfig, PreTrainedModel
from transformers.models.dinov2.modeling_dinov2 import Dinov2Embeddings, Dinov2Layer

from ..errors import LearngeneError
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

    def embeddings_unsupported(self, config: PreTrainedConfig) -> str | None:
        return None

    def build_embeddings(self, config: PreTrainedConfig) -> nn.Module:
        return Dinov2Embeddings(config)

    def _descendant_config_class(self) -> type[PreTrainedConfig]:
        return Dinov2Config

    width_fields = ("hidden_size", "num_attention_heads", "mlp_ratio")

    def _mlp_width(self, config: PreTrainedConfig) -> int:
        return int(config.hidden_size * config.mlp_ratio)

    def _default_mlp_width(self, ancestry_config: PreTrainedConfig, hidden_size: int) -> int:
        return int(hidden_size * ancestry_config.mlp_ratio)

    def _pop_mlp_width(self, ancestry_config: PreTrainedConfig, options: dict[str, Any], hidden_size: int
                       ) -> tuple[str, Any, Any, int] | None:
        # DINOv2 configs give the MLP width as mlp_ratio; intermediate_size is accepted too (ViT's name for it).
        return self._pop_mlp_width_or_ratio(ancestry_config, options, hidden_size, "DINOv2", ancestry_config.mlp_ratio)

    def _mlp_config_fields(self, hidden_size: int, mlp_width: int) -> dict[str, Any]:
        if mlp_width % hidden_size:  # Dinov2Config.mlp_ratio is an int
            raise LearngeneError(f"A DINOv2 MLP is mlp_ratio x hidden_size wide with an integer mlp_ratio, so an MLP "
                                 f"width of {mlp_width} cannot go with hidden_size={hidden_size}: pick a multiple of "
                                 f"{hidden_size} (e.g. intermediate_size={4 * hidden_size}).")
        return {"mlp_ratio": mlp_width // hidden_size}

    def _adjust_descendant_dict(self, data: dict[str, Any]) -> dict[str, Any]:
        # Backbone bookkeeping depends on the depth; let Dinov2Config recompute it.
        for key in BACKBONE_CONFIG_KEYS:
            data.pop(key, None)
        return data


register_family(Dinov2Family())
