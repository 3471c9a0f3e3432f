"""Model cards of learngenes and descendants: metadata, body, and re-saves that keep what the user wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from hf_learngene import LearngeneConfig, LearngeneModel, from_learngene, save_descendant
from hf_learngene.cards import END, START, descendant_card, hub_id_or_none, learngene_card
from tests.tiny_models import ANCESTRY_KINDS, FAMILY_OF, build_ancestry, save_ancestry, tiny_vit, tiny_vit_config

SHA = "0123456789abcdef0123456789abcdef01234567"


def _card(folder: Path) -> ModelCard:
    return ModelCard.load(folder / "README.md")


def _generated(text: str) -> str:
    return text[text.index(START): text.index(END)]


def _layer_rows(text: str) -> dict[int, str]:
    """``{ancestry layer: row}`` of the learngene card's layer table."""
    rows = {}
    for line in _generated(text).splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0].isdigit() and len(cells) == 4:
            rows[int(cells[0])] = line
    return rows


@pytest.fixture
def local_ancestry(tmp_path: Path) -> Path:
    return save_ancestry(tiny_vit(), tmp_path / "tiny-vit", license="mit")


# ---------------------------------------------------------------------------------------------------- learngene cards
def test_learngene_card_metadata_and_body(local_ancestry: Path, tmp_path: Path) -> None:
    learngene = LearngeneModel.from_ancestry(
        local_ancestry, layer_indices=[0, 2], selection_method="auto", layer_scores=[0.4, 0.1, 0.3, 0.2],
        condense_data={"name_or_path": "test-user/tiny-data", "revision": SHA, "classes": [0, 1], "num_images": 8},
    )
    learngene.save_pretrained(tmp_path / "lg", repo_id="test-user/vit-learngene")
    card = _card(tmp_path / "lg")
    data = card.data.to_dict()
    assert data["library_name"] == "hf_learngene"
    assert {"learngene", "vit"} <= set(data["tags"])
    assert data["license"] == "mit"  # carried from the ancestry's README
    assert data["datasets"] == ["test-user/tiny-data"]
    assert "base_model" not in data  # a local ancestry is not a Hub id
    body = card.text
    rows = _layer_rows(body)
    assert sorted(rows) == [0, 1, 2, 3]
    assert [i for i, row in rows.items() if row.rstrip(" |").endswith("yes")] == [0, 2]
    assert "0.4000" in rows[0] and "0.1000" in rows[1]
    assert "1/L = 0.2500" in body
    assert f"| learngene | {learngene.config.num_parameters:,} |" in body
    assert f"| ancestry | {learngene.config.ancestry_num_parameters:,} |" in body
    assert f"{learngene.config.parameter_fraction:.1%}" in body
    # provenance: which ancestry (a local folder by name + content fingerprint, never its path)
    assert learngene.config.ancestry_name_or_path.startswith(f"{local_ancestry.name}@sha256:")
    assert f"`{learngene.config.ancestry_name_or_path}`" in body and str(local_ancestry) not in body
    assert SHA in body and "8 images" in body
    assert 'LearngeneModel.from_pretrained("test-user/vit-learngene")' in body  # usage snippet
    assert "from_learngene(learngene, num_labels=5" in body
    assert body.count(START) == 1 and body.count(END) == 1


def test_learngene_card_points_base_model_at_a_hub_ancestry() -> None:
    config = LearngeneConfig(family="vit", layer_indices=[1], ancestry_config=tiny_vit_config().to_dict(),
                             ancestry_name_or_path="test-user/tiny-vit", ancestry_revision=SHA, license="apache-2.0")
    card = learngene_card(config)
    data = card.data.to_dict()
    assert data["base_model"] == "test-user/tiny-vit"
    assert data["license"] == "apache-2.0"
    assert "[`test-user/tiny-vit`](https://huggingface.co/test-user/tiny-vit)" in card.text
    assert f"| ancestry revision | `{SHA}` |" in card.text
    assert 'from_pretrained("path/to/learngene")' in card.text  # no repo id yet
    assert "unknown" in card.text  # parameter counts not recorded in this config


@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_learngene_card_per_family(kind: str, tmp_path: Path) -> None:
    learngene = LearngeneModel.from_ancestry(build_ancestry(kind), layer_indices=[1, 3])
    learngene.save_pretrained(tmp_path / "lg")
    card = _card(tmp_path / "lg")
    family = FAMILY_OF[kind]
    assert family in card.data.tags
    assert learngene.family.descendant_class.__name__ in card.text
    rows = _layer_rows(card.text)
    assert [i for i, row in rows.items() if row.rstrip(" |").endswith("yes")] == [1, 3]
    if family == "resnet":
        assert "stage 1 block 1" in rows[3]
    else:
        assert "encoder layer 3" in rows[3]


def test_resave_updates_generated_parts_and_keeps_user_text(local_ancestry: Path, tmp_path: Path) -> None:
    folder = tmp_path / "lg"
    LearngeneModel.from_ancestry(local_ancestry, layer_indices=[0, 2]).save_pretrained(folder)
    readme = folder / "README.md"
    card = ModelCard.load(readme)
    card.data.my_experiment = "run-42"
    card.data.tags = [*card.data.tags, "my-tag"]
    text = str(card).replace(START, "Intro written by the user.\n\n" + START)
    readme.write_text(text + "\n## My notes\n\nTrained on my laptop.\n")

    LearngeneModel.from_ancestry(local_ancestry, layer_indices=[1, 2, 3]).save_pretrained(folder)
    updated = readme.read_text()
    card = ModelCard.load(readme)
    assert card.data.my_experiment == "run-42"  # custom metadata key kept
    assert "my-tag" in card.data.tags and "learngene" in card.data.tags
    assert card.data.library_name == "hf_learngene" and card.data.license == "mit"
    assert "Intro written by the user." in updated  # user text before the generated block
    assert "## My notes\n\nTrained on my laptop." in updated  # ... and after it
    rows = _layer_rows(updated)
    assert [i for i, row in rows.items() if row.rstrip(" |").endswith("yes")] == [1, 2, 3]  # table updated
    assert "(3 layers)" in updated and "(2 layers)" not in updated  # generated title updated
    assert updated.count(START) == 1 and updated.count(END) == 1


def test_user_title_is_not_overwritten(local_ancestry: Path, tmp_path: Path) -> None:
    folder = tmp_path / "lg"
    LearngeneModel.from_ancestry(local_ancestry, layer_indices=[0]).save_pretrained(folder)
    readme = folder / "README.md"
    text = readme.read_text()
    title = next(line for line in text.splitlines() if line.startswith("# "))
    readme.write_text(text.replace(title, "# My own learngene"))
    LearngeneModel.from_ancestry(local_ancestry, layer_indices=[0, 1]).save_pretrained(folder)
    assert "# My own learngene" in readme.read_text()


def test_existing_readme_without_markers_gets_the_generated_block(local_ancestry: Path, tmp_path: Path) -> None:
    folder = tmp_path / "lg"
    folder.mkdir()
    (folder / "README.md").write_text("---\nowner: me\n---\n# Notes\n\nWritten before the first save.\n")
    LearngeneModel.from_ancestry(local_ancestry, layer_indices=[0]).save_pretrained(folder)
    card = _card(folder)
    assert card.data.owner == "me" and card.data.library_name == "hf_learngene"
    assert card.text.index("Written before the first save.") < card.text.index(START)
    assert 0 in _layer_rows(card.text)


# ---------------------------------------------------------------------------------------------------- descendant cards
def test_descendant_card_points_base_model_at_a_hub_learngene() -> None:
    config = tiny_vit_config(num_labels=2)
    config.learngene = {
        "learngene": "test-user/vit-learngene", "revision": SHA, "family": "vit", "seed": 3, "license": "mit",
        "layer_map": [{"descendant": "vit.layers.0.", "ancestry_layer": 1},
                      {"descendant": "vit.layers.1.", "ancestry_layer": 3}],
    }
    card = descendant_card(config, "ViTForImageClassification", repo_id="test-user/my-descendant")
    data = card.data.to_dict()
    assert data["base_model"] == "test-user/vit-learngene"
    assert data["library_name"] == "transformers"
    assert data["pipeline_tag"] == "image-classification"
    assert data["license"] == "mit"
    assert {"learngene", "vit"} <= set(data["tags"])
    assert f"`{SHA}`" in card.text and "seed 3" in card.text
    assert "| `vit.layers.0` | 1 |" in card.text and "| `vit.layers.1` | 3 |" in card.text
    assert 'AutoModelForImageClassification.from_pretrained("test-user/my-descendant")' in card.text


def test_descendant_card_of_a_local_learngene_and_resave(tmp_path: Path) -> None:
    LearngeneModel.from_ancestry(tiny_vit(), layer_indices=[0, 1]).save_pretrained(tmp_path / "lg")
    child = from_learngene(tmp_path / "lg", num_labels=2, seed=0)
    folder = tmp_path / "child"
    save_descendant(child, folder)
    card = _card(folder)
    assert "base_model" not in card.data.to_dict()  # a local path is no Hub id
    assert card.data.library_name == "transformers"
    # a local learngene is named by its folder name and a content fingerprint, never by a machine path
    assert "`lg@sha256:" in card.text and str(tmp_path) not in card.text
    assert "# Descendant of lg@sha256:" in card.text
    readme = folder / "README.md"
    readme.write_text(readme.read_text().replace("---\n\n#", "custom_key: 1\n---\n\n#", 1) + "\nMy results: 99%.\n")
    assert ModelCard.load(readme).data.custom_key == 1
    save_descendant(from_learngene(tmp_path / "lg", num_labels=2, seed=1), folder)
    card = _card(folder)
    assert card.data.custom_key == 1
    assert "My results: 99%." in card.text
    assert "with seed 1" in card.text and "with seed 0" not in card.text


@pytest.mark.parametrize(
    ("name", "expected"),
    [("test-user/vit-learngene", "test-user/vit-learngene"), ("vit-learngene", None), ("a/b/c", None),
     ("/abs/path", None), ("./rel/path", None), (None, None), ("", None)],
)
def test_hub_id_detection(name: str | None, expected: str | None) -> None:
    assert hub_id_or_none(name) == expected


def test_existing_local_folder_shaped_like_a_hub_id_is_not_a_hub_id(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "user" / "model").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert hub_id_or_none("user/model") is None


def test_unreadable_card_metadata_stops_the_save_instead_of_wiping_the_card(local_ancestry: Path,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "lg"
    LearngeneModel.from_ancestry(local_ancestry, layer_indices=[0]).save_pretrained(folder)
    broken = "---\nlicense: [mit\n---\n# Mine\n\nPrecious notes.\n"
    (folder / "README.md").write_text(broken)
    weights = (folder / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="README.md has a metadata block .* cannot read.*Fix its YAML header"):
        LearngeneModel.from_ancestry(local_ancestry, layer_indices=[1]).save_pretrained(folder)
    assert (folder / "README.md").read_text() == broken
    assert (folder / "model.safetensors").read_bytes() == weights
