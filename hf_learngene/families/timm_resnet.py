"""timm ResNets (basic and bottleneck blocks, ResNeXt / SE / ... variants of ``timm.models.resnet``): the integral
layers are the residual blocks of ``timm_model.layer1`` .. ``layer4``, numbered globally (ResNet-18: blocks 0-1 in
``layer1``, 2-3 in ``layer2``, ...).

Descendants are ``TimmWrapperForImageClassification`` checkpoints of the ancestry's architecture with
``model_args["layers"]`` laid out as for the transformers ResNet family: inherited blocks keep their stage, a stage
whose first inherited block cannot start it (e.g. a bottleneck block that takes the widened input of a later
position) gets a fresh transition block before it, and a stage without inherited blocks gets ``num_random_layers``
(default 1) fresh blocks; stem and head are fresh.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel

from ..errors import LearngeneError
from .base import DescendantPlan
from .registry import register_family
from .resnet import ConvAlignment
from .timm_base import TimmFamily, architecture_of, create_timm_model, model_args_of, skeleton

#: timm's ResNet always has four stages.
NUM_STAGES = 4


def _stages(model: nn.Module) -> list[nn.Module]:
    stages = [getattr(model, f"layer{s + 1}", None) for s in range(NUM_STAGES)]
    if not all(isinstance(stage, nn.Sequential) for stage in stages):
        raise LearngeneError(f"{type(model).__name__} has no layer1..layer4: it is not a timm ResNet.")
    return stages


def _planes(block: nn.Module) -> int:
    """The ``channels`` entry (planes before expansion) of a block's stage."""
    expansion = int(getattr(block, "expansion", 1))
    last = block.conv3 if hasattr(block, "conv3") else block.conv2
    return int(last.out_channels) // expansion


class TimmResNetFamily(TimmFamily):
    """timm ``ResNet`` checkpoints (``timm.models.resnet``: ResNet, ResNet-D, ResNeXt, SE-ResNet, ...)."""

    name = "timm_resnet"
    label = "timm ResNet"
    timm_modules = ("resnet",)
    timm_class_name = "ResNet"
    image_size_model_arg = None  # convolutional: any input size
    #: what fixes the residual blocks (read from the architecture when ``model_args`` does not set it).
    layer_fields: ClassVar[tuple[str, ...]] = ("channels", "cardinality", "base_width")

    def depths(self, config: PreTrainedConfig) -> list[int]:
        """Blocks per stage (``model_args["layers"]`` or the architecture's)."""
        layers = model_args_of(config).get("layers")
        if layers is not None:
            return [int(d) for d in layers]
        return [len(stage) for stage in _stages(self.ancestry_skeleton(config))]

    def layer_field_values(self, config: PreTrainedConfig) -> dict[str, Any]:
        args = model_args_of(config)
        stages = _stages(self.ancestry_skeleton(config))
        derived: dict[str, Any] = {"channels": [_planes(stage[0]) for stage in stages], "cardinality": 1,
                                   "base_width": 64}
        bottleneck = next((b for stage in stages for b in stage if hasattr(b, "conv3")), None)
        if bottleneck is not None:
            cardinality = int(bottleneck.conv2.groups)
            derived["cardinality"] = cardinality
            derived["base_width"] = round(bottleneck.conv1.out_channels / cardinality * 64 / _planes(bottleneck))
        return {key: args.get(key, derived[key]) for key in self.layer_fields}

    def num_layers(self, config: PreTrainedConfig) -> int:
        return sum(self.depths(config))

    def _positions(self, config: PreTrainedConfig) -> list[tuple[int, int]]:
        return [(stage, position) for stage, depth in enumerate(self.depths(config)) for position in range(depth)]

    def integral_layers(self, model: PreTrainedModel) -> list[nn.Module]:
        return [block for stage in _stages(self.backbone(model)) for block in stage]

    def build_layer(self, config: PreTrainedConfig, index: int) -> nn.Module:
        # A stage's blocks after the first all have one structure: build at most two per stage and take the block.
        stage, position = self._positions(config)[index]
        args = {**model_args_of(config), "layers": [min(d, 2) for d in self.depths(config)]}
        return _stages(create_timm_model(architecture_of(config), args))[stage][min(position, 1)]

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
        self.fresh_model_args_error(options, ("layers",))
        positions = self._positions(ancestry_config)
        ancestry_stages = _stages(self.ancestry_skeleton(ancestry_config))
        base_args = {**model_args_of(ancestry_config), **options}
        # The descendant's first and later block of every stage (their structure does not depend on the depths).
        probe = _stages(skeleton(architecture_of(ancestry_config), {**base_args, "layers": [2] * NUM_STAGES}))
        by_stage: dict[int, list[int]] = {stage: [] for stage in range(NUM_STAGES)}
        for index in layer_indices:
            by_stage[positions[index][0]].append(index)
        depths, inherited, fresh = [], [], []
        for stage in range(NUM_STAGES):
            prefix = f"timm_model.layer{stage + 1}."
            blocks = by_stage[stage]
            if not blocks:
                depths.append(fresh_per_stage)
                fresh.extend(f"{prefix}{p}." for p in range(fresh_per_stage))
                continue

            def ancestry_block(index: int) -> nn.Module:
                return ancestry_stages[positions[index][0]][positions[index][1]]

            position = 0
            if _differs(ancestry_block(blocks[0]), probe[stage][0]):  # it cannot start the stage: a fresh one does
                fresh.append(f"{prefix}0.")
                position = 1
            for index in blocks:
                self.check_fits(ancestry_block(index), probe[stage][min(position, 1)], index,
                                f"layer{stage + 1}.{position}", options)
                inherited.append((index, f"{prefix}{position}."))
                position += 1
            depths.append(position)
        config = self.descendant_config(ancestry_config, {**base_args, "layers": depths}, num_labels=num_labels,
                                        image_size=image_size)
        order = {index: i for i, index in enumerate(layer_indices)}
        inherited.sort(key=lambda item: order[item[0]])
        return DescendantPlan(config=config, inherited=inherited, fresh=fresh)

    def pseudo_descendant_config(
        self, ancestry_config: PreTrainedConfig, num_layers: int | None, num_labels: int
    ) -> PreTrainedConfig:
        if num_layers is None:
            depths = [max(1, d // 2) for d in self.depths(ancestry_config)]
        else:
            if num_layers < NUM_STAGES:
                raise LearngeneError(f"A timm ResNet pseudo-descendant needs at least one block per stage "
                                     f"({NUM_STAGES}), got {num_layers}.")
            depths = [num_layers // NUM_STAGES + (1 if s < num_layers % NUM_STAGES else 0) for s in range(NUM_STAGES)]
        args = {**model_args_of(ancestry_config), "layers": depths}
        return self.descendant_config(ancestry_config, args, num_labels=num_labels)

    def describe_layer(self, config: PreTrainedConfig, index: int) -> str:
        stage, position = self._positions(config)[index]
        return f"layer{stage + 1} block {position}"


def _differs(a: nn.Module, b: nn.Module) -> bool:
    from .timm_base import signature_difference

    return signature_difference(a, b) is not None


register_family(TimmResNetFamily())
