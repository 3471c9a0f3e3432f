"""LearngeneModel.from_pretrained honours the PreTrainedModel.from_pretrained arguments that apply to a learngene
(cache_dir, force_download, local_files_only, config, subfolder, dtype, ...) and refuses the others."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModel, ViTConfig

from hf_learngene import LearngeneConfig, LearngeneError, LearngeneModel
from tests.hub_server import HUB_USERNAME, LocalHub
from tests.tiny_models import tiny_vit

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = f"{HUB_USERNAME}/vit-learngene"


def _learngene(indices: list[int] | None = None) -> LearngeneModel:
    return LearngeneModel.from_ancestry(tiny_vit(), layer_indices=indices or [0, 2])


def _downloads(hub: LocalHub) -> list[str]:
    return [r.path for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]


def test_cache_dir_local_files_only_and_force_download(local_hub: LocalHub, tmp_path: Path,
                                                       local_hub_home: Path) -> None:
    _learngene().push_to_hub(REPO)
    cache = tmp_path / "my-cache"
    with pytest.raises(LearngeneError, match=r"not in the local cache.*my-cache.*local_files_only=True"):
        LearngeneModel.from_pretrained(REPO, cache_dir=cache, local_files_only=True)
    assert _downloads(local_hub) == []  # local_files_only never contacts the Hub

    loaded = LearngeneModel.from_pretrained(REPO, cache_dir=cache)
    assert loaded.config.layer_indices == [0, 2]
    assert list(cache.glob("models--*/snapshots/*/model.safetensors"))
    assert not (local_hub_home / "hub").exists() or not list((local_hub_home / "hub").glob("models--*"))

    local_hub.clear_request_log()
    again = LearngeneModel.from_pretrained(REPO, cache_dir=cache, local_files_only=True)
    assert local_hub.requests == [] and again.commit_sha == loaded.commit_sha
    LearngeneModel.from_pretrained(REPO, cache_dir=cache, force_download=True)
    assert any(path.endswith("/model.safetensors") for path in _downloads(local_hub))

    local_hub.clear_request_log()
    auto = AutoModel.from_pretrained(REPO, cache_dir=cache, local_files_only=True)
    assert type(auto) is LearngeneModel and local_hub.requests == []


def test_config_argument(tmp_path: Path) -> None:
    _learngene().save_pretrained(tmp_path / "lg")
    config = LearngeneConfig.from_pretrained(tmp_path / "lg")
    config.license = "my-license"
    assert LearngeneModel.from_pretrained(tmp_path / "lg", config=config).config.license == "my-license"
    _learngene([1]).save_pretrained(tmp_path / "other")
    with pytest.raises(LearngeneError, match="does not match its config"):  # config of another learngene
        LearngeneModel.from_pretrained(tmp_path / "lg", config=tmp_path / "other")
    with pytest.raises(LearngeneError, match="config must be a LearngeneConfig"):
        LearngeneModel.from_pretrained(tmp_path / "lg", config=ViTConfig())


def test_subfolder_dtype_and_loading_info(tmp_path: Path) -> None:
    _learngene().save_pretrained(tmp_path / "repo" / "learngene")
    loaded = LearngeneModel.from_pretrained(tmp_path / "repo", subfolder="learngene", dtype=torch.float16)
    assert {p.dtype for p in loaded.parameters()} == {torch.float16}
    with pytest.raises(LearngeneError, match="no subfolder 'missing'"):
        LearngeneModel.from_pretrained(tmp_path / "repo", subfolder="missing")
    model, info = LearngeneModel.from_pretrained(tmp_path / "repo" / "learngene", output_loading_info=True)
    assert isinstance(model, LearngeneModel) and not info["missing_keys"] and not info["unexpected_keys"]


@pytest.mark.parametrize(
    "kwargs",
    [{"variant": "fp16"}, {"ignore_mismatched_sizes": True}, {"state_dict": {}}, {"proxies": {"http": "x"}},
     {"attn_implementation": "eager"}, {"gguf_file": "model.gguf"}],
    ids=lambda kwargs: next(iter(kwargs)),
)
def test_unsupported_arguments_are_refused(tmp_path: Path, kwargs: dict) -> None:
    _learngene().save_pretrained(tmp_path / "lg")
    name = next(iter(kwargs))
    with pytest.raises(LearngeneError, match=rf"does not support {name}: it supports config, cache_dir, "
                                             r"force_download, local_files_only, token, revision, subfolder, dtype"):
        LearngeneModel.from_pretrained(tmp_path / "lg", **kwargs)
    with pytest.raises(LearngeneError, match="takes no positional model arguments"):
        LearngeneModel.from_pretrained(tmp_path / "lg", "extra")
    # Their "off" values are no request at all.
    LearngeneModel.from_pretrained(tmp_path / "lg", ignore_mismatched_sizes=False, variant=None)
