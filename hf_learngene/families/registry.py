"""Registry of architecture families, looked up by family name or `transformers` model type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import LearngeneError, UnsupportedArchitectureError

if TYPE_CHECKING:
    from .base import ArchitectureFamily

_FAMILIES: dict[str, ArchitectureFamily] = {}


#: Class attributes every family must set (see :class:`~hf_learngene.families.ArchitectureFamily`).
REQUIRED_ATTRIBUTES = ("name", "label", "model_types", "descendant_class")


def register_family(family: ArchitectureFamily) -> ArchitectureFamily:
    """Make ``family`` available under its name (call once at the bottom of the family's module)."""
    missing = [attribute for attribute in REQUIRED_ATTRIBUTES if not getattr(family, attribute, None)]
    if missing:
        raise LearngeneError(f"{type(family).__name__} cannot be registered as a family: it sets no "
                             f"{', '.join(missing)} (see ArchitectureFamily).")
    _FAMILIES[family.name] = family
    return family


def supported_families() -> list[str]:
    """Names of the registered families, e.g. ``["dinov2", "resnet", "vit"]``."""
    return sorted(_FAMILIES)


def supported_model_types() -> list[str]:
    """All `transformers` model types some family handles."""
    return sorted({t for family in _FAMILIES.values() for t in family.model_types})


def get_family(name: str) -> ArchitectureFamily:
    """The family registered as ``name``.

    Example:
        >>> get_family("vit").name
        'vit'
    """
    try:
        return _FAMILIES[name]
    except KeyError:
        raise UnsupportedArchitectureError(
            f"Unknown learngene family {name!r}. Supported families: {', '.join(supported_families())}."
        ) from None


def family_for_config(config: Any) -> ArchitectureFamily:
    """The family that handles a `transformers` config (or a config dict with ``model_type``)."""
    model_type = config.get("model_type") if isinstance(config, dict) else getattr(config, "model_type", None)
    candidates = [family for family in _FAMILIES.values() if model_type in family.model_types]
    for family in candidates:
        if family.handles_config(config):
            return family
    if candidates:
        architecture = config.get("architecture") if isinstance(config, dict) else getattr(config, "architecture", None)
        raise UnsupportedArchitectureError(
            f"This {model_type!r} checkpoint{f' (architecture {architecture!r})' if architecture else ''} is not "
            f"supported by hf_learngene: the families for {model_type!r} "
            f"({', '.join(family.label for family in candidates)}) do not handle it."
        )
    raise UnsupportedArchitectureError(
        f"Architecture {model_type!r} is not supported by hf_learngene. Supported families: "
        f"{', '.join(supported_families())} (model types: {', '.join(supported_model_types())}). "
        "To add one, subclass hf_learngene.families.ArchitectureFamily in a new module."
    )


def wrap_model(model: Any) -> Any:
    """A `transformers` model around ``model`` (a module that is not one, e.g. a bare timm model) from the first
    family that can wrap it (:meth:`ArchitectureFamily.wrap_model`), or ``None``."""
    for family in _FAMILIES.values():
        wrapped = family.wrap_model(model)
        if wrapped is not None:
            return wrapped
    return None
