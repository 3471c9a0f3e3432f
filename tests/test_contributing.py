"""The code snippets of CONTRIBUTING.md run: a new condensing method condenses, a new family passes the contract suite."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
import torch
from transformers import ViTMSNConfig, ViTMSNForImageClassification, ViTMSNModel

from tests import test_family_contract as contract  # a module alias: pytest must not collect its class twice
from tests.tiny_models import IMAGE_SIZE, NUM_LABELS, NUM_LAYERS, perturb, tiny_image_dataset, tiny_vit

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONTRIBUTING = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"


def snippet(name: str) -> str:
    """The fenced Python block right after ``<!-- snippet: name -->`` in CONTRIBUTING.md."""
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\n```python\n(.*?)```", 
                      CONTRIBUTING.read_text(), re.DOTALL)
    assert match, f"CONTRIBUTING.md has no snippet {name!r}"
    return match.group(1)


def run_as_module(code: str, name: str, monkeypatch: pytest.MonkeyPatch, **names) -> types.ModuleType:
    """Execute ``code`` as the module ``name`` (in ``sys.modules`` for the test), with ``names`` predefined."""
    module = types.ModuleType(name)
    module.__dict__.update(names)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(code, f"CONTRIBUTING.md:{name}", "exec"), module.__dict__)  # noqa: S102
    return module


@pytest.fixture
def own_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a snippet are undone after the test (the built-ins are registered before the copy, or a
    first test that imports them would register them into the copy only, and they would be gone after it)."""
    from hf_learngene.condensation import base, methods  # noqa: F401 (importing methods registers the built-ins)
    from hf_learngene.families import registry

    monkeypatch.setattr(base, "_METHODS", dict(base._METHODS))
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))


@pytest.mark.usefixtures("own_registries")
def test_the_condensing_method_snippet_condenses(monkeypatch: pytest.MonkeyPatch) -> None:
    from hf_learngene.condensation import available_methods

    module = run_as_module(snippet("condense-method"), "weight_norm", monkeypatch)
    assert "weight_norm" in available_methods()
    run_as_module(snippet("condense-method-use"), "weight_norm_use", monkeypatch, ancestry=tiny_vit(),
                  dataset=tiny_image_dataset(), WeightNormConfig=module.WeightNormConfig)


def _tiny_vit_msn(head: bool = True, seed: int = 0, **overrides) -> torch.nn.Module:
    config = ViTMSNConfig(**{"hidden_size": 32, "num_hidden_layers": NUM_LAYERS, "num_attention_heads": 4,
                             "intermediate_size": 64, "image_size": IMAGE_SIZE, "patch_size": 8,
                             "num_labels": NUM_LABELS, **overrides})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = (ViTMSNForImageClassification if head else ViTMSNModel)(config)
    return perturb(model, seed).eval()


@pytest.mark.usefixtures("own_registries")
def test_the_family_snippet_passes_the_contract_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    from hf_learngene.families import family_for_config, supported_families

    run_as_module(snippet("family"), "vit_msn", monkeypatch)
    assert "vit_msn" in supported_families() and family_for_config(_tiny_vit_msn().config).name == "vit_msn"
    case = contract.TinyCase("vit_msn", {"hidden_size": 16}, builder=_tiny_vit_msn)
    suite = contract.TestFamilyContract()
    checks = [name for name in dir(suite) if name.startswith("test_")]
    assert len(checks) >= 8
    for check in checks:
        getattr(suite, check)("vit_msn", case)
