"""timm ResNets (basic and bottleneck blocks, ResNeXt / SE / ... variants of ``timm.models.resnet``): the integral
layers are the residual blocks of ``timm_model.layer1`` .. ``layer4``, numbered globally (ResNet-18: blocks 0-1 in
``layer1``, 2-3 in ``layer2``, ...).

Descendants are ``TimmWrapperForImageClassification`` checkpoints of the ancestry's architecture with
``model_args["layers"]`` laid out as for the transformers ResNet family: inherited blocks keep their stage, a stage
whose first inherited block cannot start it (e.g. a bottleneck block that takes the widened input of a later
position) gets a fresh transition block before it, and a stage without inherited blocks gets ``num_random_layers``
(default 1) fresh blocks; stem and head are fresh.

Narrower descendants work as for the transformers ResNet family (:mod:`hf_learngene.sizing`): ``hidden_sizes=``
(the stage output widths, ``channels * 4`` for bottleneck blocks; or timm's own ``channels=``, the planes) and
``embedding_size=`` (the stem output; or timm's ``stem_width=``, half of it) at most the ancestry's give
``model_args["channels"]`` / ``["stem_width"]``, and every inherited block keeps the selected elements of its
convolutions, BatchNorms, shortcut (``downsample``) projection and squeeze-and-excitation module: the stem's and the
stages' channels are shared by all blocks (``embedding``, ``stage<s>``), each block's inner channels are its own
(``inner0``, ``inner1``: ``planes * base_width / 64`` for a bottleneck; ``se``). timm's plain 7x7 stem is always 64
channels wide (``stem_width`` only sets deep stems, ``stem_type="deep"``), and blocks with grouped convolutions
(ResNeXt, ``cardinality > 1``) or with attention modules other than SE (e.g. ECA) cannot be narrowed.
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
from .resnet import BlockSignature, ChannelWidths, ConvAlignment
from .sized import SizedDescendantPlan
from .timm_base import (
    TimmFamily,
    architecture_of,
    create_timm_model,
    model_args_of,
    module_signature,
    signature_difference,
    skeleton,
)

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


def _out_channels(block: nn.Module) -> int:
    return int((block.conv3 if hasattr(block, "conv3") else block.conv2).out_channels)


def _signatures(stages: list[nn.Module]) -> list[BlockSignature]:
    """Where every block sits and what it maps (``in -> out`` channels at ``stride``), in global order."""
    return [BlockSignature(s, p, int(block.conv1.in_channels), _out_channels(block), int(block.stride))
            for s, stage in enumerate(stages) for p, block in enumerate(stage)]


def _slots(model: nn.Module) -> dict[str, int]:
    """The channel slots of a timm ResNet: the stem output (``embedding``) and each stage's output."""
    stages = _stages(model)
    return {"embedding": int(stages[0][0].conv1.in_channels),
            **{f"stage{s}": _out_channels(stage[0]) for s, stage in enumerate(stages)}}


def _is_deep_stem(model: nn.Module) -> bool:
    return isinstance(getattr(model, "conv1", None), nn.Sequential)


def block_axes(block: nn.Module, source: str, target: str, where: str = "this block"
               ) -> tuple[dict[str, AxisRoles], dict[str, int]]:
    """The axis roles (:mod:`hf_learngene.sizing`) of every tensor of a timm ``BasicBlock`` / ``Bottleneck`` and the
    sizes of its own inner roles: ``source`` / ``target`` are the roles of its input and output channels; its inner
    channels are ``inner0`` (``conv1``'s output), ``inner1`` (a bottleneck's ``conv2`` output) and ``se`` (the
    squeeze-and-excitation units). A tensor this table does not know, or a grouped convolution, is an error."""
    bottleneck = hasattr(block, "conv3")
    convs: dict[str, tuple[str, str]] = {"conv1": ("inner0", source)}
    norms: dict[str, str] = {"bn1": "inner0"}
    if bottleneck:
        convs.update(conv2=("inner1", "inner0"), conv3=(target, "inner1"))
        norms.update(bn2="inner1", bn3=target)
    else:
        convs["conv2"] = (target, "inner0")
        norms["bn2"] = target
    sizes = {role: int(getattr(block, conv).out_channels) for conv, (role, _) in convs.items() if role != target}
    se = getattr(block, "se", None)
    if se is not None and type(se).__name__ == "SEModule":
        convs.update({"se.fc1": ("se", target), "se.fc2": (target, "se")})
        norms["se.bn"] = "se"
        sizes["se"] = int(se.fc1.out_channels)
    downsample = getattr(block, "downsample", None)
    if downsample is not None:
        for name, module in downsample.named_modules():
            if isinstance(module, nn.Conv2d):
                convs[f"downsample.{name}"] = (target, source)
            elif isinstance(module, nn.BatchNorm2d):
                norms[f"downsample.{name}"] = target
    modules = dict(block.named_modules())
    grouped = [name for name in convs if isinstance(modules.get(name), nn.Conv2d) and modules[name].groups != 1]
    if grouped:
        raise LearngeneError(
            f"{where} has grouped convolutions ({', '.join(f'{n}: groups={modules[n].groups}' for n in grouped)}; "
            "ResNeXt, cardinality > 1), whose channels element selection cannot keep inside their groups, so it "
            "cannot be narrowed: keep the ancestry's widths (drop hidden_sizes / channels / embedding_size / "
            "stem_width) for the stages around inherited blocks, or condense from a ResNet with cardinality=1.")
    axes: dict[str, AxisRoles] = {}
    unknown = []
    for key, tensor in [*block.named_parameters(), *block.named_buffers()]:
        module, _, name = key.rpartition(".")
        if module in convs and isinstance(modules[module], nn.Conv2d):
            out_role, in_role = convs[module]
            axes[key] = (out_role, in_role, None, None) if name == "weight" else (out_role,)
        elif module in norms and isinstance(modules[module], nn.BatchNorm2d):
            axes[key] = () if name == "num_batches_tracked" else (norms[module],)
        else:
            unknown.append(key)
        if key in axes and len(axes[key]) != tensor.dim():
            unknown.append(key)
    if unknown:
        raise LearngeneError(
            f"{where} has tensors that element selection does not know ({', '.join(unknown)}; e.g. an ECA or other "
            "attention module than squeeze-and-excitation), so it cannot be narrowed: keep the ancestry's widths "
            "(drop hidden_sizes / channels / embedding_size / stem_width) for the stages around inherited blocks.")
    return axes, sizes


def _narrow_signature(module: nn.Module) -> list[tuple[object, ...]]:
    """:func:`module_signature` without what a narrower block changes: channel counts and tensor sizes."""
    rows: list[tuple[object, ...]] = []
    for name, kind_or_shape, rest in module_signature(module):
        if isinstance(kind_or_shape, str):  # a module: its class and settings
            rows.append((name, kind_or_shape, tuple(item for item in rest if not any(
                word in item[0] for word in ("channels", "features", "planes")))))
        else:  # a tensor: its shape (checked against the axis roles instead) and dtype
            rows.append((name, len(kind_or_shape), rest))
    return rows


class TimmResNetFamily(ChannelWidths, TimmFamily):
    """timm ``ResNet`` checkpoints (``timm.models.resnet``: ResNet, ResNet-D, ResNeXt, SE-ResNet, ...)."""

    name = "timm_resnet"
    label = "timm ResNet"
    timm_modules = ("resnet",)
    timm_class_name = "ResNet"
    image_size_model_arg = None  # convolutional: any input size
    #: what fixes the residual blocks (read from the architecture when ``model_args`` does not set it).
    layer_fields: ClassVar[tuple[str, ...]] = ("channels", "cardinality", "base_width")
    shortcut_library = "timm"

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

    # ---------------------------------------------------------------- widths (ChannelWidths)
    def descendant_sizes(self, config: PreTrainedConfig) -> dict[str, Any]:
        """Stem width, stage (output) widths and blocks per stage of the timm ResNet of ``config`` (read from its
        structure; model cards, :mod:`hf_learngene.sizing`)."""
        model = skeleton(architecture_of(config), model_args_of(config))
        slots = _slots(model)
        return {**self._slot_sizes(slots), "depths": [len(stage) for stage in _stages(model)]}

    def _width_options(self, ancestry_config: PreTrainedConfig, options: dict[str, Any]) -> dict[str, Any]:
        """The ``model_args`` of the asked widths, popped from ``options``: ``hidden_sizes`` (stage output widths) or
        ``channels`` (timm's planes, ``hidden_sizes / expansion``), and ``embedding_size`` (the stem output) or
        ``stem_width`` (a deep stem's: half of it), checked against the ancestry."""
        model = self.ancestry_skeleton(ancestry_config)
        stages = _stages(model)
        expansion = int(getattr(stages[0][0], "expansion", 1))
        slots = _slots(model)
        hidden_a = [slots[f"stage{s}"] for s in range(NUM_STAGES)]
        args: dict[str, Any] = {}
        if "hidden_sizes" in options and "channels" in options:
            raise LearngeneError("Give the stage widths as hidden_sizes (the stage outputs) or as channels (timm's "
                                 "planes, hidden_sizes / block expansion), not both.")
        if "hidden_sizes" in options:
            hidden = self._stage_widths("hidden_sizes", options.pop("hidden_sizes"), hidden_a)
            bad = [f"hidden_sizes[{s}]={h}" for s, h in enumerate(hidden) if h % expansion]
            if bad:
                raise LearngeneError(
                    f"{', '.join(bad)}: a timm bottleneck stage is channels * {expansion} wide (the block expansion), "
                    f"so ask for multiples of {expansion}, or give timm's planes as channels=[...].")
            args["channels"] = [h // expansion for h in hidden]
        elif "channels" in options:
            args["channels"] = self._stage_widths("channels", options.pop("channels"),
                                                  [h // expansion for h in hidden_a])
        if "embedding_size" in options and "stem_width" in options:
            raise LearngeneError("Give the stem width as embedding_size (the stem output) or as stem_width (timm's, "
                                 "half of a deep stem's output), not both.")
        if "stem_width" in options:
            if not _is_deep_stem(model):
                raise LearngeneError(
                    f"stem_width={options['stem_width']!r}, but timm's ResNet with a plain 7x7 stem (stem_type '') "
                    f"ignores stem_width and always has a {slots['embedding']}-channel stem: drop stem_width, or "
                    "condense from a deep-stem ancestry (stem_type='deep', e.g. resnet50d) to narrow the stem.")
            args["stem_width"] = options.pop("stem_width")
        if "embedding_size" in options:
            value = options.pop("embedding_size")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LearngeneError(f"embedding_size must be a positive int, got {value!r}.")
            if _is_deep_stem(model):
                if value % 2:
                    raise LearngeneError(f"embedding_size={value}: a timm deep stem (stem_type 'deep') ends with "
                                         "stem_width * 2 channels, so ask for an even width.")
                args["stem_width"] = value // 2
            elif value != slots["embedding"]:
                raise LearngeneError(
                    f"embedding_size={value}, but timm's ResNet with a plain 7x7 stem (stem_type '') always has a "
                    f"{slots['embedding']}-channel stem (stem_width only sets deep stems), so its stem width cannot "
                    f"change: drop embedding_size (or keep {slots['embedding']}), or condense from a deep-stem "
                    "ancestry (stem_type='deep', e.g. resnet50d) to narrow the stem.")
        return args

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
        """Inherited blocks keep their stage (see the module); ``hidden_sizes`` / ``embedding_size`` (``channels`` /
        ``stem_width``) smaller than the ancestry's plan a width reduction (:class:`~hf_learngene.sizing.WidthSpec`)
        as for the transformers ResNet family."""
        fresh_per_stage = self.num_fresh_layers(
            num_random_layers, default=1, minimum=1,
            reason="every ResNet stage needs at least one block, so stages without inherited blocks get "
                   "num_random_layers >= 1 fresh blocks.")
        widths = self._width_options(ancestry_config, options)
        self.check_layer_options(ancestry_config, options)
        self.fresh_model_args_error(options, ("layers",))
        positions = self._positions(ancestry_config)
        ancestry_model = self.ancestry_skeleton(ancestry_config)
        ancestry_stages = _stages(ancestry_model)
        base_args = {**model_args_of(ancestry_config), **options, **widths}
        # The descendant's first and later block of every stage (their structure does not depend on the depths).
        probe_model = skeleton(architecture_of(ancestry_config), {**base_args, "layers": [2] * NUM_STAGES})
        probe = _stages(probe_model)
        blocks_a = _signatures(ancestry_stages)
        slots_a, slots_d = _slots(ancestry_model), _slots(probe_model)
        narrow = self._widths_change(layer_indices, blocks_a, slots_a, slots_d)
        by_stage: dict[int, list[int]] = {stage: [] for stage in range(NUM_STAGES)}
        for index in layer_indices:
            by_stage[positions[index][0]].append(index)

        def ancestry_block(index: int) -> nn.Module:
            return ancestry_stages[positions[index][0]][positions[index][1]]

        depths, inherited, fresh = [], [], []
        descendant_block: dict[str, nn.Module] = {}
        for stage in range(NUM_STAGES):
            prefix = f"timm_model.layer{stage + 1}."
            blocks = by_stage[stage]
            if not blocks:
                depths.append(fresh_per_stage)
                fresh.extend(f"{prefix}{p}." for p in range(fresh_per_stage))
                continue
            first = _signatures([probe[stage]])[0].shape  # (in, out, stride) of the stage's first block
            out = first[1]
            # a first inherited block that cannot start the stage gets a fresh one before it
            if (self._reduced_shape(blocks_a[blocks[0]], slots_d) != first if narrow
                    else _differs(ancestry_block(blocks[0]), probe[stage][0])):
                fresh.append(f"{prefix}0.")
                position = 1
            else:
                position = 0
            for index in blocks:
                where = f"layer{stage + 1}.{position}"
                block_d = probe[stage][min(position, 1)]
                if narrow:
                    expected = first if position == 0 else (out, out, 1)
                    self._check_inherited_block(index, blocks_a[index], position, expected, first, slots_a, slots_d)
                    difference = signature_difference(ancestry_block(index), block_d, _narrow_signature)
                    if difference is not None:
                        raise LearngeneError(
                            f"Learngene layer {index} does not fit the descendant at {where}: the descendant's layer "
                            f"there differs ({difference}). Inherited layers cannot change type: drop the options that "
                            f"change them (given: {sorted(options) or 'none'}).")
                else:
                    self.check_fits(ancestry_block(index), block_d, index, where, options)
                inherited.append((index, f"{prefix}{position}."))
                descendant_block[f"{prefix}{position}."] = block_d
                position += 1
            depths.append(position)
        config = self.descendant_config(ancestry_config, {**base_args, "layers": depths}, num_labels=num_labels,
                                        image_size=image_size)
        order = {index: i for i, index in enumerate(layer_indices)}
        inherited.sort(key=lambda item: order[item[0]])
        plan = SizedDescendantPlan(config=config, inherited=inherited, fresh=fresh)
        if narrow:
            architecture = architecture_of(ancestry_config)

            def layer_width(index: int, prefix: str, source: str, target: str
                            ) -> tuple[dict[str, AxisRoles], dict[str, tuple[int, int]]]:
                where = f"Learngene layer {index} ({architecture!r} {self.describe_layer(ancestry_config, index)})"
                axes, inner_a = block_axes(ancestry_block(index), source, target, where)
                _, inner_d = block_axes(descendant_block[prefix], source, target, where)
                return axes, {name: (size, inner_d[name]) for name, size in inner_a.items()}

            plan.width = self._channel_width_spec(inherited, blocks_a, slots_a, slots_d, layer_width)
            self._check_reduced_shapes(plan, ancestry_block, descendant_block)
            full_args = {**model_args_of(ancestry_config), **options, "layers": depths}  # the ancestry's widths
            plan.full_width_config = self.descendant_config(ancestry_config, full_args, num_labels=num_labels,
                                                            image_size=image_size)
        return plan

    @staticmethod
    def _check_reduced_shapes(plan: SizedDescendantPlan, ancestry_block: Any,
                              descendant_block: dict[str, nn.Module]) -> None:
        """Every inherited tensor, element-selected with the planned role sizes, has the shape of the descendant's."""
        assert plan.width is not None
        for index, prefix in plan.inherited:
            layer = plan.width.layers[prefix]
            sizes = {name: role.size for name, role in layer.roles.items()}
            target = descendant_block[prefix].state_dict()
            for key, tensor in ancestry_block(index).state_dict().items():
                shape = tuple(dim if role is None else sizes[role] for dim, role in
                              zip(tensor.shape, layer.axes[key]))
                got = tuple(target[key].shape) if key in target else "missing"
                if shape != got:
                    raise LearngeneError(
                        f"Learngene layer {index} does not fit the descendant at {prefix}{key}: narrowed it is "
                        f"{shape}, the descendant's is {got}. Keep the ancestry's widths for this stage.")

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
    return signature_difference(a, b) is not None




register_family(TimmResNetFamily())
