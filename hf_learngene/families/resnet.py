"""ResNet (basic and bottleneck blocks): the integral layers are the residual blocks (paper Eq. 5).

Blocks are numbered globally across stages: ResNet-18 (depths ``[2, 2, 2, 2]``) has 8 integral layers,
blocks 0-1 in stage 0, 2-3 in stage 1, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel, ResNetConfig, ResNetForImageClassification
from transformers.models.resnet.modeling_resnet import ResNetBasicLayer, ResNetBottleNeckLayer

from ..errors import LearngeneError
from .base import BACKBONE_CONFIG_KEYS, ArchitectureFamily, DescendantPlan, FeatureAlignment, descendant_config_dict
from .registry import register_family


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


class ResNetFamily(ArchitectureFamily):
    """ResNet checkpoints (`ResNetModel`, `ResNetForImageClassification`), basic or bottleneck blocks."""

    name = "resnet"
    label = "ResNet"
    model_types = ("resnet",)
    descendant_class = ResNetForImageClassification
    #: config fields that fix the type or computation of a residual block: a descendant must keep them.
    layer_fields: ClassVar[tuple[str, ...]] = ("layer_type", "hidden_act", "downsample_in_bottleneck")

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
        if len(data["hidden_sizes"]) != num_stages:
            raise LearngeneError(
                f"hidden_sizes={data['hidden_sizes']} has {len(data['hidden_sizes'])} stages but the learngene's "
                f"ancestry has {num_stages}; keep one width per stage."
            )
        by_stage: dict[int, list[int]] = {stage: [] for stage in range(num_stages)}
        for index in layer_indices:
            by_stage[ancestry_blocks[index].stage].append(index)

        # Lay out each stage: inherited blocks keep their stage; a fresh transition block is prepended when the
        # first inherited block cannot take the stage's input; empty stages get `fresh_per_stage` fresh blocks.
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
            if ancestry_blocks[blocks[0]].shape != first:
                fresh.append(f"{prefix}0.")
                position = 1
            for index in blocks:
                expected = first if position == 0 else (out, out, 1)
                got = ancestry_blocks[index].shape
                if got != expected:
                    raise LearngeneError(self._width_error(index, stage, position, got, expected, first))
                inherited.append((index, f"{prefix}{position}."))
                position += 1
            depths.append(position)
        data["depths"] = depths
        config = ResNetConfig(num_labels=num_labels, **data)
        order = {index: i for i, index in enumerate(layer_indices)}
        inherited.sort(key=lambda item: order[item[0]])
        return DescendantPlan(config=config, inherited=inherited, fresh=fresh)

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
