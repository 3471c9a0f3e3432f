"""Provenance without private paths: how a learngene records the ancestry and the data it came from.

A Hub id is recorded as it is (``"google/vit-base-patch16-224"``). A local folder is recorded as its name plus a
short fingerprint of its content, ``"<folder name>@sha256:<16 hex digits>"`` (e.g. ``"vit@sha256:3f2a9c0d5e6b7a81"``),
so a published config names what was used without revealing where it sits (``/home/<user>/...``). Two copies of the
same files give the same fingerprint wherever they are.

The fingerprint is the SHA-256 of, for every file considered (sorted by relative path): the relative path, the size
and the content; files over 8 MiB contribute their first and last MiB only, so fingerprinting stays fast for large
checkpoints and datasets. For a model folder the files are its top-level ``*.json`` and ``*.safetensors`` (what
loading reads); for a dataset folder every file, recursively, except hidden ones and ``datasets``' ``cache-*`` files.

To keep the full local path instead, pass ``record_local_paths=True`` (e.g. to
:meth:`~hf_learngene.LearngeneModel.from_ancestry`) or set the environment variable
``LEARNGENE_RECORD_LOCAL_PATHS=1`` (this also covers :func:`~hf_learngene.condense`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from .constants import RECORD_LOCAL_PATHS_ENV_VAR

#: Files fingerprinted in a model folder (top level only).
MODEL_FILE_PATTERNS = ("*.json", "*.safetensors")
#: ``None``: every file of a dataset folder, recursively (hidden files and ``cache-*`` files excluded).
DATASET_FILE_PATTERNS = None

_HASH_CHUNK = 1 << 20  # 1 MiB
_WHOLE_FILE_LIMIT = 8 << 20  # files up to 8 MiB are hashed whole
_FINGERPRINT_DIGITS = 16
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def keep_local_paths(value: bool | None = None) -> bool:
    """Whether to record full local paths: ``value`` if given, else ``$LEARNGENE_RECORD_LOCAL_PATHS`` (``1``)."""
    if value is not None:
        return bool(value)
    return os.environ.get(RECORD_LOCAL_PATHS_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def _files(root: Path, patterns: Sequence[str] | None) -> list[Path]:
    if root.is_file():
        return [root]
    if patterns is not None:
        found = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    else:
        found = {p for p in root.rglob("*") if p.is_file()}
    keep = [p for p in found if not any(part.startswith(".") for part in p.relative_to(root).parts)
            and not p.name.startswith("cache-")]
    return sorted(keep, key=lambda p: p.relative_to(root).as_posix())


def content_fingerprint(path: str | os.PathLike, patterns: Sequence[str] | None = None) -> str:
    """``"sha256:<16 hex digits>"`` of the files under ``path`` (see the module docstring for what is hashed).

    Args:
        path: a folder (or a single file).
        patterns: glob patterns relative to the folder (e.g. :data:`MODEL_FILE_PATTERNS`); ``None``: every file,
            recursively.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "config.json").write_text("{}")
        >>> content_fingerprint(folder)
        'sha256:555dc36908b373a3'
    """
    root = Path(path)
    digest = hashlib.sha256()
    for file in _files(root, patterns):
        size = file.stat().st_size
        name = file.name if file == root else file.relative_to(root).as_posix()
        digest.update(f"{name}\0{size}\0".encode())
        with open(file, "rb") as handle:
            if size <= _WHOLE_FILE_LIMIT:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_HASH_CHUNK))
                handle.seek(size - _HASH_CHUNK)
                digest.update(handle.read(_HASH_CHUNK))
    return f"sha256:{digest.hexdigest()[:_FINGERPRINT_DIGITS]}"


def source_reference(name_or_path: str | os.PathLike | None, *, patterns: Sequence[str] | None = None,
                     record_local_paths: bool | None = None) -> str | None:
    """What provenance records for a model or dataset given as ``name_or_path``.

    - an existing local folder or file: ``"<name>@sha256:<16 hex digits>"`` (its full path with
      ``record_local_paths=True`` or ``$LEARNGENE_RECORD_LOCAL_PATHS=1``);
    - a Hub id (``"user/name"`` or ``"name"``): as it is;
    - a path that does not exist (any more): its last component only;
    - ``None`` / ``""``: ``None``.

    Example:
        >>> source_reference("google/vit-base-patch16-224")
        'google/vit-base-patch16-224'
        >>> source_reference("/no/such/folder/my-vit")
        'my-vit'
    """
    if name_or_path is None or str(name_or_path) == "":
        return None
    name = os.fspath(name_or_path)
    path = Path(name).expanduser()
    if path.exists():
        if keep_local_paths(record_local_paths):
            return str(path.resolve())
        return f"{path.resolve().name}@{content_fingerprint(path, patterns)}"
    if _HUB_NAME.match(name) and not name.startswith("."):
        return name
    return Path(name.replace("\\", "/").rstrip("/")).name or None
