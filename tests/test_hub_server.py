"""Contract test: a huggingface_hub upgrade that breaks the local server fails here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub import model_info as module_level_model_info
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.hub_server import HUB_TOKEN, HUB_USERNAME, LocalHub, set_offline

REPO_ID = f"{HUB_USERNAME}/tiny-model"
WEIGHTS = bytes(range(256)) * 8  # 2 KiB of binary data: uploaded with LFS
CONFIG_V1 = {"hidden_size": 8, "version": 1}
CONFIG_V2 = {"hidden_size": 8, "version": 2}


def _write_model_folder(folder: Path, config: dict[str, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "model.safetensors").write_bytes(WEIGHTS)
    return folder


def _upload_model(api: HfApi, tmp_path: Path, *, private: bool = False) -> str:
    """Create ``REPO_ID`` with a config and weights; return the sha of the upload commit."""
    api.create_repo(REPO_ID, private=private)
    commit = api.upload_folder(repo_id=REPO_ID, folder_path=_write_model_folder(tmp_path / "model", CONFIG_V1))
    return commit.oid


def _read_json(path: str | Path) -> dict[str, int]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def test_environment_points_at_the_local_hub(local_hub: LocalHub, local_hub_home: Path) -> None:
    from huggingface_hub import constants

    assert os.environ["HF_ENDPOINT"] == local_hub.url == constants.ENDPOINT
    assert os.environ["HF_TOKEN"] == local_hub.token == HUB_TOKEN
    assert os.environ["HF_HUB_DISABLE_XET"] == "1" and constants.HF_HUB_DISABLE_XET
    assert constants.HF_HUB_CACHE == str(local_hub_home / "hub")
    assert not constants.HF_HUB_OFFLINE
    assert HfApi().whoami()["name"] == HUB_USERNAME


def test_create_repo_conflict_and_exist_ok(local_hub: LocalHub) -> None:
    api = HfApi()
    url = api.create_repo(REPO_ID)
    assert url.repo_id == REPO_ID and url.repo_type == "model"
    assert url == f"{local_hub.url}/{REPO_ID}"

    with pytest.raises(HfHubHTTPError) as error:
        api.create_repo(REPO_ID)
    assert error.value.response.status_code == 409
    assert api.create_repo(REPO_ID, exist_ok=True).repo_id == REPO_ID

    api.delete_repo(REPO_ID)
    assert not local_hub.repo_exists(REPO_ID)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(REPO_ID)
    assert not local_hub.unhandled_requests


def test_upload_info_and_download_round_trip(local_hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi()
    first_sha = _upload_model(api, tmp_path)
    assert len(first_sha) == 40

    # The weights went through the LFS batch API and the presigned upload URL.
    paths = [request.path for request in local_hub.requests]
    assert any(path.endswith(".git/info/lfs/objects/batch") for path in paths)
    assert any(path.startswith("/lfs-upload/") for path in paths)

    info = module_level_model_info(REPO_ID, files_metadata=True)  # module-level helper follows the endpoint too
    assert info.sha == first_sha
    siblings = {sibling.rfilename: sibling for sibling in info.siblings or []}
    assert set(siblings) == {".gitattributes", "config.json", "model.safetensors"}
    assert siblings["model.safetensors"].lfs is not None and siblings["model.safetensors"].size == len(WEIGHTS)
    assert siblings["config.json"].lfs is None
    assert api.repo_info(REPO_ID).sha == first_sha
    assert sorted(api.list_repo_files(REPO_ID)) == [".gitattributes", "config.json", "model.safetensors"]

    weights_path = hf_hub_download(REPO_ID, "model.safetensors")
    assert Path(weights_path).read_bytes() == WEIGHTS
    assert _read_json(hf_hub_download(REPO_ID, "config.json")) == CONFIG_V1
    snapshot = Path(snapshot_download(REPO_ID))
    assert snapshot.name == first_sha
    assert (snapshot / "model.safetensors").read_bytes() == WEIGHTS

    # A second commit: `main` moves, the first commit stays reachable by its sha.
    second = api.upload_file(
        path_or_fileobj=json.dumps(CONFIG_V2).encode(), path_in_repo="config.json", repo_id=REPO_ID
    )
    assert second.oid != first_sha
    commits = api.list_repo_commits(REPO_ID)
    assert [commit.commit_id for commit in commits[:2]] == [second.oid, first_sha]
    assert commits[-1].title == "initial commit"

    assert _read_json(hf_hub_download(REPO_ID, "config.json")) == CONFIG_V2
    assert _read_json(hf_hub_download(REPO_ID, "config.json", revision=first_sha)) == CONFIG_V1
    old_snapshot = Path(snapshot_download(REPO_ID, revision=first_sha))
    assert old_snapshot.name == first_sha
    assert _read_json(old_snapshot / "config.json") == CONFIG_V1
    new_snapshot = Path(snapshot_download(REPO_ID))
    assert new_snapshot.name == second.oid
    assert _read_json(new_snapshot / "config.json") == CONFIG_V2
    assert (new_snapshot / "model.safetensors").read_bytes() == WEIGHTS

    # Branches and refs.
    api.create_branch(REPO_ID, branch="v1", revision=first_sha)
    refs = api.list_repo_refs(REPO_ID)
    assert {ref.name: ref.target_commit for ref in refs.branches} == {"main": second.oid, "v1": first_sha}
    assert _read_json(hf_hub_download(REPO_ID, "config.json", revision="v1")) == CONFIG_V1
    assert not local_hub.unhandled_requests


def test_missing_file_repo_and_revision(local_hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi()
    _upload_model(api, tmp_path)

    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO_ID, "missing.json")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"{HUB_USERNAME}/missing-repo", "config.json")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(f"{HUB_USERNAME}/missing-repo")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO_ID, "config.json", revision="missing-branch")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(REPO_ID, revision="0" * 40)
    assert not local_hub.unhandled_requests


def test_private_repo_needs_the_token(local_hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _upload_model(HfApi(), tmp_path, private=True)
    assert HfApi().model_info(REPO_ID).private is True

    monkeypatch.delenv("HF_TOKEN")  # from now on, the client has no implicit token
    anonymous = HfApi()
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info(REPO_ID)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(REPO_ID, "config.json")
    assert REPO_ID not in [model.id for model in anonymous.list_models(author=HUB_USERNAME)]

    assert anonymous.model_info(REPO_ID, token=local_hub.token).private is True
    assert _read_json(hf_hub_download(REPO_ID, "config.json", token=local_hub.token)) == CONFIG_V1
    assert not local_hub.unhandled_requests


def test_offline_mode_serves_the_cache(local_hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _upload_model(HfApi(), tmp_path)
    online_snapshot = snapshot_download(REPO_ID)

    set_offline(monkeypatch, True)
    local_hub.clear_request_log()
    offline_snapshot = snapshot_download(REPO_ID)
    assert offline_snapshot == online_snapshot
    assert Path(hf_hub_download(REPO_ID, "model.safetensors")).read_bytes() == WEIGHTS
    assert local_hub.requests == []  # nothing reached the server

    set_offline(monkeypatch, False)
    assert snapshot_download(REPO_ID) == online_snapshot
    assert local_hub.requests  # back online


def test_load_parquet_dataset(local_hub: LocalHub, tmp_path: Path) -> None:
    import datasets

    dataset_id = f"{HUB_USERNAME}/tiny-dataset"
    rows = {"text": ["a", "b", "c"], "label": [0, 1, 0]}
    parquet_path = tmp_path / "train.parquet"
    datasets.Dataset.from_dict(rows).to_parquet(str(parquet_path))

    api = HfApi()
    api.create_repo(dataset_id, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=str(parquet_path),
        path_in_repo="data/train-00000-of-00001.parquet",
        repo_id=dataset_id,
        repo_type="dataset",
    )
    assert api.dataset_info(dataset_id).siblings is not None

    loaded = datasets.load_dataset(dataset_id)
    assert list(loaded) == ["train"]
    assert loaded["train"].to_dict() == rows
    assert any(request.path.startswith("/api/datasets/") for request in local_hub.requests)
    assert any(request.path.startswith("/datasets/") for request in local_hub.requests)
    assert not local_hub.unhandled_requests


def test_unknown_routes_answer_json_404(local_hub: LocalHub) -> None:
    from huggingface_hub.utils import get_session

    response = get_session().get(f"{local_hub.url}/api/does-not-exist")
    assert response.status_code == 404
    assert "error" in response.json()
    assert local_hub.unhandled_requests == ["GET /api/does-not-exist"]
