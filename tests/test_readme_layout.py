"""The guide's "Library layout" (docs/guide/layout.md, linked from the README) lists exactly the package's modules (and
nothing that is gone)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ROOT / "docs" / "guide" / "layout.md"


def layout_entries() -> set[str]:
    """Paths named in the layout block of docs/guide/layout.md (folders end with ``/``), from the indentation of each
    line."""
    text = LAYOUT.read_text()
    block = text.split("# Library layout", 1)[1].split("```", 2)[1]
    entries, folders = set(), []
    for line in block.splitlines():
        match = re.match(r"^( *)(\S.*?)(?: {2,}.*)?$", line)
        if match is None or len(match.group(1)) >= 20:  # blank, or a description continued
            continue
        depth = len(match.group(1)) // 2
        folders = folders[:depth]
        for name in (n.strip() for n in match.group(2).split(",")):
            entries.add("".join(folders) + name)
        if match.group(2).endswith("/"):
            folders.append(match.group(2))
    return entries


def test_the_layout_lists_every_module_of_the_package() -> None:
    listed = {e for e in layout_entries() if e.startswith("hf_learngene/")}
    package = ROOT / "hf_learngene"
    actual = {"hf_learngene/"}
    for path in package.rglob("*"):
        if "__pycache__" in path.parts or path.name == "hub_cards" or "hub_cards" in path.parts:
            continue  # hub_cards/ is copied in at build time
        if path.is_dir():
            actual.add(f"{path.relative_to(ROOT)}/")
        elif path.suffix == ".py" or path.name == "py.typed":
            actual.add(str(path.relative_to(ROOT)))
    assert listed == actual, {"not in docs/guide/layout.md": sorted(actual - listed), "gone": sorted(listed - actual)}
    assert {"hub_cards/", "examples/", "tests/", "docs/guide/", "docs/results/"} <= layout_entries()


def test_the_readme_links_the_layout() -> None:
    assert "(docs/guide/layout.md)" in (ROOT / "README.md").read_text()
