"""Hub round trips through the local Hub server: push/pull, revision pinning, private repos, offline mode, cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, ModelCard, hf_hub_download
from transformers import AutoModel, AutoModelForImageClassification, PreTrainedModel

from hf_learngene import LearngeneModel, UnsafeWeightsError, from_learngene, push_descendant_to_hub, save_descendant
from hf_learngene.cards import END, START
from tests.hub_server import HUB_TOKEN, HUB_USERNAME, LocalHub, set_offline
from tests.tiny_models import ANCESTRY_KINDS, build_ancestry, integral_layer_prefixes, save_ancestry, sub_state_dict

LEARNGENE_REPO = f"{HUB_USERNAME}/vit-learngene"
ANCESTRY_REPO = f"{HUB_USERNAME}/tiny-vit"


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for key, tensor in state_a.items():
        assert torch.equal(tensor, state_b[key]), key


def _push_ancestry(tmp_path: Path, *, seed: int = 0, license: str | None = "mit", kind: str = "vit",
                   repo_id: str = ANCESTRY_REPO, private: bool | None = None) -> tuple[PreTrainedModel, str]:
    """Upload a tiny ancestry (with a README carrying ``license``) and return it with the commit sha."""
    model = build_ancestry(kind, seed=seed)
    folder = save_ancestry(model, tmp_path / f"ancestry-{kind}-{seed}", license=license)
    api = HfApi()
    api.create_repo(repo_id, exist_ok=True, private=private)
    return model, api.upload_folder(repo_id=repo_id, folder_path=folder).oid


def _remote_card(repo_id: str, revision: str | None = None) -> ModelCard:
    return ModelCard.load(hf_hub_download(repo_id, "README.md", revision=revision))


# ---------------------------------------------------------------------------------------------------- learngenes
@pytest.mark.parametrize("kind", ANCESTRY_KINDS)
def test_push_and_pull_learngene(kind: str, local_hub: LocalHub) -> None:
    learngene = LearngeneModel.from_ancestry(build_ancestry(kind), layer_indices=[0, 2])
    commit = learngene.push_to_hub(LEARNGENE_REPO)
    assert len(commit.oid) == 40

    loaded = LearngeneModel.from_pretrained(LEARNGENE_REPO)
    _assert_same_weights(loaded, learngene)
    assert loaded.commit_sha == commit.oid
    assert loaded.config.layer_indices == [0, 2]
    assert loaded.name_or_path == LEARNGENE_REPO
    auto = AutoModel.from_pretrained(LEARNGENE_REPO)
    assert type(auto) is LearngeneModel
    _assert_same_weights(auto, learngene)

    files = set(HfApi().list_repo_files(LEARNGENE_REPO))
    assert {"config.json", "model.safetensors", "README.md"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pth", ".py")) for name in files)
    card = _remote_card(LEARNGENE_REPO)
    assert card.data.library_name == "hf_learngene"
    assert f'LearngeneModel.from_pretrained("{LEARNGENE_REPO}")' in card.text


def test_revision_pinning(local_hub: LocalHub) -> None:
    ancestry = build_ancestry("vit")
    first = LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1])
    second = LearngeneModel.from_ancestry(ancestry, layer_indices=[2, 3])
    sha1 = first.push_to_hub(LEARNGENE_REPO).oid
    sha2 = second.push_to_hub(LEARNGENE_REPO).oid
    assert sha1 != sha2

    pinned = LearngeneModel.from_pretrained(LEARNGENE_REPO, revision=sha1)
    assert pinned.config.layer_indices == [0, 1]
    assert pinned.commit_sha == sha1
    _assert_same_weights(pinned, first)
    latest = LearngeneModel.from_pretrained(LEARNGENE_REPO)
    assert latest.config.layer_indices == [2, 3]
    assert latest.commit_sha == sha2
    _assert_same_weights(latest, second)
    # A branch name resolves to (and records) the commit sha.
    assert LearngeneModel.from_pretrained(LEARNGENE_REPO, revision="main").commit_sha == sha2

    child = from_learngene(LEARNGENE_REPO, num_labels=2, revision=sha1, seed=0)
    assert child.config.learngene["learngene"] == LEARNGENE_REPO
    assert child.config.learngene["revision"] == sha1
    assert [item["ancestry_layer"] for item in child.config.learngene["layer_map"]] == [0, 1]
    assert torch.equal(child.vit.layers[0].mlp.fc1.weight, first.layers[0].mlp.fc1.weight)

    with pytest.raises(ValueError, match=r"Revision 'no-such-branch' does not exist.*branch, tag or commit sha"):
        LearngeneModel.from_pretrained(LEARNGENE_REPO, revision="no-such-branch")
    with pytest.raises(ValueError, match=r"'test-user/missing' was not found on the Hub.*token"):
        LearngeneModel.from_pretrained(f"{HUB_USERNAME}/missing")


def test_push_keeps_text_the_user_added_to_the_remote_card(local_hub: LocalHub, tmp_path: Path) -> None:
    ancestry = build_ancestry("vit")
    LearngeneModel.from_ancestry(ancestry, layer_indices=[0]).push_to_hub(LEARNGENE_REPO)
    card = _remote_card(LEARNGENE_REPO)
    card.data.project = "my-project"
    edited = tmp_path / "README.md"
    edited.write_text(str(card) + "\n## Results\n\nUser-written results.\n")
    HfApi().upload_file(path_or_fileobj=edited, path_in_repo="README.md", repo_id=LEARNGENE_REPO)

    LearngeneModel.from_ancestry(ancestry, layer_indices=[1, 3]).push_to_hub(LEARNGENE_REPO)
    card = _remote_card(LEARNGENE_REPO)
    assert card.data.project == "my-project"
    assert "User-written results." in card.text
    generated = card.text[card.text.index(START): card.text.index(END)]
    assert "| 3 | encoder layer 3 | - | yes |" in generated
    assert "| 0 | encoder layer 0 | - |  |" in generated


# ---------------------------------------------------------------------------------------------------- ancestries
def test_ancestry_from_the_hub_records_its_commit_and_license(local_hub: LocalHub, tmp_path: Path) -> None:
    ancestry, sha = _push_ancestry(tmp_path)
    learngene = LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[1, 2])
    config = learngene.config
    assert config.ancestry_name_or_path == ANCESTRY_REPO
    assert config.ancestry_revision == sha
    assert config.license == "mit"
    assert config.ancestry_config["model_type"] == "vit"
    prefixes = integral_layer_prefixes("vit")
    for position, index in enumerate([1, 2]):
        expected = sub_state_dict(ancestry, prefixes[index])
        for key, tensor in learngene.layers[position].state_dict().items():
            assert torch.equal(tensor, expected[key]), key
    # A branch name is recorded as the commit it resolved to.
    assert LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[0], revision="main").config.ancestry_revision == sha

    learngene.push_to_hub(LEARNGENE_REPO)
    card = _remote_card(LEARNGENE_REPO)
    assert card.data.base_model == ANCESTRY_REPO
    assert card.data.license == "mit"
    assert {"learngene", "vit"} <= set(card.data.tags)
    assert sha in card.text


def test_ancestry_revision_pinning(local_hub: LocalHub, tmp_path: Path) -> None:
    first, sha1 = _push_ancestry(tmp_path, seed=0)
    second, sha2 = _push_ancestry(tmp_path, seed=1)
    assert sha1 != sha2
    pinned = LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[3], revision=sha1)
    assert pinned.config.ancestry_revision == sha1
    layer = integral_layer_prefixes("vit")[3]
    assert torch.equal(pinned.layers[0].mlp.fc1.weight, sub_state_dict(first, layer)["mlp.fc1.weight"])
    latest = LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[3])
    assert latest.config.ancestry_revision == sha2
    assert torch.equal(latest.layers[0].mlp.fc1.weight, sub_state_dict(second, layer)["mlp.fc1.weight"])


@pytest.mark.parametrize("kind", ["resnet-bottleneck", "dinov2"])
def test_ancestry_bare_backbone_from_the_hub(kind: str, local_hub: LocalHub, tmp_path: Path) -> None:
    model = build_ancestry(kind, head=False)
    folder = save_ancestry(model, tmp_path / "backbone", license="apache-2.0")
    repo_id = f"{HUB_USERNAME}/tiny-{kind}"
    HfApi().create_repo(repo_id)
    sha = HfApi().upload_folder(repo_id=repo_id, folder_path=folder).oid
    learngene = LearngeneModel.from_ancestry(repo_id, layer_indices=[0, 3])
    assert learngene.config.ancestry_revision == sha and learngene.config.license == "apache-2.0"
    prefixes = integral_layer_prefixes(kind, head=False)
    for position, index in enumerate([0, 3]):
        expected = sub_state_dict(model, prefixes[index])
        for key, tensor in learngene.layers[position].state_dict().items():
            assert torch.equal(tensor, expected[key]), key


def test_pickled_ancestry_on_the_hub_is_refused(local_hub: LocalHub, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = save_ancestry(build_ancestry("vit"), tmp_path / "pickled")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"pretend this is a malicious pickle")
    HfApi().create_repo(ANCESTRY_REPO)
    HfApi().upload_folder(repo_id=ANCESTRY_REPO, folder_path=folder)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called on a downloaded file")

    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(UnsafeWeightsError, match=r"only has pickled weights \(pytorch_model\.bin\).*safetensors only"):
        LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[0])


def test_no_code_from_a_downloaded_repo_is_executed(local_hub: LocalHub, tmp_path: Path) -> None:
    marker = tmp_path / "code-was-executed"
    evil = f"from pathlib import Path\nPath({str(marker)!r}).write_text('pwned')\n"
    # An ancestry and a learngene whose config.json points at code shipped in the repo.
    folder = save_ancestry(build_ancestry("vit"), tmp_path / "ancestry")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel",
                          "AutoModelForImageClassification": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(evil)
    api = HfApi()
    api.create_repo(ANCESTRY_REPO)
    api.upload_folder(repo_id=ANCESTRY_REPO, folder_path=folder)
    learngene = LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[0])

    learngene.save_pretrained(tmp_path / "lg")
    config = json.loads((tmp_path / "lg" / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "evil.EvilModel"}
    (tmp_path / "lg" / "config.json").write_text(json.dumps(config))
    (tmp_path / "lg" / "evil.py").write_text(evil)
    api.create_repo(LEARNGENE_REPO)
    api.upload_folder(repo_id=LEARNGENE_REPO, folder_path=tmp_path / "lg")
    loaded = LearngeneModel.from_pretrained(LEARNGENE_REPO)
    assert type(loaded) is LearngeneModel
    from_learngene(LEARNGENE_REPO, num_labels=2, seed=0)
    with pytest.raises(ValueError, match="never executes code"):
        LearngeneModel.from_pretrained(LEARNGENE_REPO, trust_remote_code=True)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------- private repos
def test_private_repos_need_the_token(local_hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _push_ancestry(tmp_path, private=True)
    learngene = LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0, 1])
    learngene.push_to_hub(LEARNGENE_REPO, private=True)
    assert HfApi().model_info(LEARNGENE_REPO).private

    monkeypatch.delenv("HF_TOKEN")  # from now on the client has no implicit token
    private_hint = r"was not found on the Hub.*private repo pass token=\.\.\. or log in"
    with pytest.raises(ValueError, match=rf"'{LEARNGENE_REPO}' {private_hint}"):
        LearngeneModel.from_pretrained(LEARNGENE_REPO)
    with pytest.raises(ValueError, match=private_hint):
        from_learngene(LEARNGENE_REPO, num_labels=2)
    with pytest.raises(ValueError, match=rf"'{ANCESTRY_REPO}' {private_hint}"):
        LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[0])

    # The token given as an argument is passed through to every Hub call.
    loaded = LearngeneModel.from_pretrained(LEARNGENE_REPO, token=HUB_TOKEN)
    _assert_same_weights(loaded, learngene)
    child = from_learngene(LEARNGENE_REPO, num_labels=2, token=HUB_TOKEN, seed=0)
    assert child.config.learngene["learngene"] == LEARNGENE_REPO
    assert LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[0], token=HUB_TOKEN).config.license == "mit"
    other = LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[3])
    commit = other.push_to_hub(LEARNGENE_REPO, token=HUB_TOKEN)
    assert LearngeneModel.from_pretrained(LEARNGENE_REPO, token=HUB_TOKEN, revision=commit.oid).config.layer_indices == [3]


def test_wrong_token_is_a_clear_error(local_hub: LocalHub, tmp_path: Path) -> None:
    LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0]).push_to_hub(LEARNGENE_REPO, private=True)
    with pytest.raises(ValueError, match=rf"'{LEARNGENE_REPO}'.*(token|log in)"):
        LearngeneModel.from_pretrained(LEARNGENE_REPO, token="hf_wrong_token")


# ---------------------------------------------------------------------------------------------------- offline mode
def test_offline_mode_loads_from_the_cache(local_hub: LocalHub, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ancestry, ancestry_sha = _push_ancestry(tmp_path)
    learngene = LearngeneModel.from_ancestry(ancestry, layer_indices=[1, 3])
    sha = learngene.push_to_hub(LEARNGENE_REPO).oid
    LearngeneModel.from_pretrained(LEARNGENE_REPO)  # first download fills the cache
    LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[0])

    set_offline(monkeypatch, True)
    local_hub.clear_request_log()
    cached = LearngeneModel.from_pretrained(LEARNGENE_REPO)
    _assert_same_weights(cached, learngene)
    assert cached.commit_sha == sha
    assert LearngeneModel.from_pretrained(LEARNGENE_REPO, revision=sha).commit_sha == sha
    child = from_learngene(LEARNGENE_REPO, num_labels=2, seed=0)
    assert child.config.learngene["revision"] == sha
    offline_learngene = LearngeneModel.from_ancestry(ANCESTRY_REPO, layer_indices=[2])
    assert offline_learngene.config.ancestry_revision == ancestry_sha
    assert local_hub.requests == []  # nothing went to the server

    with pytest.raises(ValueError, match=r"'test-user/never-downloaded'.*not in the local cache.*HF_HUB_OFFLINE"):
        LearngeneModel.from_pretrained(f"{HUB_USERNAME}/never-downloaded")


# ---------------------------------------------------------------------------------------------------- descendants
def test_descendant_of_a_hub_learngene(local_hub: LocalHub, tmp_path: Path) -> None:
    learngene = LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0, 2])
    sha = learngene.push_to_hub(LEARNGENE_REPO).oid
    child = from_learngene(LEARNGENE_REPO, num_labels=5, seed=0)
    save_descendant(child, tmp_path / "child")
    card = ModelCard.load(tmp_path / "child" / "README.md")
    assert card.data.base_model == LEARNGENE_REPO
    assert sha in card.text

    repo_id = f"{HUB_USERNAME}/vit-descendant"
    commit = push_descendant_to_hub(child, repo_id)
    reloaded = AutoModelForImageClassification.from_pretrained(repo_id, revision=commit.oid)
    _assert_same_weights(reloaded, child)
    assert reloaded.config.learngene["learngene"] == LEARNGENE_REPO
    assert reloaded.config.learngene["revision"] == sha
    remote = _remote_card(repo_id)
    assert remote.data.base_model == LEARNGENE_REPO
    assert f'from_pretrained("{repo_id}")' in remote.text


def test_ancestry_object_loaded_from_the_hub_keeps_its_provenance(local_hub: LocalHub, tmp_path: Path) -> None:
    _, sha = _push_ancestry(tmp_path)
    model = AutoModelForImageClassification.from_pretrained(ANCESTRY_REPO)
    learngene = LearngeneModel.from_ancestry(model, layer_indices=[0])
    assert learngene.config.ancestry_name_or_path == ANCESTRY_REPO
    # transformers 5 no longer records the commit on a loaded model: the revision is unknown, never a wrong one.
    assert learngene.config.ancestry_revision in (None, sha)


def test_descendant_push_keeps_text_the_user_added_to_the_remote_card(local_hub: LocalHub, tmp_path: Path) -> None:
    learngene = LearngeneModel.from_ancestry(build_ancestry("resnet-basic"), layer_indices=[0, 3])
    repo_id = f"{HUB_USERNAME}/resnet-descendant"
    push_descendant_to_hub(from_learngene(learngene, num_labels=2, seed=0), repo_id)
    card = _remote_card(repo_id)
    card.data.accuracy_note = "see below"
    edited = tmp_path / "README.md"
    edited.write_text(str(card) + "\n## Evaluation\n\nUser-written evaluation.\n")
    HfApi().upload_file(path_or_fileobj=edited, path_in_repo="README.md", repo_id=repo_id)

    push_descendant_to_hub(from_learngene(learngene, num_labels=2, seed=1), repo_id)
    card = _remote_card(repo_id)
    assert card.data.accuracy_note == "see below"
    assert "User-written evaluation." in card.text
    assert "with seed 1" in card.text and "with seed 0" not in card.text
    assert card.text.count(START) == 1
