"""timm checkpoints as ancestries and descendants (hf_learngene/families/timm_*.py).

Tiny timm models are built in-process (``tests/tiny_timm.py``), saved in the layouts timm writes, and taken through
the whole path on the local Hub: condense, save, push, pull by revision, inherit, fine-tune a step, and reload the
descendant with `transformers` alone (in a process where hf_learngene cannot be imported). The contract suite
(``tests/test_family_contract.py``) checks the two families like every other one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi
from safetensors.torch import load_file, save_file

from hf_learngene import (
    CondenseConfig,
    LearngeneError,
    LearngeneModel,
    condense,
    from_learngene,
    save_descendant,
    scratch_descendant_like,
)
from hf_learngene.condensation.config import HeuristicConfig, ManualConfig
from hf_learngene.errors import UnsupportedArchitectureError
from hf_learngene.families import family_for_config, get_family
from hf_learngene.hub import load_ancestry
from hf_learngene.sizing import check_width_record
from tests.hub_server import HUB_USERNAME, LocalHub
from tests.test_inherit import BLOCKER
from tests.tiny_models import pixel_values, sub_state_dict, tiny_image_dataset
from tests.tiny_timm import (
    TIMM_FAMILY_OF,
    build_timm_ancestry,
    build_timm_model,
    require_timm,
    save_timm_checkpoint,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = {"batch_size": 8, "meta_batch_size": 4, "max_iterations": 3, "num_repeats": 1, "progress": False,
        "log_every": 1, "image_size": 32}


def _blocks(model: torch.nn.Module, family: str) -> list[torch.nn.Module]:
    """The integral layers of a bare timm model, read without hf_learngene's mapping."""
    if family == "timm_resnet":
        return [block for name in ("layer1", "layer2", "layer3", "layer4") for block in getattr(model, name)]
    return list(model.blocks)


def _assert_inherited(child: torch.nn.Module, blocks: list[torch.nn.Module]) -> None:
    """Every ``config.learngene`` layer_map entry of ``child`` holds its ancestry block bit for bit."""
    layer_map = child.config.learngene["layer_map"]
    assert layer_map
    for entry in layer_map:
        expected = blocks[entry["ancestry_layer"]].state_dict()
        actual = sub_state_dict(child, entry["descendant"])
        assert actual.keys() == expected.keys(), entry
        assert all(torch.equal(actual[k], v) for k, v in expected.items()), entry


# ---------------------------------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("kind", ["timm-vit", "timm-resnet-bottleneck"])
def test_save_for_hf_layout_loads_although_its_model_args_hold_num_classes(kind: str, tmp_path: Path) -> None:
    model = build_timm_model(kind)
    folder = save_timm_checkpoint(model, tmp_path / "ancestry")
    config = json.loads((folder / "config.json").read_text())
    assert "model_type" not in config and config["model_args"]["num_classes"] == 3  # what timm writes
    assert (folder / "model.safetensors").exists() and "pretrained_cfg" in config

    loaded = load_ancestry(folder)
    family = TIMM_FAMILY_OF[kind]
    assert loaded.family.name == family and type(loaded.model).__name__ == "TimmWrapperModel"
    assert "num_classes" not in (loaded.model.config.model_args or {})
    for ours, theirs in zip(loaded.family.integral_layers(loaded.model), _blocks(model, family), strict=True):
        assert all(torch.equal(ours.state_dict()[k], v) for k, v in theirs.state_dict().items())
    learngene = LearngeneModel.from_ancestry(folder, layer_indices=[0, 2])
    assert learngene.config.family == family
    assert "num_classes" not in (learngene.config.ancestry_config["model_args"] or {})


@pytest.mark.parametrize(("kind", "family", "num_layers"), [("timm-test-vit", "timm_vit", 6),
                                                             ("timm-test-resnet", "timm_resnet", 4)])
def test_hub_layout_without_model_args_loads_the_architecture_defaults(kind: str, family: str, num_layers: int,
                                                                        tmp_path: Path) -> None:
    model = build_timm_model(kind)
    folder = save_timm_checkpoint(model, tmp_path / "ancestry", model_args=False)
    assert "model_args" not in json.loads((folder / "config.json").read_text())
    loaded = load_ancestry(folder)
    assert loaded.family.name == family and loaded.family.num_layers(loaded.model.config) == num_layers
    assert loaded.license == "apache-2.0"
    learngene = LearngeneModel.from_ancestry(folder, layer_indices=[1, 3])
    child = from_learngene(learngene, num_labels=2, seed=0)
    _assert_inherited(child, _blocks(model, family))
    assert get_family(family).image_preprocessing(loaded.model.config)["size"] == 160  # from pretrained_cfg



def test_condensing_at_the_checkpoints_own_resolution_preprocesses_as_timm_does(tmp_path: Path) -> None:
    """crop_pct and interpolation of pretrained_cfg: resize the shortest edge to size / crop_pct, center crop."""
    model = build_timm_model("timm-test-vit")  # skips without timm
    import numpy as np
    import timm.data
    from PIL import Image

    from hf_learngene import CondenseConfig
    from hf_learngene.condensation.data import _transform_for

    folder = save_timm_checkpoint(model, tmp_path / "ancestry")
    config = load_ancestry(folder).model.config
    cfg = config.pretrained_cfg
    assert (cfg["crop_pct"], cfg["interpolation"], cfg["input_size"][1]) == (0.95, "bicubic", 160)
    preprocessing = get_family("timm_vit").image_preprocessing(config)
    assert (preprocessing["resize_shortest_edge"], preprocessing["resample"]) == (168, 3)  # floor(160 / 0.95)
    ours = _transform_for(folder, CondenseConfig(), config, "image", "label")
    assert (ours.size, ours.resize_shortest_edge, ours.resample, ours.crop_offset) == ((160, 160), 168, 3, "round")
    theirs = timm.data.create_transform(**timm.data.resolve_data_config(model=model), is_training=False)
    # landscape, portrait, a truncated long side and odd crop margins (torchvision rounds the offset)
    for shape in ((200, 260), (200, 259), (200, 261), (263, 200), (201, 201), (171, 250)):
        image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8))
        pixels = ours({"image": [image], "label": [0]})["pixel_values"][0]
        assert torch.allclose(pixels, theirs(image), atol=1e-5), shape
    # another size than the checkpoint's: a plain resize to it, as for the transformers families
    other = _transform_for(folder, CondenseConfig(image_size=64), config, "image", "label")
    assert (other.size, other.resize_shortest_edge) == ((64, 64), None)

def test_a_bare_timm_model_is_an_ancestry() -> None:
    model = build_timm_model("timm-dinov2-reg")
    learngene = LearngeneModel.from_ancestry(model, layer_indices=[0, 3])
    assert learngene.config.family == "timm_vit"
    assert learngene.config.ancestry_config["architecture"] == "vit_small_patch14_reg4_dinov2"
    blocks = _blocks(model, "timm_vit")
    for layer, index in zip(learngene.layers, [0, 3]):
        assert all(torch.equal(layer.state_dict()[k], v) for k, v in blocks[index].state_dict().items())
    result = condense(build_timm_model("timm-resnet-basic"), config=ManualConfig(layer_indices=[1, 2]))
    assert result.learngene.config.family == "timm_resnet" and result.selected_layers == [1, 2]


# ---------------------------------------------------------------------------------------------------- the whole path
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

torch.set_num_threads(1)
pixel_values = load_file(sys.argv[1])["pixel_values"]
model = AutoModelForImageClassification.from_pretrained(sys.argv[2]).eval()
assert not any(m.split(".")[0] == "hf_learngene" for m in sys.modules), "hf_learngene got imported"
with torch.no_grad():
    logits = model(pixel_values=pixel_values).logits.contiguous()
save_file({"logits": logits, **{k: v.contiguous() for k, v in model.state_dict().items()}}, sys.argv[3])
print(type(model).__name__, json.dumps(model.config.learngene["layer_map"]), model.config.id2label[0])
'''


def _reloads_without_the_library(child: torch.nn.Module, out: Path, tmp_path: Path) -> None:
    """``out`` (a saved ``child``) loads with AutoModelForImageClassification in a process where hf_learngene cannot
    be imported, and gives ``child``'s logits and state bit for bit."""
    inputs = pixel_values(batch=2)
    save_file({"pixel_values": inputs}, tmp_path / "inputs.safetensors")
    script = tmp_path / "load.py"
    script.write_text(BLOCKER + textwrap.dedent(LOADER))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    done = subprocess.run([sys.executable, "-I", str(script), str(tmp_path / "inputs.safetensors"), str(out),
                           str(tmp_path / "outputs.safetensors")], check=False, capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("TimmWrapperForImageClassification ") and done.stdout.strip().endswith(" cat")
    outputs = load_file(tmp_path / "outputs.safetensors")
    child.eval()
    with torch.no_grad():
        assert torch.equal(outputs.pop("logits"), child(pixel_values=inputs).logits)
    state = child.state_dict()
    assert outputs.keys() == state.keys() and all(torch.equal(outputs[k], v) for k, v in state.items())


@pytest.mark.parametrize("kind", ["timm-dinov2-reg", "timm-resnet-bottleneck"])
def test_condense_push_pull_inherit_train_and_reload_without_the_library(kind: str, local_hub: LocalHub,
                                                                         tmp_path: Path) -> None:
    family = TIMM_FAMILY_OF[kind]
    bare = build_timm_model(kind)
    folder = save_timm_checkpoint(bare, tmp_path / "ancestry")
    api = HfApi()
    ancestry_repo = f"{HUB_USERNAME}/tiny-{kind}"
    api.create_repo(ancestry_repo)
    revision = api.upload_folder(repo_id=ancestry_repo, folder_path=folder).oid
    api.upload_file(repo_id=ancestry_repo, path_or_fileobj=b"{}", path_in_repo="later.json")  # main moves on

    # Condense (Auto-Learngene) from the Hub by revision, save, push, pull by revision.
    data = tiny_image_dataset(num_classes=4, per_class=8)
    result = condense(ancestry_repo, data, CondenseConfig(**FAST, num_layers=2), revision=revision)
    assert len(result.selected_layers) == 2 and result.learngene.config.ancestry_revision == revision
    saved = result.save(tmp_path / "learngene")
    assert (saved / "scores.json").exists()
    commit = LearngeneModel.from_pretrained(saved).push_to_hub(f"{HUB_USERNAME}/{kind}-learngene")
    learngene = LearngeneModel.from_pretrained(f"{HUB_USERNAME}/{kind}-learngene", revision=commit.oid)
    assert learngene.commit_sha == commit.oid and learngene.config.family == family

    # Inherit, fine-tune a step.
    labels = {0: "cat", 1: "dog", 2: "fox"}
    child = from_learngene(learngene, id2label=labels, seed=0)
    assert type(child).__name__ == "TimmWrapperForImageClassification"
    assert child.config.architecture == bare.pretrained_cfg["architecture"]
    assert "num_classes" not in child.config.model_args
    _assert_inherited(child, _blocks(bare, family))
    assert child.config.learngene["revision"] == commit.oid and child.config.learngene["family"] == family
    optimizer = torch.optim.SGD(child.parameters(), lr=0.1)
    child.train()
    loss = child(pixel_values=pixel_values(batch=4), labels=torch.tensor([0, 1, 2, 0])).loss
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    child.eval()

    # Save (the layout that loads) and reload with transformers alone.
    out = save_descendant(child, tmp_path / "descendant")
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == bare.pretrained_cfg["architecture"] and "num_classes" not in config["model_args"]
    assert config["learngene"]["layer_map"] == child.config.learngene["layer_map"]
    _reloads_without_the_library(child, out, tmp_path)


@pytest.mark.parametrize("kind", ["timm-vit", "timm-resnet-basic"])
def test_heuristic_and_manual_condensing(kind: str) -> None:
    ancestry = build_timm_ancestry(kind)
    data = tiny_image_dataset(num_classes=4, per_class=8)
    config = HeuristicConfig(batch_size=4, meta_batch_size=4, num_repeats=1, progress=False, image_size=32,
                             heuristic_n_way=2, heuristic_num_tasks=2, heuristic_steps_per_task=2,
                             heuristic_batch_size=4, num_layers=2)
    heuristic = condense(ancestry, data, config)
    assert heuristic.learngene.config.selection_method == "heuristic" and len(heuristic.selected_layers) == 2
    assert len(heuristic.layer_scores) == 4
    manual = condense(ancestry, config=ManualConfig(layer_indices=[0, 3]))
    assert manual.learngene.config.layer_indices == [0, 3]


# ---------------------------------------------------------------------------------------------------- descendants
def test_vit_descendants_may_change_image_and_patch_size_and_add_fresh_blocks() -> None:
    ancestry = build_timm_ancestry("timm-dinov2-reg")
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[1, 2])
    child = from_learngene(learngene, num_labels=4, image_size=48, patch_size=12, num_random_layers=1, seed=0)
    assert child.config.model_args["depth"] == 3 and child.config.model_args["patch_size"] == 12
    assert child.config.pretrained_cfg["input_size"] == [3, 48, 48]
    assert child.config.learngene["fresh_layers"] == ["timm_model.blocks.2."]
    _assert_inherited(child, _blocks(ancestry.timm_model, "timm_vit"))
    with torch.no_grad():
        assert child(pixel_values=pixel_values(size=48)).logits.shape == (2, 4)
    twin = scratch_descendant_like(learngene, num_labels=4, image_size=48, patch_size=12, num_random_layers=1, seed=0)
    assert twin.state_dict().keys() == child.state_dict().keys()


@pytest.mark.parametrize("kind", ["timm-vit", "timm-resnet-basic"])
def test_fresh_weights_are_timms_own_initialisation(kind: str) -> None:
    # transformers' TimmWrapper*._init_weights would redraw them (normal(0.02) convs, last BatchNorm weight 1).
    timm = require_timm()
    ancestry = build_timm_ancestry(kind)
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[1])
    child = from_learngene(learngene, num_labels=2, num_random_layers=2 if kind == "timm-vit" else None, seed=3)
    scratch = scratch_descendant_like(learngene, num_labels=2, num_random_layers=2 if kind == "timm-vit" else None,
                                      seed=3)
    torch.manual_seed(3)
    reference = timm.create_model(child.config.architecture, pretrained=False, num_classes=2,
                                  **child.config.model_args).state_dict()
    inherited = tuple(entry["descendant"][len("timm_model."):] for entry in child.config.learngene["layer_map"])
    for model in (child, scratch):
        state = model.timm_model.state_dict()
        assert state.keys() == reference.keys()
        fresh = [key for key in state if not (model is child and key.startswith(inherited))]
        assert fresh and all(torch.equal(state[key], reference[key]) for key in fresh)
    _assert_inherited(child, _blocks(ancestry.timm_model, TIMM_FAMILY_OF[kind]))
    if kind == "timm-resnet-basic":  # timm zero-initialises the last BatchNorm of a residual block
        assert torch.count_nonzero(child.timm_model.layer1[0].bn2.weight) == 0
    else:
        assert torch.equal(child.timm_model.blocks[1].mlp.fc1.weight, reference["blocks.1.mlp.fc1.weight"])


def test_options_that_change_inherited_blocks_are_refused() -> None:
    learngene = LearngeneModel.from_ancestry(build_timm_ancestry("timm-dinov2-reg"), layer_indices=[0])
    with pytest.raises(LearngeneError, match="Learngene layer 0 does not fit the descendant at blocks.0.*init_values"):
        from_learngene(learngene, num_labels=2, init_values=0)  # no layer scale: other blocks
    with pytest.raises(LearngeneError, match="learngene layers have qkv_bias=True"):
        from_learngene(learngene, num_labels=2, qkv_bias=False)
    with pytest.raises(LearngeneError, match="depth follow from the learngene layout"):
        from_learngene(learngene, num_labels=2, depth=3)


@pytest.mark.parametrize("kind", ["timm-vit", "timm-dinov2-reg", "timm-deit-distilled"])
def test_narrow_vit_descendant_inherits_the_selected_elements_bit_for_bit(kind: str, tmp_path: Path) -> None:
    from transformers import AutoModelForImageClassification

    ancestry = build_timm_ancestry(kind)  # width 32, 4 heads, MLP 128
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[1, 3])
    child = from_learngene(learngene, num_labels=2, seed=0, num_random_layers=1, hidden_size=16,
                           num_attention_heads=2)
    args, origin = child.config.model_args, child.config.learngene
    assert (args["embed_dim"], args["num_heads"], args["depth"]) == (16, 2, 3)
    assert child.timm_model.blocks[0].mlp.fc1.out_features == 64  # the ancestry's MLP ratio (4)
    width = origin["width"]
    assert width["ancestry"] == {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 128}
    assert width["descendant"] == {"hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 64}
    assert width["axes"]["attn.qkv.weight"] == ["attention:3", "channels"]
    assert origin["sizes"]["num_parameters"] < origin["sizes"]["full_width_num_parameters"]
    assert check_width_record(child.state_dict(), learngene.state_dict(), origin) == len(
        learngene.layers[0].state_dict()) * 2
    # by hand, without sizing.select_elements: q, k and v each keep the attention indices, then the channels
    channels, attention = width["indices"]["channels"], width["indices"]["attention"]
    for entry in origin["layer_map"]:
        block = ancestry.timm_model.blocks[entry["ancestry_layer"]]
        qkv = block.attn.qkv.weight.reshape(3, 32, 32)[:, attention][:, :, channels].reshape(48, 16)
        narrow = sub_state_dict(child, entry["descendant"])
        assert torch.equal(narrow["attn.qkv.weight"], qkv)
        assert torch.equal(narrow["mlp.fc2.weight"], block.mlp.fc2.weight[channels][:, width["indices"]["mlp"]])
        assert torch.equal(narrow["norm1.weight"], block.norm1.weight[channels])
    timm_names = from_learngene(learngene, num_labels=2, seed=0, num_random_layers=1, embed_dim=16, num_heads=2,
                                mlp_ratio=4)
    assert all(torch.equal(v, timm_names.state_dict()[k]) for k, v in child.state_dict().items())
    child.save_pretrained(tmp_path / "child")
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path / "child").eval()
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in child.state_dict().items())
    with torch.no_grad():
        assert reloaded(pixel_values=pixel_values()).logits.shape == (2, 2)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [({"hidden_size": 64}, r"hidden_size=32 but .* asked for hidden_size=64.*larger width"),
     ({"embed_dim": 64}, r"embed_dim=32 but .* asked for embed_dim=64.*larger width"),
     ({"num_heads": 8}, r"num_heads=4 \(4 attention heads\).*subset of the ancestry's heads"),
     ({"intermediate_size": 256}, r"intermediate_size=128 .*an MLP width <= 128"),
     ({"hidden_size": 16, "embed_dim": 16}, r"Give the width as hidden_size or as embed_dim, not both"),
     ({"hidden_size": 20, "num_attention_heads": 3}, r"num_attention_heads=3 does not divide hidden_size=20"),
     ({"width_selection": "heads"}, r"width_selection='heads' was given but the descendant keeps the ancestry's")],
    ids=["wider", "wider-timm-name", "more-heads", "wider-mlp", "both-names", "heads-divide", "rule-at-full-width"],
)
def test_timm_vit_width_requests_are_clear_errors(options: dict, pattern: str) -> None:
    learngene = LearngeneModel.from_ancestry(build_timm_ancestry("timm-vit"), layer_indices=[0])
    with pytest.raises(LearngeneError, match=pattern):
        from_learngene(learngene, num_labels=2, **options)


def test_a_timm_vit_with_blocks_element_selection_does_not_know_cannot_be_narrowed() -> None:
    learngene = LearngeneModel.from_ancestry(build_timm_ancestry("timm-vit", qk_norm=True), layer_indices=[0])
    with pytest.raises(LearngeneError, match=r"element selection does not know.*q_norm.*keep the ancestry's width"):
        from_learngene(learngene, num_labels=2, hidden_size=16)
    assert from_learngene(learngene, num_labels=2, seed=0).config.model_args["embed_dim"] == 32


def test_resnet_descendant_gets_a_fresh_transition_block_before_a_later_bottleneck_block() -> None:
    ancestry = build_timm_ancestry("timm-resnet-bottleneck", layers=[2, 1, 1, 1])
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[1, 2])  # layer1 block 1, layer2 block 0
    child = from_learngene(learngene, num_labels=2, seed=0)
    assert child.config.model_args["layers"] == [2, 1, 1, 1]
    assert [e["descendant"] for e in child.config.learngene["layer_map"]] == ["timm_model.layer1.1.",
                                                                             "timm_model.layer2.0."]
    assert child.config.learngene["fresh_layers"] == ["timm_model.layer1.0.", "timm_model.layer3.0.",
                                                      "timm_model.layer4.0."]
    _assert_inherited(child, _blocks(ancestry.timm_model, "timm_resnet"))
    with torch.no_grad():
        assert child(pixel_values=pixel_values()).logits.shape == (2, 2)


#: The stem and stage (output) widths of the tiny timm ResNets (tests/tiny_timm.py).
ANCESTRY_WIDTHS = {"timm-resnet-basic": {"embedding_size": 64, "hidden_sizes": [4, 8, 8, 16]},
                   "timm-resnet-bottleneck": {"embedding_size": 64, "hidden_sizes": [8, 16, 16, 32]},
                   "timm-resnet-deep": {"embedding_size": 16, "hidden_sizes": [8, 16, 16, 32]},
                   "timm-seresnet": {"embedding_size": 64, "hidden_sizes": [8, 16, 16, 256]}}


@pytest.mark.parametrize(
    ("kind", "indices", "options", "model_args", "sizes"),
    [("timm-resnet-basic", [0, 1, 2, 3], {"hidden_sizes": [2, 4, 4, 8]}, {"channels": [2, 4, 4, 8]},
      {"embedding_size": 64, "hidden_sizes": [2, 4, 4, 8], "depths": [1, 1, 1, 1]}),
     ("timm-resnet-bottleneck", [1, 3], {"hidden_sizes": [4, 8, 8, 16]}, {"channels": [1, 2, 2, 4]},
      {"embedding_size": 64, "hidden_sizes": [4, 8, 8, 16], "depths": [1, 1, 1, 1]}),
     ("timm-resnet-bottleneck", [0, 2], {"channels": [1, 2, 2, 4]}, {"channels": [1, 2, 2, 4]},  # timm's names
      {"embedding_size": 64, "hidden_sizes": [4, 8, 8, 16], "depths": [1, 1, 1, 1]}),
     ("timm-resnet-deep", [0, 1, 2, 3], {"hidden_sizes": [4, 8, 8, 16], "embedding_size": 8},
      {"channels": [1, 2, 2, 4], "stem_width": 4},
      {"embedding_size": 8, "hidden_sizes": [4, 8, 8, 16], "depths": [1, 1, 1, 1]}),
     ("timm-seresnet", [2, 3], {"hidden_sizes": [8, 16, 16, 128]}, {"channels": [2, 4, 4, 32]},
      {"embedding_size": 64, "hidden_sizes": [8, 16, 16, 128], "depths": [1, 1, 1, 1]})],
    ids=["basic", "bottleneck-fresh-stages", "timm-names", "deep-stem", "squeeze-excitation"],
)
def test_narrow_resnet_descendant_inherits_the_selected_elements_bit_for_bit(
        kind: str, indices: list[int], options: dict, model_args: dict, sizes: dict, tmp_path: Path) -> None:
    ancestry = build_timm_ancestry(kind)
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=indices)
    child = from_learngene(learngene, id2label={0: "cat", 1: "dog"}, seed=0, **options)
    origin = child.config.learngene
    assert type(child).__name__ == "TimmWrapperForImageClassification"
    assert {k: child.config.model_args[k] for k in model_args} == model_args
    assert {k: origin["sizes"][k] for k in sizes} == sizes
    assert origin["sizes"]["num_parameters"] < origin["sizes"]["full_width_num_parameters"]
    width = origin["width"]
    assert width["descendant"] == {k: sizes[k] for k in ("embedding_size", "hidden_sizes")}
    assert width["ancestry"] == ANCESTRY_WIDTHS[kind]
    assert check_width_record(child.state_dict(), learngene.state_dict(), origin) == sum(
        len(layer.state_dict()) for layer in learngene.layers)
    # by hand, without sizing.select_elements: convolutions, BatchNorms and the shortcut read and write the stage
    # streams' indices, the inner convolutions their own
    blocks = _blocks(ancestry.timm_model, "timm_resnet")
    for entry in origin["layer_map"]:
        axes = entry.get("axes") or width["axes"]
        picked = {**width["indices"], **entry.get("indices", {})}
        block, narrow = blocks[entry["ancestry_layer"]], sub_state_dict(child, entry["descendant"])
        out_role, in_role = axes["downsample.0.weight" if "downsample.0.weight" in axes else "downsample.1.weight"][:2]
        last, inner = ("conv3", "inner1") if hasattr(block, "conv3") else ("conv2", "inner0")
        assert axes["conv1.weight"][1] == in_role and axes[f"{last}.weight"][0] == out_role  # one stream in, one out
        assert torch.equal(narrow["conv1.weight"], block.conv1.weight[picked["inner0"]][:, picked[in_role]])
        assert torch.equal(narrow[f"{last}.weight"], getattr(block, last).weight[picked[out_role]][:, picked[inner]])
        bn = getattr(block, last.replace("conv", "bn"))
        assert torch.equal(narrow[f"{last.replace('conv', 'bn')}.running_var"], bn.running_var[picked[out_role]])
        shortcut = next(m for m in block.downsample if isinstance(m, torch.nn.Conv2d)).weight
        key = "downsample.0.weight" if "downsample.0.weight" in axes else "downsample.1.weight"
        assert torch.equal(narrow[key], shortcut[picked[out_role]][:, picked[in_role]])
        if kind == "timm-seresnet":
            assert torch.equal(narrow["se.fc1.weight"], block.se.fc1.weight[picked["se"]][:, picked[out_role]])
    if kind == "timm-seresnet":
        assert child.timm_model.layer4[0].se.fc1.out_channels == 8 < blocks[3].se.fc1.out_channels == 16
    with torch.no_grad():
        assert torch.isfinite(child.eval()(pixel_values=pixel_values()).logits).all()

    # save, card, and reload with transformers alone (hf_learngene cannot be imported there)
    out = save_descendant(child, tmp_path / "descendant")
    card = (out / "README.md").read_text()
    assert "## Size" in card and f"| stage widths | {sizes['hidden_sizes']} | {width['ancestry']['hidden_sizes']} |" \
        in card
    assert f"| stem width | {sizes['embedding_size']} |" in card and "| blocks per stage | [1, 1, 1, 1] |" in card
    _reloads_without_the_library(child, out, tmp_path)


def test_narrow_basic_resnet_shares_the_stem_channels_through_an_identity_shortcut() -> None:
    # layer1.0 maps 64 -> 64 without a projection (as in resnet18): the stem's channels and stage 0's are one stream
    ancestry = build_timm_ancestry("timm-resnet-basic", channels=[64, 8, 8, 16])
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[1, 2])
    child = from_learngene(learngene, num_labels=2, seed=0, width_selection="magnitude", channels=[32, 4, 8, 16])
    origin = child.config.learngene
    assert [e["descendant"] for e in origin["layer_map"]] == ["timm_model.layer2.0.", "timm_model.layer3.0."]
    assert origin["fresh_layers"] == ["timm_model.layer1.0.", "timm_model.layer4.0."]
    assert check_width_record(child.state_dict(), learngene.state_dict(), origin) == 2 * len(
        learngene.layers[0].state_dict())
    assert len(origin["width"]["indices"]["stage0"]) == 32 and len(origin["width"]["indices"]["stage1"]) == 4
    assert "stage2" in origin["width"]["indices"]  # kept whole (8 of 8): the identity slot of layer3.0's input
    with pytest.raises(LearngeneError, match=r"block 0 \(stage 0\) has no shortcut projection \(identity\), but in "
                                             r"the descendant it maps 64->32 .*where timm needs one.*equal"):
        from_learngene(LearngeneModel.from_ancestry(ancestry, layer_indices=[0]), num_labels=2,
                       hidden_sizes=[32, 8, 8, 16])


@pytest.mark.parametrize(
    ("kind", "options", "pattern"),
    [("timm-resnet-basic", {"hidden_sizes": [8, 8, 8, 16]},
      r"stage 0 is 8 channels wide \(hidden_sizes\[0\]=8\).*narrowed, not widened.*hidden_sizes\[0\] <= 4"),
     ("timm-resnet-basic", {"channels": [8, 8, 8, 16]}, r"stage 0 is 8 channels wide.*narrowed, not widened"),
     ("timm-resnet-basic", {"hidden_sizes": [2, 4]}, (r"hidden_sizes=\[2, 4\] has 2 stages but the learngene's "
                                                      r"ancestry has 4.*one width per stage")),
     ("timm-resnet-basic", {"channels": [2, 4, 4, 8.5]}, (r"learngene layers have channels=\[4, 8, 8, 16\].*"
                                                          r"one positive int width per stage")),
     ("timm-resnet-basic", {"hidden_sizes": [2, 4, 4, 8], "channels": [2, 4, 4, 8]},
      r"hidden_sizes .* or as channels .*, not both"),
     ("timm-resnet-bottleneck", {"hidden_sizes": [6, 16, 16, 32]}, (r"hidden_sizes\[0\]=6: a timm bottleneck stage "
                                                                    r"is channels \* 4 wide.*multiples of 4")),
     ("timm-resnet-basic", {"embedding_size": 32}, r"plain 7x7 stem .* always has a 64-channel stem.*deep-stem"),
     ("timm-resnet-basic", {"stem_width": 16}, r"stem_width=16, but .* plain 7x7 stem .* ignores stem_width"),
     ("timm-resnet-deep", {"embedding_size": 9}, r"embedding_size=9: a timm deep stem .* even width"),
     ("timm-resnet-deep", {"embedding_size": 32}, (r"descendant's input has 32 channels \(embedding_size=32\), more "
                                                  r"than the block takes")),
     ("timm-resnet-basic", {"hidden_sizes": [2, 4, 4, 8], "width_indices": {"stage0": [0]}},
      r"width_indices for 'stage0' has 1 indices but the descendant keeps 2")],
    ids=["wider", "wider-timm-name", "stages", "not-ints", "both-names", "expansion", "plain-stem", "plain-stem-width",
         "odd-deep-stem",
         "wider-stem", "indices-length"],
)
def test_timm_resnet_width_requests_are_clear_errors(kind: str, options: dict, pattern: str) -> None:
    learngene = LearngeneModel.from_ancestry(build_timm_ancestry(kind), layer_indices=[0, 1])
    with pytest.raises(LearngeneError, match=pattern):
        from_learngene(learngene, num_labels=2, **options)


@pytest.mark.parametrize(
    ("kind", "model_args", "options", "pattern"),
    [("timm-resnet-bottleneck", {"cardinality": 2}, {"channels": [1, 2, 2, 4]},
      r"grouped convolutions \(conv2: groups=2; ResNeXt.*cannot be narrowed: keep the ancestry's widths"),
     ("timm-ecaresnet", {}, {"hidden_sizes": [4, 8, 8, 16], "embedding_size": 8},
      r"tensors that element selection does not know \(se\.conv\.weight; e\.g\. an ECA.*cannot be narrowed")],
    ids=["resnext", "eca"],
)
def test_timm_resnets_element_selection_cannot_narrow_are_refused(kind: str, model_args: dict, options: dict,
                                                                  pattern: str) -> None:
    ancestry = build_timm_ancestry(kind, **model_args)
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1])
    with pytest.raises(LearngeneError, match=pattern):
        from_learngene(learngene, num_labels=2, **options)
    # at the ancestry's width they inherit as before
    _assert_inherited(from_learngene(learngene, num_labels=2, seed=0), _blocks(ancestry.timm_model, "timm_resnet"))


def test_other_timm_architectures_are_refused_by_name() -> None:
    require_timm()
    config = {"model_type": "timm_wrapper", "architecture": "convnext_atto", "pretrained_cfg": {}}
    with pytest.raises(UnsupportedArchitectureError, match="architecture 'convnext_atto'.*timm ViT, timm ResNet"):
        family_for_config(config)


# ---------------------------------------------------------------------------------------------------- without timm
def test_without_timm_a_timm_ancestry_names_the_extra_to_install(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ancestry"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "architecture": "vit_small_patch14_dinov2", "num_classes": 0, "pretrained_cfg": {"input_size": [3, 518, 518]}}))
    save_file({"cls_token": torch.zeros(1, 1, 4)}, folder / "model.safetensors")
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` fails as if it were not installed
    with pytest.raises(LearngeneError, match=r'timm is not installed.*pip install "hf_learngene\[timm\]"'):
        load_ancestry(folder)
    with pytest.raises(LearngeneError, match=r"hf_learngene\[timm\]"):
        LearngeneModel.from_ancestry(str(folder), layer_indices=[0])


# ---------------------------------------------------------------------------------------------------- input size
def test_an_image_size_a_fixed_size_timm_vit_cannot_take_is_a_clear_error_and_dynamic_img_size_works() -> None:
    # A Hub DINOv2 (img_size=518, strict) condensed at 84 px would fail inside timm with a bare AssertionError.
    data = tiny_image_dataset(num_classes=4, per_class=8)
    config = CondenseConfig(**{**FAST, "image_size": 48, "max_iterations": 2}, num_layers=2)
    with pytest.raises(LearngeneError, match=r"takes 32x32 images \(img_size=32, no dynamic_img_size\), got 48x48.*"
                                             r"image_size=32.*dynamic_img_size=True"):
        condense(build_timm_ancestry("timm-dinov2-reg"), data, config)
    bare = build_timm_model("timm-dinov2-reg", dynamic_img_size=True)  # what the message advises
    result = condense(bare, data, config)
    child = from_learngene(result.learngene, num_labels=2, seed=0)
    assert child.config.model_args["dynamic_img_size"] is True
    with torch.no_grad():
        assert child(pixel_values=pixel_values(size=48)).logits.shape == (2, 2)
