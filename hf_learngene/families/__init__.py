"""Architecture families: one module per family behind :class:`ArchitectureFamily`."""

from .base import ArchitectureFamily, DescendantPlan, FeatureAlignment
from .registry import family_for_config, get_family, register_family, supported_families, supported_model_types

# Importing a family module registers it.
from . import vit, dinov2, resnet, timm_vit, timm_resnet  # noqa: F401  isort: skip

__all__ = [
    "ArchitectureFamily",
    "DescendantPlan",
    "FeatureAlignment",
    "family_for_config",
    "get_family",
    "register_family",
    "supported_families",
    "supported_model_types",
]
