"""Small utilities shared by the modules of the harness: hashing, JSON files, versions, formatting, quiet logs."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

import hf_learngene

from .profiles import REPO_ROOT


def _hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")  # per process: parallel writers never share one
    tmp.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    os.replace(tmp, path)

def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def versions() -> dict[str, str]:
    """Library versions recorded with every result."""
    return {"hf_learngene": hf_learngene.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}


def file_fingerprint(path: Path) -> str:
    """sha256 (16 hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _pct(mean: float, std: float | None = None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None and not math.isnan(std) else "")



def portable_path(path: str | os.PathLike) -> str:
    """How a local path is recorded in committed results: relative to the repository root when it lies in the
    repository's parent folder (``outputs/ancestry/vit``, ``../shared/models/...``), else ``<name>@sha256:<16 hex>``
    (:func:`hf_learngene.provenance.source_reference`): never an absolute path."""
    from hf_learngene.provenance import MODEL_FILE_PATTERNS, source_reference

    resolved = Path(path).resolve()
    if resolved.is_relative_to(REPO_ROOT.parent):
        return os.path.relpath(resolved, REPO_ROOT)
    return source_reference(resolved, patterns=MODEL_FILE_PATTERNS, record_local_paths=False) or resolved.name


@contextlib.contextmanager
def _no_datasets_progress() -> Any:
    import datasets

    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if enabled:
            datasets.enable_progress_bars()



@contextlib.contextmanager
def quiet_transformers() -> Any:
    """Silence transformers' info/warning chatter during many short runs."""
    previous = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.utils.logging.set_verbosity(previous)
