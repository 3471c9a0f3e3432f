"""One contract suite over every registered architecture family (PEFT's common tester over a table of cases).

Each test runs for every family in ``supported_families()`` and every tiny ancestry of that family in
:data:`CASES`. A family registered without an entry in :data:`CASES` fails every test here, loudly: add a tiny case
(a builder in ``tests/tiny_models.py``) and the family gets the whole suite for free.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn
from transformers import PreTrainedModel

from hf_learngene import LearngeneError, LearngeneModel, from_learngene
from hf_learngene.cards import learngene_card
from hf_learngene.families import (
    ArchitectureFamily,
    FeatureAlignment,
    family_for_config,
    get_family,
    register_family,
    supported_families,
)
from hf_learngene.families.base import batched_squared_distances
from tests.tiny_models import FAMILY_OF, NUM_LABELS, NUM_LAYERS, build_ancestry, pixel_values, sub_state_dict
from tests.tiny_timm import build_timm_ancestry

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass(frozen=True)
class TinyCase:
    """A tiny ancestry of a family (``NUM_LAYERS`` integral layers, ``NUM_LABELS`` labels, 32x32 images): a kind of
    ``tests/tiny_models.build_ancestry`` (or its own ``builder(head=True, seed=0, **config_overrides)``), and the
    config overrides of a narrower model of the same family (its features need a real alignment to the ancestry's)."""

    kind: str
    narrow: dict[str, Any] = field(default_factory=dict)
    builder: Callable[..., PreTrainedModel] | None = None
    #: ``(num_layers asked for, integral layers expected)`` of its pseudo-descendants.
    pseudo_depths: tuple[tuple[int | None, int], ...] = ((None, max(1, NUM_LAYERS // 2)), (3, 3))

    def build(self, **kwargs: Any) -> PreTrainedModel:
        return self.builder(**kwargs) if self.builder is not None else build_ancestry(self.kind, **kwargs)


#: The tiny ancestries of every family. A new family adds its row here.
CASES: dict[str, tuple[TinyCase, ...]] = {
    "vit": (TinyCase("vit", {"hidden_size": 16}), TinyCase("deit", {"hidden_size": 16})),
    "dinov2": (TinyCase("dinov2", {"hidden_size": 16}),),
    "resnet": (TinyCase("resnet-basic", {"hidden_sizes": [4, 8]}),
               TinyCase("resnet-bottleneck", {"hidden_sizes": [8, 16]})),
    # timm checkpoints (skipped where timm is not installed). A timm ResNet always has four stages of at least one
    # block, so its pseudo-descendants cannot go below four blocks.
    "timm_vit": tuple(TinyCase(kind, {"embed_dim": 16, "num_heads": 2}, functools.partial(build_timm_ancestry, kind))
                      for kind in ("timm-vit", "timm-dinov2-reg", "timm-deit-distilled")),
    "timm_resnet": tuple(TinyCase(kind, {"channels": narrow}, functools.partial(build_timm_ancestry, kind),
                                  pseudo_depths=((None, 4), (5, 5)))
                         for kind, narrow in (("timm-resnet-basic", [2, 4, 4, 8]),
                                              ("timm-resnet-bottleneck", [1, 2, 2, 4]))),
}
_MISSING = TinyCase("<no tiny case>")


def _cases() -> list[Any]:
    return [pytest.param(name, case, id=f"{name}-{case.kind}")
            for name in supported_families() for case in CASES.get(name, (_MISSING,))]


def _ancestry(name: str, case: TinyCase, **overrides: Any):
    if case is _MISSING:
        pytest.fail(f"Family {name!r} is registered but has no tiny case in tests/test_family_contract.py CASES: add "
                    "one (a builder in tests/tiny_models.py) so the contract suite checks it.")
    assert FAMILY_OF.get(case.kind, name) == name
    return case.build(**overrides)


def _changed(value: Any) -> Any:
    """A different value of the same type (to ask a descendant for a change of a layer field)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "-other"
    return [value]


def test_every_registered_family_has_a_tiny_case() -> None:
    missing = sorted(set(supported_families()) - set(CASES))
    assert not missing, f"registered families without a tiny case in CASES: {missing}"


@pytest.mark.parametrize(("name", "case"), _cases())
class TestFamilyContract:
    def test_declares_name_label_model_types_and_layer_fields(self, name: str, case: TinyCase) -> None:
        model = _ancestry(name, case)
        family = get_family(name)
        assert family.name == name and isinstance(family.label, str) and family.label
        assert model.config.model_type in family.model_types and family_for_config(model.config) is family
        assert family.layer_fields and set(family.layer_field_values(model.config)) == set(family.layer_fields)
        rebuilt = family.config_from_dict(model.config.to_dict())
        assert type(rebuilt) is type(model.config) and rebuilt.to_dict() == model.config.to_dict()

    def test_integral_layers_count_is_num_layers(self, name: str, case: TinyCase) -> None:
        family = get_family(name)
        for head in (True, False):
            model = _ancestry(name, case, head=head)
            assert len(family.integral_layers(model)) == family.num_layers(model.config) == NUM_LAYERS

    def test_build_layer_has_the_shapes_of_the_ancestry_layers(self, name: str, case: TinyCase) -> None:
        model = _ancestry(name, case)
        family = get_family(name)
        for index, layer in enumerate(family.integral_layers(model)):
            built = family.build_layer(model.config, index).state_dict()
            actual = layer.state_dict()
            assert built.keys() == actual.keys(), index
            assert {k: (v.shape, v.dtype) for k, v in built.items()} == {k: (v.shape, v.dtype) for k, v in actual.items()}

    def test_forward_features_returns_one_tensor_per_layer_and_pool_a_vector(self, name: str, case: TinyCase) -> None:
        model = _ancestry(name, case)
        family = get_family(name)
        with torch.no_grad():
            logits, feats = family.forward_features(model, pixel_values())
            _, some = family.forward_features(model, pixel_values(), layers=[0, NUM_LAYERS - 1])
        assert logits.shape == (2, NUM_LABELS)
        assert len(feats) == NUM_LAYERS and all(isinstance(f, torch.Tensor) and f.shape[0] == 2 for f in feats)
        torch.testing.assert_close(some, [feats[0], feats[-1]])
        layers = family.integral_layers(model)
        for index in range(1, NUM_LAYERS):  # layer i reads layer i-1's output: layer_forward chains them
            with torch.no_grad():
                out = family.layer_forward(layers[index], feats[index - 1])
            torch.testing.assert_close(out, feats[index])
        for feat in feats:
            width = feat.shape[-1] if feat.ndim == 3 else feat.shape[1]  # tokens (B, T, D) or maps (B, C, H, W)
            assert family.pool(feat).shape == (2, width)

    def test_make_alignment_maps_every_feature_shape_to_the_ancestry_ones(self, name: str, case: TinyCase) -> None:
        family = get_family(name)
        model, narrow = _ancestry(name, case), _ancestry(name, case, seed=1, **case.narrow)
        with torch.no_grad():
            _, big = family.forward_features(model, pixel_values())
            _, small = family.forward_features(narrow, pixel_values())
        assert any(s.shape != b.shape for s in small for b in big)
        items = []
        for source in (*small, *big):
            for target in big:
                alignment = family.make_alignment(tuple(source.shape[1:]), tuple(target.shape[1:]))
                assert isinstance(alignment, (FeatureAlignment, nn.Identity))
                with torch.no_grad():
                    assert alignment(source).shape == target.shape
                if isinstance(alignment, FeatureAlignment):
                    items.append((alignment, source, target))
        assert items, "no real alignment was made"
        batched = batched_squared_distances([m for m, _, _ in items])
        if batched is not None:  # the optional batched protocol gives the same numbers as one call per pair
            with torch.no_grad():
                expected = torch.stack([((m(s) - t) ** 2).reshape(2, -1).mean(-1) for m, s, t in items], dim=1)
                torch.testing.assert_close(batched(items), expected, rtol=1e-4, atol=1e-5)

    def test_descendant_inherits_the_learngene_bit_exact(self, name: str, case: TinyCase) -> None:
        model = _ancestry(name, case)
        family = get_family(name)
        indices = [1, 3]
        plan = family.plan_descendant(model.config, indices, num_labels=5)
        assert [index for index, _ in plan.inherited] == indices and plan.config.num_labels == 5
        child = from_learngene(LearngeneModel.from_ancestry(model, layer_indices=indices), num_labels=5, seed=0)
        assert type(child) is family.descendant_class
        ancestry_layers = family.integral_layers(model)
        for index, prefix in plan.inherited:
            expected = ancestry_layers[index].state_dict()
            actual = sub_state_dict(child, prefix)
            assert actual.keys() == expected.keys()
            assert all(torch.equal(actual[k], v) for k, v in expected.items()), prefix
        with torch.no_grad():
            assert child.eval()(pixel_values=pixel_values()).logits.shape == (2, 5)

    def test_plan_descendant_refuses_changed_layer_fields_and_negative_fresh_layers(self, name: str,
                                                                                     case: TinyCase) -> None:
        model = _ancestry(name, case)
        family = get_family(name)
        values = family.layer_field_values(model.config)
        for key in family.layer_fields:
            changed = {key: _changed(values[key])}
            with pytest.raises(LearngeneError, match=f"learngene layers have {key}=.*Inherited layers cannot change"):
                family.plan_descendant(model.config, [0], num_labels=2, **changed)
        with pytest.raises(LearngeneError, match="num_random_layers"):
            family.plan_descendant(model.config, [0], num_labels=2, num_random_layers=-1)

    def test_pseudo_descendant_config_builds_a_smaller_model(self, name: str, case: TinyCase) -> None:
        model = _ancestry(name, case)
        family = get_family(name)
        for depth, expected in case.pseudo_depths:
            config = family.pseudo_descendant_config(model.config, depth, 3)
            pseudo = family.build_model(config)
            assert family.num_layers(config) == expected and isinstance(pseudo, family.descendant_class)
            with torch.no_grad():
                logits, feats = family.forward_features(pseudo.eval(), pixel_values())
            assert logits.shape == (2, 3) and len(feats) == expected

    def test_learngene_card_names_the_family_by_its_label(self, name: str, case: TinyCase) -> None:
        learngene = LearngeneModel.from_ancestry(_ancestry(name, case), layer_indices=[0])
        assert f"from the {get_family(name).label} ancestry" in learngene_card(learngene.config).text


def test_a_family_without_its_contract_attributes_is_refused() -> None:
    class Nameless(type(get_family("vit"))):
        name = "nameless"
        label = ""

    with pytest.raises(LearngeneError, match="Nameless cannot be registered as a family: it sets no label"):
        register_family(Nameless())
    assert "nameless" not in supported_families()
    assert issubclass(Nameless, ArchitectureFamily)


@pytest.mark.parametrize(("name", "case"), _cases())
def test_a_saved_descendant_works_with_pipeline(name: str, case: TinyCase, tmp_path) -> None:
    """Every family's saved descendant ships an image processor: ``pipeline("image-classification")`` loads it and
    predicts what the model predicts on the library's own preprocessing of the same image."""
    from PIL import Image
    from transformers import pipeline

    from hf_learngene import save_descendant
    from hf_learngene.data import ImageTransform

    learngene = LearngeneModel.from_ancestry(_ancestry(name, case), layer_indices=[0, 1])
    child = from_learngene(learngene, num_labels=3, seed=0, id2label={0: "a", 1: "b", 2: "c"}).eval()
    save_descendant(child, tmp_path / "child")
    size = child.config.learngene["preprocessing"]["image_size"]
    image = Image.fromarray(torch.randint(0, 255, (41, 29, 3), generator=torch.Generator().manual_seed(0),
                                          dtype=torch.uint8).numpy())
    record = child.config.learngene["preprocessing"]
    pixels = ImageTransform(size=size, mean=record["image_mean"], std=record["image_std"])(
        {"image": [image], "label": [0]})["pixel_values"]
    with torch.no_grad():
        expected = torch.softmax(child(pixel_values=pixels).logits, -1)[0]
    scores = {row["label"]: row["score"]
              for row in pipeline("image-classification", model=str(tmp_path / "child"), device="cpu")(image, top_k=None)}
    for index, label in child.config.id2label.items():
        assert scores[label] == pytest.approx(float(expected[index]), abs=1e-4)
