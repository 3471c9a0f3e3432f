"""timm Vision Transformers (ViT, DeiT, DINOv2-style with layer scale and registers): the integral layers are
``timm_model.blocks[i]`` of a ``TimmWrapperModel`` / ``TimmWrapperForImageClassification`` (or of a bare timm
``VisionTransformer``).

Descendants are ``TimmWrapperForImageClassification`` checkpoints of the ancestry's architecture with
``model_args["depth"]`` = learngene layers + ``num_random_layers``: the learngene blocks, in order, then fresh ones;
patch embedding, class / register / distillation tokens, position embeddings, final norm and head are fresh, and
``image_size`` / ``patch_size`` may differ from the ancestry's.

Narrower descendants work as for the transformers ViT family (:mod:`hf_learngene.sizing`): ``hidden_size=`` /
``num_attention_heads=`` / ``intermediate_size=`` (or timm's names ``embed_dim=`` / ``num_heads=`` / ``mlp_ratio=``)
at most the ancestry's give ``model_args`` ``embed_dim`` / ``num_heads`` / ``mlp_ratio``, and every inherited block
keeps the selected elements of its tensors (:data:`TIMM_BLOCK_AXES`: the fused ``attn.qkv`` keeps the same attention
indices in its q, k and v chunks), recorded in ``config.learngene["width"]`` as for the other families.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel

from ..errors import LearngeneError
from ..sizing import AxisRoles
from .base import DescendantPlan
from .registry import register_family
from .sized import SizedDescendantPlan
from .timm_base import TimmFamily, architecture_of, create_timm_model, model_args_of, skeleton
from .vit import TokenFeatures, TokenWidths

#: Axis roles (:mod:`hf_learngene.sizing`) of the tensors of a timm ViT ``Block``, by key within the block: the
#: residual ``channels`` (LayerNorms, layer scales, projections' outputs), the ``attention`` dimensions (the fused
#: ``qkv`` holds q, k and v: three chunks) and the ``mlp`` units.
TIMM_BLOCK_AXES: dict[str, AxisRoles] = {
    "norm1.weight": ("channels",), "norm1.bias": ("channels",),
    "attn.qkv.weight": ("attention:3", "channels"), "attn.qkv.bias": ("attention:3",),
    "attn.proj.weight": ("channels", "attention"), "attn.proj.bias": ("channels",),
    "ls1.gamma": ("channels",), "ls2.gamma": ("channels",),
    "norm2.weight": ("channels",), "norm2.bias": ("channels",),
    "mlp.fc1.weight": ("mlp", "channels"), "mlp.fc1.bias": ("mlp",),
    "mlp.fc2.weight": ("channels", "mlp"), "mlp.fc2.bias": ("channels",),
}
#: timm's ``model_args`` for the width options and the transformers names they are asked with.
TIMM_WIDTH_NAMES = {"embed_dim": "hidden_size", "num_heads": "num_attention_heads"}


class TimmViTFamily(TokenFeatures, TokenWidths, TimmFamily):
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

    # ---------------------------------------------------------------- widths (TokenWidths)
    def descendant_sizes(self, config: PreTrainedConfig) -> dict[str, int]:
        """Width, heads, MLP width and depth of the timm ViT of ``config`` (read from its structure)."""
        model = skeleton(architecture_of(config), model_args_of(config))
        block = model.blocks[0]
        return {"hidden_size": int(model.embed_dim), "num_attention_heads": int(block.attn.num_heads),
                "intermediate_size": int(block.mlp.fc1.out_features), "num_hidden_layers": len(model.blocks)}

    def _pop_mlp_width(self, ancestry_config: PreTrainedConfig, options: dict[str, Any], hidden_size: int
                       ) -> tuple[str, Any, Any, int] | None:
        # timm gives the MLP width as mlp_ratio (a float); intermediate_size is accepted too (transformers' name).
        sizes = self.descendant_sizes(ancestry_config)
        return self._pop_mlp_width_or_ratio(ancestry_config, options, hidden_size, "timm ViT",
                                            sizes["intermediate_size"] / sizes["hidden_size"])

    def width_axes(self, ancestry_config: PreTrainedConfig, index: int) -> dict[str, AxisRoles]:
        """The axis roles of every tensor of block ``index`` (:data:`TIMM_BLOCK_AXES`)."""
        model = self.ancestry_skeleton(ancestry_config)
        block = model.blocks[index]
        keys = list(block.state_dict())
        unknown = [key for key in keys if key not in TIMM_BLOCK_AXES]
        qkv = getattr(getattr(block, "attn", None), "qkv", None)
        if unknown or not isinstance(qkv, nn.Linear) or qkv.out_features != 3 * model.embed_dim:
            raise LearngeneError(
                f"A timm ViT block of {architecture_of(ancestry_config)!r} has tensors that element selection does "
                f"not know ({unknown or 'attention not a fused qkv of the width'}; e.g. a SwiGLU MLP or q/k norms), "
                "so it cannot be narrowed: keep the ancestry's width (drop hidden_size / num_attention_heads / "
                "intermediate_size).")
        return {key: TIMM_BLOCK_AXES[key] for key in keys}

    def _width_options(self, options: dict[str, Any]) -> dict[str, str]:
        """timm's width names (``embed_dim=``, ``num_heads=``) as the transformers ones, in place; returns the
        transformers name -> the timm name used, for the messages."""
        used = {}
        for timm_name, name in TIMM_WIDTH_NAMES.items():
            if timm_name in options:
                if name in options:
                    raise LearngeneError(f"Give the width as {name} or as {timm_name}, not both.")
                options[name] = options.pop(timm_name)
                used[name] = timm_name
        return used

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
        """The learngene blocks, then ``num_random_layers`` fresh ones; ``hidden_size`` / ``num_attention_heads`` /
        ``intermediate_size`` (``embed_dim`` / ``num_heads`` / ``mlp_ratio``) smaller than the ancestry's plan a
        width reduction (:class:`~hf_learngene.sizing.WidthSpec`)."""
        extra = self.num_fresh_layers(num_random_layers)  # fresh blocks stacked after the inherited ones
        sizes, asked = self._requested_widths(ancestry_config, options, self._width_options(options))
        self.check_layer_options(ancestry_config, options)
        self.fresh_model_args_error(options, ("depth",))
        architecture = architecture_of(ancestry_config)
        args = {**model_args_of(ancestry_config), **options, "depth": len(layer_indices) + extra}
        full_args = dict(args)
        narrow = asked != sizes
        if narrow:
            args.update(embed_dim=asked["hidden_size"], num_heads=asked["num_attention_heads"],
                        mlp_ratio=asked["intermediate_size"] / asked["hidden_size"])
        config = self.descendant_config(ancestry_config, args, num_labels=num_labels, image_size=image_size)
        descendant = skeleton(architecture_of(config), model_args_of(config))
        if narrow and int(descendant.blocks[0].mlp.fc1.out_features) != asked["intermediate_size"]:
            raise LearngeneError(f"timm cannot build an MLP width of {asked['intermediate_size']} for hidden_size="
                                 f"{asked['hidden_size']} (mlp_ratio gives {descendant.blocks[0].mlp.fc1.out_features}"
                                 "): pick another MLP width, e.g. 4 * hidden_size.")
        if narrow:  # inherited blocks, once narrowed, must be the ancestry's blocks built at the descendant's width
            reference = skeleton(architecture, {**model_args_of(ancestry_config), "depth": 1,
                                                **{k: args[k] for k in ("embed_dim", "num_heads", "mlp_ratio")}})
            ancestry_blocks = [reference.blocks[0]] * self.num_layers(ancestry_config)
        else:
            ancestry_blocks = list(self.ancestry_skeleton(ancestry_config).blocks)
        for position, index in enumerate(layer_indices):
            self.check_fits(ancestry_blocks[index], descendant.blocks[position], index, f"blocks.{position}", options)
        inherited = [(index, f"timm_model.blocks.{position}.") for position, index in enumerate(layer_indices)]
        fresh = [f"timm_model.blocks.{p}." for p in range(len(layer_indices), len(layer_indices) + extra)]
        plan = SizedDescendantPlan(config=config, inherited=inherited, fresh=fresh)
        if narrow:
            plan.width = self._width_spec(ancestry_config, inherited, sizes, asked)
            plan.full_width_config = self.descendant_config(ancestry_config, full_args, num_labels=num_labels,
                                                            image_size=image_size)
        return plan

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
