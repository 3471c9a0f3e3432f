"""Resolving models from a local directory or the Hub (with revision pinning), safely.

Only safetensors weights are ever loaded and no code from a repository is executed
(no pickle, no ``trust_remote_code``).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from huggingface_hub import CommitInfo, HfApi, ModelCard, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForImageClassification, PreTrainedModel
from transformers.utils.generic import is_timm_config_dict

from .constants import CONFIG_NAME, MODEL_CARD_NAME, SAFETENSORS_WEIGHTS_NAME
from .errors import HubPushError, LearngeneError, UnsafeWeightsError
from .families import ArchitectureFamily, family_for_config
from .families.registry import wrap_model

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
DEFAULT_PATTERNS = ["*.json", "*.safetensors", "*.md", "*.txt", "*.png", "*.bin", "*.pt", "*.pth"]


@dataclass
class ResolvedRepo:
    """A local folder holding a model's files, and the commit it came from (``None`` for local folders)."""

    path: Path
    name_or_path: str
    revision: str | None


def resolve_repo(
    name_or_path: str | os.PathLike,
    revision: str | None = None,
    token: str | bool | None = None,
    allow_patterns: list[str] | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    subfolder: str | None = None,
) -> ResolvedRepo:
    """A local directory as is, or a Hub repo downloaded (or taken from the cache when offline).

    ``cache_dir``, ``force_download`` and ``local_files_only`` go to :func:`huggingface_hub.snapshot_download`
    (``local_files_only=True`` never contacts the Hub); ``subfolder`` picks a folder inside the repo or directory.

    Example:
        >>> resolved = resolve_repo("my-learngene")  # doctest: +SKIP
        >>> resolved = resolve_repo("user/vit-learngene", revision="3f2a...")  # doctest: +SKIP
    """
    local = Path(name_or_path)
    if local.is_dir():
        folder = local / subfolder if subfolder else local
        if not folder.is_dir():
            raise LearngeneError(f"{str(name_or_path)!r} has no subfolder {subfolder!r}.")
        return ResolvedRepo(folder, str(name_or_path), None)
    name = str(name_or_path)
    if local.exists() or name.count("/") > 1 or name.startswith((".", "/", "~")):
        raise LearngeneError(f"{name!r} is neither a local directory nor a Hub repo id ('user/name').")
    patterns = allow_patterns or DEFAULT_PATTERNS
    if subfolder:
        patterns = [f"{subfolder.strip('/')}/{pattern}" for pattern in patterns]
    try:
        folder = snapshot_download(
            name, revision=revision, token=token, allow_patterns=patterns, cache_dir=cache_dir,
            force_download=force_download, local_files_only=local_files_only,
        )
    except RepositoryNotFoundError as err:
        raise LearngeneError(
            f"Repository {name!r} was not found on the Hub ({err.__class__.__name__}). Check the id; for a private "
            "repo pass token=... or log in with `hf auth login`."
        ) from err
    except RevisionNotFoundError as err:
        raise LearngeneError(f"Revision {revision!r} does not exist in {name!r}: pass a branch, tag or commit sha.") from err
    except LocalEntryNotFoundError as err:
        why = "local_files_only=True" if local_files_only else "the Hub cannot be reached (HF_HUB_OFFLINE=1?)"
        raise LearngeneError(
            f"{name!r} (revision {revision or 'main'}) is not in the local cache"
            f"{f' {str(cache_dir)!r}' if cache_dir else ''} and {why}. Download it once while online."
        ) from err
    except HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status in (401, 403):
            raise LearngeneError(
                f"The Hub refused access to {name!r} (HTTP {status}): the token is invalid or lacks access. Pass a "
                "valid token=... or log in with `hf auth login`."
            ) from err
        raise LearngeneError(f"Could not download {name!r} (revision {revision or 'main'}) from the Hub: {err}") from err
    snapshot = Path(folder)
    path = snapshot / subfolder if subfolder else snapshot
    if not path.is_dir():
        raise LearngeneError(f"Repository {name!r} (revision {revision or 'main'}) has no subfolder {subfolder!r}.")
    return ResolvedRepo(path, name, snapshot.name if snapshot.parent.name == "snapshots" else revision)


def fetch_remote_card(repo_id: str, folder: Path, revision: str | None = None,
                      token: str | bool | None = None) -> Path | None:
    """Copy the ``README.md`` of a Hub repo into ``folder`` (so a push can keep what users wrote in it).

    Returns the local copy, or ``None`` when the repo has no card yet.
    """
    try:
        card_file = hf_hub_download(repo_id, MODEL_CARD_NAME, revision=revision, token=token,
                                    local_dir=folder.parent / f".{folder.name}-remote-card")
    except (EntryNotFoundError, HfHubHTTPError):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_CARD_NAME).write_text(Path(card_file).read_text(encoding="utf-8"), encoding="utf-8")
    return folder / MODEL_CARD_NAME


def push_with_card(repo_id: str, write: Callable[[Path, str], object], *, commit_message: str,
                   private: bool | None = None, token: str | bool | None = None, revision: str | None = None,
                   create_pr: bool = False) -> CommitInfo:
    """Upload what ``write(folder, repo_id)`` saves to a Hub repo, keeping what users wrote in its card.

    Creates ``repo_id`` if needed, puts its current ``README.md`` (if any) into a temporary folder so that the save
    merges its generated card with the user's text, calls ``write`` and uploads the folder; returns the commit.

    Raises:
        HubPushError: when the upload fails (an HTTP error, a dropped connection, ...): one line that names the
            request that failed and says whether anything was committed, from the repo's refs before and after. The
            caller's files are never touched (the upload is written to a temporary folder).
    """
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True, token=token).repo_id
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "upload"
        fetch_remote_card(repo_id, folder, revision=revision, token=token)
        write(folder, repo_id)
        refs = repo_refs(api, repo_id)
        try:
            return api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message,
                                     revision=revision, create_pr=create_pr, token=token)
        except Exception as err:  # whatever broke the upload, say what became of the push (the cause is chained)
            raise push_failure(api, repo_id, refs, err) from err


def repo_refs(api: HfApi, repo_id: str) -> dict[str, str] | None:
    """``{ref: commit}`` of every branch, tag and pull request of a Hub repo; ``None`` when the Hub does not say."""
    try:
        refs = api.list_repo_refs(repo_id, include_pull_requests=True)
    except Exception:  # noqa: BLE001 (only used to tell whether a failed push committed anything)
        return None
    return {ref.ref: ref.target_commit for ref in (*refs.branches, *refs.tags, *(refs.pull_requests or ()))}


def push_failure(api: HfApi, repo_id: str, refs_before: dict[str, str] | None, err: Exception) -> HubPushError:
    """The one-line error of a push to ``repo_id`` that raised ``err``: what failed, and whether the repo's refs
    (``refs_before`` the upload) moved, i.e. whether anything was committed."""
    failed = f"{_failed_request(err) or 'the upload'} failed ({_error_chain(err)})"
    refs_after = repo_refs(api, repo_id) if refs_before is not None else None
    if refs_after is not None and refs_after == refs_before:
        return HubPushError(f"The push to {repo_id!r} did not happen: {failed}. Nothing was committed ({repo_id} has "
                            "the same commits as before) and the local files are unchanged: retry the push.")
    if refs_after is None:
        return HubPushError(f"The push to {repo_id!r} failed: {failed}, and the Hub could not be asked whether a "
                            f"commit landed. The local files are unchanged: look at the commits of {repo_id}, then "
                            "retry the push if it is not there.")
    changed = sorted(ref for ref in set(refs_before) | set(refs_after) if refs_before.get(ref) != refs_after.get(ref))
    moved = ", ".join(f"{ref} {(refs_before.get(ref) or 'none')[:8]} -> {(refs_after.get(ref) or 'none')[:8]}"
                      for ref in changed)
    return HubPushError(f"The push to {repo_id!r} may have happened: {failed}, but the repo changed meanwhile "
                        f"({moved}). The local files are unchanged: look at the latest commit of {repo_id} before "
                        "pushing again.")


def _failed_request(err: BaseException) -> str | None:
    """``"METHOD /path"`` of the HTTP request that ``err`` (or an error it was raised from) is about, if it says."""
    seen: BaseException | None = err
    while seen is not None:
        for source in (seen, getattr(seen, "response", None)):
            try:
                request = getattr(source, "request", None)
            except RuntimeError:  # an HTTP error without its request
                request = None
            url = getattr(request, "url", None)
            if url is not None:
                return f"{request.method} {getattr(url, 'path', url)}"
        seen = seen.__cause__ or seen.__context__
    return None


def _error_chain(err: BaseException, depth: int = 3) -> str:
    """``err`` and the errors it was raised from, each as ``Type: message`` on one line (at most ``depth``; a cause
    whose message an earlier one already says is left out)."""
    parts: list[str] = []
    said = ""
    seen: BaseException | None = err
    while seen is not None and len(parts) < depth:
        message = " ".join(str(seen).split())
        if not parts or message not in said:
            parts.append(f"{type(seen).__name__}: {message[:300]}" if message else type(seen).__name__)
            said += message
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(parts)


def check_safetensors(folder: Path, what: str) -> list[Path]:
    """The ``*.safetensors`` files of ``folder``; refuses pickled-only checkpoints and truncated files."""
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        pickled = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if pickled:
            raise UnsafeWeightsError(
                f"{what} only has pickled weights ({', '.join(pickled)}). hf_learngene loads safetensors only, "
                "because unpickling can execute code. Convert it once with `model.save_pretrained(dir)` from a "
                "trusted environment, then load that directory."
            )
        raise LearngeneError(f"{what} has no weight file ({SAFETENSORS_WEIGHTS_NAME}) in {folder}. Re-save or re-upload it.")
    for weight in weights:
        _check_safetensors_file(weight, what)
    return weights


def safetensors_shapes(weights: list[Path]) -> dict[str, tuple[int, ...]]:
    """``{tensor name: shape}`` read from the headers of (already checked) safetensors files, no data loaded."""
    shapes: dict[str, tuple[int, ...]] = {}
    for weight in weights:
        shapes.update({k: tuple(v["shape"]) for k, v in _check_safetensors_file(weight, weight.name).items()
                       if k != "__metadata__"})
    return shapes


def check_weights_match(shapes: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]], what: str) -> None:
    """Refuse weight files whose tensors do not match the model built from the config (no silent re-init)."""
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(shapes) if expected[k] != shapes[k])
    if not (missing or unexpected or mismatched):
        return

    def show(keys: list[str]) -> str:
        return ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")

    problems = []
    if missing:
        problems.append(f"missing tensors: {show(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {show(unexpected)}")
    if mismatched:
        problems.append("wrong shapes: " + show([f"{k} {shapes[k]} (config needs {expected[k]})" for k in mismatched]))
    raise LearngeneError(
        f"{what}: the weight file does not match its {CONFIG_NAME} ({'; '.join(problems)}). The files are damaged "
        "or come from different saves: re-save it with save_pretrained (or download it again)."
    )


def _check_safetensors_file(weight: Path, what: str) -> dict:
    """Check the header of a safetensors file and that the file holds every byte the header promises."""
    hint = "Delete it and download it again (force_download=True) or re-save the model."
    size = weight.stat().st_size
    try:
        with open(weight, "rb") as handle:
            header_len = struct.unpack("<Q", handle.read(8))[0]
            if header_len > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(handle.read(header_len))
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except Exception as err:  # struct/json/key errors all mean a damaged file
        raise LearngeneError(f"{what}: weight file {weight.name} is corrupt ({err}). {hint}") from err
    needed = 8 + header_len + max(ends, default=0)
    if size < needed:
        raise LearngeneError(
            f"{what}: weight file {weight.name} is truncated ({size} of {needed} bytes). {hint}"
        )
    return header


def read_license(folder: Path) -> str | None:
    """The ``license`` of a model card in ``folder``, if there is one."""
    readme = folder / MODEL_CARD_NAME
    if not readme.exists():
        return None
    try:
        return ModelCard.load(readme).data.to_dict().get("license")
    except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError):  # a malformed card must not stop loading
        return None


@dataclass
class LoadedAncestry:
    """An ancestry model with where it came from."""

    model: PreTrainedModel
    family: ArchitectureFamily
    name_or_path: str | None
    revision: str | None
    license: str | None
    folder: Path | None = None  # local folder of the checkpoint (for its image processor), if any


def load_ancestry(
    ancestry: PreTrainedModel | LoadedAncestry | str | os.PathLike,
    revision: str | None = None,
    token: str | bool | None = None,
) -> LoadedAncestry:
    """Load an ancestry from a model object, a local directory or a Hub id (+ revision).

    Example:
        >>> loaded = load_ancestry("google/vit-base-patch16-224", revision="main")  # doctest: +SKIP
        >>> loaded.family.name, loaded.revision  # doctest: +SKIP
        ('vit', '3f49326...')
    """
    if isinstance(ancestry, LoadedAncestry):
        return ancestry
    if isinstance(ancestry, nn.Module) and not isinstance(ancestry, PreTrainedModel):
        wrapped = wrap_model(ancestry)  # e.g. a bare timm model, wrapped as transformers' TimmWrapper*
        ancestry = ancestry if wrapped is None else wrapped
    if isinstance(ancestry, PreTrainedModel):
        family = family_for_config(ancestry.config)
        name = getattr(ancestry, "name_or_path", None) or None
        return LoadedAncestry(ancestry, family, name, getattr(ancestry.config, "_commit_hash", None), None)
    if not isinstance(ancestry, (str, os.PathLike)):
        raise LearngeneError(
            f"ancestry must be a transformers model, a local directory or a Hub id, got {type(ancestry).__name__}."
        )
    resolved = resolve_repo(ancestry, revision=revision, token=token)
    if not (resolved.path / CONFIG_NAME).exists():
        raise LearngeneError(f"{resolved.name_or_path} has no {CONFIG_NAME}: it is not a transformers checkpoint.")
    try:
        raw = json.loads((resolved.path / CONFIG_NAME).read_text(encoding="utf-8"))
    except ValueError as err:
        raise LearngeneError(f"{resolved.name_or_path}/{CONFIG_NAME} is not valid JSON ({err}).") from err
    if isinstance(raw, dict) and "model_type" not in raw and is_timm_config_dict(raw):
        raw["model_type"] = "timm_wrapper"  # what transformers reads a timm config as
    family_for_config(raw)  # an unsupported architecture (or a missing optional dependency) fails here, clearly
    config = AutoConfig.from_pretrained(resolved.path)
    family = family_for_config(config)
    config = family.prepare_config(config)
    check_safetensors(resolved.path, f"Ancestry {resolved.name_or_path!r}")
    architectures = config.architectures or []
    auto_cls = AutoModelForImageClassification if any("ForImageClassification" in a for a in architectures) else AutoModel
    try:
        model = auto_cls.from_pretrained(resolved.path, config=config, use_safetensors=True)
    except (OSError, EntryNotFoundError) as err:
        raise LearngeneError(f"Could not load ancestry {resolved.name_or_path!r}: {err}") from err
    model.name_or_path = resolved.name_or_path
    return LoadedAncestry(model, family, resolved.name_or_path, resolved.revision, read_license(resolved.path),
                          resolved.path)
