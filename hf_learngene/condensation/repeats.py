"""Repeats of a condensing method: their result, their seed, their checkpoint folder and resuming them.

A method's runner computes one repeat (one pseudo-descendant initialisation, one task sequence, ...).
:func:`run_repeat` wraps every runner the same way, so each registered method resumes for free: with
``checkpoint_dir`` set, a finished repeat's result is written to ``<checkpoint_dir>/<method>-repeat-<r>/result.json``
and, with ``resume=True``, read back instead of running the repeat again. A runner that checkpoints within a
repeat (Auto-Learngene does) keeps its files in the same folder (:func:`repeat_folder`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..utils import write_json_atomic
from .base import RepeatResult

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedModel

    from ..families import ArchitectureFamily
    from .base import BaseCondenseConfig, CondenseMethod
    from .data import CondenseData

#: The file holding a finished repeat's :class:`RepeatResult` in its checkpoint folder.
REPEAT_RESULT_NAME = "result.json"


def repeat_seed(config: BaseCondenseConfig, repeat: int) -> int:
    """The seed of repeat ``repeat``: ``config.seed + repeat``."""
    return config.seed + repeat


def repeat_folder(config: BaseCondenseConfig, method: str, repeat: int) -> Path | None:
    """The checkpoint folder of repeat ``repeat`` of ``method`` (``None`` without ``checkpoint_dir``)."""
    if not config.checkpoint_dir:
        return None
    return Path(config.checkpoint_dir) / f"{method}-repeat-{repeat}"


def finished_repeat(config: BaseCondenseConfig, method: str, repeat: int) -> RepeatResult | None:
    """The result of repeat ``repeat`` of ``method`` if it finished in an earlier run and ``config.resume`` is on."""
    folder = repeat_folder(config, method, repeat)
    if folder is not None and config.resume and (folder / REPEAT_RESULT_NAME).exists():
        return RepeatResult.from_dict(json.loads((folder / REPEAT_RESULT_NAME).read_text()))
    return None


def run_repeat(method: CondenseMethod, ancestry: PreTrainedModel, family: ArchitectureFamily, data: CondenseData,
               config: BaseCondenseConfig, accelerator: Accelerator, repeat: int) -> RepeatResult:
    """Repeat ``repeat`` of ``method``: its earlier result when it finished (see :func:`finished_repeat`), else a run
    of the method's runner, whose result is checkpointed (by the main process) when ``checkpoint_dir`` is set."""
    finished = finished_repeat(config, method.name, repeat)
    if finished is not None:
        return finished
    result = method.load_runner()(ancestry, family, data, config, accelerator, repeat)
    folder = repeat_folder(config, method.name, repeat)
    if folder is not None and accelerator.is_main_process:
        write_json_atomic(folder / REPEAT_RESULT_NAME, result.to_dict())
    accelerator.wait_for_everyone()
    return result
