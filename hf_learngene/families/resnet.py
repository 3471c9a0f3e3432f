"""ResNet (basic and bottleneck blocks): the integral layers are the residual blocks (paper Eq. 5).

Blocks are numbered globally across stages: ResNet-18 (depths ``[2, 2, 2, 2]``) has 8 integral layers,
blocks 0-1 in stage 0, 2-3 in stage 1, and so on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel, ResNetConfig, ResNetForImageClassification
from transformers.models.resnet.modeling_resnet import ResNetBasicLayer, ResNetBottleNeckLayer, ResNetEmbeddings

from ..errors import LearngeneError
from ..sizing import AxisRoles, LayerWidth, WidthRole, WidthSpec
from .base import BACKBONE_CONFIG_KEYS, ArchitectureFamily, DescendantPlan, FeatureAlignment, descendant_config_dict
from .registry import register_family
from .sized import SizedDescendantPlan


@dataclass(frozen=True)
class BlockSignature:
    """Where a residual block sits and what it maps: ``in_channels -> out_channels`` at ``stride``."""

    stage: int
    position: int
    in_channels: int
    out_channels: int
    stride: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.out_channels, self.stride)


def _stage_first(config: PreTrainedConfig, stage: int) -> tuple[int, int, int]:
    hidden = list(config.hidden_sizes)
    if stage == 0:
        return (config.embedding_size, hidden[0], 2 if config.downsample_in_first_stage else 1)
    return (hidden[stage - 1], hidden[stage], 2)


def block_signatures(config: PreTrainedConfig) -> list[BlockSignature]:
    """Signature of every residual block of a ResNet config, in global order."""
    signatures = []
    for stage, depth in enumerate(config.depths):
        first = _stage_first(config, stage)
        out = config.hidden_sizes[stage]
        for position in range(depth):
            shape = first if position == 0 else (out, out, 1)
            signatures.append(BlockSignature(stage, position, *shape))
    return signatures


class ChannelWidths:
    """Width requests of residual CNN families (the transformers ResNet and timm ResNets), planned as a
    :class:`~hf_learngene.sizing.WidthSpec` over channel *slots*: the stem output (``embedding``) and the residual
    stream of each stage (``stage<s>``), shared by every inherited block that reads or writes them, and each block's
    own inner channels (``inner0`` / ``inner1``, timm's squeeze-and-excitation units ``se``).

    A family using it describes its blocks as :class:`BlockSignature` s and its widths as ``{slot: channels}``
    dicts; its option names are ``embedding_size`` and ``hidden_sizes`` (the stage output widths) in the messages.
    """

    #: who decides whether a block has a shortcut projection (for the messages)
    shortcut_library: ClassVar[str] = "transformers"

    @staticmethod
    def _stage_widths(option: str, values: Any, ancestry_values: list[int]) -> list[int]:
        """``values`` (one channel width per stage) checked against the ancestry's number of stages."""
        stages = len(ancestry_values)
        if not isinstance(values, (list, tuple)) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
            raise LearngeneError(
                f"The learngene layers have {option}={list(ancestry_values)} but the descendant was asked for "
                f"{option}={values!r}. Inherited layers cannot change to anything but one positive int width per "
                f"stage: give {stages} ints, at most the ancestry's for stages with inherited blocks.")
        if len(values) != stages:
            raise LearngeneError(f"{option}={list(values)} has {len(values)} stages but the learngene's ancestry has "
                                 f"{stages} ({option}={list(ancestry_values)}); keep one width per stage.")
        return [int(v) for v in values]

    @staticmethod
    def _block_slots(block: BlockSignature) -> tuple[str, str]:
        """The channel slots a block reads and writes: ``("embedding" | "stage<s-1>" | "stage<s>", "stage<s>")``."""
        if block.position == 0:
            return ("embedding" if block.stage == 0 else f"stage{block.stage - 1}"), f"stage{block.stage}"
        return f"stage{block.stage}", f"stage{block.stage}"

    def _reduced_shape(self, block: BlockSignature, slots_d: dict[str, int]) -> tuple[int, int, int]:
        """The block's ``(in, out, stride)`` at the descendant's channel widths (narrowed by element selection)."""
        source, target = self._block_slots(block)
        return (slots_d[source], slots_d[target], block.stride)

    def _widths_change(self, layer_indices: list[int], blocks: list[BlockSignature], slots_a: dict[str, int],
                       slots_d: dict[str, int]) -> bool:
        """Whether a channel slot that an inherited block reads or writes has another width in the descendant."""
        used = {slot for index in layer_indices for slot in self._block_slots(blocks[index])}
        return any(slots_d[slot] != slots_a[slot] for slot in used)

    def _check_inherited_block(self, index: int, block: BlockSignature, position: int,
                               expected: tuple[int, int, int], first: tuple[int, int, int],
                               slots_a: dict[str, int], slots_d: dict[str, int]) -> None:
        """Refuse inherited block ``index`` at ``position`` of its stage when, narrowed to the descendant's widths,
        it would not map the ``expected`` ``(in, out, stride)`` (``first``: what the stage's first block maps)."""
        self._check_narrowing(index, block, slots_a, slots_d, first)
        got = self._reduced_shape(block, slots_d)
        if got != expected:
            raise LearngeneError(self._width_error(index, block.stage, position, block.shape, expected, first))

    def _check_narrowing(self, index: int, block: BlockSignature, slots_a: dict[str, int], slots_d: dict[str, int],
                         first: tuple[int, int, int]) -> None:
        """Refuse a descendant that would widen ``block`` or change whether it has a shortcut projection."""
        source, target = self._block_slots(block)
        head = (f"Channel widths do not line up: inherited block {index} (stage {block.stage}) maps "
                f"{block.in_channels}->{block.out_channels} channels at stride {block.stride}")
        if slots_d[target] > slots_a[target]:
            raise LearngeneError(
                f"{head}, but the descendant's stage {block.stage} is {slots_d[target]} channels wide "
                f"(hidden_sizes[{block.stage}]={slots_d[target]}). Inherited blocks can be narrowed, not widened: ask "
                f"for hidden_sizes[{block.stage}] <= {block.out_channels}. (Keep hidden_sizes[{block.stage}]="
                f"{block.out_channels} for the ancestry's width.)")
        if slots_d[source] > slots_a[source]:
            name = self._slot_option(source)
            raise LearngeneError(
                f"{head}, so it must start stage {block.stage}, but there the descendant's input has "
                f"{slots_d[source]} channels ({name}={slots_d[source]}), more than the block takes. Keep "
                f"{name}={block.in_channels} or narrower.")
        projected = block.in_channels != block.out_channels or block.stride != 1
        needs = slots_d[source] != slots_d[target] or block.stride != 1
        if source != target and projected != needs:
            have = "has a shortcut projection" if projected else "has no shortcut projection (identity)"
            where = (f"{slots_d[source]}->{slots_d[target]} channels at stride {block.stride}, where "
                     f"{self.shortcut_library} {'puts none' if projected else 'needs one'}")
            raise LearngeneError(
                f"Inherited block {index} (stage {block.stage}) {have}, but in the descendant it maps {where}. Keep "
                f"{self._slot_option(source)} and {self._slot_option(target)} "
                f"{'different' if projected else 'equal'}, as in the ancestry, when narrowing.")

    @staticmethod
    def _slot_option(slot: str) -> str:
        """The config option that sets a channel slot's width: ``embedding_size`` or ``hidden_sizes[s]``."""
        return "embedding_size" if slot == "embedding" else f"hidden_sizes[{slot[len('stage'):]}]"

    @staticmethod
    def _slot_sizes(slots: dict[str, int]) -> dict[str, Any]:
        """``{"embedding_size": ..., "hidden_sizes": [...]}`` of channel slots (the record's size fields)."""
        return {"embedding_size": slots["embedding"],
                "hidden_sizes": [slots[f"stage{s}"] for s in range(len(slots) - 1)]}

    def _slot_roles(self, inherited: list[tuple[int, str]], blocks: list[BlockSignature],
                    slots: dict[str, int]) -> dict[str, str]:
        """The role (index set) of each channel slot: an identity shortcut from the stem / previous stage passes its
        channels on, so the two slots it joins are one stream with one index set."""
        slot_roles = {slot: slot for slot in slots}
        for index, _ in inherited:
            source, target = self._block_slots(blocks[index])
            if source != target and blocks[index].in_channels == blocks[index].out_channels \
                    and blocks[index].stride == 1:
                slot_roles[target] = slot_roles[source]
        return slot_roles

    def _channel_width_spec(
        self, inherited: list[tuple[int, str]], blocks: list[BlockSignature], slots_a: dict[str, int],
        slots_d: dict[str, int],
        layer_width: Callable[[int, str, str, str], tuple[dict[str, AxisRoles], dict[str, tuple[int, int]]]],
    ) -> WidthSpec:
        """The :class:`WidthSpec` of a narrower descendant: shared slot roles plus, per inherited block,
        ``layer_width(index, prefix, source_role, target_role)`` = (its axis roles, ``{inner role: (ancestry size,
        descendant size)}``)."""
        slot_roles = self._slot_roles(inherited, blocks, slots_a)
        shared = {slot: WidthRole(slot_roles[slot], slots_a[slot], slots_d[slot], shared=True) for slot in slots_a}
        layers = {}
        for index, prefix in inherited:
            source, target = self._block_slots(blocks[index])
            axes, inner = layer_width(index, prefix, slot_roles[source], slot_roles[target])
            roles = {slot_roles[source]: shared[source], slot_roles[target]: shared[target]}
            roles.update({name: WidthRole(name, a, d) for name, (a, d) in inner.items()})
            layers[prefix] = LayerWidth(axes=axes, roles=roles)
        return WidthSpec(layers=layers, ancestry=self._slot_sizes(slots_a), descendant=self._slot_sizes(slots_d))

    @staticmethod
    def _width_error(index: int, stage: int, position: int, got: tuple[int, int, int],
                     expected: tuple[int, int, int], first: tuple[int, int, int]) -> str:
        """Explain why inherited block ``index`` cannot sit at ``position`` of the descendant's ``stage``."""
        head = (f"Channel widths do not line up: inherited block {index} (stage {stage}) maps {got[0]}->{got[1]} "
                f"channels at stride {got[2]}")
        source = "embedding_size" if stage == 0 else f"hidden_sizes[{stage - 1}]"
        if got[1] != expected[1]:
            return (f"{head}, but the descendant's stage {stage} is {expected[1]} channels wide "
                    f"(hidden_sizes[{stage}]={expected[1]}). Keep hidden_sizes[{stage}]={got[1]} for a stage with "
                    "inherited blocks.")
        if got[0] != got[1] or got[2] != 1:  # a transition block: it can only start its stage
            return (f"{head}, so it must start stage {stage}, but there the descendant's input has {first[0]} "
                    f"channels at stride {first[2]} (position {position} needs {expected[0]}->{expected[1]} at "
                    f"stride {expected[2]}). Keep {source}={got[0]} (and the ancestry's downsampling settings).")
        return (f"{head}, but position {position} of the descendant's stage {stage} needs "
                f"{expected[0]}->{expected[1]} at stride {expected[2]}. Keep the ancestry's embedding_size/"
                "hidden_sizes for stages around inherited blocks.")


class ConvAlignment(FeatureAlignment):
    """``h(.; zeta)`` for CNNs: a pointwise convolution, then resizing to the ancestry's spatial size.

    Resizing (adaptive average pooling down, bilinear interpolation up) acts on each channel alone and the
    pointwise convolution on each pixel alone, and both are linear, so they commute: the convolution runs on
    whichever side has fewer pixels (after pooling, before upsampling). Same function, less work.
    """

    def __init__(self, source_channels: int, target_channels: int, target_size: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(source_channels, target_channels, kernel_size=1, bias=False)
        self.target_size = tuple(target_size)

    def _mode(self, size: tuple[int, ...]) -> str:
        if tuple(size) == self.target_size:
            return "same"
        if size[0] >= self.target_size[0] and size[1] >= self.target_size[1]:
            return "down"
        return "up"

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        mode = self._mode(tuple(feature.shape[-2:]))
        if mode == "down":
            return self.conv(F.adaptive_avg_pool2d(feature, self.target_size))
        feature = self.conv(feature)
        if mode == "up":
            feature = F.interpolate(feature, size=self.target_size, mode="bilinear", align_corners=False)
        return feature

    @staticmethod
    def squared_distances(items: list[tuple[ConvAlignment, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """``mean((h_i(source_i) - target_i)^2)`` per image for many alignments at once, shape ``(batch, len(items))``.

        The same numbers as ``((module(source) - target) ** 2).mean()`` per image, computed with less work:
        alignments that read the same source and resize it the same way share the resizing and run as one
        convolution (weights concatenated); resizing is a product with a constant matrix (the exact linear map
        of ``adaptive_avg_pool2d`` / bilinear ``interpolate``); and when the target is larger than the source
        (upsampling) the distance is expanded as ``|U y|^2 - 2 <y, U^T Z> + |Z|^2`` at the source's resolution
        (``U`` the upsampling, ``y`` the convolved source, ``Z`` the target), so the upsampled ``U y`` is never
        built. Computed in float32 even under autocast (the expansion must not be rounded to 16 bits).
        """
        as_float: dict[int, torch.Tensor] = {}  # one float32 view/copy per distinct tensor (sharing is by identity)
        for _, source, target in items:
            for tensor in (source, target):
                as_float.setdefault(id(tensor), tensor.float())
        with torch.autocast(device_type=items[0][1].device.type, enabled=False):
            return ConvAlignment._squared_distances([(m, as_float[id(s)], as_float[id(t)]) for m, s, t in items])

    @staticmethod
    def _squared_distances(items: list[tuple[ConvAlignment, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        groups: dict[tuple[int, tuple[int, int], str], list[int]] = {}
        for index, (module, source, _) in enumerate(items):
            groups.setdefault((id(source), module.target_size, module._mode(tuple(source.shape[-2:]))), []).append(index)
        columns: list[torch.Tensor | None] = [None] * len(items)
        pooled: dict[tuple[int, tuple[int, int]], torch.Tensor] = {}
        for (source_id, size, mode), members in groups.items():
            source = items[members[0]][1]
            in_size = tuple(source.shape[-2:])
            targets = [items[i][2] for i in members]
            channels = [t.shape[1] for t in targets]
            weights = [items[i][0].conv.weight for i in members]
            weight = torch.cat(weights) if len(weights) > 1 else weights[0]
            if mode == "up":
                up = _resize_matrix(in_size, size, "up", source.device, source.dtype)  # (P, p)
                gram = _gram_matrix(in_size, size, source.device, source.dtype)  # U^T U, (p, p)
                y = F.conv2d(source, weight).flatten(2)  # (B, C, p)
                with torch.no_grad():
                    back = torch.cat([t.flatten(2) @ up for t in targets], dim=1)  # U^T Z, (B, C, p)
                per_channel = (y * (y @ gram - 2 * back)).sum(-1)  # |U y|^2 - 2 <y, U^T Z>, (B, C)
                for i, part, target in zip(members, per_channel.split(channels, dim=1), targets):
                    norm = target.detach().flatten(1).pow(2).sum(1)
                    columns[i] = ((part.sum(1) + norm) / target[0].numel()).clamp_min(0)
                continue
            if mode == "down":
                key = (source_id, size)
                if key not in pooled:
                    down = _resize_matrix(in_size, size, "down", source.device, source.dtype)  # (P, p)
                    pooled[key] = (source.flatten(2) @ down.t()).unflatten(2, size)
                source = pooled[key]
            y = F.conv2d(source, weight)
            for i, part, target in zip(members, y.split(channels, dim=1), targets):
                columns[i] = (part - target).pow(2).flatten(1).mean(1)
        return torch.stack(columns, dim=1)  # type: ignore[arg-type]


_MATRICES: dict[tuple[Any, ...], torch.Tensor] = {}


def _resize_matrix(in_size: tuple[int, ...], out_size: tuple[int, ...], mode: str, device: torch.device,
                   dtype: torch.dtype) -> torch.Tensor:
    """The ``(H_out * W_out, H_in * W_in)`` matrix of ConvAlignment's resizing (a constant of the two sizes)."""
    key = ("resize", tuple(in_size), tuple(out_size), mode, device, dtype)
    if key not in _MATRICES:
        pixels = in_size[0] * in_size[1]
        basis = torch.eye(pixels, dtype=torch.float64).reshape(pixels, 1, *in_size)
        if mode == "down":
            images = F.adaptive_avg_pool2d(basis, tuple(out_size))
        else:
            images = F.interpolate(basis, size=tuple(out_size), mode="bilinear", align_corners=False)
        _MATRICES[key] = images.reshape(pixels, -1).t().contiguous().to(device=device, dtype=dtype)
    return _MATRICES[key]


def _gram_matrix(in_size: tuple[int, ...], out_size: tuple[int, ...], device: torch.device,
                 dtype: torch.dtype) -> torch.Tensor:
    """``U^T U`` for the upsampling ``U`` from ``in_size`` to ``out_size``."""
    key = ("gram", tuple(in_size), tuple(out_size), device, dtype)
    if key not in _MATRICES:
        up = _resize_matrix(in_size, out_size, "up", torch.device("cpu"), torch.float64)
        _MATRICES[key] = (up.t() @ up).to(device=device, dtype=dtype)
    return _MATRICES[key]


class ResNetFamily(ChannelWidths, ArchitectureFamily):
    """ResNet checkpoints (`ResNetModel`, `ResNetForImageClassification`), basic or bottleneck blocks."""

    name = "resnet"
    label = "ResNet"
    model_types = ("resnet",)
    descendant_class = ResNetForImageClassification
    #: config fields that fix the type or computation of a residual block: a descendant must keep them.
    layer_fields: ClassVar[tuple[str, ...]] = ("layer_type", "hidden_act", "downsample_in_bottleneck")
    embedding_attribute: ClassVar[str | None] = "embedder"

    def build_embeddings(self, config: PreTrainedConfig) -> nn.Module:
        return ResNetEmbeddings(config)

    def config_from_dict(self, config_dict: dict[str, Any]) -> PreTrainedConfig:
        data = dict(config_dict)
        data.pop("model_type", None)
        return ResNetConfig(**data)

    def num_layers(self, config: PreTrainedConfig) -> int:
        return int(sum(config.depths))

    def backbone(self, model: PreTrainedModel) -> nn.Module:
        inner = getattr(model, "resnet", None)
        return inner if isinstance(inner, nn.Module) else model

    def integral_layers(self, model: PreTrainedModel) -> list[nn.Module]:
        return [block for stage in self.backbone(model).encoder.stages for block in stage.layers]

    def build_layer(self, config: PreTrainedConfig, index: int) -> nn.Module:
        return self._block(config, block_signatures(config)[index].shape)

    @staticmethod
    def _block(config: PreTrainedConfig, shape: tuple[int, int, int]) -> nn.Module:
        in_channels, out_channels, stride = shape
        if config.layer_type == "bottleneck":
            return ResNetBottleNeckLayer(
                in_channels, out_channels, stride=stride, activation=config.hidden_act,
                downsample_in_bottleneck=config.downsample_in_bottleneck,
            )
        return ResNetBasicLayer(in_channels, out_channels, stride=stride, activation=config.hidden_act)

    def pool(self, feature: torch.Tensor) -> torch.Tensor:
        return feature.mean(dim=(2, 3))

    def make_alignment(self, source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> nn.Module:
        return ConvAlignment(source_shape[0], target_shape[0], (target_shape[1], target_shape[2]))

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
        fresh_per_stage = self.num_fresh_layers(
            num_random_layers, default=1, minimum=1,
            reason="every ResNet stage needs at least one block, so stages without inherited blocks get "
                   "num_random_layers >= 1 fresh blocks.")
        self.check_layer_options(ancestry_config, options)
        data = descendant_config_dict(ancestry_config, drop=BACKBONE_CONFIG_KEYS)
        data.update(options)
        ancestry_blocks = block_signatures(ancestry_config)
        num_stages = len(ancestry_config.depths)
        data["hidden_sizes"] = self._stage_widths("hidden_sizes", data["hidden_sizes"],
                                                  list(ancestry_config.hidden_sizes))
        by_stage: dict[int, list[int]] = {stage: [] for stage in range(num_stages)}
        for index in layer_indices:
            by_stage[ancestry_blocks[index].stage].append(index)
        # Channel widths by "slot": the stem output and each stage's residual stream, in the ancestry and here.
        slots_a = {"embedding": int(ancestry_config.embedding_size),
                   **{f"stage{s}": int(w) for s, w in enumerate(ancestry_config.hidden_sizes)}}
        slots_d = {"embedding": int(data["embedding_size"]),
                   **{f"stage{s}": int(w) for s, w in enumerate(data["hidden_sizes"])}}

        # Lay out each stage: inherited blocks keep their stage; a fresh transition block is prepended when the
        # first inherited block cannot take the stage's input; empty stages get `fresh_per_stage` fresh blocks.
        # An inherited block is narrowed to the descendant's widths (element selection) when they are smaller.
        probe = ResNetConfig(**{**data, "depths": [1] * num_stages})
        depths, inherited, fresh = [], [], []
        for stage in range(num_stages):
            prefix = f"resnet.encoder.stages.{stage}.layers."
            first = _stage_first(probe, stage)
            out = probe.hidden_sizes[stage]
            blocks = by_stage[stage]
            if not blocks:
                depths.append(fresh_per_stage)
                fresh.extend(f"{prefix}{p}." for p in range(fresh_per_stage))
                continue
            position = 0
            if self._reduced_shape(ancestry_blocks[blocks[0]], slots_d) != first:
                fresh.append(f"{prefix}0.")
                position = 1
            for index in blocks:
                expected = first if position == 0 else (out, out, 1)
                self._check_inherited_block(index, ancestry_blocks[index], position, expected, first, slots_a, slots_d)
                inherited.append((index, f"{prefix}{position}."))
                position += 1
            depths.append(position)
        data["depths"] = depths
        config = ResNetConfig(num_labels=num_labels, **data)
        order = {index: i for i, index in enumerate(layer_indices)}
        inherited.sort(key=lambda item: order[item[0]])
        plan = SizedDescendantPlan(config=config, inherited=inherited, fresh=fresh)
        if self._widths_change(layer_indices, ancestry_blocks, slots_a, slots_d):
            plan.width = self._width_spec(ancestry_config, inherited, ancestry_blocks, slots_a, slots_d)
            plan.full_width_config = ResNetConfig(num_labels=num_labels, **{**data, **self._slot_sizes(slots_a)})
        return plan

    def descendant_sizes(self, config: PreTrainedConfig) -> dict[str, Any]:
        """Stem width, stage widths and depths of a model with ``config`` (model cards, :mod:`hf_learngene.sizing`)."""
        return {"embedding_size": int(config.embedding_size), "hidden_sizes": [int(w) for w in config.hidden_sizes],
                "depths": [int(d) for d in config.depths]}

    @staticmethod
    def width_axes(keys: list[str], source: str, target: str, bottleneck: bool) -> dict[str, AxisRoles]:
        """The axis roles of a residual block's tensors (``keys``): its input and output channel roles ``source`` /
        ``target`` (shared residual streams) and its inner channels ``inner0`` / ``inner1`` (its own)."""
        convs = ([("inner0", source), ("inner1", "inner0"), (target, "inner1")] if bottleneck
                 else [("inner0", source), (target, "inner0")])
        axes: dict[str, AxisRoles] = {}
        for key in keys:
            module, _, name = key.rpartition(".")
            if module.startswith("shortcut."):
                out_role, in_role = target, source
            else:
                out_role, in_role = convs[int(module.split(".")[1])]
            if name == "num_batches_tracked":
                axes[key] = ()
            elif module.endswith("convolution"):
                axes[key] = (out_role, in_role, None, None)
            else:
                axes[key] = (out_role,)
        return axes

    def _width_spec(self, ancestry_config: PreTrainedConfig, inherited: list[tuple[int, str]],
                    blocks: list[BlockSignature], slots_a: dict[str, int], slots_d: dict[str, int]) -> WidthSpec:
        bottleneck = ancestry_config.layer_type == "bottleneck"
        inner_names = ("inner0", "inner1") if bottleneck else ("inner0",)

        def layer_width(index: int, prefix: str, source: str, target: str
                        ) -> tuple[dict[str, AxisRoles], dict[str, tuple[int, int]]]:
            # transformers' bottleneck reduces to a quarter of the block's output inside (reduction=4)
            inner_a = blocks[index].out_channels // 4 if bottleneck else blocks[index].out_channels
            target_d = slots_d[self._block_slots(blocks[index])[1]]
            inner_d = target_d // 4 if bottleneck else target_d
            with torch.device("meta"):
                keys = list(self.build_layer(ancestry_config, index).state_dict())
            return self.width_axes(keys, source, target, bottleneck), {name: (inner_a, inner_d) for name in inner_names}

        return self._channel_width_spec(inherited, blocks, slots_a, slots_d, layer_width)

    def pseudo_descendant_config(
        self, ancestry_config: PreTrainedConfig, num_layers: int | None, num_labels: int
    ) -> PreTrainedConfig:
        stages = len(ancestry_config.depths)
        if num_layers is None:
            depths = [max(1, d // 2) for d in ancestry_config.depths]
        else:
            if num_layers < stages:
                raise LearngeneError(
                    f"A ResNet pseudo-descendant needs at least one block per stage ({stages}), got {num_layers}."
                )
            depths = [num_layers // stages + (1 if s < num_layers % stages else 0) for s in range(stages)]
        data = descendant_config_dict(ancestry_config, drop=BACKBONE_CONFIG_KEYS)
        data["depths"] = depths
        return ResNetConfig(num_labels=num_labels, **data)

    def describe_layer(self, config: PreTrainedConfig, index: int) -> str:
        sig = block_signatures(config)[index]
        return f"stage {sig.stage} block {sig.position} ({sig.in_channels}->{sig.out_channels})"


register_family(ResNetFamily())
