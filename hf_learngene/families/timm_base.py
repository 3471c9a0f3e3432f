"""What the timm families share: timm checkpoints reached through `transformers`' ``TimmWrapper*`` classes.

A timm checkpoint on the Hub (``timm/vit_small_patch14_dinov2.lvd142m``, ``timm/resnet50.a1_in1k``, ...) loads in
`transformers` as a ``TimmWrapperModel`` / ``TimmWrapperForImageClassification`` (``model_type="timm_wrapper"``,
``config.architecture`` the timm model name, ``config.model_args`` extra arguments of ``timm.create_model``, e.g.
``{"depth": 6}``). The families here read timm's own modules inside the wrapper (``model.timm_model``), and their
descendants are plain ``TimmWrapperForImageClassification`` checkpoints: the ancestry's ``architecture`` with
``model_args`` for their depth, which load with ``AutoModelForImageClassification`` wherever timm is installed.

timm is an optional dependency (``pip install "hf_learngene[timm]"``); without it the families stay registered and
every timm checkpoint gets an error that names the extra.

Two layouts of ``config.json`` exist: Hub repos usually carry no ``model_args`` (the architecture's defaults), while
``timm.models.save_for_hf`` writes the creation arguments *including* ``num_classes``, which
``TimmWrapperModel.from_pretrained`` also passes (``got multiple values for keyword argument 'num_classes'``). Both
load here (:meth:`TimmFamily.prepare_config` drops the head's arguments), and descendants are written without them.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel, TimmWrapperConfig, TimmWrapperForImageClassification

from ..errors import LearngeneError
from .base import ArchitectureFamily, descendant_config_dict

#: The timm releases this library is tested with (the ``timm`` extra of setup.py).
TIMM_REQUIREMENT = "timm>=1.0.31,<2"
#: How to install them.
TIMM_INSTALL = 'pip install "hf_learngene[timm]"'
#: ``model_args`` that describe the head, not the layers: ``TimmWrapper*`` pass their own (``num_classes``).
HEAD_MODEL_ARGS = ("num_classes",)
#: ``pretrained_cfg`` entries that describe preprocessing (a descendant keeps them; the rest names the source
#: checkpoint or its head).
PREPROCESSING_KEYS = ("input_size", "min_input_size", "fixed_input_size", "interpolation", "crop_pct", "crop_mode",
                      "mean", "std", "first_conv", "classifier")
#: timm's ``pretrained_cfg["interpolation"]`` names and the PIL filters they are.
TIMM_INTERPOLATIONS = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1}
#: Root keys of a timm config that describe the ancestry's head or checkpoint, not the descendant.
HEAD_CONFIG_KEYS = ("num_classes", "label_names", "label_descriptions", "num_features")


def require_timm() -> Any:
    """The ``timm`` module, or a :class:`LearngeneError` saying which extra to install.

    Example:
        >>> timm = require_timm()  # doctest: +SKIP
    """
    try:
        import timm
    except ImportError as err:
        raise LearngeneError(
            f"This is a timm checkpoint (model_type 'timm_wrapper'), and timm is not installed ({err}). Install "
            f"hf_learngene's timm extra: `{TIMM_INSTALL}` ({TIMM_REQUIREMENT})."
        ) from err
    major = str(getattr(timm, "__version__", "0")).split(".")[0]
    if major != "1":
        raise LearngeneError(f"timm {timm.__version__} is installed but hf_learngene supports {TIMM_REQUIREMENT}: "
                             f"`{TIMM_INSTALL}`.")
    return timm


def timm_available() -> bool:
    """Whether a supported timm can be imported."""
    try:
        require_timm()
    except LearngeneError:
        return False
    return True


def _get(config: PreTrainedConfig | dict[str, Any], key: str, default: Any = None) -> Any:
    return config.get(key, default) if isinstance(config, dict) else getattr(config, key, default)


def architecture_of(config: PreTrainedConfig | dict[str, Any]) -> str:
    """``config.architecture``, the timm model name (with its pretrained tag, if any)."""
    architecture = _get(config, "architecture")
    if not isinstance(architecture, str) or not architecture:
        raise LearngeneError(f"A timm_wrapper config needs an `architecture` (the timm model name), got {architecture!r}.")
    return architecture


def model_args_of(config: PreTrainedConfig | dict[str, Any]) -> dict[str, Any]:
    """``config.model_args`` without the head's arguments (:data:`HEAD_MODEL_ARGS`), as a new dict."""
    args = _get(config, "model_args") or {}
    if not isinstance(args, dict):
        raise LearngeneError(f"config.model_args must be a dict of timm.create_model arguments, got {args!r}.")
    return {key: value for key, value in args.items() if key not in HEAD_MODEL_ARGS}


def _freeze(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


@functools.lru_cache(maxsize=16)
def _skeleton(architecture: str, frozen_args: str) -> nn.Module:
    timm = require_timm()
    with torch.device("meta"):
        return timm.create_model(architecture, pretrained=False, num_classes=0, **json.loads(frozen_args)).eval()


def skeleton(architecture: str, args: dict[str, Any]) -> nn.Module:
    """The timm model ``architecture`` built with ``args`` on the meta device (no memory, no init; cached): the
    structure of a model, to read its layers' shapes and types. Do not modify it."""
    try:
        return _skeleton(architecture, _freeze(args))
    except (TypeError, ValueError, RuntimeError, AssertionError) as err:
        raise LearngeneError(f"timm cannot build {architecture!r} with model_args={args}: {err}") from err


def create_timm_model(architecture: str, args: dict[str, Any], *, num_classes: int = 0) -> nn.Module:
    """``timm.create_model(architecture, pretrained=False, num_classes=num_classes, **args)`` on the current default
    device: timm's own initialisation, from the current RNG state.

    Example:
        >>> create_timm_model("resnet18", {"layers": [1, 1, 1, 1]}).layer1[0].bn2.weight.abs().sum().item()  # doctest: +SKIP
        0.0
    """
    timm = require_timm()
    try:
        return timm.create_model(architecture, pretrained=False, num_classes=num_classes, **args)
    except (TypeError, ValueError, RuntimeError, AssertionError) as err:
        raise LearngeneError(f"timm cannot build {architecture!r} with model_args={args}: {err}") from err


_PASS_THROUGH = ("Dropout", "DropPath", "DropBlock", "Identity")


def module_signature(module: nn.Module) -> list[tuple[Any, ...]]:
    """What fixes the computation of ``module`` apart from its weights' values: for every submodule, its name, class
    and scalar settings (widths, heads, strides, eps, activation flavour...), and every tensor's name, shape and dtype.

    Two modules with equal signatures compute the same function of the same weights. Dropout / drop-path modules (and
    their ``nn.Identity`` stand-ins) are left out: they do nothing at inference and their rates follow the depth.
    """
    rows: list[tuple[Any, ...]] = []
    for name, sub in module.named_modules():
        kind = type(sub).__name__
        if any(word in kind for word in _PASS_THROUGH):
            continue
        settings = tuple(sorted(
            (key, value) for key, value in vars(sub).items()
            if not key.startswith("_") and key not in ("training", "inplace", "p", "fused_attn")
            and "drop" not in key and isinstance(value, (bool, int, float, str, tuple))
        ))
        rows.append((name, kind, settings))
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        rows.append((name, tuple(tensor.shape), str(tensor.dtype)))
    return rows


def signature_difference(a: nn.Module, b: nn.Module,
                         signature: Callable[[nn.Module], list[tuple[Any, ...]]] = module_signature) -> str | None:
    """The first difference of :func:`module_signature` (or another ``signature``) between ``a`` and ``b``, in words;
    ``None`` when equal."""
    sig_a, sig_b = signature(a), signature(b)
    for row_a, row_b in zip(sig_a, sig_b):
        if row_a != row_b:
            return f"{row_a} vs {row_b}"
    if len(sig_a) != len(sig_b):
        longer = sig_a if len(sig_a) > len(sig_b) else sig_b
        return f"{longer[min(len(sig_a), len(sig_b))]} exists on one side only"
    return None


class TimmFamily(ArchitectureFamily):
    """Base class of the timm families: configs, descendants and the checks they share (subclasses say which timm
    modules they read)."""

    model_types = ("timm_wrapper",)
    descendant_class = TimmWrapperForImageClassification
    #: timm modules (``timm.models.<module>``) whose architectures the family handles.
    timm_modules: ClassVar[tuple[str, ...]] = ()
    #: the timm model class the family reads (for bare timm models), a name in ``timm.models``.
    timm_class_name: ClassVar[str] = ""
    #: the ``timm.create_model`` argument that sets the input size (``None``: the model takes any size).
    image_size_model_arg: ClassVar[str | None] = "img_size"

    # ---------------------------------------------------------------- configs
    def handles_config(self, config: PreTrainedConfig | dict[str, Any]) -> bool:
        architecture = _get(config, "architecture")
        if not isinstance(architecture, str):
            return False
        require_timm()
        from timm.models import get_arch_name, is_model_in_modules

        return bool(is_model_in_modules(get_arch_name(architecture), list(self.timm_modules)))

    def config_from_dict(self, config_dict: dict[str, Any]) -> PreTrainedConfig:
        data = copy.deepcopy(dict(config_dict))
        data.pop("model_type", None)
        return self.prepare_config(TimmWrapperConfig.from_dict(data))

    def prepare_config(self, config: PreTrainedConfig) -> PreTrainedConfig:
        """Drop ``num_classes`` (and the other head arguments) from ``config.model_args``, in place: the layout
        ``timm.models.save_for_hf`` writes, which ``TimmWrapper*.from_pretrained`` cannot load as it is."""
        args = getattr(config, "model_args", None)
        if isinstance(args, dict) and any(key in args for key in HEAD_MODEL_ARGS):
            config.model_args = model_args_of(config) or None
        return config

    def image_preprocessing(self, config: PreTrainedConfig) -> dict[str, Any]:
        pretrained = _get(config, "pretrained_cfg") or {}
        out: dict[str, Any] = {}
        size = model_args_of(config).get("img_size")
        if size is None and pretrained.get("input_size"):
            size = list(pretrained["input_size"])[1:]
        if size is not None:
            size = [int(size), int(size)] if isinstance(size, (int, float)) else [int(s) for s in size]
            out["size"] = size[0] if size[0] == size[1] else tuple(size)
        for key in ("mean", "std"):
            if pretrained.get(key) is not None:
                out[key] = tuple(float(v) for v in pretrained[key])
        # timm's eval pipeline (timm.data.transforms_factory): resize the shortest edge to floor(size / crop_pct)
        # with the checkpoint's interpolation, then center crop to size (square inputs, crop_mode "center")
        if pretrained.get("interpolation") in TIMM_INTERPOLATIONS:
            out["resample"] = TIMM_INTERPOLATIONS[pretrained["interpolation"]]
        crop_pct = pretrained.get("crop_pct")
        if (crop_pct and size is not None and size[0] == size[1]
                and pretrained.get("crop_mode", "center") in (None, "center")):
            out["resize_shortest_edge"] = math.floor(size[0] / float(crop_pct))
            out["crop_offset"] = "round"  # torchvision's CenterCrop
        return out

    # ---------------------------------------------------------------- models
    def backbone(self, model: PreTrainedModel) -> nn.Module:
        inner = getattr(model, "timm_model", None)
        return inner if isinstance(inner, nn.Module) else model

    def ancestry_skeleton(self, config: PreTrainedConfig) -> nn.Module:
        """The timm model of ``config`` on the meta device (see :func:`skeleton`)."""
        return skeleton(architecture_of(config), model_args_of(config))

    def build_model(self, config: PreTrainedConfig) -> PreTrainedModel:
        """A ``TimmWrapperForImageClassification`` of ``config`` whose timm model is ``timm.create_model(...)`` itself,
        with timm's initialisation (drawn from the current RNG state, on the current default device).

        ``TimmWrapperForImageClassification(config)`` would re-initialise the timm model with `transformers`'
        ``_init_weights`` (normal(0.02) convolutions, BatchNorm weights 1 where timm zero-initialises the last one of
        a residual block, ...), so the wrapper is built on the meta device and given the timm model afterwards.

        Example:
            >>> torch.manual_seed(0); child = family.build_model(config)  # doctest: +SKIP
            >>> torch.manual_seed(0); same = timm.create_model(config.architecture, num_classes=config.num_labels,
            ...                                                 **config.model_args)  # doctest: +SKIP
        """
        require_timm()
        with torch.device("meta"):  # the shell only: no memory, no RNG draws
            wrapper = self.descendant_class(config)
        wrapper.timm_model = create_timm_model(architecture_of(config), model_args_of(config),
                                               num_classes=int(config.num_labels))
        return wrapper

    def wrap_model(self, model: nn.Module) -> PreTrainedModel | None:
        """A bare timm model of this family as a ``TimmWrapperForImageClassification`` (``TimmWrapperModel`` when it
        has no classifier) holding ``model`` itself: ``config.architecture`` and ``config.model_args`` are read from
        the model (timm records its creation arguments), and checked to rebuild exactly its structure."""
        if not timm_available():
            return None
        import timm.models

        cls = getattr(timm.models, self.timm_class_name, None)
        if cls is None or not isinstance(model, cls) or isinstance(model, PreTrainedModel):
            return None
        from transformers import TimmWrapperModel

        pretrained = dict(getattr(model, "pretrained_cfg", None) or {})
        architecture = pretrained.get("architecture")
        if not architecture:
            raise LearngeneError(f"This {type(model).__name__} has no pretrained_cfg['architecture']: build it with "
                                 "timm.create_model(name, ...) so hf_learngene knows which architecture it is.")
        getter = getattr(timm.models, "get_model_args", None)
        args = dict(getter(model)) if getter is not None else dict(getattr(model, "_model_args", {}) or {})
        args = {k: v for k, v in args.items() if k not in HEAD_MODEL_ARGS}
        num_classes = int(getattr(model, "num_classes", 0) or 0)
        config_kwargs: dict[str, Any] = {
            "architecture": architecture, "model_args": args or None,
            "pretrained_cfg": {k: v for k, v in pretrained.items() if k in PREPROCESSING_KEYS},
        }
        if num_classes:
            config_kwargs["num_labels"] = num_classes
        config = TimmWrapperConfig(**config_kwargs)
        expected = {k: tuple(v.shape) for k, v in skeleton(architecture, args).state_dict().items()}
        actual = {k: tuple(v.shape) for k, v in model.state_dict().items()
                  if not k.startswith(_classifier_prefixes(model))}
        expected = {k: v for k, v in expected.items() if not k.startswith(_classifier_prefixes(model))}
        if expected != actual:
            raise LearngeneError(
                f"This {architecture!r} timm model cannot be described by architecture={architecture!r} and "
                f"model_args={args} (rebuilding it gives other tensors). Wrap it yourself: "
                "transformers.TimmWrapperForImageClassification(TimmWrapperConfig(architecture=..., model_args={...})) "
                "and load its state dict into `.timm_model`."
            )
        wrapper_cls = TimmWrapperForImageClassification if num_classes else TimmWrapperModel
        with torch.device("meta"):
            wrapper = wrapper_cls(config)
        wrapper.timm_model = model
        wrapper.train(model.training)
        return wrapper

    # ---------------------------------------------------------------- descendants
    def descendant_config(self, ancestry_config: PreTrainedConfig, args: dict[str, Any], *, num_labels: int,
                          image_size: int | None = None) -> PreTrainedConfig:
        """A ``TimmWrapperConfig`` of the ancestry's architecture with ``args`` as ``model_args`` (never the head's
        arguments), ``num_labels`` labels and the ancestry's preprocessing (``input_size`` from ``image_size``)."""
        data = descendant_config_dict(ancestry_config, drop=HEAD_CONFIG_KEYS)
        pretrained = {k: v for k, v in (data.pop("pretrained_cfg", None) or {}).items() if k in PREPROCESSING_KEYS}
        args = {k: v for k, v in args.items() if k not in HEAD_MODEL_ARGS}
        size_arg = self.image_size_model_arg
        if image_size is not None:
            if size_arg is not None:
                args[size_arg] = image_size
            pretrained["input_size"] = [3, int(image_size), int(image_size)]
        elif size_arg is not None and args.get(size_arg) is not None and "input_size" in pretrained:
            size = args[size_arg]
            pretrained["input_size"] = [3, *([size, size] if isinstance(size, int) else list(size))]
        data["model_args"] = args or None
        if pretrained:
            data["pretrained_cfg"] = pretrained
        data.pop("learngene", None)
        return TimmWrapperConfig(num_labels=num_labels, **data)

    def check_layer_options(self, ancestry_config: PreTrainedConfig, options: dict[str, Any]) -> None:
        values = self.layer_field_values(ancestry_config)
        for key in self.layer_fields:
            if key in options and _normal(options[key]) != _normal(values.get(key)):
                raise LearngeneError(
                    f"The learngene layers have {key}={values.get(key)!r} but the descendant was asked for "
                    f"{key}={options[key]!r}. Inherited layers cannot change shape or type: drop `{key}` or condense "
                    "a learngene from an ancestry built that way."
                )

    def check_fits(self, ancestry_block: nn.Module, descendant_block: nn.Module, index: int, where: str,
                   options: dict[str, Any]) -> None:
        """Refuse a layout in which inherited layer ``index`` would compute something else at ``where``."""
        difference = signature_difference(ancestry_block, descendant_block)
        if difference is not None:
            raise LearngeneError(
                f"Learngene layer {index} does not fit the descendant at {where}: the descendant's layer there differs "
                f"({difference}). Inherited layers cannot change shape or type: drop the options that change them "
                f"(given: {sorted(options) or 'none'})."
            )

    def fresh_model_args_error(self, options: dict[str, Any], reserved: Iterable[str]) -> None:
        """Refuse options that the layout sets itself."""
        taken = sorted(set(options) & set(reserved))
        if taken:
            raise LearngeneError(f"{', '.join(taken)} follow from the learngene layout (num_random_layers, image_size); "
                                 "do not pass them as descendant options.")


def _normal(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    name = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or "head"
    names = name if isinstance(name, (list, tuple)) else [name]
    return tuple(f"{n}." for n in names)
