"""Descendant model cards are written explicitly (save_descendant, save_descendant_card, DescendantCardCallback),
from ``config.learngene``, so they survive a reload; plain ``save_pretrained`` stays `transformers`' own."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForImageClassification, Trainer, TrainingArguments

from hf_learngene import (
    DescendantCardCallback,
    LearngeneModel,
    from_learngene,
    save_descendant,
    save_descendant_card,
    scratch_descendant_like,
)
from hf_learngene.cards import END, START
from hf_learngene.experiments.training import collate_fn, train_classifier
from tests.tiny_models import IMAGE_SIZE, tiny_vit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rows(n: int = 4, num_labels: int = 2) -> list[dict]:
    x = torch.randn(n, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
    return [{"pixel_values": x[i], "labels": i % num_labels} for i in range(n)]


def _generated(folder: Path) -> str:
    text = (folder / "README.md").read_text()
    return text[text.index(START): text.index(END)]


@pytest.fixture
def learngene(tmp_path: Path) -> Path:
    LearngeneModel.from_ancestry(tiny_vit(), layer_indices=[0, 2]).save_pretrained(tmp_path / "lg")
    return tmp_path / "lg"


def test_descendant_save_pretrained_stays_plain(learngene: Path, tmp_path: Path) -> None:
    child = from_learngene(learngene, num_labels=2, seed=0)
    assert "save_pretrained" not in vars(child) and "push_to_hub" not in vars(child)  # nothing patched on the instance
    child.save_pretrained(tmp_path / "plain")
    assert not (tmp_path / "plain" / "README.md").exists()
    assert save_descendant(child, tmp_path / "carded") == tmp_path / "carded"
    card = ModelCard.load(tmp_path / "carded" / "README.md")
    assert card.data.library_name == "transformers" and "learngene-descendant" in card.data.tags


def test_the_card_survives_a_reload(learngene: Path, tmp_path: Path) -> None:
    child = from_learngene(learngene, num_labels=2, seed=5)
    save_descendant(child, tmp_path / "first")
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path / "first")
    reloaded.save_pretrained(tmp_path / "second")
    save_descendant_card(reloaded, tmp_path / "second")
    assert _generated(tmp_path / "second") == _generated(tmp_path / "first")
    assert "with seed 5" in _generated(tmp_path / "second")


def test_trainer_checkpoints_get_the_card(learngene: Path, tmp_path: Path) -> None:
    child = from_learngene(learngene, num_labels=2, seed=0)
    args = TrainingArguments(output_dir=str(tmp_path / "run"), max_steps=2, save_strategy="steps", save_steps=1,
                             per_device_train_batch_size=2, report_to=[], use_cpu=True, disable_tqdm=True,
                             remove_unused_columns=False)
    trainer = Trainer(model=child, args=args, train_dataset=_rows(), data_collator=collate_fn,
                      callbacks=[DescendantCardCallback(repo_id="user/child")])
    trainer.train()
    for step in (1, 2):
        card = ModelCard.load(tmp_path / "run" / f"checkpoint-{step}" / "README.md")
        assert 'from_pretrained("user/child")' in card.text and "learngene" in card.data.tags
    # The final save fires no callback event: the card is written explicitly (also for a reloaded model).
    trainer.save_model(str(tmp_path / "final"))
    assert not (tmp_path / "final" / "README.md").exists()
    save_descendant_card(trainer.model, tmp_path / "final")
    assert (tmp_path / "final" / "README.md").exists()


def test_train_classifier_adds_the_card_callback_to_descendants_only(learngene: Path, tmp_path: Path) -> None:
    common = {"epochs": 1, "batch_size": 2, "progress": False, "save_strategy": "epoch"}
    train_classifier(from_learngene(learngene, num_labels=2, seed=0), _rows(), _rows(2),
                     output_dir=tmp_path / "child", **common)
    assert (tmp_path / "child" / "checkpoint-2" / "README.md").exists()
    train_classifier(scratch_descendant_like(learngene, num_labels=2, seed=0), _rows(), _rows(2),
                     output_dir=tmp_path / "scratch", **common)
    assert (tmp_path / "scratch" / "checkpoint-2").is_dir()
    assert not (tmp_path / "scratch" / "checkpoint-2" / "README.md").exists()  # no learngene origin, no card


def test_the_descendant_builders_have_plain_signatures() -> None:
    """The functions are defined with the arguments users pass (no signature grafted on by a decorator)."""
    for function in (from_learngene, scratch_descendant_like):
        assert not hasattr(function, "__wrapped__") and "__signature__" not in vars(function)
        code = function.__code__
        assert code.co_varnames[:2] == ("learngene", "num_labels")
    own = inspect.signature(from_learngene).parameters
    assert {"id2label", "image_size", "seed", "inherit_embeddings", "inherited_lr_scale"} <= set(own)
    assert list(inspect.signature(scratch_descendant_like).parameters) == ["learngene", "num_labels", "seed", "options"]
