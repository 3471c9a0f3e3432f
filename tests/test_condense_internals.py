"""Auto-Learngene internals: the fast psi paths equal the definition, AutoLearngeneStep, resume in a later repeat."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator

import hf_learngene.condensation.auto as auto_module
from hf_learngene import CondenseConfig, condense
from hf_learngene.condensation.auto import AutoLearngeneStep, PseudoDescendant
from hf_learngene.families import get_family
from hf_learngene.families.resnet import ConvAlignment
from tests.test_condense import make_dataset, tiny_resnet, tiny_vit


def conv_then_resize(module: ConvAlignment, feature: torch.Tensor) -> torch.Tensor:
    """h(z) as written in the paper: the pointwise convolution, then resizing to the ancestry's size."""
    out = module.conv(feature)
    if tuple(out.shape[-2:]) != module.target_size:
        if out.shape[-2] >= module.target_size[0] and out.shape[-1] >= module.target_size[1]:
            return F.adaptive_avg_pool2d(out, module.target_size)
        return F.interpolate(out, size=module.target_size, mode="bilinear", align_corners=False)
    return out


# (source channels, source size) -> (target channels, target size): same, down (also uneven), up, mixed.
CASES = [((8, (7, 7)), (16, (7, 7))), ((8, (11, 11)), (4, (6, 6))), ((8, (21, 21)), (12, (3, 3))),
         ((16, (3, 3)), (8, (11, 11))), ((4, (6, 6)), (8, (21, 21))), ((8, (5, 9)), (4, (9, 5)))]


@pytest.mark.parametrize(("source", "target"), CASES)
def test_conv_alignment_forward_is_conv_then_resize(source: tuple, target: tuple) -> None:
    torch.manual_seed(0)
    module = ConvAlignment(source[0], target[0], target[1])
    z = torch.randn(3, source[0], *source[1])
    torch.testing.assert_close(module(z), conv_then_resize(module, z), rtol=1e-5, atol=1e-5)


def test_squared_distances_equal_the_definition_with_gradients() -> None:
    """Grouped, resize-as-matrix, expanded-for-upsampling psi: the same values and gradients as the per-pair loop."""
    torch.manual_seed(0)
    sources = [torch.randn(4, 8, 21, 21), torch.randn(4, 16, 11, 11), torch.randn(4, 32, 6, 6)]
    targets = [torch.randn(4, 8, 21, 21), torch.randn(4, 8, 21, 21), torch.randn(4, 16, 11, 11),
               torch.randn(4, 32, 6, 6), torch.randn(4, 64, 3, 3)]
    modules = {(l, k): ConvAlignment(s.shape[1], t.shape[1], tuple(t.shape[-2:]))
               for l, t in enumerate(targets) for k, s in enumerate(sources)}
    leaves = [s.clone().requires_grad_(True) for s in sources]
    items = [(modules[(l, k)], leaves[k], targets[l]) for l in range(len(targets)) for k in range(len(sources))]
    fast = ConvAlignment.squared_distances(items)
    weights = torch.rand_like(fast)
    (weights * fast).sum().backward()
    fast_grads = [p.grad.clone() for p in (*leaves, *(m.conv.weight for m, _, _ in items))]
    for p in (*leaves, *(m.conv.weight for m, _, _ in items)):
        p.grad = None
    slow = torch.stack([((conv_then_resize(m, s) - t) ** 2).flatten(1).mean(1) for m, s, t in items], dim=1)
    (weights * slow).sum().backward()
    slow_grads = [p.grad for p in (*leaves, *(m.conv.weight for m, _, _ in items))]
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_psi_batched_path_equals_generic_path() -> None:
    family = get_family("resnet")
    model = family.build_model(family.pseudo_descendant_config(tiny_resnet().config, None, 3))
    torch.manual_seed(0)
    big = [torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4), torch.randn(2, 16, 2, 2), torch.randn(2, 16, 2, 2)]
    small = [torch.randn(2, 8, 4, 4), torch.randn(2, 16, 2, 2)]
    pairs = [(0, 0), (1, 1), (2, 0), (3, 1), (2, 1)]  # a subset R: zeros elsewhere
    aligns = {(l, k): family.make_alignment(tuple(small[k].shape[1:]), tuple(big[l].shape[1:])) for l, k in pairs}
    student = PseudoDescendant(model, family, pairs, aligns)
    fast = student.psi(big, small)
    student._batched = None  # the per-pair loop
    slow = student.psi(big, small)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
    mask = torch.zeros(4, 2, dtype=torch.bool)
    for l, k in pairs:
        mask[l, k] = True
    assert torch.all(fast[:, ~mask] == 0) and torch.all(fast[:, mask] > 0)


def test_auto_step_is_deterministic_and_unregisters_its_schedulers() -> None:
    family = get_family("vit")
    config = CondenseConfig(batch_size=4, meta_batch_size=4, progress=False)
    generator = torch.Generator().manual_seed(0)
    x, x_hat = torch.randn(4, 3, 16, 16, generator=generator), torch.randn(4, 3, 16, 16, generator=generator)
    y = torch.tensor([0, 1, 2, 0])
    runs = []
    for _ in range(2):
        accelerator = Accelerator(cpu=True)
        step = AutoLearngeneStep(tiny_vit(), family, config, accelerator, num_classes=3, probe=x[:2], seed=0,
                                 total=3)
        assert len(accelerator._custom_objects) == 2
        runs.append([torch.stack([v.flatten()[0] for v in step(x, y, x_hat, i)]) for i in range(3)])
        step.close()
        assert accelerator._custom_objects == []
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("objective", ["paper", "scale_free"])
def test_resume_after_kill_in_a_later_repeat(monkeypatch: pytest.MonkeyPatch, objective: str) -> None:
    """Each repeat's checkpoint holds only its own schedulers, so a run killed in repeat 1 resumes."""
    dataset = make_dataset()
    base = {"batch_size": 8, "meta_batch_size": 4, "max_iterations": 4, "num_repeats": 2, "progress": False,
            "log_every": 1, "checkpoint_every": 2, "objective": objective}
    reference = condense(tiny_vit(), dataset, CondenseConfig(**base))
    calls = {"n": 0}

    def crash(step: int) -> None:
        calls["n"] += 1
        if calls["n"] == 4 + 3:  # repeat 1, step 3 (after its checkpoint at step 2)
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(auto_module, "_after_step", crash)
    with tempfile.TemporaryDirectory() as ckpt:
        with pytest.raises(KeyboardInterrupt):
            condense(tiny_vit(), dataset, CondenseConfig(**base, checkpoint_dir=ckpt))
        monkeypatch.setattr(auto_module, "_after_step", lambda step: None)
        resumed = condense(tiny_vit(), dataset, CondenseConfig(**base, checkpoint_dir=ckpt))
    for got, want in zip(resumed.repeats, reference.repeats):
        np.testing.assert_array_equal(got.pair_scores, want.pair_scores)
        assert [e["lr"] for e in got.log] == [e["lr"] for e in want.log]
