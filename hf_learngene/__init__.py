"""hf_learngene: Learngene for Hugging Face.

Condense a pretrained *ancestry* model into a few of its integral layers (the *learngene*), share it on
the Hub, and let small *descendant* models inherit those layers.

Example:
    >>> from hf_learngene import LearngeneModel, from_learngene  # doctest: +SKIP
    >>> learngene = LearngeneModel.from_ancestry("my-vit", layer_indices=[0, 1, 2, 3, 4, 5])  # doctest: +SKIP
    >>> child = from_learngene(learngene, num_labels=5, seed=0)  # doctest: +SKIP
"""

from transformers import AutoConfig, AutoModel

from .condensation import CondenseConfig, CondenseResult, condense
from .configuration_learngene import LearngeneConfig
from .distillation import FeatureDistillationTrainer
from .errors import LearngeneConfigError, LearngeneError, UnsafeWeightsError, UnsupportedArchitectureError
from .families import ArchitectureFamily, get_family, register_family, supported_families
from .inherit import from_learngene, save_descendant_card, scratch_descendant_like
from .modeling_learngene import LearngeneModel
from .version import __version__

AutoConfig.register("learngene", LearngeneConfig, exist_ok=True)
AutoModel.register(LearngeneConfig, LearngeneModel, exist_ok=True)

__all__ = [
    "ArchitectureFamily",
    "CondenseConfig",
    "CondenseResult",
    "FeatureDistillationTrainer",
    "LearngeneConfig",
    "LearngeneConfigError",
    "LearngeneError",
    "LearngeneModel",
    "UnsafeWeightsError",
    "UnsupportedArchitectureError",
    "__version__",
    "condense",
    "from_learngene",
    "get_family",
    "register_family",
    "save_descendant_card",
    "scratch_descendant_like",
    "supported_families",
]
