"""Small shared helpers: atomic directory and JSON writes, output folder checks, parameter counts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

#: Model weight files (and shard indexes) a save rewrites as a set: left-overs of an earlier save (e.g. old
#: shards) are not carried over. Other files (``training_args.bin``, plots, notes) are.
WEIGHT_PREFIXES = ("model.", "model-", "pytorch_model", "tf_model", "flax_model")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".index.json")


def _is_weight_file(name: str) -> bool:
    return name.startswith(WEIGHT_PREFIXES) and name.endswith(WEIGHT_SUFFIXES)


def _link_or_copy(source: str, destination: str) -> str:
    """Hard-link ``source`` (cheap, even for big files); copy it where links are not possible."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
    return destination


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, keep_existing: bool = True) -> Iterator[Path]:
    """Write a directory atomically: yield a temporary directory, then swap it in on success.

    If the body raises (or the process dies), ``target`` keeps whatever an earlier save left there and the
    temporary directory is removed. Files already in ``target`` that the new save does not write (for
    example a user's own notes) are carried over when ``keep_existing`` is true (hard-linked, so big
    folders cost nothing); weight files of an earlier save (``*.safetensors``, ``*.bin``, shard indexes) are
    not, so stale shards never mix with the new weights.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> with atomic_directory(out) as tmp:
        ...     _ = (tmp / "a.txt").write_text("hello")
        >>> (out / "a.txt").read_text()
        'hello'
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is not a directory.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    backup = None
    try:
        yield tmp
        if target.exists() and keep_existing:
            for item in target.iterdir():
                if (tmp / item.name).exists() or (item.is_file() and _is_weight_file(item.name)):
                    continue
                if item.is_dir() and not item.is_symlink():
                    shutil.copytree(item, tmp / item.name, symlinks=True, copy_function=_link_or_copy)
                elif item.is_symlink():
                    os.symlink(os.readlink(item), tmp / item.name)
                else:
                    _link_or_copy(str(item), str(tmp / item.name))
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            backup.rmdir()
            os.replace(target, backup)
        try:
            os.replace(tmp, target)
        except BaseException:
            if backup is not None and not target.exists():
                os.replace(backup, target)  # put the earlier save back
                backup = None
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if backup is not None and backup.exists():
            shutil.rmtree(backup, ignore_errors=True)


def write_json_atomic(path: str | os.PathLike, data: Any, *, end: str = "", **dumps_kwargs: Any) -> Path:
    """Write ``json.dumps(data, **dumps_kwargs) + end`` to ``path`` atomically (a temporary file, then ``os.replace``).

    A kill at any moment leaves either the previous file or the new one, never half of one. The parent folder is
    created when missing.

    Example:
        >>> import tempfile, pathlib
        >>> path = write_json_atomic(pathlib.Path(tempfile.mkdtemp()) / "progress.json", {"step": 3})
        >>> path.read_text()
        '{"step": 3}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, **dumps_kwargs) + end)
    os.replace(tmp, path)
    return path


def check_output_folder(path: str | os.PathLike, what: str = "output") -> Path:
    """Refuse, before any work is done, an output folder that cannot be created because it or a parent is a file.

    Returns ``path`` as a :class:`~pathlib.Path` (it may not exist yet); raises :class:`LearngeneError` otherwise.

    Example:
        >>> check_output_folder("outputs/new-learngene")
        PosixPath('outputs/new-learngene')
    """
    from .errors import LearngeneError

    target = Path(path)
    for folder in (target, *target.parents):
        if folder.exists():
            if not folder.is_dir():
                where = "is" if folder == target else f"is inside {str(folder)!r}, which is"
                raise LearngeneError(f"The {what} {str(target)!r} {where} a file, not a folder: pass the path of a "
                                     "folder (existing or new).")
            break
    return target


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module`` (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in module.parameters())
