"""from_learngene: descendants inherit learngene layers bit for bit; fresh weights are seeded; library-free loading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import (
    AutoModelForImageClassification,
    Dinov2ForImageClassification,
    PreTrainedModel,
    ResNetForImageClassification,
    ViTForImageClassification,
)

from hf_learngene import LearngeneModel, from_learngene, save_descendant, scratch_descendant_like
from tests.tiny_models import (
    ANCESTRY_KINDS,
    FAMILY_OF,
    build_ancestry,
    pixel_values,
    sub_state_dict,
    tiny_vit,
)

DESCENDANT_CLASS = {"vit": ViTForImageClassification, "dinov2": Dinov2ForImageClassification,
                    "resnet": ResNetForImageClassification}
#: Where encoder layer ``i`` of a ViT / DINOv2 descendant lives.
TOKEN_PREFIX = {"vit": "vit.layers.{}.", "dinov2": "dinov2.encoder.layer.{}."}


def _learngene(kind: str, indices: list[int], seed: int = 0) -> LearngeneModel:
    return LearngeneModel.from_ancestry(build_ancestry(kind, seed=seed), layer_indices=indices, include_embeddings=False)


def _inherited_prefixes(model: PreTrainedModel) -> dict[int, str]:
    return {item["ancestry_layer"]: item["descendant"] for item in model.config.learngene["layer_map"]}


def _assert_inherits(child: PreTrainedModel, learngene: LearngeneModel) -> set[str]:
    """Every learngene tensor sits in ``child`` bit for bit; returns the inherited state-dict keys."""
    prefixes = _inherited_prefixes(child)
    assert sorted(prefixes) == learngene.config.layer_indices
    keys = set()
    for position, index in enumerate(learngene.config.layer_indices):
        expected = learngene.layers[position].state_dict()
        actual = sub_state_dict(child, prefixes[index])
        assert actual.keys() == expected.keys()
        for key, tensor in expected.items():
            assert actual[key].dtype == tensor.dtype
            assert torch.equal(actual[key], tensor), f"{prefixes[index]}{key}"
            keys.add(prefixes[index] + key)
    return keys


def _fresh_state(model: PreTrainedModel, inherited: set[str]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k not in inherited}


# ---------------------------------------------------------------------------------------------------- all families
@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_descendant_is_a_plain_transformers_model_inheriting_bit_for_bit(kind: str) -> None:
    learngene = _learngene(kind, [1, 3])
    child = from_learngene(learngene, num_labels=5, seed=0)
    family = FAMILY_OF[kind]
    assert type(child) is DESCENDANT_CLASS[family]
    assert child.config.num_labels == 5
    _assert_inherits(child, learngene)
    # The descendant classifies images.
    with torch.no_grad():
        logits = child.eval()(pixel_values=pixel_values()).logits
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()


@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_fresh_weights_are_seeded_and_inherited_ones_fixed(kind: str) -> None:
    learngene = _learngene(kind, [1, 3])
    a = from_learngene(learngene, num_labels=5, seed=0)
    b = from_learngene(learngene, num_labels=5, seed=0)
    c = from_learngene(learngene, num_labels=5, seed=1)
    inherited = _assert_inherits(a, learngene)
    _assert_inherits(c, learngene)
    for key, tensor in a.state_dict().items():  # same seed: identical model
        assert torch.equal(tensor, b.state_dict()[key]), key
    fresh_a, fresh_c = _fresh_state(a, inherited), _fresh_state(c, inherited)
    # different seed: every randomly initialised tensor differs (constants such as LayerNorm ones stay equal)
    random_keys = [k for k, v in fresh_a.items() if v.is_floating_point() and v.numel() > 1 and v.std() > 0]
    assert random_keys
    for key in random_keys:
        assert not torch.equal(fresh_a[key], fresh_c[key]), key


@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_scratch_twin_has_the_same_architecture_and_fresh_weights(kind: str) -> None:
    learngene = _learngene(kind, [1, 3])
    labels = {"id2label": {0: "a", 1: "b", 2: "c"}, "seed": 4}
    child = from_learngene(learngene, **labels)
    scratch = scratch_descendant_like(learngene, **labels)
    assert type(scratch) is type(child) and scratch.config.id2label == child.config.id2label
    assert getattr(scratch.config, "learngene", None) is None  # no origin: nothing was inherited
    inherited = _assert_inherits(child, learngene)
    assert scratch.state_dict().keys() == child.state_dict().keys()
    for key, tensor in _fresh_state(child, inherited).items():  # same seed: the same fresh weights
        assert torch.equal(scratch.state_dict()[key], tensor), key
    # the learngene positions are random in the twin
    assert any(not torch.equal(scratch.state_dict()[key], child.state_dict()[key]) for key in inherited)
    for bad in (None, 0, 2.0):  # the same label checks as from_learngene
        with pytest.raises(ValueError, match="num_labels must be a positive int"):
            scratch_descendant_like(learngene, bad)


@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_fresh_weights_use_the_family_normal_initialisation(kind: str) -> None:
    learngene = _learngene(kind, [0, 2])
    child = from_learngene(learngene, num_labels=5, seed=7)
    inherited = _assert_inherits(child, learngene)
    config = child.config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        reference = type(child)(config)  # the family class, initialised its own way
    fresh = _fresh_state(child, inherited)
    assert fresh
    for key, tensor in fresh.items():
        assert torch.equal(tensor, reference.state_dict()[key]), key
    # And nothing fresh was copied from the ancestry (its weights were perturbed away from any init).
    ancestry = build_ancestry(kind).state_dict()
    for key, tensor in fresh.items():
        if key in ancestry and ancestry[key].shape == tensor.shape and tensor.is_floating_point():
            assert not torch.equal(tensor, ancestry[key]), key


@pytest.mark.parametrize("kind", ["deit", "dinov2", "resnet-basic"])
def test_backbone_and_classifier_ancestries_give_the_same_descendant(kind: str) -> None:
    classifier = build_ancestry(kind)
    backbone = getattr(classifier, classifier.base_model_prefix)  # the bare DeiTModel / Dinov2Model / ResNetModel
    assert "ForImageClassification" not in type(backbone).__name__
    from_backbone = LearngeneModel.from_ancestry(backbone, layer_indices=[1, 2])
    from_classifier = LearngeneModel.from_ancestry(classifier, layer_indices=[1, 2])
    a = from_learngene(from_backbone, num_labels=3, seed=0)
    b = from_learngene(from_classifier, num_labels=3, seed=0)
    assert type(a) is type(b)
    for key, tensor in a.state_dict().items():
        assert torch.equal(tensor, b.state_dict()[key]), key


def test_seed_none_uses_the_global_rng_and_a_seed_leaves_it_alone() -> None:
    learngene = _learngene("vit", [0])
    torch.manual_seed(123)
    a = from_learngene(learngene, num_labels=2)
    torch.manual_seed(123)
    b = from_learngene(learngene, num_labels=2)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    from_learngene(learngene, num_labels=2, seed=9)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_descendant_records_its_origin(kind: str, tmp_path: Path) -> None:
    learngene = _learngene(kind, [0, 2])
    learngene.save_pretrained(tmp_path / "lg")
    child = from_learngene(str(tmp_path / "lg"), num_labels=3, seed=4)
    _assert_inherits(child, LearngeneModel.from_pretrained(tmp_path / "lg"))
    origin = child.config.learngene
    # a local learngene: folder name + content fingerprint (as ancestries are recorded), no machine path
    assert origin["learngene"].startswith("lg@sha256:") and len(origin["learngene"]) == len("lg@sha256:") + 16
    assert origin["inherited_lr_scale"] == 1.0  # layers only: the paper's one learning rate
    assert origin["revision"] is None  # a local folder has no commit
    assert origin["family"] == FAMILY_OF[kind]
    assert origin["seed"] == 4
    assert [item["ancestry_layer"] for item in origin["layer_map"]] == [0, 2]
    # The origin survives save / load with transformers alone.
    child.save_pretrained(tmp_path / "child")
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path / "child")
    assert reloaded.config.learngene == json.loads(json.dumps(origin))


def test_label_names_are_passed_to_the_head() -> None:
    learngene = _learngene("vit", [0, 1])
    child = from_learngene(learngene, id2label={0: "cat", 1: "dog"}, seed=0)
    assert child.config.num_labels == 2
    assert child.config.id2label == {0: "cat", 1: "dog"}
    assert child.config.label2id == {"cat": 0, "dog": 1}
    with pytest.raises(ValueError, match=r"num_labels=3 but id2label has 2 entries"):
        from_learngene(learngene, 3, id2label={0: "cat", 1: "dog"})
    for bad in (None, 0, -1, 2.0, True):
        with pytest.raises(ValueError, match="num_labels must be a positive int"):
            from_learngene(learngene, bad)


# ---------------------------------------------------------------------------------------------------- ViT / DINOv2
@pytest.mark.parametrize("kind", ["vit", "deit", "dinov2"])
def test_token_descendant_encoder_is_the_learngene_then_random_layers(kind: str) -> None:
    learngene = _learngene(kind, [1, 2])
    child = from_learngene(learngene, num_labels=4, num_random_layers=2, seed=0)
    family = FAMILY_OF[kind]
    assert child.config.num_hidden_layers == 4
    prefix = TOKEN_PREFIX[family]
    assert _inherited_prefixes(child) == {1: prefix.format(0), 2: prefix.format(1)}
    assert child.config.learngene["fresh_layers"] == [prefix.format(2), prefix.format(3)]
    _assert_inherits(child, learngene)
    for position in (2, 3):  # random layers differ from every learngene layer
        fresh = sub_state_dict(child, prefix.format(position))
        for layer in learngene.layers:
            assert any(not torch.equal(v, fresh[k]) for k, v in layer.state_dict().items())
    # The first two encoder layers compute what the learngene computes.
    child.eval()
    with torch.no_grad():
        hidden = getattr(child, family)(pixel_values=pixel_values(), output_hidden_states=True).hidden_states
        torch.testing.assert_close(learngene(hidden[0]).last_hidden_state, hidden[2], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["vit", "dinov2"])
def test_descendant_image_and_patch_size_may_differ(kind: str) -> None:
    learngene = _learngene(kind, [0, 3])
    child = from_learngene(learngene, num_labels=2, image_size=48, patch_size=16, seed=0)
    assert child.config.image_size == 48 and child.config.patch_size == 16
    _assert_inherits(child, learngene)
    with torch.no_grad():
        assert child.eval()(pixel_values=pixel_values(size=48)).logits.shape == (2, 2)


def test_deit_learngene_gives_a_vit_descendant() -> None:
    learngene = _learngene("deit", [0, 1])
    child = from_learngene(learngene, num_labels=2, seed=0)
    assert type(child) is ViTForImageClassification and child.config.model_type == "vit"
    _assert_inherits(child, learngene)


@pytest.mark.parametrize(
    ("kind", "option", "value"),
    [("vit", "hidden_size", 64), ("vit", "num_attention_heads", 8), ("vit", "intermediate_size", 128),
     ("deit", "hidden_size", 48), ("dinov2", "hidden_size", 64), ("dinov2", "mlp_ratio", 4),
     ("vit", "layer_norm_eps", 1e-3), ("dinov2", "qkv_bias", False)],
)
def test_descendant_cannot_widen_or_change_the_inherited_layers(kind: str, option: str, value: int) -> None:
    """Narrower widths are element-selected (tests/test_sizing.py); wider ones and other layer fields are refused."""
    learngene = _learngene(kind, [0, 1])
    with pytest.raises(ValueError, match=rf"learngene layers have {option}=.* asked for {option}={value}.*drop `{option}`"):
        from_learngene(learngene, num_labels=2, **{option: value})


def test_negative_random_layers_are_refused() -> None:
    with pytest.raises(ValueError, match="num_random_layers must be >= 0"):
        from_learngene(_learngene("vit", [0]), num_labels=2, num_random_layers=-1)


def test_descendant_options_reach_the_config() -> None:
    child = from_learngene(_learngene("vit", [0]), num_labels=2, hidden_dropout_prob=0.25, seed=0)
    assert child.config.hidden_dropout_prob == 0.25


# ---------------------------------------------------------------------------------------------------- ResNet
STAGE = "resnet.encoder.stages.{}.layers.{}."


@pytest.mark.parametrize(
    ("kind", "indices", "depths", "placement", "fresh"),
    [
        # all blocks: the ancestry's own layout, nothing fresh
        ("resnet-basic", [0, 1, 2, 3], [2, 2], {0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1)}, []),
        # stage 1 only has a non-transition block: a fresh transition block is put in front of it
        ("resnet-basic", [1, 3], [1, 2], {1: (0, 0), 3: (1, 1)}, [(1, 0)]),
        # stage 1 has no inherited block: it gets one fresh block
        ("resnet-basic", [0], [1, 1], {0: (0, 0)}, [(1, 0)]),
        ("resnet-basic", [2], [1, 1], {2: (1, 0)}, [(0, 0)]),
        ("resnet-bottleneck", [0, 1, 2, 3], [2, 2], {0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1)}, []),
        # bottleneck stage 0 starts with an 8->16 block: block 1 (16->16) needs a fresh transition first
        ("resnet-bottleneck", [1, 3], [2, 2], {1: (0, 1), 3: (1, 1)}, [(0, 0), (1, 0)]),
        ("resnet-bottleneck", [3], [1, 2], {3: (1, 1)}, [(0, 0), (1, 0)]),
    ],
)
def test_resnet_inherited_blocks_keep_their_stage(kind: str, indices: list[int], depths: list[int],
                                                  placement: dict[int, tuple[int, int]],
                                                  fresh: list[tuple[int, int]]) -> None:
    learngene = _learngene(kind, indices)
    child = from_learngene(learngene, num_labels=3, seed=0)
    assert list(child.config.depths) == depths
    assert child.config.hidden_sizes == build_ancestry(kind).config.hidden_sizes
    assert _inherited_prefixes(child) == {i: STAGE.format(*where) for i, where in placement.items()}
    assert child.config.learngene["fresh_layers"] == [STAGE.format(*where) for where in fresh]
    _assert_inherits(child, learngene)
    with torch.no_grad():
        assert child.eval()(pixel_values=pixel_values()).logits.shape == (2, 3)


@pytest.mark.parametrize("kind", ["resnet-basic", "resnet-bottleneck"])
def test_resnet_full_learngene_descendant_computes_like_the_learngene(kind: str) -> None:
    learngene = _learngene(kind, [0, 1, 2, 3])
    child = from_learngene(learngene, num_labels=3, seed=0).eval()
    with torch.no_grad():
        hidden = child.resnet(pixel_values=pixel_values(), output_hidden_states=True).hidden_states
        assert torch.equal(learngene(hidden[0]).last_hidden_state, hidden[-1])


def test_resnet_num_random_layers_sets_blocks_of_empty_stages() -> None:
    learngene = _learngene("resnet-basic", [0, 1])
    child = from_learngene(learngene, num_labels=3, num_random_layers=3, seed=0)
    assert list(child.config.depths) == [2, 3]
    assert child.config.learngene["fresh_layers"] == [STAGE.format(1, p) for p in range(3)]
    with pytest.raises(ValueError, match=r"num_random_layers=0: every ResNet stage needs at least one block"):
        from_learngene(learngene, num_labels=3, num_random_layers=0)


def test_resnet_stages_without_inherited_blocks_may_change_width() -> None:
    learngene = _learngene("resnet-basic", [0, 1])  # stage 0 only
    child = from_learngene(learngene, num_labels=3, hidden_sizes=[8, 24], seed=0)
    assert child.config.hidden_sizes == [8, 24]
    _assert_inherits(child, learngene)
    with torch.no_grad():
        assert child.eval()(pixel_values=pixel_values()).logits.shape == (2, 3)


@pytest.mark.parametrize(
    ("kind", "indices", "options", "pattern"),
    [
        ("resnet-basic", [0, 1], {"hidden_sizes": [12, 24]},
         (r"Channel widths do not line up: inherited block 0 \(stage 0\) maps 8->8.*stage 0 is 12 channels wide"
          r".*Keep hidden_sizes\[0\]=8")),
        ("resnet-basic", [2, 3], {"hidden_sizes": [8, 32]},
         (r"Channel widths do not line up: inherited block 2 \(stage 1\) maps 8->16.*stage 1 is 32 channels wide"
          r".*Keep hidden_sizes\[1\]=16")),
        ("resnet-basic", [2], {"hidden_sizes": [12, 16]},
         (r"Channel widths do not line up: inherited block 2 \(stage 1\) maps 8->16.*must start stage 1.*input has 12 "
          r"channels.*Keep hidden_sizes\[0\]=8")),
        ("resnet-bottleneck", [0], {"embedding_size": 12},
         (r"Channel widths do not line up: inherited block 0 \(stage 0\) maps 8->16.*input has 12 channels"
          r".*Keep embedding_size=8")),
        ("resnet-basic", [0], {"hidden_sizes": [8]}, r"hidden_sizes=\[8\] has 1 stages but .* ancestry has 2"),
        ("resnet-basic", [0], {"layer_type": "bottleneck"},
         r"learngene layers have layer_type='basic'.*asked for layer_type='bottleneck'.*drop `layer_type`"),
    ],
    ids=["width-stage0", "width-stage1", "input-width", "stem-width", "num-stages", "block-type"],
)
def test_resnet_mismatched_widths_are_clear_errors(kind: str, indices: list[int], options: dict,
                                                   pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        from_learngene(_learngene(kind, indices), num_labels=3, **options)


# ---------------------------------------------------------------------------------------------------- bad learngenes
def test_from_learngene_refuses_a_plain_checkpoint(tmp_path: Path) -> None:
    tiny_vit().save_pretrained(tmp_path / "vit")
    with pytest.raises(ValueError, match="not a learngene.*from_ancestry"):
        from_learngene(tmp_path / "vit", num_labels=2)


def test_from_learngene_refuses_missing_weights(tmp_path: Path) -> None:
    _learngene("vit", [0]).save_pretrained(tmp_path / "lg")
    (tmp_path / "lg" / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no weight file"):
        from_learngene(tmp_path / "lg", num_labels=2)


def test_from_learngene_refuses_a_learngene_whose_config_lies_about_the_width(tmp_path: Path) -> None:
    _learngene("vit", [0]).save_pretrained(tmp_path / "lg")
    path = tmp_path / "lg" / "config.json"
    data = json.loads(path.read_text())
    data["ancestry_config"]["hidden_size"] = 64
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"does not match its config.*wrong shapes"):
        from_learngene(tmp_path / "lg", num_labels=2)


# ---------------------------------------------------------------------------------------------------- saving
def test_descendant_save_writes_a_card_and_loads_with_transformers(tmp_path: Path) -> None:
    learngene = _learngene("vit", [0, 1])
    learngene.save_pretrained(tmp_path / "lg")
    child = from_learngene(tmp_path / "lg", num_labels=2, seed=0)
    save_descendant(child, tmp_path / "child")
    files = {p.name for p in (tmp_path / "child").iterdir()}
    assert {"config.json", "model.safetensors", "README.md"} <= files
    assert not any(name.endswith(".bin") for name in files)
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path / "child")
    assert type(reloaded) is ViTForImageClassification
    for key, tensor in child.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], tensor), key


def test_failed_descendant_save_leaves_the_earlier_save_intact(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    learngene = _learngene("vit", [0, 1])
    folder = tmp_path / "child"
    save_descendant(from_learngene(learngene, num_labels=2, seed=0), folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom while writing the card")

    monkeypatch.setattr("hf_learngene.inherit.descendant_card", explode)
    with pytest.raises(RuntimeError, match="boom"):
        save_descendant(from_learngene(learngene, num_labels=2, seed=1), folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["child"]


BLOCKER = '''
import importlib.abc
import sys


class _BlockHfLearngene(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "hf_learngene" or name.startswith("hf_learngene."):
            raise ImportError("hf_learngene is blocked in this process")
        return None


sys.meta_path.insert(0, _BlockHfLearngene())
'''

LOADER = '''
import json
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForImageClassification

try:
    import hf_learngene  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("hf_learngene should not be importable here")

torch.set_num_threads(int(sys.argv[1]))
pixel_values = load_file(sys.argv[2])["pixel_values"]
outputs = {}
for name, folder in json.loads(sys.argv[3]).items():
    model = AutoModelForImageClassification.from_pretrained(folder)
    assert not any(m.split(".")[0] == "hf_learngene" for m in sys.modules), "hf_learngene got imported"
    with torch.no_grad():
        outputs[name] = model(pixel_values=pixel_values).logits.contiguous()
    print(name, type(model).__name__)
save_file(outputs, sys.argv[4])
'''


def test_descendants_load_without_hf_learngene(tmp_path: Path) -> None:
    """Save one descendant per family and load them in a python process where hf_learngene cannot be imported."""
    inputs = pixel_values(batch=2)
    save_file({"pixel_values": inputs}, tmp_path / "inputs.safetensors")
    folders, expected, classes = {}, {}, {}
    for kind in ANCESTRY_KINDS:
        child = from_learngene(_learngene(kind, [0, 2]), num_labels=4, seed=3).eval()
        folders[kind] = str(tmp_path / kind)
        child.save_pretrained(folders[kind])
        with torch.no_grad():
            expected[kind] = child(pixel_values=inputs).logits
        classes[kind] = type(child).__name__
    script = tmp_path / "load.py"
    script.write_text(BLOCKER + textwrap.dedent(LOADER))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(torch.get_num_threads()), str(tmp_path / "inputs.safetensors"),
         json.dumps(folders), str(tmp_path / "outputs.safetensors")],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for kind in ANCESTRY_KINDS:
        assert f"{kind} {classes[kind]}" in result.stdout
    outputs = load_file(tmp_path / "outputs.safetensors")
    for kind in ANCESTRY_KINDS:
        assert torch.equal(outputs[kind], expected[kind]), kind


def test_blocker_really_blocks_hf_learngene(tmp_path: Path) -> None:
    """The subprocess set-up above must make `import hf_learngene` fail (or the test above proves nothing)."""
    script = tmp_path / "check.py"
    script.write_text(BLOCKER + "import hf_learngene\n")
    result = subprocess.run([sys.executable, "-I", str(script)], check=False, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "hf_learngene is blocked" in result.stderr
