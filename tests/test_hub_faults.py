"""A push that fails half-way, through the local Hub server's injected faults: a 500 answer to the commit, a
connection dropped during the LFS upload or the commit's body, an answer lost after the commit. The push of a
learngene and of a descendant raise a one-line HubPushError that says what became of the push; the local folder and
the remote repo are as before, and pushing again once the fault is gone works."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, hf_hub_download
from transformers import AutoModelForImageClassification, PreTrainedModel

from hf_learngene import LearngeneModel, from_learngene, push_descendant_to_hub, save_descendant
from hf_learngene.errors import HubPushError
from tests.hub_server import (
    COMMIT_PATH,
    HUB_USERNAME,
    LFS_UPLOAD_PATH,
    PREUPLOAD_PATH,
    LocalHub,
    skip_retry_waits,
)
from tests.tiny_models import build_ancestry

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO_ID = f"{HUB_USERNAME}/faulty-push"
#: ``(method, path pattern, kind)`` of each fault, by name.
FAULTS = {
    "commit answers 500": ("POST", COMMIT_PATH, "error"),
    "LFS upload dropped half-way": ("PUT", LFS_UPLOAD_PATH, "drop"),
    "commit body dropped half-way": ("POST", COMMIT_PATH, "drop"),
}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _remote(repo_id: str) -> tuple[list[str], list[str]]:
    """The repo's commits (newest first) and files."""
    api = HfApi()
    return [c.commit_id for c in api.list_repo_commits(repo_id)], sorted(api.list_repo_files(repo_id))


def _learngene_push(tmp_path: Path) -> tuple[Path, Callable[[], object], Callable[[str], None]]:
    """Push a first learngene; return a second one's local folder, its push and a check of the pushed version."""
    ancestry = build_ancestry("vit")
    LearngeneModel.from_ancestry(ancestry, layer_indices=[0]).push_to_hub(REPO_ID)
    LearngeneModel.from_ancestry(ancestry, layer_indices=[1, 3]).save_pretrained(tmp_path / "local")
    learngene = LearngeneModel.from_pretrained(tmp_path / "local")

    def check(revision: str) -> None:
        assert LearngeneModel.from_pretrained(REPO_ID, revision=revision).config.layer_indices == [1, 3]

    return tmp_path / "local", lambda: learngene.push_to_hub(REPO_ID), check


def _descendant_push(tmp_path: Path) -> tuple[Path, Callable[[], object], Callable[[str], None]]:
    """Push a first descendant; return a second one's local folder, its push and a check of the pushed version."""
    learngene = LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0, 2])
    push_descendant_to_hub(from_learngene(learngene, num_labels=2, seed=0), REPO_ID)
    child = from_learngene(learngene, num_labels=2, seed=1)
    save_descendant(child, tmp_path / "local")

    def check(revision: str) -> None:
        pushed: PreTrainedModel = AutoModelForImageClassification.from_pretrained(REPO_ID, revision=revision)
        assert all(torch.equal(a, b) for a, b in zip(pushed.state_dict().values(), child.state_dict().values()))

    return tmp_path / "local", lambda: push_descendant_to_hub(child, REPO_ID), check


PUSHES = {"learngene": _learngene_push, "descendant": _descendant_push}


@pytest.mark.parametrize("kind", PUSHES)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_push_commits_nothing_and_a_retry_succeeds(local_hub: LocalHub, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, fault: str,
                                                            kind: str) -> None:
    skip_retry_waits(monkeypatch)  # the LFS upload is retried 5 times; each try is dropped
    local, push, check = PUSHES[kind](tmp_path)
    local_files, (commits, files) = _files(local), _remote(REPO_ID)
    card = Path(hf_hub_download(REPO_ID, "README.md")).read_text()
    method, path, fault_kind = FAULTS[fault]
    injected = local_hub.inject_fault(method, path, fault_kind)

    with pytest.raises(HubPushError) as raised:
        push()
    message = str(raised.value)
    assert "\n" not in message and len(message) < 1500, message
    assert message.startswith(f"The push to '{REPO_ID}' did not happen: {method} ")
    assert "Nothing was committed" in message and "retry the push" in message
    assert ("/commit/main" if path == COMMIT_PATH else "/lfs-upload/") in message
    assert injected.hits >= 1
    assert _files(local) == local_files  # the local folder is unchanged
    assert _remote(REPO_ID) == (commits, files)  # no partial commit
    assert Path(hf_hub_download(REPO_ID, "README.md", force_download=True)).read_text() == card

    local_hub.clear_faults()
    commit = push()
    new_commits, _ = _remote(REPO_ID)
    assert new_commits == [commit.oid, *commits]
    check(commit.oid)
    assert _files(local) == local_files


def test_a_push_whose_answer_is_lost_says_it_may_have_happened(local_hub: LocalHub, tmp_path: Path) -> None:
    """The commit is made but its answer never arrives: the error must not claim that nothing was committed."""
    local, push, check = _learngene_push(tmp_path)
    local_files, (commits, _) = _files(local), _remote(REPO_ID)
    local_hub.inject_fault("POST", COMMIT_PATH, "lose_answer", times=1)

    with pytest.raises(HubPushError, match=rf"^The push to '{REPO_ID}' may have happened: POST .*/commit/main failed "
                                           r"\(.*\), but the repo changed meanwhile \(refs/heads/main ") as raised:
        push()
    assert "\n" not in str(raised.value) and "Nothing was committed" not in str(raised.value)
    new_commits, _ = _remote(REPO_ID)
    assert new_commits[1:] == commits and commits[0][:8] in str(raised.value)
    check(new_commits[0])
    assert _files(local) == local_files


def test_faults_hit_what_they_match_as_often_as_asked(local_hub: LocalHub, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    api = HfApi()
    api.create_repo(REPO_ID)
    (tmp_path / "a.txt").write_text("a")
    once = local_hub.inject_fault("POST", PREUPLOAD_PATH, status=503, times=1)
    skip_retry_waits(monkeypatch)
    api.upload_file(path_or_fileobj=tmp_path / "a.txt", path_in_repo="a.txt", repo_id=REPO_ID)  # retried after 503
    assert once.hits == 1 and [r.status for r in local_hub.requests if "/preupload/" in r.path] == [503, 200]
    local_hub.inject_fault("POST", COMMIT_PATH, status=500)
    with pytest.raises(OSError, match="500"):
        api.upload_file(path_or_fileobj=b"b", path_in_repo="b.txt", repo_id=REPO_ID)
    with pytest.raises(ValueError, match="Unknown fault kind"):
        local_hub.inject_fault("GET", "/*", "explode")
    local_hub.clear_faults()
    api.upload_file(path_or_fileobj=b"b", path_in_repo="b.txt", repo_id=REPO_ID)
    assert {"a.txt", "b.txt"} <= set(api.list_repo_files(REPO_ID))


def test_a_failed_push_the_hub_cannot_tell_about_says_to_look(local_hub: LocalHub, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """When the repo's refs cannot be listed, the error does not claim that nothing was committed either."""
    skip_retry_waits(monkeypatch)
    local, push, _ = _learngene_push(tmp_path)
    local_files, remote = _files(local), _remote(REPO_ID)
    local_hub.inject_fault("GET", "/api/models/*/refs")
    local_hub.inject_fault("POST", COMMIT_PATH)
    with pytest.raises(HubPushError, match=rf"^The push to '{REPO_ID}' failed: POST .*/commit/main failed \(.*\), and "
                                           "the Hub could not be asked whether a commit landed") as raised:
        push()
    assert "\n" not in str(raised.value) and "Nothing was committed" not in str(raised.value)
    assert _files(local) == local_files and _remote(REPO_ID) == remote
