"""Descendants of any size: narrower layers by element selection (bit-exact at the recorded indices), fresh layers
anywhere in the depth, clear errors, the Weight Selection baseline, the card and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForImageClassification

from hf_learngene import LearngeneModel, from_learngene, save_descendant, scratch_descendant_like
from hf_learngene.cli import main as cli_main
from hf_learngene.sizing import (
    available_width_selections,
    check_width_record,
    element_magnitudes,
    evenly_spaced,
    inherited_positions,
    register_width_selection,
    select_elements,
)
from hf_learngene.weight_selection import weight_selection_descendant
from tests.test_inherit import BLOCKER
from tests.tiny_models import build_ancestry, pixel_values, sub_state_dict

TOKEN_KINDS = ("vit", "deit", "dinov2")
PREFIX = {"vit": "vit.layers.{}.", "deit": "vit.layers.{}.", "dinov2": "dinov2.encoder.layer.{}."}
#: hidden 32 -> 16, heads 4 -> 2 (head dim 8 kept), MLP 64 -> 32
NARROW = {"hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32}


def _learngene(kind: str, indices: list[int], seed: int = 0, **overrides) -> LearngeneModel:
    return LearngeneModel.from_ancestry(build_ancestry(kind, seed=seed, **overrides), layer_indices=indices,
                                        include_embeddings=False)


def _learngene_tensors(learngene: LearngeneModel, position: int) -> dict[str, torch.Tensor]:
    return learngene.layers[position].state_dict()


# ---------------------------------------------------------------------------------------------------- ViT / DINOv2
@pytest.mark.parametrize("rule", ["uniform", "heads", "magnitude"])
@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_narrow_token_descendant_inherits_the_selected_elements_bit_for_bit(kind: str, rule: str) -> None:
    learngene = _learngene(kind, [1, 3])
    child = from_learngene(learngene, num_labels=3, seed=0, width_selection=rule, **NARROW)
    config, origin = child.config, child.config.learngene
    assert (config.hidden_size, config.num_attention_heads) == (16, 2)
    mlp = child.dinov2.encoder.layer[0].mlp.fc1 if kind == "dinov2" else child.vit.layers[0].mlp.fc1
    assert mlp.out_features == 32
    width = origin["width"]
    assert width["selection"] == rule and width["descendant"] == NARROW
    assert width["ancestry"] == {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64}
    channels = width["indices"]["channels"]  # one channel set for the whole residual stream
    assert len(channels) == 16 and all(0 <= c < 32 for c in channels)
    assert check_width_record(child.state_dict(), learngene.state_dict(), origin) == 2 * len(
        _learngene_tensors(learngene, 0))
    # An independent check of a few tensors: rows / columns are the recorded ones, in every layer and norm.
    for position, entry in enumerate(origin["layer_map"]):
        indices = {**width["indices"], **entry.get("indices", {})}
        attention, units = torch.tensor(indices["attention"]), torch.tensor(indices["mlp"])
        source, target = _learngene_tensors(learngene, position), sub_state_dict(child, entry["descendant"])
        ch = torch.tensor(channels)
        assert torch.equal(target["attention.q_proj.weight"], source["attention.q_proj.weight"][attention][:, ch])
        assert torch.equal(target["attention.o_proj.weight"], source["attention.o_proj.weight"][ch][:, attention])
        assert torch.equal(target["mlp.fc2.weight"], source["mlp.fc2.weight"][ch][:, units])
        norms = [k for k in source if source[k].dim() == 1 and ("norm" in k or "lambda" in k)]
        assert norms and all(torch.equal(target[k], source[k][ch]) for k in norms)
    with torch.no_grad():
        assert torch.isfinite(child.eval()(pixel_values=pixel_values()).logits).all()


def test_uniform_rule_is_weight_selection_evenly_spaced_and_the_same_in_every_layer() -> None:
    learngene = _learngene("vit", [0, 1, 2])
    child = from_learngene(learngene, num_labels=3, seed=0, hidden_size=12, num_attention_heads=3,
                           intermediate_size=40)
    width = child.config.learngene["width"]
    assert width["indices"] == {"channels": evenly_spaced(32, 12), "attention": evenly_spaced(32, 12),
                                "mlp": evenly_spaced(64, 40)}
    assert evenly_spaced(32, 12) == [0, 3, 6, 8, 11, 14, 17, 20, 23, 25, 28, 31]  # round(linspace(0, 31, 12))
    assert evenly_spaced(64, 32) == list(range(0, 64, 2))
    assert all("indices" not in entry for entry in child.config.learngene["layer_map"])  # stored once: compact
    assert "axes" in width and width["axes"]["attention.q_proj.weight"] == ["attention", "channels"]


def test_heads_rule_keeps_whole_heads_and_refuses_another_head_dimension() -> None:
    learngene = _learngene("vit", [0, 1])
    child = from_learngene(learngene, num_labels=3, seed=0, width_selection="heads", **NARROW)
    assert child.config.learngene["width"]["indices"]["attention"] == [*range(8), *range(16, 24)]  # heads 0, 2
    with pytest.raises(ValueError, match=r"keeps whole attention heads.*head dimension must be the ancestry's \(8\)"
                                         r".*but it is 16.*width_selection='uniform'"):
        from_learngene(learngene, num_labels=3, width_selection="heads", hidden_size=16, num_attention_heads=1)
    # the uniform rule takes any head dimension
    child = from_learngene(learngene, num_labels=3, seed=0, hidden_size=16, num_attention_heads=1)
    assert child.config.num_attention_heads == 1


def test_magnitude_rule_keeps_the_elements_with_the_largest_weights() -> None:
    learngene = _learngene("dinov2", [0, 2])
    with torch.no_grad():  # make channels 3, 5 and 30 dominant in one layer
        learngene.layers[1].attention.q_proj.weight[:, [3, 5, 30]] *= 50
    child = from_learngene(learngene, num_labels=3, seed=0, width_selection="magnitude", hidden_size=16,
                           num_attention_heads=4, intermediate_size=32)  # head dim 4: elements, not heads
    origin = child.config.learngene
    channels = origin["width"]["indices"]["channels"]
    assert {3, 5, 30} <= set(channels) and channels == sorted(channels)
    scores = torch.zeros(32, dtype=torch.float64)
    for layer in learngene.layers:
        for key, tensor in layer.state_dict().items():
            axes = origin["width"]["axes"][key]
            for axis, role in enumerate(axes):
                if role == "channels":
                    scores += tensor.abs().double().movedim(axis, 0).reshape(32, -1).sum(1)
    assert set(channels) == set(torch.topk(scores, 16).indices.tolist())
    for entry, layer in zip(origin["layer_map"], learngene.layers):  # per layer MLP units by their own weights
        units = entry["indices"]["mlp"]
        fc1, fc2 = layer.mlp.fc1, layer.mlp.fc2
        unit_scores = (fc1.weight.abs().sum(1) + fc1.bias.abs() + fc2.weight.abs().sum(0)).detach()
        assert set(units) == set(torch.topk(unit_scores, 32).indices.tolist())
    assert check_width_record(child.state_dict(), learngene.state_dict(), origin) > 0
    role = type("R", (), {"ancestry_size": 4})()
    assert element_magnitudes(role, [(torch.tensor([[1., -2., 0., 3.]]), 1, 1)]).tolist() == [1, 2, 0, 3]


def test_dinov2_mlp_width_by_intermediate_size_or_mlp_ratio() -> None:
    learngene = _learngene("dinov2", [0])
    by_width = from_learngene(learngene, num_labels=2, seed=0, hidden_size=16, num_attention_heads=2,
                              intermediate_size=48)
    by_ratio = from_learngene(learngene, num_labels=2, seed=0, hidden_size=16, num_attention_heads=2, mlp_ratio=3)
    assert by_width.config.mlp_ratio == by_ratio.config.mlp_ratio == 3
    assert all(torch.equal(v, by_ratio.state_dict()[k]) for k, v in by_width.state_dict().items())
    kept_ratio = from_learngene(learngene, num_labels=2, seed=0, hidden_size=16, num_attention_heads=2)
    assert kept_ratio.config.learngene["sizes"]["intermediate_size"] == 32  # the ancestry's mlp_ratio=2
    with pytest.raises(ValueError, match=r"integer mlp_ratio.*MLP width of 40 cannot go with hidden_size=16"):
        from_learngene(learngene, num_labels=2, hidden_size=16, num_attention_heads=2, intermediate_size=40)
    with pytest.raises(ValueError, match="mlp_ratio=2 but the descendant was asked for mlp_ratio=3.*larger width"):
        from_learngene(learngene, num_labels=2, mlp_ratio=3)


@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_without_an_mlp_width_a_narrow_descendant_keeps_the_ancestrys_mlp_ratio(kind: str) -> None:
    # ancestry: width 32, MLP 64 (ratio 2); narrowed to 16 the MLP is 32 for ViT / DeiT as for DINOv2
    child = from_learngene(_learngene(kind, [0]), num_labels=2, seed=0, hidden_size=16, num_attention_heads=2)
    origin = child.config.learngene
    assert origin["sizes"]["intermediate_size"] == origin["width"]["descendant"]["intermediate_size"] == 32
    fc1 = child.dinov2.encoder.layer[0].mlp.fc1 if kind == "dinov2" else child.vit.layers[0].mlp.fc1
    assert fc1.out_features == 32
    if kind != "dinov2":
        assert child.config.intermediate_size == 32


@pytest.mark.parametrize(
    ("options", "pattern"),
    [({"hidden_size": 64}, r"hidden_size=32 but .* asked for hidden_size=64.*larger width.*hidden_size <= 32"),
     ({"num_attention_heads": 8}, (r"have num_attention_heads=4 \(4 attention heads\) but the descendant was "
                                   r"asked for num_attention_heads=8\. Inherited layers cannot change.*subset of the ancestry's heads.*<= 4")),
     ({"intermediate_size": 65}, r"intermediate_size=64 .*intermediate_size=65.*an MLP width <= 64"),
     ({"hidden_size": 20, "num_attention_heads": 3}, r"num_attention_heads=3 does not divide hidden_size=20.*e\.g\. 1, 2, 4"),
     ({"hidden_size": 16, "width_indices": {"channels": [0, 1, 2]}},
      r"width_indices for 'channels' has 3 indices but the descendant keeps 16 of the ancestry's 32"),
     ({"hidden_size": 16, "width_indices": {"channels": list(range(15)) + [40]}},
      r"distinct indices in 0\.\.31; got out of range \[40\]"),
     ({"hidden_size": 16, "width_indices": {"channels": [0] * 16}}, r"distinct indices.*repeated"),
     ({"hidden_size": 16, "width_indices": {"chanels": [0]}}, r"width_indices names \['chanels'\].*roles are"),
     ({"width_indices": {"channels": [0]}}, r"width_indices were given but the descendant keeps the ancestry's width"),
     ({"width_selection": "heads"}, (r"width_selection='heads' was given but the descendant keeps the ancestry's width"
                                    r".*only applies when a smaller width is asked for")),
     ({"width_selection": "largest"}, r"Unknown width_selection 'largest'"),
     ({"hidden_size": 16, "width_selection": "largest"}, r"Unknown width_selection 'largest'; registered: uniform"),
     ({"layout": [0]}, r"layout lists 1 positions but the learngene has 2 layers"),
     ({"layout": [1, 0], "num_random_layers": 1}, r"layout \[1, 0\] must be increasing positions in 0\.\.2"),
     ({"layout": "middle"}, r"Unknown layout 'middle'")],
    ids=["wider", "more-heads", "wider-mlp", "heads-divide", "wrong-length", "out-of-range", "repeats",
         "unknown-role", "indices-at-full-width", "rule-at-full-width", "unknown-rule-at-full-width", "unknown-rule",
         "layout-length", "layout-order", "layout-name"],
)
def test_width_and_layout_requests_are_clear_errors(options: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        from_learngene(_learngene("vit", [0, 1]), num_labels=2, **options)


@pytest.mark.parametrize("kind", ["vit", "resnet-basic"])
def test_at_full_width_the_default_width_selection_is_accepted_and_another_rule_refused(kind: str) -> None:
    learngene = _learngene(kind, [0, 1])
    child = from_learngene(learngene, num_labels=2, seed=0, width_selection="uniform")  # the default, as if absent
    assert "width" not in child.config.learngene
    with pytest.raises(ValueError, match=r"width_selection='magnitude' was given but the descendant keeps the "
                                         r"ancestry's width.*Ask for one or drop width_selection"):
        from_learngene(learngene, num_labels=2, width_selection="magnitude")


def test_explicit_width_indices_are_used_and_recorded() -> None:
    learngene = _learngene("vit", [0, 1])
    channels = [31, 0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 1]
    child = from_learngene(learngene, num_labels=2, seed=0, hidden_size=16, width_indices={"channels": channels})
    width = child.config.learngene["width"]
    assert width["indices"]["channels"] == channels and width["explicit_roles"] == ["channels"]
    assert width["indices"]["attention"] == evenly_spaced(32, 16)  # the rule for the roles not given
    assert check_width_record(child.state_dict(), learngene.state_dict(), child.config.learngene) > 0


def test_swiglu_layers_cannot_be_narrowed() -> None:
    learngene = _learngene("dinov2", [0], use_swiglu_ffn=True)
    with pytest.raises(ValueError, match=r"tensors \['mlp\.gate_proj.*SwiGLU.*cannot be narrowed"):
        from_learngene(learngene, num_labels=2, hidden_size=16, num_attention_heads=2)
    assert from_learngene(learngene, num_labels=2, seed=0).config.hidden_size == 32  # full width still works


def test_a_registered_width_rule_is_used() -> None:
    def last(role, tensors):
        return list(range(role.ancestry_size - role.size, role.ancestry_size))

    register_width_selection("test_last", last, description="the highest indices")
    assert "test_last" in available_width_selections()
    learngene = _learngene("vit", [0])
    child = from_learngene(learngene, num_labels=2, seed=0, hidden_size=16, width_selection="test_last")
    assert child.config.learngene["width"]["indices"]["channels"] == list(range(16, 32))
    assert check_width_record(child.state_dict(), learngene.state_dict(), child.config.learngene) > 0


@pytest.mark.parametrize("kind", ["vit", "dinov2"])
def test_scratch_twin_of_a_narrow_deep_descendant_has_its_architecture(kind: str) -> None:
    learngene = _learngene(kind, [0, 2])
    options = {**NARROW, "num_random_layers": 2, "layout": "interleave", "seed": 3}
    child = from_learngene(learngene, 3, **options)
    scratch = scratch_descendant_like(learngene, 3, **options)
    assert scratch.state_dict().keys() == child.state_dict().keys()
    inherited = {e["descendant"] for e in child.config.learngene["layer_map"]}
    for key, tensor in scratch.state_dict().items():
        assert tensor.shape == child.state_dict()[key].shape
        if not key.startswith(tuple(inherited)):
            assert torch.equal(tensor, child.state_dict()[key]), key  # same seed: same fresh weights
    assert any(not torch.equal(scratch.state_dict()[k], v) for k, v in child.state_dict().items()
               if k.startswith(tuple(inherited)))
    sizes = child.config.learngene["sizes"]
    assert sizes["num_hidden_layers"] == 4 and sizes["num_parameters"] < sizes["full_width_num_parameters"]


# ---------------------------------------------------------------------------------------------------- layout
@pytest.mark.parametrize(
    ("layout", "extra", "positions"),
    [(None, 2, [0, 1]), ("after", 2, [0, 1]), ("before", 2, [2, 3]), ("interleave", 2, [0, 2]),
     ("interleave", 1, [0, 2]), ([1, 3], None, [1, 3]), ([0, 4], 3, [0, 4])],
)
@pytest.mark.parametrize("kind", ["vit", "dinov2"])
def test_layout_places_the_fresh_layers(kind: str, layout, extra, positions: list[int]) -> None:
    learngene = _learngene(kind, [1, 2])
    child = from_learngene(learngene, num_labels=2, num_random_layers=extra, layout=layout, seed=0)
    depth = 2 + (extra if extra is not None else max(positions) + 1 - 2)
    origin = child.config.learngene
    assert child.config.num_hidden_layers == depth
    assert [e["descendant"] for e in origin["layer_map"]] == [PREFIX[kind].format(p) for p in positions]
    assert origin["fresh_layers"] == [PREFIX[kind].format(p) for p in range(depth) if p not in positions]
    assert origin["layout"] == ("after" if layout is None else layout if isinstance(layout, str) else "explicit")
    for position, p in enumerate(positions):
        expected = _learngene_tensors(learngene, position)
        actual = sub_state_dict(child, PREFIX[kind].format(p))
        assert all(torch.equal(actual[k], v) for k, v in expected.items())
    assert inherited_positions("interleave", 6, 12) == [0, 2, 4, 6, 8, 10]


def test_layout_is_refused_by_families_without_it() -> None:
    with pytest.raises(ValueError, match="layout= places fresh layers.*ResNet family does not support"):
        from_learngene(_learngene("resnet-basic", [0]), num_labels=2, layout="before")


# ---------------------------------------------------------------------------------------------------- ResNet
@pytest.mark.parametrize(
    ("kind", "indices", "options", "fresh"),
    [("resnet-basic", [0, 1, 2, 3], {"hidden_sizes": [4, 8], "embedding_size": 4}, 0),
     ("resnet-basic", [1, 3], {"hidden_sizes": [6, 12], "embedding_size": 6}, 1),
     ("resnet-bottleneck", [0, 1, 2, 3], {"hidden_sizes": [8, 16], "embedding_size": 4}, 0),
     ("resnet-bottleneck", [0, 2], {"hidden_sizes": [12, 20], "embedding_size": 8}, 0),
     ("resnet-bottleneck", [3], {"hidden_sizes": [8, 16]}, 2)],
)
@pytest.mark.parametrize("rule", ["uniform", "magnitude"])
def test_narrow_resnet_descendant_slices_convs_batchnorms_and_shortcuts(kind: str, indices: list[int],
                                                                        options: dict, fresh: int, rule: str) -> None:
    learngene = _learngene(kind, indices)
    child = from_learngene(learngene, num_labels=3, seed=0, width_selection=rule, **options)
    origin = child.config.learngene
    assert child.config.hidden_sizes == options["hidden_sizes"] and len(origin["fresh_layers"]) == fresh
    assert check_width_record(child.state_dict(), learngene.state_dict(), origin) == sum(
        len(layer.state_dict()) for layer in learngene.layers)
    width = origin["width"]
    for entry, layer in zip(origin["layer_map"], learngene.layers):
        axes = entry.get("axes") or width["axes"]
        indices_of = {**width["indices"], **entry.get("indices", {})}
        target = sub_state_dict(child, entry["descendant"])
        for key, tensor in layer.state_dict().items():  # the shortcut projection and BN statistics too
            assert torch.equal(target[key], select_elements(tensor, axes[key], indices_of)), key
        if "shortcut.convolution.weight" in axes:
            out_role, in_role = axes["shortcut.convolution.weight"][:2]
            assert axes["layer.0.convolution.weight"][1] == in_role  # the block reads one stream...
            last = max(k for k in axes if k.startswith("layer.") and k.endswith("convolution.weight"))
            assert axes[last][0] == out_role  # ...and writes one
            assert target["shortcut.normalization.running_var"].shape == (len(indices_of[out_role]),)
    with torch.no_grad():
        assert torch.isfinite(child.eval()(pixel_values=pixel_values()).logits).all()
    sizes = origin["sizes"]
    assert sizes["hidden_sizes"] == options["hidden_sizes"] and sizes["num_parameters"] < sizes[
        "full_width_num_parameters"]


def test_resnet_stage_channels_are_shared_by_the_blocks_of_a_stage() -> None:
    learngene = _learngene("resnet-basic", [0, 1, 2, 3])
    child = from_learngene(learngene, num_labels=3, seed=0, width_selection="magnitude", hidden_sizes=[4, 8],
                           embedding_size=4)
    width = child.config.learngene["width"]
    # stage 0 starts with an identity shortcut (8 -> 8): the stem's channels and stage 0's are one stream
    assert set(width["indices"]) >= {"embedding", "stage1"} and "stage0" not in width["indices"]
    axes = [entry["axes"] for entry in child.config.learngene["layer_map"]]
    assert axes[0]["layer.1.convolution.weight"][0] == axes[1]["layer.1.convolution.weight"][0] == "embedding"
    assert axes[2]["shortcut.convolution.weight"][:2] == ["stage1", "embedding"]


@pytest.mark.parametrize(
    ("kind", "indices", "options", "pattern"),
    [("resnet-bottleneck", [0], {"hidden_sizes": [8, 16], "embedding_size": 8},
      (r"block 0 \(stage 0\) has a shortcut projection, but in the descendant it maps 8->8.*puts none.*Keep "
      r"embedding_size and hidden_sizes\[0\] different")),
     ("resnet-basic", [0], {"hidden_sizes": [4, 16], "embedding_size": 8},
      r"block 0 \(stage 0\) has no shortcut projection \(identity\).*maps 8->4.*needs one.*equal"),
     ("resnet-basic", [2], {"hidden_sizes": [8, 20]}, r"stage 1 is 20 channels wide.*narrowed, not widened")],
)
def test_resnet_narrowing_errors(kind: str, indices: list[int], options: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        from_learngene(_learngene(kind, indices), num_labels=3, **options)


# ---------------------------------------------------------------------------------------------------- library-free check
CHECKER = '''
import json
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageClassification

try:
    import hf_learngene  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("hf_learngene should not be importable here")


def select(tensor, axes, indices):
    for dim, entry in enumerate(axes):
        if entry is not None:
            name, _, chunks = entry.partition(":")
            picked = torch.tensor(indices[name])
            step = tensor.shape[dim] // int(chunks or 1)
            picked = torch.cat([picked + c * step for c in range(int(chunks or 1))])
            tensor = torch.index_select(tensor, dim, picked)
    return tensor


checked = 0
for descendant, learngene in json.loads(sys.argv[1]):
    model = AutoModelForImageClassification.from_pretrained(descendant)
    state, source = model.state_dict(), load_file(learngene + "/model.safetensors")
    origin = model.config.learngene
    width = origin["width"]
    for entry in origin["layer_map"]:
        axes = entry.get("axes") or width["axes"]
        indices = {**width["indices"], **entry.get("indices", {})}
        prefix = "layers.%d." % entry["learngene_layer"]
        for key, tensor in source.items():
            if key.startswith(prefix):
                name = key[len(prefix):]
                assert torch.equal(state[entry["descendant"] + name], select(tensor, axes[name], indices)), name
                checked += 1
print("checked", checked)
'''


def test_narrow_descendants_check_bit_for_bit_from_their_config_without_hf_learngene(tmp_path: Path) -> None:
    pairs, expected = [], 0
    cases = [("dinov2", [1, 3], {**NARROW, "width_selection": "magnitude", "num_random_layers": 1,
                                 "layout": "before"}),
             ("vit", [0, 2], {**NARROW, "width_selection": "heads"}),
             ("resnet-bottleneck", [0, 1, 2, 3], {"hidden_sizes": [8, 16], "embedding_size": 4})]
    for kind, indices, options in cases:
        learngene = _learngene(kind, indices)
        learngene.save_pretrained(tmp_path / f"{kind}-lg")
        save_descendant(from_learngene(learngene, num_labels=3, seed=0, **options), tmp_path / kind)
        pairs.append([str(tmp_path / kind), str(tmp_path / f"{kind}-lg")])
        expected += sum(len(layer.state_dict()) for layer in learngene.layers)
    script = tmp_path / "check.py"
    script.write_text(BLOCKER + textwrap.dedent(CHECKER))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    result = subprocess.run([sys.executable, "-I", str(script), json.dumps(pairs)], check=False, capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"checked {expected}" in result.stdout


# ---------------------------------------------------------------------------------------------------- card and CLI
def test_card_shows_the_sizes_and_cli_inherit_builds_a_narrow_descendant(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _learngene("dinov2", [0, 1]).save_pretrained(tmp_path / "lg")
    code = cli_main(["inherit", "--learngene", str(tmp_path / "lg"), "--num-labels", "4", "--output",
                     str(tmp_path / "child"), "--hidden-size", "16", "--num-attention-heads", "2",
                     "--intermediate-size", "32", "--num-random-layers", "2", "--layout", "interleave",
                     "--width-selection", "heads"])
    assert code == 0
    out = capsys.readouterr().out
    assert "hidden_size=16, num_attention_heads=2, intermediate_size=32, num_hidden_layers=4" in out
    assert "at the ancestry's width)" in out and "layout interleave" in out and "width selection: heads" in out
    child = AutoModelForImageClassification.from_pretrained(tmp_path / "child")
    sizes = child.config.learngene["sizes"]
    assert child.config.hidden_size == 16 and child.config.learngene["width"]["selection"] == "heads"
    card = (tmp_path / "child" / "README.md").read_text()
    assert "## Size" in card and "| width (hidden_size) | 16 | 32 |" in card and "| attention heads | 2 | 4 |" in card
    assert "| MLP width | 32 | 64 |" in card and "| layers | 4 | 4 |" in card
    assert f"| parameters | {sizes['num_parameters']:,} (" in card and f"{sizes['full_width_num_parameters']:,} |" in card
    assert "element selection (rule `heads`" in card and "layout `interleave`" in card
    full = from_learngene(tmp_path / "lg", num_labels=2, seed=0)
    assert full.config.learngene["sizes"]["num_parameters"] == full.config.learngene["sizes"][
        "full_width_num_parameters"]
    assert cli_main(["inherit", "--learngene", str(tmp_path / "lg"), "--num-labels", "4", "--output",
                     str(tmp_path / "bad"), "--hidden-size", "64"]) == 2
    assert "larger width" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["inherit", "--learngene", str(tmp_path / "lg"), "--num-labels", "4", "--output",
                  str(tmp_path / "bad"), "--hidden-sizes", "8,x"])
    err = capsys.readouterr().err
    assert "argument --hidden-sizes: expected comma-separated integers" in err and "'8,x'" in err
    assert "lambda" not in err


# ---------------------------------------------------------------------------------------------------- Weight Selection
@pytest.mark.parametrize(
    ("kind", "options", "size"),
    [("dinov2", {**NARROW, "image_size": 48}, 48), ("vit", NARROW, 32),
     ("resnet-bottleneck", {"hidden_sizes": [8, 16], "embedding_size": 4}, 32)],
)
def test_weight_selection_takes_the_lowest_layers_and_embeddings_element_selected(kind: str, options: dict,
                                                                                  size: int) -> None:
    ancestry = build_ancestry(kind)
    child = weight_selection_descendant(ancestry, 2, num_labels=3, seed=0, **options)
    origin = child.config.learngene
    assert [e["ancestry_layer"] for e in origin["layer_map"]] == [0, 1] and origin["selection_method"] == "manual"
    # the layers: exactly what from_learngene gives for a manual learngene of layers 0, 1 (the same code)
    first_k = LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1], include_embeddings=False)
    twin = from_learngene(first_k, num_labels=3, seed=0, **options)
    inherited = tuple(e["descendant"] for e in origin["layer_map"])
    for key, tensor in twin.state_dict().items():
        if key.startswith(inherited):
            assert torch.equal(child.state_dict()[key], tensor), key
    assert check_width_record(child.state_dict(), first_k.state_dict(), origin) > 0
    # the embeddings (and final norm): the ancestry's at the recorded channel indices
    record, indices = origin["weight_selection"], origin["width"]["indices"]
    assert record["num_layers"] == 2 and record["tensors"]
    source = ancestry.state_dict()
    for key, axes in record["tensors"].items():
        if key.endswith("position_embeddings") and record["position_embeddings_resampled"]:
            continue
        assert torch.equal(child.state_dict()[key], select_elements(source[key], axes, indices)), key
    assert record["position_embeddings_resampled"] == (kind == "dinov2")
    with torch.no_grad():
        assert torch.isfinite(child.eval()(pixel_values=pixel_values(size=size)).logits).all()
    bare = weight_selection_descendant(ancestry, 2, num_labels=3, seed=0, embeddings=False, **options)
    assert bare.config.learngene["weight_selection"]["tensors"] == {}
    with pytest.raises(ValueError, match=r"num_layers must be an int in 1\.\.4"):
        weight_selection_descendant(ancestry, 5, num_labels=3, **options)


def test_weight_selection_by_stage_takes_the_first_blocks_of_every_stage() -> None:
    from hf_learngene.weight_selection import stagewise_first_layers

    # a learngene of blocks 1..4 of a 3-stage ResNet gives depths [1, 2, 1]; Weight Selection at the same
    # architecture takes each stage's first blocks: [0], [2, 3], [4]
    ancestry = build_ancestry("resnet-basic", depths=[2, 2, 2], hidden_sizes=[8, 16, 16])
    options = {"hidden_sizes": [4, 8, 8], "embedding_size": 4}
    learngene_child = from_learngene(LearngeneModel.from_ancestry(ancestry, layer_indices=[1, 2, 3, 4], include_embeddings=False),
                                     num_labels=3, seed=0, **options)
    depths = list(learngene_child.config.depths)
    assert depths == [1, 2, 1]
    child = weight_selection_descendant(ancestry, num_labels=3, depths=depths, seed=0, **options)
    record = child.config.learngene["weight_selection"]
    assert record["layer_indices"] == [0, 2, 3, 4] == [e["ancestry_layer"] for e in child.config.learngene["layer_map"]]
    assert record["depths"] == depths and list(child.config.depths) == depths
    assert child.num_parameters() == learngene_child.num_parameters()  # the same architecture
    # the inherited blocks: exactly from_learngene's of a manual learngene of those layers (bit for bit)
    twin = from_learngene(LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 2, 3, 4], include_embeddings=False), num_labels=3, seed=0,
                          **options)
    inherited = tuple(e["descendant"] for e in child.config.learngene["layer_map"])
    assert all(torch.equal(child.state_dict()[k], v) for k, v in twin.state_dict().items() if k.startswith(inherited))
    assert stagewise_first_layers([3, 4, 6, 3], [1, 2, 1, 1]) == [0, 3, 4, 7, 13]
    with pytest.raises(ValueError, match=r"depths\[1\] must be an int in 1\.\.2"):
        weight_selection_descendant(ancestry, num_labels=3, depths=[1, 3, 1], **options)
    with pytest.raises(ValueError, match="one entry per ancestry stage"):
        weight_selection_descendant(ancestry, num_labels=3, depths=[1, 1], **options)
    with pytest.raises(ValueError, match="exactly one of num_layers"):
        weight_selection_descendant(ancestry, 2, num_labels=3, depths=depths, **options)
    with pytest.raises(ValueError, match="one stack of layers: pass num_layers"):
        weight_selection_descendant(build_ancestry("vit"), num_labels=3, depths=[1, 1])


@pytest.mark.parametrize(
    ("kind", "options"),
    [("dinov2", {**NARROW, "image_size": 48}), ("vit", NARROW),
     ("resnet-bottleneck", {"hidden_sizes": [8, 16], "embedding_size": 4})],
)
def test_inherit_embeddings_of_a_narrower_descendant_selects_the_layers_channels(kind: str, options: dict) -> None:
    from hf_learngene.recipes import embedding_module, inherit_embeddings, inherited_parameter_names

    ancestry = build_ancestry(kind)
    child = from_learngene(LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1], include_embeddings=False), num_labels=3, seed=0,
                           **options)
    inherit_embeddings(child, ancestry)
    record, indices = child.config.learngene["embeddings"], child.config.learngene["width"]["indices"]
    assert set(record["axes"]) == set(record["tensors"]) and any(any(a) for a in record["axes"].values())
    # the same channels as the inherited layers, hence as Weight Selection's embeddings from the same lowest layers
    reference = weight_selection_descendant(ancestry, 2, num_labels=3, seed=0, **options)
    module = record["module"]
    for key in record["tensors"]:
        name = f"{module}.{key}"
        assert torch.equal(child.state_dict()[name], reference.state_dict()[name]), name
        assert reference.config.learngene["weight_selection"]["tensors"][name] == record["axes"][key]
    source = embedding_module(child.config.learngene["family"], ancestry).state_dict()
    embedding = embedding_module(child.config.learngene["family"], ancestry)
    for key, axes in record["axes"].items():
        value = source[key]
        if key == "position_embeddings" and record["position_embeddings_resampled"]:
            # the table the ancestry itself adds at the descendant's image size, then its channels
            target = child.state_dict()[f"{module}.{key}"]
            size = child.config.image_size
            value = embedding.interpolate_pos_encoding(torch.zeros(*target.shape[:-1], value.shape[-1]), size, size)
        assert torch.equal(child.state_dict()[f"{module}.{key}"], select_elements(value, axes, indices)), key
    assert record["position_embeddings_resampled"] == (kind == "dinov2")
    # a lower learning rate for inherited weights covers Weight Selection's embeddings too
    names = set(inherited_parameter_names(reference))
    assert {n for n, _ in reference.named_parameters() if n.startswith(module + ".")} <= names



def test_cli_inherit_embeddings_from_copies_the_ancestrys_embedding_element_selected(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ancestry = build_ancestry("dinov2")
    ancestry.save_pretrained(tmp_path / "ancestry")
    LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1], include_embeddings=False).save_pretrained(tmp_path / "lg")
    code = cli_main(["inherit", "--learngene", str(tmp_path / "lg"), "--num-labels", "3", "--output",
                     str(tmp_path / "child"), "--hidden-size", "16", "--num-attention-heads", "2",
                     "--embeddings-from", str(tmp_path / "ancestry")])
    assert code == 0
    assert "input embedding dinov2.embeddings from" in capsys.readouterr().out
    child = AutoModelForImageClassification.from_pretrained(tmp_path / "child")
    record, indices = child.config.learngene["embeddings"], child.config.learngene["width"]["indices"]
    source = getattr(ancestry, "dinov2", ancestry).embeddings.state_dict()
    for key, axes in record["axes"].items():
        assert torch.equal(child.dinov2.embeddings.state_dict()[key], select_elements(source[key], axes, indices)), key
    assert cli_main(["inherit", "--learngene", str(tmp_path / "lg"), "--num-labels", "3", "--output",
                     str(tmp_path / "bad"), "--embeddings-from", str(tmp_path / "lg")]) == 2
