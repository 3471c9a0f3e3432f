"""`LearngeneConfig`: what a learngene is, where it came from, and how its layers were chosen."""

from __future__ import annotations

import functools
import math
from typing import Any

from huggingface_hub.dataclasses import strict
from huggingface_hub.errors import StrictDataclassError
from transformers import PreTrainedConfig

from .errors import LearngeneConfigError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(float(value))


@strict
class LearngeneConfig(PreTrainedConfig):
    r"""Configuration of a :class:`~hf_learngene.LearngeneModel`.

    A learngene is a few integral layers of an *ancestry* model. The config keeps everything needed to
    rebuild those layers and to build descendants **without the ancestry**, plus its provenance.

    Args:
        family: architecture family (``"vit"``, ``"dinov2"`` or ``"resnet"``).
        layer_indices: the ancestry layers the learngene holds, sorted, 0-based.
        ancestry_name_or_path: Hub id or local path of the ancestry.
        ancestry_revision: commit sha of the ancestry when it came from the Hub.
        ancestry_config: the ancestry's full `transformers` config (``config.to_dict()``).
        ancestry_num_layers: number of integral layers ``L`` of the ancestry.
        ancestry_num_parameters: parameter count of the whole ancestry model.
        selection_method: how the layers were chosen: a registered condensing method (``"manual"``, ``"auto"``,
            ``"heuristic"``, ...).
        selection_arguments: the arguments of that method (e.g. the ``CondenseConfig``).
        layer_scores: per-ancestry-layer scores (length ``L``), when known.
        pair_scores: the ``L x K`` pair-score matrix of Auto-Learngene, when known.
        condense_data: the data used to condense: ``{"name_or_path", "revision", "classes", "num_images"}``.
        num_parameters: parameter count of the learngene.
        parameter_fraction: ``num_parameters / ancestry_num_parameters``.
        layer_parameter_fraction: the learngene's share of the parameters of all the ancestry's integral layers
            (what the size controls of :class:`~hf_learngene.CondenseConfig` cap).
        include_embeddings: whether the learngene also carries the ancestry's input embedding (ViT / DINOv2: patch
            embedding, [CLS] / register tokens and position table; ResNet: the stem), which descendants then inherit.
            ``False`` (the paper's form, and every learngene written before this field existed): the layers only.
        image_processor: the ancestry's image processor config (its ``preprocessor_config.json``), when it had one:
            how descendants preprocess images by default (normalisation, resampling).
        license: the ancestry's license, carried into model cards.
        hf_learngene_version: library version that wrote the learngene.

    Example:
        >>> from transformers import ViTConfig
        >>> ancestry = ViTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64)
        >>> config = LearngeneConfig(family="vit", layer_indices=[0, 1], ancestry_config=ancestry.to_dict())
        >>> config.ancestry_num_layers
        4
    """

    model_type = "learngene"

    family: str | None = None
    layer_indices: list | None = None
    ancestry_name_or_path: str | None = None
    ancestry_revision: str | None = None
    ancestry_config: dict | None = None
    ancestry_num_layers: int | None = None
    ancestry_num_parameters: int | None = None
    selection_method: str = "manual"
    selection_arguments: dict | None = None
    layer_scores: list | None = None
    pair_scores: list | None = None
    condense_data: dict | None = None
    num_parameters: int | None = None
    parameter_fraction: float | None = None
    layer_parameter_fraction: float | None = None
    include_embeddings: bool = False
    image_processor: dict | None = None
    license: str | None = None
    hf_learngene_version: str | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self._check()

    # ------------------------------------------------------------------ validation
    def _fail(self, field: str, why: str) -> None:
        raise LearngeneConfigError(f"LearngeneConfig.{field}: {why}")

    def _check(self) -> None:
        from .families import family_for_config, get_family, supported_families

        empty = self.family is None and self.layer_indices is None and self.ancestry_config is None
        if empty:  # `LearngeneConfig()` with no arguments, as transformers builds it to diff defaults
            return
        if not isinstance(self.family, str):
            self._fail("family", f"is required and must be one of {supported_families()}, got {self.family!r}.")
        if self.family not in supported_families():
            self._fail("family", f"unknown family {self.family!r}; supported: {', '.join(supported_families())}.")
        if not isinstance(self.ancestry_config, dict) or "model_type" not in self.ancestry_config:
            self._fail("ancestry_config", "is required: the ancestry's full config dict (with `model_type`), "
                       "so descendants can be built without the ancestry.")
        try:
            ancestry_family = family_for_config(self.ancestry_config)
        except ValueError as err:
            self._fail("ancestry_config", str(err))
        if ancestry_family.name != self.family:
            self._fail("family", f"is {self.family!r} but ancestry_config describes a "
                       f"{self.ancestry_config['model_type']!r} model (family {ancestry_family.name!r}).")
        try:
            num_layers = get_family(self.family).num_layers(self.ancestry_transformers_config())
        except (StrictDataclassError, TypeError, ValueError) as err:
            detail = " ".join(str(err).split())
            self._fail("ancestry_config", f"is not a valid {self.ancestry_config['model_type']!r} config: {detail}")
        if self.ancestry_num_layers is None:
            self.ancestry_num_layers = num_layers
        elif self.ancestry_num_layers != num_layers:
            self._fail("ancestry_num_layers", f"is {self.ancestry_num_layers} but ancestry_config has {num_layers} "
                       "integral layers.")
        indices = self.layer_indices
        if not isinstance(indices, list) or not indices or not all(_is_int(i) for i in indices):
            self._fail("layer_indices", f"must be a non-empty list of ints, got {indices!r}.")
        if indices != sorted(set(indices)):
            self._fail("layer_indices", f"must be sorted and without repeats, got {indices}; use {sorted(set(indices))}.")
        bad = [i for i in indices if not 0 <= i < num_layers]
        if bad:
            self._fail("layer_indices", f"{bad} out of range: the ancestry has {num_layers} layers (0..{num_layers - 1}).")
        from .condensation.methods import available_methods

        if self.selection_method not in available_methods():
            self._fail("selection_method", f"must be one of {available_methods()} (the registered condensing methods), "
                       f"got {self.selection_method!r}.")
        if self.layer_scores is not None and (
            not isinstance(self.layer_scores, list) or len(self.layer_scores) != num_layers
            or not all(_is_number(s) for s in self.layer_scores)
        ):
            self._fail("layer_scores", f"must be a list of {num_layers} finite numbers (one per ancestry layer).")
        if self.pair_scores is not None:
            rows = self.pair_scores
            if (not isinstance(rows, list) or len(rows) != num_layers or not all(isinstance(r, list) for r in rows)
                    or len({len(r) for r in rows}) != 1 or not all(_is_number(v) for r in rows for v in r)):
                self._fail("pair_scores", f"must be an L x K list of lists of finite numbers with L={num_layers}.")
        for name in ("ancestry_name_or_path", "ancestry_revision", "license", "hf_learngene_version"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                self._fail(name, f"must be a string, got {type(value).__name__}.")
        if not isinstance(self.include_embeddings, bool):
            self._fail("include_embeddings", f"must be true or false, got {self.include_embeddings!r}.")
        if self.include_embeddings:
            reason = get_family(self.family).embeddings_unsupported(self.ancestry_transformers_config())
            if reason:
                self._fail("include_embeddings", f"is true but {reason}.")
        for name in ("selection_arguments", "condense_data", "image_processor"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                self._fail(name, f"must be a dict, got {type(value).__name__}.")
        for name in ("num_parameters", "ancestry_num_parameters"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 0):
                self._fail(name, f"must be a non-negative int, got {value!r}.")
        if self.layer_parameter_fraction is not None and not (
            _is_number(self.layer_parameter_fraction) and 0 < self.layer_parameter_fraction <= 1
        ):
            self._fail("layer_parameter_fraction", f"must be in (0, 1], got {self.layer_parameter_fraction!r}.")
        if self.parameter_fraction is not None and not (
            _is_number(self.parameter_fraction) and 0 < self.parameter_fraction <= 1
        ):
            self._fail("parameter_fraction", f"must be in (0, 1], got {self.parameter_fraction!r}.")

    # ------------------------------------------------------------------ helpers
    def ancestry_transformers_config(self) -> PreTrainedConfig:
        """The ancestry's `transformers` config rebuilt from :attr:`ancestry_config`."""
        from .families import get_family

        if self.ancestry_config is None or self.family is None:
            raise LearngeneConfigError("LearngeneConfig.ancestry_config: this config describes no learngene yet.")
        config = get_family(self.family).config_from_dict(self.ancestry_config)
        config._attn_implementation = "eager" if self._attn_implementation is None else self._attn_implementation
        return config


def _wrap_strict_errors(cls: type[LearngeneConfig]) -> type[LearngeneConfig]:
    """Re-raise huggingface_hub's strict-dataclass type errors as :class:`LearngeneConfigError`."""
    strict_init = cls.__init__

    @functools.wraps(strict_init)
    def __init__(self: LearngeneConfig, *args: Any, **kwargs: Any) -> None:
        try:
            strict_init(self, *args, **kwargs)
        except StrictDataclassError as err:
            raise LearngeneConfigError(f"LearngeneConfig: {err}") from err

    cls.__init__ = __init__
    return cls


_wrap_strict_errors(LearngeneConfig)
