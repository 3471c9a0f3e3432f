"""timm Vision Transformers (ViT, DeiT, DINOv2-style with layer scale and registers): the integral layers are
``timm_model.blocks[i]`` of a ``TimmWrapperModel`` / ``TimmWrapperForImageClassification`` (or of a bare timm
``VisionTransformer``).

Descendants are ``TimmWrapperForImageClassification`` checkpoints of the ancestry's architecture with
``model_args["depth"]`` = learngene layers + ``num_random_layers``: the learngene blocks, in order, then fresh ones;
patch embedding, class / register / distillation tokens, position embeddings, final norm and head are fresh, and
``image_size`` / ``patch_size`` may differ from the ancestry's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel

from ..errors import LearngeneError
from .base import DescendantPlan
from .registry import register_family
from .timm_base import TimmFamily, architecture_of, create_timm_model, model_args_of, skeleton
from .vit import TokenAlignment


class TimmViTFamily(TimmFamily):
    """timm ``VisionTransformer`` checkpoints (``timm.models.vision_transformer`` and ``timm.models.deit``)."""

    name = "timm_vit"
    label = "timm ViT"
    timm_modules = ("vision_transformer", "deit")
    timm_class_name = "VisionTransformer"
    #: what fixes an inherited block (read from the architecture when ``model_args`` does not set it).
    layer_fields: ClassVar[tuple[str, ...]] = ("embed_dim", "num_heads", "mlp_ratio", "qkv_bias")

    def layer_field_values(self, config: PreTrainedConfig) -> dict[str, Any]:
        args = model_args_of(config)
        model = self.ancestry_skeleton(config)
        block = model.blocks[0]
        derived: dict[str, Any] = {"embed_dim": int(model.embed_dim)}
        attn = getattr(block, "attn", None)
        if hasattr(attn, "num_heads"):
            derived["num_heads"] = int(attn.num_heads)
        qkv = getattr(attn, "qkv", None)
        if isinstance(qkv, nn.Linear):
            derived["qkv_bias"] = qkv.bias is not None
        fc1 = getattr(getattr(block, "mlp", None), "fc1", None)
        if isinstance(fc1, nn.Linear):
            derived["mlp_ratio"] = fc1.out_features / model.embed_dim
        return {key: args.get(key, derived.get(key)) for key in self.layer_fields if key in args or key in derived}

    def num_layers(self, config: PreTrainedConfig) -> int:
        depth = model_args_of(config).get("depth")
        return int(depth) if depth is not None else len(self.ancestry_skeleton(config).blocks)

    def integral_layers(self, model: PreTrainedModel) -> list[nn.Module]:
        backbone = self.backbone(model)
        if not hasattr(backbone, "blocks"):
            raise LearngeneError(f"{type(backbone).__name__} has no `blocks`: it is not a timm VisionTransformer.")
        return list(backbone.blocks)

    def build_layer(self, config: PreTrainedConfig, index: int) -> nn.Module:
        # Every block of a timm ViT has the same structure: build a one-block model and take its block.
        return create_timm_model(architecture_of(config), {**model_args_of(config), "depth": 1}).blocks[0]

    def forward_features(
        self,
        model: PreTrainedModel,
        pixel_values: torch.Tensor,
        layers: list[int] | None = None,
        *,
        hook_model: nn.Module | None = None,
    ) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        """As :meth:`ArchitectureFamily.forward_features`, but an input size that the timm model cannot take (a
        fixed ``img_size`` without ``dynamic_img_size``, e.g. a Hub DINOv2 at 518 px fed 84 px images) is a
        :class:`LearngeneError` that says what to do, not timm's bare ``AssertionError``."""
        check_input_size(self.backbone(model if hook_model is None else hook_model), pixel_values)
        return super().forward_features(model, pixel_values, layers, hook_model=hook_model)

    def pool(self, feature: torch.Tensor) -> torch.Tensor:
        return feature.mean(dim=1)

    def make_alignment(self, source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> nn.Module:
        if tuple(source_shape) == tuple(target_shape):
            return nn.Identity()
        if source_shape[0] != target_shape[0]:
            raise LearngeneError(
                f"Cannot align token features of shape {tuple(source_shape)} to {tuple(target_shape)}: the number "
                "of tokens differs. Give the pseudo-descendant the ancestry's image size, patch size and tokens."
            )
        return TokenAlignment(source_shape[-1], target_shape[-1])

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
        extra = self.num_fresh_layers(num_random_layers)  # fresh blocks stacked after the inherited ones
        self.check_layer_options(ancestry_config, options)
        self.fresh_model_args_error(options, ("depth",))
        args = {**model_args_of(ancestry_config), **options, "depth": len(layer_indices) + extra}
        config = self.descendant_config(ancestry_config, args, num_labels=num_labels, image_size=image_size)
        ancestry = self.ancestry_skeleton(ancestry_config)
        descendant = skeleton(architecture_of(config), model_args_of(config))
        for position, index in enumerate(layer_indices):
            self.check_fits(ancestry.blocks[index], descendant.blocks[position], index, f"blocks.{position}", options)
        inherited = [(index, f"timm_model.blocks.{position}.") for position, index in enumerate(layer_indices)]
        fresh = [f"timm_model.blocks.{p}." for p in range(len(layer_indices), len(layer_indices) + extra)]
        return DescendantPlan(config=config, inherited=inherited, fresh=fresh)

    def pseudo_descendant_config(
        self, ancestry_config: PreTrainedConfig, num_layers: int | None, num_labels: int
    ) -> PreTrainedConfig:
        depth = num_layers if num_layers is not None else max(1, self.num_layers(ancestry_config) // 2)
        args = {**model_args_of(ancestry_config), "depth": int(depth)}
        return self.descendant_config(ancestry_config, args, num_labels=num_labels)

    def describe_layer(self, config: PreTrainedConfig, index: int) -> str:
        return f"block {index}"


def check_input_size(backbone: nn.Module, pixel_values: torch.Tensor) -> None:
    """Refuse ``pixel_values`` whose height and width a timm ``VisionTransformer`` built for a fixed ``img_size``
    cannot take (timm would fail with ``AssertionError: Input height (84) doesn't match model (518)``).

    Example:
        >>> check_input_size(ancestry.timm_model, torch.zeros(1, 3, 84, 84))  # doctest: +SKIP
        Traceback (most recent call last):
        LearngeneError: This timm ViT takes 518x518 images (img_size=518), got 84x84. ...
    """
    patch_embed = getattr(backbone, "patch_embed", None)
    expected = getattr(patch_embed, "img_size", None)
    if not getattr(patch_embed, "strict_img_size", False) or expected is None:
        return
    got = tuple(int(s) for s in pixel_values.shape[-2:])
    expected = tuple(int(s) for s in expected)
    if got == expected:
        return
    raise LearngeneError(
        f"This timm ViT takes {expected[0]}x{expected[1]} images (img_size={expected[0] if expected[0] == expected[1] else expected}"
        f", no dynamic_img_size), got {got[0]}x{got[1]}. Condense at CondenseConfig(image_size={expected[0]}), or "
        "build the ancestry to take any size and pass the model itself: condense(timm.create_model(name, "
        "pretrained=True, dynamic_img_size=True), ...) (its learngene's descendants keep dynamic_img_size). A "
        "descendant takes another size with from_learngene(..., image_size=...).")


register_family(TimmViTFamily())
