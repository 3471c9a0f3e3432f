"""Committed results name no private path of the machine that made them (the guide: no absolute paths in results)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: An absolute path into a user's or machine's folders (``/work/...``, ``/home/<user>/...``, ``C:\\Users\\...``);
#: ``/tmp/...`` in a recorded command line is not private and stays allowed.
PRIVATE_PATH = re.compile(r"(?<![\w.~])(?:/(?:work|home|Users|root|mnt|scratch|data)/|[A-Z]:\\Users\\)")
RESULT_SUFFIXES = {".json", ".md", ".csv", ".txt", ".log"}


def committed_result_files() -> list[Path]:
    """Text result files (reports, run JSON, cards) under ``examples/**/results``, the README and the result pages of
    ``docs/results``."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for results in ROOT.glob("examples/**/results"):
        files += sorted(p for p in results.rglob("*") if p.is_file() and p.suffix in RESULT_SUFFIXES)
    return files


def test_the_pattern_catches_machine_paths() -> None:
    assert PRIVATE_PATH.search("`/work/main/outputs/ancestry/vit`")
    assert PRIVATE_PATH.search('"ancestry_path": "/home/someone/models/vit"')
    assert not PRIVATE_PATH.search("`outputs/ancestry/vit` and ../shared/models/dinov2 and --output /tmp/x")


def test_committed_results_name_no_machine_path() -> None:
    offenders = {}
    for path in committed_result_files():
        text = path.read_text(errors="replace")
        hits = sorted({text[max(m.start() - 40, 0): m.end() + 40] for m in PRIVATE_PATH.finditer(text)})
        if hits:
            offenders[str(path.relative_to(ROOT))] = hits[:2]
    assert len(committed_result_files()) > 100  # the results are there to check
    assert not offenders, f"committed results record paths of the machine that made them: {offenders}; record " \
                          "them relative to the repository (harness.portable_path) or as <name>@sha256:<fingerprint>"
