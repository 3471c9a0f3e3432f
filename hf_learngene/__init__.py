"""hf_learngene: Learngene for Hugging Face.

Condense a pretrained *ancestry* model into a few of its integral layers (the *learngene*), share it on
the Hub, and let small *descendant* models inherit those layers.

``import hf_learngene`` is light: it registers the learngene config and model with the `transformers` Auto classes
and loads the rest (models, condensing, ``Trainer`` helpers, ``datasets``, ``accelerate``, matplotlib) on first use
of a name below.

Example:
    >>> from hf_learngene import LearngeneModel, from_learngene  # doctest: +SKIP
    >>> learngene = LearngeneModel.from_ancestry("my-vit", layer_indices=[0, 1, 2, 3, 4, 5])  # doctest: +SKIP
    >>> child = from_learngene(learngene, num_labels=5, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes
from .configuration_learngene import LearngeneConfig
from .errors import LearngeneConfigError, LearngeneError, UnsafeWeightsError, UnsupportedArchitectureError
from .registration import register_auto_classes
from .version import __version__

#: Public names loaded on first use: ``{name: module that defines it}``.
_LAZY_ATTRIBUTES: dict[str, str] = {
    "ArchitectureFamily": ".families",
    "get_family": ".families",
    "register_family": ".families",
    "supported_families": ".families",
    "CondenseConfig": ".condensation",
    "CondenseResult": ".condensation",
    "condense": ".condensation",
    "register_condense_method": ".condensation",
    "FeatureDistillationTrainer": ".experiments.distillation",
    "DescendantCardCallback": ".inherit",
    "DescendantTrainer": ".trainer",
    "descendant_image_processor": ".processing",
    "recommended_inherited_lr_scale": ".recipes",
    "from_learngene": ".inherit",
    "push_descendant_to_hub": ".inherit",
    "save_descendant": ".inherit",
    "save_descendant_card": ".inherit",
    "scratch_descendant_like": ".inherit",
    "LearngeneModel": ".modeling_learngene",
    "inherit_embeddings": ".recipes",
    "inherited_lr_param_groups": ".recipes",
    "inherited_parameter_names": ".recipes",
}

if TYPE_CHECKING:
    from .condensation import CondenseConfig, CondenseResult, condense, register_condense_method
    from .experiments.distillation import FeatureDistillationTrainer
    from .families import ArchitectureFamily, get_family, register_family, supported_families
    from .inherit import (
        DescendantCardCallback,
        from_learngene,
        push_descendant_to_hub,
        save_descendant,
        save_descendant_card,
        scratch_descendant_like,
    )
    from .modeling_learngene import LearngeneModel
    from .processing import descendant_image_processor
    from .recipes import (
        inherit_embeddings,
        inherited_lr_param_groups,
        inherited_parameter_names,
        recommended_inherited_lr_scale,
    )
    from .trainer import DescendantTrainer


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRIBUTES)


register_auto_classes()

__all__ = [
    "ArchitectureFamily",
    "CondenseConfig",
    "CondenseResult",
    "DescendantCardCallback",
    "DescendantTrainer",
    "FeatureDistillationTrainer",
    "LearngeneConfig",
    "LearngeneConfigError",
    "LearngeneError",
    "LearngeneModel",
    "UnsafeWeightsError",
    "UnsupportedArchitectureError",
    "__version__",
    "condense",
    "descendant_image_processor",
    "from_learngene",
    "get_family",
    "inherit_embeddings",
    "inherited_lr_param_groups",
    "inherited_parameter_names",
    "push_descendant_to_hub",
    "recommended_inherited_lr_scale",
    "register_condense_method",
    "register_family",
    "save_descendant",
    "save_descendant_card",
    "scratch_descendant_like",
    "supported_families",
]
