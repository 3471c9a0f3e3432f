"""The main path: a learngene that carries the input embedding -> from_learngene -> DescendantTrainer -> Hub / pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, ModelCard, hf_hub_download
from transformers import TrainingArguments

from hf_learngene import (
    DescendantTrainer,
    LearngeneError,
    LearngeneModel,
    from_learngene,
    inherit_embeddings,
    save_descendant,
)
from hf_learngene.data import ImageTransform
from hf_learngene.experiments.training import collate_fn
from tests.hub_server import HUB_USERNAME, LocalHub
from tests.tiny_models import FAMILY_OF, build_ancestry, tiny_image_dataset

#: Kinds whose learngenes can carry the input embedding (DeiT cannot: a distillation token, one more position).
CARRYING_KINDS = ("vit", "dinov2", "resnet-basic", "resnet-bottleneck")
EMBEDDING_ATTRIBUTE = {"vit": "embeddings", "dinov2": "embeddings", "resnet": "embedder"}


def _embedding_state(model: torch.nn.Module, family: str) -> dict[str, torch.Tensor]:
    from hf_learngene.families import get_family

    backbone = get_family(family).backbone(model)
    return getattr(backbone, EMBEDDING_ATTRIBUTE[family]).state_dict()


def _assert_equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key, tensor in a.items():
        assert torch.equal(tensor, b[key]), key


# ---------------------------------------------------------------------------------------------------- the learngene
@pytest.mark.parametrize("kind", CARRYING_KINDS)
def test_learngene_carries_the_embedding_by_default_bit_for_bit(kind: str, tmp_path: Path) -> None:
    ancestry = build_ancestry(kind)
    family = FAMILY_OF[kind]
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1])
    assert learngene.config.include_embeddings is True and learngene.carries_embeddings
    source = _embedding_state(ancestry, family)
    for key, tensor in learngene.embeddings.state_dict().items():
        assert torch.equal(tensor, source[key]), key
    learngene.save_pretrained(tmp_path / "lg")
    assert json.loads((tmp_path / "lg" / "config.json").read_text())["include_embeddings"] is True
    reloaded = LearngeneModel.from_pretrained(tmp_path / "lg")
    _assert_equal_states(reloaded.embeddings.state_dict(), learngene.embeddings.state_dict())
    card = (tmp_path / "lg" / "README.md").read_text()
    assert "layers + the ancestry's" in card and "truncated copy of the ancestry" in card
    paper = LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1], include_embeddings=False)
    assert paper.embeddings is None and all(k.startswith("layers.") for k in paper.state_dict())
    paper.save_pretrained(tmp_path / "paper")
    assert "layers only (the Learngene paper's form)" in (tmp_path / "paper" / "README.md").read_text()


def test_a_learngene_missing_its_embedding_tensors_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0]).save_pretrained(tmp_path / "lg")
    weights = tmp_path / "lg" / "model.safetensors"
    state = {k: v for k, v in load_file(weights).items() if not k.startswith("embeddings.")}
    save_file(state, weights, metadata={"format": "pt"})
    with pytest.raises(LearngeneError, match="embeddings"):
        LearngeneModel.from_pretrained(tmp_path / "lg")


@pytest.mark.parametrize("kind", CARRYING_KINDS)
@pytest.mark.parametrize("narrow", [False, True], ids=["full-width", "narrower"])
def test_descendant_of_a_carrying_learngene_equals_the_recipe_with_the_ancestry(kind: str, narrow: bool) -> None:
    """from_learngene(learngene with embedding) == from_learngene(layers only) + inherit_embeddings(ancestry), bit for
    bit, including element selection for a narrower descendant and the resampled position table."""
    ancestry = build_ancestry(kind)
    indices = [0, 1] if kind.startswith("resnet") else [0, 2]
    width = {}
    if narrow:
        width = {"hidden_sizes": [4, 8] if kind == "resnet-basic" else [8, 16], "embedding_size": 4} if kind.startswith("resnet") else \
            {"hidden_size": 16, "num_attention_heads": 2}
    size = {} if kind.startswith("resnet") else {"image_size": 24}  # another token grid: resampled positions
    carrying = LearngeneModel.from_ancestry(ancestry, layer_indices=indices)
    paper = LearngeneModel.from_ancestry(ancestry, layer_indices=indices, include_embeddings=False)
    child = from_learngene(carrying, num_labels=3, seed=0, **size, **width)
    twin = inherit_embeddings(from_learngene(paper, num_labels=3, seed=0, **size, **width), ancestry)
    _assert_equal_states(child.state_dict(), twin.state_dict())
    record = child.config.learngene["embeddings"]
    assert record["carried_by"] == "learngene" and twin.config.learngene["embeddings"]["carried_by"] == "ancestry"
    assert record["tensors"] == twin.config.learngene["embeddings"]["tensors"]
    assert child.config.learngene["inherited_lr_scale"] == (1.0 if narrow else 0.1)
    fresh = from_learngene(carrying, num_labels=3, seed=0, inherit_embeddings=False, **size, **width)
    _assert_equal_states(fresh.state_dict(), from_learngene(paper, num_labels=3, seed=0, **size, **width).state_dict())
    assert "embeddings" not in fresh.config.learngene and fresh.config.learngene["inherited_lr_scale"] == 1.0


def test_learngene_of_todays_format_loads_and_builds_the_same_descendant(tmp_path: Path) -> None:
    """A folder written before learngenes could carry embeddings (config.json without the new fields) still loads and
    gives the paper's descendant (fresh embedding, one learning rate)."""
    ancestry = build_ancestry("dinov2")
    paper = LearngeneModel.from_ancestry(ancestry, layer_indices=[1, 2], include_embeddings=False)
    paper.save_pretrained(tmp_path / "old")
    config_file = tmp_path / "old" / "config.json"
    config = json.loads(config_file.read_text())
    for key in ("include_embeddings", "image_processor"):
        config.pop(key)
    config_file.write_text(json.dumps(config))
    old = LearngeneModel.from_pretrained(tmp_path / "old")
    assert old.config.include_embeddings is False and old.embeddings is None
    child = from_learngene(old, num_labels=2, seed=3)
    _assert_equal_states(child.state_dict(), from_learngene(paper, num_labels=2, seed=3).state_dict())
    assert "embeddings" not in child.config.learngene


def test_clear_errors_for_embeddings_that_cannot_be_had() -> None:
    paper = LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0], include_embeddings=False)
    with pytest.raises(LearngeneError, match=r"carries no input embedding.*include_embeddings=True"):
        from_learngene(paper, num_labels=2, inherit_embeddings=True)
    with pytest.raises(LearngeneError, match=r"include_embeddings=True but a DeiT embedding"):
        LearngeneModel.from_ancestry(build_ancestry("deit"), layer_indices=[0], include_embeddings=True)
    deit = LearngeneModel.from_ancestry(build_ancestry("deit"), layer_indices=[0])  # default: the family can't, so no
    assert deit.embeddings is None
    carrying = LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0])
    with pytest.raises(LearngeneError, match="inherit_embeddings=False"):
        from_learngene(carrying, num_labels=2, patch_size=4)
    with pytest.raises(LearngeneError, match="inherited_lr_scale must be a number > 0"):
        from_learngene(carrying, num_labels=2, inherited_lr_scale=0)


# ---------------------------------------------------------------------------------------------------- the Hub
def test_carrying_learngene_round_trips_through_the_hub_by_revision(local_hub: LocalHub) -> None:
    ancestry = build_ancestry("dinov2")
    repo = f"{HUB_USERNAME}/dinov2-learngene"
    first = LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1]).push_to_hub(repo)
    LearngeneModel.from_ancestry(build_ancestry("dinov2", seed=5), layer_indices=[0, 1]).push_to_hub(repo)
    pulled = LearngeneModel.from_pretrained(repo, revision=first.oid)
    assert pulled.commit_sha == first.oid and pulled.carries_embeddings
    child = from_learngene(repo, revision=first.oid, num_labels=3, seed=0)
    _assert_equal_states(_embedding_state(child, "dinov2"), _embedding_state(ancestry, "dinov2"))
    origin = child.config.learngene
    assert origin["learngene"] == repo and origin["revision"] == first.oid
    assert origin["embeddings"]["from"] == repo and origin["embeddings"]["revision"] == first.oid


# ---------------------------------------------------------------------------------------------------- Trainer
def _task(size: int = 32) -> tuple:
    data = tiny_image_dataset(num_classes=3, per_class=4, size=size)
    transform = ImageTransform(size=size)
    return data.with_transform(transform), data.with_transform(transform)


def test_descendant_trainer_puts_inherited_weights_at_the_recorded_lr_scale(tmp_path: Path) -> None:
    learngene = LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0, 1])
    child = from_learngene(learngene, num_labels=3, seed=0)
    train, _ = _task()
    args = TrainingArguments(tmp_path / "out", learning_rate=1e-3, weight_decay=0.05, report_to="none",
                             use_cpu=True, remove_unused_columns=False, save_strategy="no")
    trainer = DescendantTrainer(model=child, args=args, train_dataset=train, data_collator=collate_fn)
    assert trainer.inherited_lr_scale == 0.1
    optimizer = trainer.create_optimizer()
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    names = dict(child.named_parameters())
    assert lr_of[id(names["vit.layers.0.attention.q_proj.weight"])] == pytest.approx(1e-4)
    assert lr_of[id(names["vit.embeddings.patch_embeddings.projection.weight"])] == pytest.approx(1e-4)
    assert lr_of[id(names["classifier.weight"])] == pytest.approx(1e-3)
    assert lr_of[id(names["vit.layernorm.weight"])] == pytest.approx(1e-3)
    assert len(lr_of) == len(names)
    one = DescendantTrainer(model=child, args=args, train_dataset=train, data_collator=collate_fn,
                            inherited_lr_scale=1.0)
    assert {group["lr"] for group in one.create_optimizer().param_groups} == {1e-3}
    with pytest.raises(LearngeneError, match="inherited_lr_scale must be a number > 0"):
        DescendantTrainer(model=child, args=args, inherited_lr_scale=-1)


def test_trainer_push_to_hub_publishes_the_descendant_card_with_its_results(tmp_path: Path,
                                                                            local_hub: LocalHub) -> None:
    learngene = LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0, 1])
    learngene.push_to_hub(f"{HUB_USERNAME}/vit-learngene")
    child = from_learngene(f"{HUB_USERNAME}/vit-learngene", num_labels=3, seed=0)
    train, test = _task()
    repo = f"{HUB_USERNAME}/my-descendant"
    args = TrainingArguments(tmp_path / "out", num_train_epochs=1, per_device_train_batch_size=4, report_to="none",
                             use_cpu=True, remove_unused_columns=False, save_strategy="no", push_to_hub=True,
                             hub_model_id=repo)
    trainer = DescendantTrainer(model=child, args=args, train_dataset=train, eval_dataset=test,
                                data_collator=collate_fn,
                                compute_metrics=lambda p: {"accuracy": float((p.predictions.argmax(-1)
                                                                              == p.label_ids).mean())})
    trainer.train()
    metrics = trainer.evaluate()
    trainer.push_to_hub()
    files = set(HfApi().list_repo_files(repo))
    assert {"README.md", "config.json", "model.safetensors", "preprocessor_config.json"} <= files
    card = ModelCard.load(hf_hub_download(repo, "README.md"))
    assert f"# Descendant of {HUB_USERNAME}/vit-learngene" in card.text
    assert "input embedding" in card.text and "0.1 x the learning rate" in card.text
    assert "Training hyperparameters" in card.text  # Trainer's sections are kept
    data = card.data.to_dict()
    results = data["model-index"][0]["results"]
    values = {m["type"]: m["value"] for r in results for m in r["metrics"]}
    assert values["accuracy"] == pytest.approx(metrics["eval_accuracy"])
    assert data["base_model"] == f"{HUB_USERNAME}/vit-learngene"
    assert "learngene-descendant" in data["tags"] and "generated_from_trainer" in data["tags"]


# ---------------------------------------------------------------------------------------------------- pipeline
PIPELINE_CHECK = textwrap.dedent("""
    import json, sys
    class Block:  # this process must not be able to import hf_learngene
        def find_spec(self, name, path=None, target=None):
            if name == "hf_learngene" or name.startswith("hf_learngene."):
                raise ImportError("hf_learngene is blocked in this process")
    sys.meta_path.insert(0, Block())
    from PIL import Image
    from transformers import pipeline
    classify = pipeline("image-classification", model=sys.argv[1], device="cpu")
    out = classify(Image.open(sys.argv[2]), top_k=None)
    print(json.dumps({row["label"]: row["score"] for row in out}))
""")


@pytest.mark.parametrize("kind", CARRYING_KINDS)
def test_pipeline_on_a_saved_descendant_predicts_what_the_model_predicts(kind: str, tmp_path: Path) -> None:
    learngene = LearngeneModel.from_ancestry(build_ancestry(kind), layer_indices=[0, 1])
    child = from_learngene(learngene, num_labels=3, seed=0, image_size=24,
                           id2label={0: "cat", 1: "dog", 2: "fox"}).eval()
    save_descendant(child, tmp_path / "child")
    image = tiny_image_dataset(num_classes=1, per_class=1, size=37)[0]["image"]
    image.save(tmp_path / "image.png")
    pixels = ImageTransform(size=24)({"image": [image], "label": [0]})["pixel_values"]
    with torch.no_grad():
        expected = torch.softmax(child(pixel_values=pixels).logits, -1)[0]
    result = subprocess.run([sys.executable, "-c", PIPELINE_CHECK, str(tmp_path / "child"), str(tmp_path / "image.png")],
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    for index, label in child.config.id2label.items():
        assert scores[label] == pytest.approx(float(expected[index]), abs=1e-4)


def test_inherit_embeddings_from_the_ancestry_updates_the_recommended_lr_scale_only() -> None:
    ancestry = build_ancestry("vit")
    paper = LearngeneModel.from_ancestry(ancestry, layer_indices=[0], include_embeddings=False)
    child = from_learngene(paper, num_labels=2, seed=0)
    assert child.config.learngene["inherited_lr_scale"] == 1.0
    assert inherit_embeddings(child, ancestry).config.learngene["inherited_lr_scale"] == 0.1
    given = inherit_embeddings(from_learngene(paper, num_labels=2, seed=0, inherited_lr_scale=0.5), ancestry)
    assert given.config.learngene["inherited_lr_scale"] == 0.5


def test_cli_condense_and_inherit_flags(tmp_path: Path) -> None:
    from hf_learngene.cli import main
    from tests.tiny_models import save_ancestry

    folder = save_ancestry(build_ancestry("vit"), tmp_path / "ancestry")
    assert main(["condense", "--ancestry", str(folder), "--method", "manual", "--layer-indices", "0,1",
                 "--output", str(tmp_path / "lg"), "--no-progress"]) == 0
    assert LearngeneModel.from_pretrained(tmp_path / "lg").carries_embeddings
    assert main(["condense", "--ancestry", str(folder), "--method", "manual", "--layer-indices", "0,1",
                 "--output", str(tmp_path / "paper"), "--no-include-embeddings", "--no-progress"]) == 0
    assert not LearngeneModel.from_pretrained(tmp_path / "paper").carries_embeddings
    assert main(["inherit", "--learngene", str(tmp_path / "lg"), "--num-labels", "2", "--output",
                 str(tmp_path / "child"), "--no-inherit-embeddings"]) == 0
    config = json.loads((tmp_path / "child" / "config.json").read_text())
    assert "embeddings" not in config["learngene"] and config["learngene"]["inherited_lr_scale"] == 1.0
    assert (tmp_path / "child" / "preprocessor_config.json").is_file()


def test_cards_link_no_repository_that_does_not_exist(tmp_path: Path) -> None:
    learngene = LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0])
    learngene.save_pretrained(tmp_path / "lg")
    save_descendant(from_learngene(tmp_path / "lg", num_labels=2, seed=0), tmp_path / "child")
    for card in (tmp_path / "lg" / "README.md", tmp_path / "child" / "README.md"):
        text = card.read_text()
        assert "github.com" not in text and "`hf_learngene` Python package" in text


def test_the_merged_trainer_card_keeps_trainer_sections_and_no_broken_markup(tmp_path: Path) -> None:
    child = from_learngene(LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0]), num_labels=3, seed=0)
    train, _ = _task()
    args = TrainingArguments(tmp_path / "out", num_train_epochs=1, report_to="none", use_cpu=True,
                             remove_unused_columns=False, save_strategy="no")
    trainer = DescendantTrainer(model=child, args=args, train_dataset=train, eval_dataset=train,
                                data_collator=collate_fn)
    trainer.train()
    trainer.evaluate()
    trainer.create_model_card(dataset="tiny")
    text = (tmp_path / "out" / "README.md").read_text()
    assert text.count("<!--") == text.count("-->")  # no comment left open (it would hide the rest of the card)
    assert "fine-tuned version of [](" not in text and "Training hyperparameters" in text
    assert text.index("hf_learngene:generated:end") < text.index("Training hyperparameters")
