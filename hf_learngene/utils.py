"""Small shared helpers: atomic directory writes, hub file resolution, parameter counts."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from torch import nn


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, keep_existing: bool = True) -> Iterator[Path]:
    """Write a directory atomically: yield a temporary directory, then swap it in on success.

    If the body raises (or the process dies), ``target`` keeps whatever an earlier save left there and the
    temporary directory is removed. Files already in ``target`` that the new save does not write (for
    example a user's own notes) are carried over when ``keep_existing`` is true.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
        >>> with atomic_directory(out) as tmp:
        ...     _ = (tmp / "a.txt").write_text("hello")
        >>> (out / "a.txt").read_text()
        'hello'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists() and not target.is_dir():
            raise NotADirectoryError(f"{target} exists and is not a directory.")
        if target.exists() and keep_existing:
            for item in target.iterdir():
                if not (tmp / item.name).exists():
                    (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
        backup = None
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            backup.rmdir()
            os.replace(target, backup)
        os.replace(tmp, target)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module`` (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in module.parameters())
