"""Registering learngenes with the `transformers` Auto classes, without importing the model code eagerly.

``import hf_learngene`` registers :class:`~hf_learngene.LearngeneConfig` with ``AutoConfig`` and a light stand-in,
:class:`LazyLearngeneModel`, with ``AutoModel``: importing :mod:`hf_learngene.modeling_learngene` (a
``PreTrainedModel``) pulls in ``transformers.modeling_utils`` and, through it, ``accelerate``, which a plain
``import hf_learngene`` must not do. The stand-in forwards every call (``AutoModel.from_pretrained``,
``AutoModel.from_config``, ...) to the real :class:`~hf_learngene.LearngeneModel`, and replaces itself with it in
``AutoModel``'s registry on first use.
"""

from __future__ import annotations

import sys
from typing import Any

from transformers import AutoConfig, AutoModel

from .configuration_learngene import LearngeneConfig


def _learngene_model() -> type:
    """The real ``LearngeneModel`` (imported now), registered with ``AutoModel`` in place of the stand-in."""
    from .modeling_learngene import LearngeneModel

    AutoModel.register(LearngeneConfig, LearngeneModel, exist_ok=True)
    return LearngeneModel


class _ForwardingType(type):
    def __getattr__(cls, name: str) -> Any:  # called only for attributes the stand-in does not define
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(_learngene_model(), name)


class LazyLearngeneModel(metaclass=_ForwardingType):
    """Stands in for :class:`~hf_learngene.LearngeneModel` in ``AutoModel``'s registry until it is first used.

    Every attribute it lacks (``from_pretrained``, ``_from_config``, ...) is the real class's, so
    ``AutoModel.from_pretrained("user/vit-learngene")`` returns a ``LearngeneModel``.
    """

    config_class = LearngeneConfig

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _learngene_model()(*args, **kwargs)


def register_auto_classes() -> None:
    """Register ``model_type="learngene"`` with ``AutoConfig`` and ``AutoModel`` (done by ``import hf_learngene``)."""
    AutoConfig.register(LearngeneConfig.model_type, LearngeneConfig, exist_ok=True)
    loaded = sys.modules.get(f"{__package__}.modeling_learngene")
    model = getattr(loaded, "LearngeneModel", None) if loaded is not None else None
    AutoModel.register(LearngeneConfig, model or LazyLearngeneModel, exist_ok=True)
