"""Tiny, seeded timm checkpoints for tests (built in-process with ``timm.create_model(..., pretrained=False)``).

Every kind is a real timm architecture made small with ``model_args`` (4 integral layers, 3 labels, 32x32 images,
like ``tests/tiny_models.py``), wrapped as transformers' ``TimmWrapperForImageClassification`` (or
``TimmWrapperModel``), perturbed so that inherited tensors can never equal fresh ones by coincidence:

- ``timm-vit``: ``vit_tiny_patch16_224`` (class token, no layer scale), width 32, 4 heads, patch 8;
- ``timm-dinov2-reg``: ``vit_small_patch14_reg4_dinov2`` (layer scale, 4 register tokens, no position embedding of
  the class token), same sizes;
- ``timm-deit-distilled``: ``deit_tiny_distilled_patch16_224`` (class + distillation token, two heads);
- ``timm-resnet-basic``: ``resnet18`` with one basic block per stage, ``channels=[4, 8, 8, 16]``;
- ``timm-resnet-bottleneck``: ``resnet50`` with one bottleneck block per stage, ``channels=[2, 4, 4, 8]``;
- ``timm-resnet-deep``: ``resnet50d`` (deep 3x3 stem of ``stem_width * 2 = 16`` channels, average-pool shortcuts),
  bottleneck blocks as above;
- ``timm-seresnet``: ``seresnet50`` (squeeze-and-excitation), ``channels=[2, 4, 4, 64]`` (the last stage's SE has
  16 units);
- ``timm-ecaresnet``: ``ecaresnet50d`` (efficient channel attention: a 1-D convolution across channels).

:func:`save_timm_checkpoint` writes the layouts timm itself writes: ``timm.models.save_for_hf`` (``config.json`` with
``architecture``, ``model_args`` *including* ``num_classes``, ``pretrained_cfg``; ``model.safetensors``) or, for an
architecture at its defaults, the usual Hub layout without ``model_args`` (``test_vit`` / ``test_resnet``, timm's
own test models, stand in for ``timm/vit_*`` / ``timm/resnet*`` there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import PreTrainedModel, TimmWrapperConfig

from tests.tiny_models import NUM_LABELS, perturb

#: ``kind -> (timm architecture, model_args)``.
TIMM_KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "timm-vit": ("vit_tiny_patch16_224", {"img_size": 32, "patch_size": 8, "depth": 4, "embed_dim": 32,
                                          "num_heads": 4}),
    "timm-dinov2-reg": ("vit_small_patch14_reg4_dinov2", {"img_size": 32, "patch_size": 8, "depth": 4,
                                                          "embed_dim": 32, "num_heads": 4}),
    "timm-deit-distilled": ("deit_tiny_distilled_patch16_224", {"img_size": 32, "patch_size": 8, "depth": 4,
                                                                "embed_dim": 32, "num_heads": 4}),
    "timm-resnet-basic": ("resnet18", {"layers": [1, 1, 1, 1], "channels": [4, 8, 8, 16], "stem_width": 8}),
    "timm-resnet-bottleneck": ("resnet50", {"layers": [1, 1, 1, 1], "channels": [2, 4, 4, 8], "stem_width": 8}),
    "timm-resnet-deep": ("resnet50d", {"layers": [1, 1, 1, 1], "channels": [2, 4, 4, 8], "stem_width": 8}),
    "timm-seresnet": ("seresnet50", {"layers": [1, 1, 1, 1], "channels": [2, 4, 4, 64]}),
    "timm-ecaresnet": ("ecaresnet50d", {"layers": [1, 1, 1, 1], "channels": [2, 4, 4, 8], "stem_width": 8}),
}
#: The hf_learngene family of each kind.
TIMM_FAMILY_OF = {kind: ("timm_resnet" if "resnet" in kind else "timm_vit") for kind in TIMM_KINDS}
#: timm's test architectures at their defaults (the Hub layout: no ``model_args``): ``kind -> (architecture, size)``.
TIMM_DEFAULT_KINDS = {"timm-test-vit": ("test_vit", 160), "timm-test-resnet": ("test_resnet", 160)}


def require_timm() -> Any:
    """``timm``, or skip the test where it is not installed."""
    return pytest.importorskip("timm")


def build_timm_ancestry(kind: str, *, head: bool = True, seed: int = 0, perturbed: bool = True,
                        **model_args: Any) -> PreTrainedModel:
    """A tiny ``TimmWrapperForImageClassification`` (``TimmWrapperModel`` with ``head=False``) of ``kind``, in eval
    mode, deterministic in ``seed``; ``model_args`` override the kind's."""
    require_timm()
    from transformers import TimmWrapperForImageClassification, TimmWrapperModel

    architecture, args = TIMM_KINDS[kind]
    config = TimmWrapperConfig(architecture=architecture, model_args={**args, **model_args}, num_labels=NUM_LABELS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = (TimmWrapperForImageClassification if head else TimmWrapperModel)(config)
    if perturbed:
        perturb(model, seed)
    return model.eval()


def build_timm_model(kind: str, *, seed: int = 0, num_classes: int = NUM_LABELS, **model_args: Any) -> torch.nn.Module:
    """The bare timm model of ``kind`` (``timm.create_model``), perturbed, in eval mode."""
    timm = require_timm()
    if kind in TIMM_DEFAULT_KINDS:
        architecture, args = TIMM_DEFAULT_KINDS[kind][0], {}
    else:
        architecture, args = TIMM_KINDS[kind]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = timm.create_model(architecture, pretrained=False, num_classes=num_classes, **{**args, **model_args})
    return perturb(model, seed).eval()


def save_timm_checkpoint(model: torch.nn.Module, folder: str | Path, *, model_args: bool = True,
                         license: str | None = "apache-2.0") -> Path:
    """Save a bare timm model as timm does (``timm.models.save_for_hf``, safetensors) plus a ``README.md``.

    ``model_args=False`` removes ``model_args`` from ``config.json``: the layout of Hub repos, right for a model at
    its architecture's defaults only.
    """
    require_timm()
    from timm.models import save_for_hf

    folder = Path(folder)
    save_for_hf(model, str(folder), safe_serialization=True)
    config = json.loads((folder / "config.json").read_text())
    if not model_args:
        config.pop("model_args", None)
        (folder / "config.json").write_text(json.dumps(config, indent=2))
    header = f"---\nlicense: {license}\nlibrary_name: timm\n---\n" if license else ""
    (folder / "README.md").write_text(header + "A tiny timm model used in tests.\n", encoding="utf-8")
    return folder
