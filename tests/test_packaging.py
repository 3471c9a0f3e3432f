"""An sdist and a wheel built from a clean checkout ship the model card templates (hub_cards/*.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(p.name for p in (ROOT / "hub_cards").glob("*.md"))


def _clean_checkout(target: Path) -> Path:
    """Copy the files a commit of the working tree would hold (tracked + untracked, not ignored) to ``target``."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # skips files deleted in the working tree
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _build(source: Path, outdir: Path, *options: str) -> None:
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), *options,
                           str(source)], capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_sdist_and_wheels_contain_the_card_templates(tmp_path: Path) -> None:
    pytest.importorskip("build")  # the `build` package (dev extra)
    assert TEMPLATES == ["descendant_card.md", "learngene_card.md"]
    source = _clean_checkout(tmp_path / "checkout")
    _build(source, tmp_path / "dist")  # an sdist, then a wheel built from that sdist
    _build(source, tmp_path / "direct", "--wheel")  # a wheel built from the checkout
    (sdist,) = (tmp_path / "dist").glob("hf_learngene-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {f"hub_cards/{name}" for name in TEMPLATES} <= names
    for wheel in [*(tmp_path / "dist").glob("*.whl"), *(tmp_path / "direct").glob("*.whl")]:
        with zipfile.ZipFile(wheel) as archive:
            for name in TEMPLATES:
                assert archive.read(f"hf_learngene/hub_cards/{name}") == (ROOT / "hub_cards" / name).read_bytes()
            assert "hf_learngene/py.typed" in archive.namelist()
