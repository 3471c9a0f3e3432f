"""ViT and DeiT: the integral layers are the Transformer encoder layers (paper Eq. 3)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import DeiTConfig, PreTrainedConfig, PreTrainedModel, ViTConfig, ViTForImageClassification
from transformers.models.deit.modeling_deit import DeiTLayer
from transformers.models.vit.modeling_vit import ViTEmbeddings, ViTLayer

from ..errors import LearngeneError
from ..sizing import AxisRoles, LayerWidth, WidthRole, WidthSpec, inherited_positions, layout_name
from .base import ArchitectureFamily, DescendantPlan, FeatureAlignment, descendant_config_dict
from .registry import register_family
from .sized import SizedDescendantPlan

#: Axis roles of an encoder layer's tensors (:mod:`hf_learngene.sizing`), by state-dict key within the layer: the
#: residual stream ``channels`` (shared by all layers), the attention dimensions and the MLP units (per layer).
TOKEN_LAYER_AXES: dict[str, AxisRoles] = {
    **{f"attention.{name}_proj.weight": ("attention", "channels") for name in ("q", "k", "v")},
    **{f"attention.{name}_proj.bias": ("attention",) for name in ("q", "k", "v")},
    "attention.o_proj.weight": ("channels", "attention"),
    "attention.o_proj.bias": ("channels",),
    "mlp.fc1.weight": ("mlp", "channels"),
    "mlp.fc1.bias": ("mlp",),
    "mlp.fc2.weight": ("channels", "mlp"),
    "mlp.fc2.bias": ("channels",),
    **{f"{norm}.{name}": ("channels",) for norm in ("layernorm_before", "layernorm_after", "norm1", "norm2")
       for name in ("weight", "bias")},
    "layer_scale1.lambda1": ("channels",),
    "layer_scale2.lambda1": ("channels",),
}


class TokenAlignment(FeatureAlignment):
    """``h(.; zeta)`` for token features: a linear map on the token width (Sec. 4.2.1)."""

    def __init__(self, source_width: int, target_width: int) -> None:
        super().__init__()
        self.proj = nn.Linear(source_width, target_width)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden)


class TokenFeatures:
    """Token-sequence features (ViT, DeiT, DINOv2, timm ViT): mean-pooled over tokens, aligned per token."""

    def pool(self, feature: torch.Tensor) -> torch.Tensor:
        return feature.mean(dim=1)

    def make_alignment(self, source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> nn.Module:
        """A :class:`TokenAlignment` of the token width (``nn.Identity()`` for equal shapes); the number of tokens
        must be the same."""
        if tuple(source_shape) == tuple(target_shape):
            return nn.Identity()
        if source_shape[0] != target_shape[0]:
            raise LearngeneError(
                f"Cannot align token features of shape {tuple(source_shape)} to {tuple(target_shape)}: the number "
                "of tokens differs. Give the pseudo-descendant the ancestry's image size, patch size and tokens."
            )
        return TokenAlignment(source_shape[-1], target_shape[-1])


class TokenWidths:
    """Width requests of token-transformer families (ViT / DeiT / DINOv2 and timm ViTs): ``hidden_size``,
    ``num_attention_heads`` and an MLP width at most the ancestry's, planned as a :class:`~hf_learngene.sizing.WidthSpec`
    over the residual ``channels``, the ``attention`` dimensions (head by head) and the ``mlp`` units.

    A family using it defines ``descendant_sizes(config)`` (``hidden_size``, ``num_attention_heads``,
    ``intermediate_size``), ``width_axes(ancestry_config, index)`` (the axis roles of a layer's tensors) and
    ``_mlp_width(config)``; it may override how an MLP width is asked for (``_pop_mlp_width``) and the default one.
    """

    def _mlp_width(self, config: PreTrainedConfig) -> int:
        return int(self.descendant_sizes(config)["intermediate_size"])

    def _default_mlp_width(self, ancestry_config: PreTrainedConfig, hidden_size: int) -> int:
        """The MLP width of a descendant of ``hidden_size`` when none is asked: the ancestry's MLP width scaled by
        ``hidden_size / ancestry hidden_size`` (rounded), i.e. its MLP ratio, as DINOv2's ``mlp_ratio`` keeps it
        (a ViT-S, 384 -> 1536, narrowed to 192 gets 768)."""
        sizes = self.descendant_sizes(ancestry_config)
        return max(1, round(sizes["intermediate_size"] * hidden_size / sizes["hidden_size"]))

    def _pop_mlp_width(self, ancestry_config: PreTrainedConfig, options: dict[str, Any], hidden_size: int
                       ) -> tuple[str, Any, Any, int] | None:
        """``(option, ancestry value, asked value, MLP width)`` of a requested MLP width, popped from ``options``."""
        if "intermediate_size" not in options:
            return None
        asked = options.pop("intermediate_size")
        return "intermediate_size", self._mlp_width(ancestry_config), asked, asked

    def _pop_mlp_width_or_ratio(self, ancestry_config: PreTrainedConfig, options: dict[str, Any], hidden_size: int,
                                label: str, ancestry_ratio: Any) -> tuple[str, Any, Any, int] | None:
        """As :meth:`_pop_mlp_width` for families whose configs give the MLP width as ``mlp_ratio`` (DINOv2, timm):
        either ``intermediate_size`` or ``mlp_ratio`` (``ancestry_ratio``: the ancestry's), not both."""
        if "intermediate_size" in options and "mlp_ratio" in options:
            raise LearngeneError(f"Give the {label} MLP width as intermediate_size or as mlp_ratio, not both.")
        if "mlp_ratio" not in options:
            return TokenWidths._pop_mlp_width(self, ancestry_config, options, hidden_size)
        ratio = options.pop("mlp_ratio")
        width = int(hidden_size * ratio) if isinstance(ratio, (int, float)) and not isinstance(ratio, bool) else ratio
        return "mlp_ratio", ancestry_ratio, ratio, width

    def _mlp_config_fields(self, hidden_size: int, mlp_width: int) -> dict[str, Any]:
        return {"intermediate_size": mlp_width}

    @staticmethod
    def _wider_error(key: str, ancestry_value: Any, asked: Any, limit: str) -> LearngeneError:
        return LearngeneError(
            f"The learngene layers have {key}={ancestry_value!r} but the descendant was asked for {key}={asked!r}. "
            f"Inherited layers cannot change to a larger width than the ancestry's: drop `{key}` or ask for {limit} "
            "(a narrower descendant keeps a subset of the elements, see width_selection).")

    def _requested_widths(self, ancestry_config: PreTrainedConfig, options: dict[str, Any],
                          names: dict[str, str] | None = None) -> tuple[dict[str, int], dict[str, int]]:
        """The ancestry's and the descendant's ``hidden_size`` / ``num_attention_heads`` / ``intermediate_size``
        (the width options are popped from ``options``); a wider, indivisible or non-integer request is an error.
        ``names`` maps ``hidden_size`` / ``num_attention_heads`` to the option name the caller used (e.g. timm's
        ``embed_dim``), for the messages."""
        names = names or {}
        ancestry = {k: v for k, v in self.descendant_sizes(ancestry_config).items() if k != "num_hidden_layers"}
        asked = dict(ancestry)
        for option in ("hidden_size", "num_attention_heads"):
            if option in options:
                value = options.pop(option)
                key = names.get(option, option)
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise LearngeneError(f"{key} must be a positive int, got {value!r}.")
                limit = ancestry[option]
                if option == "num_attention_heads" and value > limit:
                    raise LearngeneError(
                        f"The learngene layers have {key}={limit} ({limit} attention heads) but the descendant was "
                        f"asked for {key}={value}. Inherited layers cannot change to more heads than the ancestry's: a "
                        f"descendant keeps a subset of the ancestry's heads, so ask for {key} <= {limit} or drop "
                        f"`{key}`.")
                if value > limit:
                    raise self._wider_error(key, limit, value, f"{key} <= {limit}")
                asked[option] = value
        mlp = self._pop_mlp_width(ancestry_config, options, asked["hidden_size"])
        if mlp is None:  # the ancestry's MLP ratio
            asked["intermediate_size"] = self._default_mlp_width(ancestry_config, asked["hidden_size"])
        else:
            option, ancestry_value, value, width = mlp
            if not isinstance(width, int) or isinstance(width, bool) or width < 1:
                raise LearngeneError(f"{option}={value!r} does not give a positive integer MLP width.")
            if width > ancestry["intermediate_size"]:
                raise self._wider_error(option, ancestry_value, value,
                                        f"an MLP width <= {ancestry['intermediate_size']}")
            asked["intermediate_size"] = width
        if asked["hidden_size"] % asked["num_attention_heads"]:
            raise LearngeneError(
                f"{names.get('num_attention_heads', 'num_attention_heads')}={asked['num_attention_heads']} does not "
                f"divide {names.get('hidden_size', 'hidden_size')}={asked['hidden_size']}: pick a number of heads that divides the width (e.g. "
                f"{', '.join(str(h) for h in range(1, ancestry['num_attention_heads'] + 1) if asked['hidden_size'] % h == 0)}).")
        return ancestry, asked

    def _width_spec(self, ancestry_config: PreTrainedConfig, inherited: list[tuple[int, str]],
                    ancestry: dict[str, int], asked: dict[str, int]) -> WidthSpec:
        head, new_head = (ancestry["hidden_size"] // ancestry["num_attention_heads"],
                          asked["hidden_size"] // asked["num_attention_heads"])
        channels = WidthRole("channels", ancestry["hidden_size"], asked["hidden_size"], shared=True)
        layers = {}
        for index, prefix in inherited:
            roles = {"channels": channels,
                     "attention": WidthRole("attention", ancestry["hidden_size"], asked["hidden_size"],
                                            group_size=head, descendant_group_size=new_head),
                     "mlp": WidthRole("mlp", ancestry["intermediate_size"], asked["intermediate_size"])}
            layers[prefix] = LayerWidth(axes=self.width_axes(ancestry_config, index), roles=roles)
        return WidthSpec(layers=layers, ancestry=ancestry, descendant=asked)


class ViTFamily(TokenFeatures, TokenWidths, ArchitectureFamily):
    """ViT and DeiT checkpoints (`ViTModel`, `ViTForImageClassification`, `DeiT*`)."""

    name = "vit"
    label = "ViT"
    model_types = ("vit", "deit")
    descendant_class = ViTForImageClassification
    backbone_attributes: ClassVar[tuple[str, ...]] = ("vit", "deit")
    descendant_prefix: ClassVar[str] = "vit.layers"
    #: config fields that fix the shape or computation of an encoder layer: a descendant must keep them, except that
    #: the :attr:`width_fields` may be smaller (a width-reduced descendant, :mod:`hf_learngene.sizing`).
    layer_fields: ClassVar[tuple[str, ...]] = (
        "hidden_size", "num_attention_heads", "intermediate_size", "hidden_act", "layer_norm_eps", "qkv_bias"
    )

    embedding_attribute: ClassVar[str | None] = "embeddings"

    def embeddings_unsupported(self, config: PreTrainedConfig) -> str | None:
        if getattr(config, "model_type", None) == "deit":
            return ("a DeiT embedding has a distillation token and one more position than a ViT descendant's, so it "
                    "cannot be copied into one; keep the learngene layers only (include_embeddings=False)")
        return None

    def build_embeddings(self, config: PreTrainedConfig) -> nn.Module:
        reason = self.embeddings_unsupported(config)
        if reason:
            raise LearngeneError(f"Cannot carry the input embedding: {reason}.")
        return ViTEmbeddings(config, use_mask_token=False)  # as in ViTForImageClassification

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

    def _descendant_config_class(self) -> type[PreTrainedConfig]:
        return ViTConfig

    def _base_descendant_dict(self, ancestry_config: PreTrainedConfig) -> dict[str, Any]:
        return descendant_config_dict(ancestry_config, drop=("distillation_type",))

    #: ``layout=`` places the fresh layers (:func:`hf_learngene.sizing.inherited_positions`).
    supports_layout: ClassVar[bool] = True
    #: the descendant sizes that may be smaller than the ancestry's (element selection, :mod:`hf_learngene.sizing`).
    width_fields: ClassVar[tuple[str, ...]] = ("hidden_size", "num_attention_heads", "intermediate_size")

    def descendant_sizes(self, config: PreTrainedConfig) -> dict[str, int]:
        """Width, heads, MLP width and depth of a model with ``config`` (model cards, :mod:`hf_learngene.sizing`)."""
        return {"hidden_size": int(config.hidden_size), "num_attention_heads": int(config.num_attention_heads),
                "intermediate_size": self._mlp_width(config), "num_hidden_layers": int(config.num_hidden_layers)}

    def _mlp_width(self, config: PreTrainedConfig) -> int:
        return int(config.intermediate_size)

    def width_axes(self, ancestry_config: PreTrainedConfig, index: int) -> dict[str, AxisRoles]:
        """The axis roles of every tensor of integral layer ``index`` (:data:`TOKEN_LAYER_AXES`)."""
        with torch.device("meta"):
            keys = list(self.build_layer(ancestry_config, index).state_dict())
        unknown = [key for key in keys if key not in TOKEN_LAYER_AXES]
        if unknown:
            raise LearngeneError(
                f"A {self.label} layer of this ancestry has tensors {unknown} that element selection does not know "
                "(e.g. a SwiGLU MLP), so it cannot be narrowed: keep the ancestry's hidden_size, num_attention_heads "
                "and MLP width.")
        return {key: TOKEN_LAYER_AXES[key] for key in keys}

    def plan_descendant(
        self,
        ancestry_config: PreTrainedConfig,
        layer_indices: list[int],
        *,
        num_labels: int,
        num_random_layers: int | None = None,
        image_size: int | None = None,
        layout: str | list[int] | None = None,
        **options: Any,
    ) -> DescendantPlan:
        """The encoder is the learngene layers plus ``num_random_layers`` fresh ones, placed by ``layout``
        (default ``"after"``); ``hidden_size`` / ``num_attention_heads`` / ``intermediate_size`` smaller than the
        ancestry's plan a width reduction (:class:`~hf_learngene.sizing.WidthSpec`)."""
        ancestry, asked = self._requested_widths(ancestry_config, options)
        self.check_layer_options(ancestry_config, options)
        count = len(layer_indices)
        if num_random_layers is None and layout is not None and not isinstance(layout, str):
            extra = max(0, max(layout, default=-1) + 1 - count)  # an explicit layout gives the depth
        else:
            extra = self.num_fresh_layers(num_random_layers)
        depth = count + extra
        positions = inherited_positions(layout, count, depth)
        data = self._base_descendant_dict(ancestry_config)
        data.update(options)
        data["num_hidden_layers"] = depth
        if image_size is not None:
            data["image_size"] = image_size
        full_width = self._adjust_descendant_dict(dict(data))
        data.update(hidden_size=asked["hidden_size"], num_attention_heads=asked["num_attention_heads"],
                    **self._mlp_config_fields(asked["hidden_size"], asked["intermediate_size"]))
        data = self._adjust_descendant_dict(data)
        config = self._descendant_config_class()(num_labels=num_labels, **data)
        if self._mlp_width(config) != asked["intermediate_size"]:
            raise LearngeneError(f"An MLP width of {asked['intermediate_size']} cannot be expressed for hidden_size="
                                 f"{asked['hidden_size']} (mlp_ratio gives {self._mlp_width(config)}): pick an MLP width "
                                 "that is a multiple of the ratio, e.g. 4 * hidden_size.")
        inherited = [(index, f"{self.descendant_prefix}.{position}.") for position, index in zip(positions, layer_indices)]
        fresh = [f"{self.descendant_prefix}.{position}." for position in range(depth) if position not in positions]
        plan = SizedDescendantPlan(config=config, inherited=inherited, fresh=fresh, layout=layout_name(layout))
        if asked != ancestry:
            plan.width = self._width_spec(ancestry_config, inherited, ancestry, asked)
            plan.full_width_config = self._descendant_config_class()(num_labels=num_labels, **full_width)
        return plan

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
