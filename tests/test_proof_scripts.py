"""``examples/paper/dinov2_proof.sh`` passes each profile's sizes to the harness (run with a stand-in ``python``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "paper" / "dinov2_proof.sh"


def harness_calls(tmp_path: Path, **env: str) -> list[list[str]]:
    """The ``python examples/paper/run.py ...`` command lines the script runs (a stub ``python`` records them)."""
    repo = tmp_path / "repo"
    (repo / "examples" / "paper").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "examples" / "paper" / SCRIPT.name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.txt"
    (bin_dir / "python").write_text(f'#!/bin/sh\nprintf "%s\\037" "$@" >> "{log}"\necho >> "{log}"\n')
    (bin_dir / "sleep").write_text("#!/bin/sh\n")
    for stub in ("python", "sleep"):
        (bin_dir / stub).chmod(0o755)
    subprocess.run(["bash", str(repo / "examples" / "paper" / SCRIPT.name)], check=True, timeout=60,
                   env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env})
    calls = [line.rstrip("\037").split("\037") for line in log.read_text().splitlines() if line]
    return [c for c in calls if c and c[0] == "examples/paper/run.py"]


def option(call: list[str], name: str) -> str:
    return call[len(call) - 1 - call[::-1].index(name) + 1]  # the last occurrence wins, as in argparse


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("profile, epochs, few, fig5", [("cpu", "20", "3", "10,20,50,100"),
                                                         ("paper", "50", "5", "10,20,50,100,200,500")])
def test_the_proof_script_runs_each_profile_at_its_sizes(tmp_path: Path, profile: str, epochs: str, few: str,
                                                          fig5: str) -> None:
    calls = harness_calls(tmp_path, PROFILE=profile)
    assert calls and all(option(c, "--profile") == profile and option(c, "--epochs") == epochs for c in calls)
    by_experiment: dict[str, list[list[str]]] = {}
    for call in calls:
        by_experiment.setdefault(option(call, "--experiment"), []).append(call)
    assert set(by_experiment) == {"table2", "fig3", "fig4", "fig5"}
    trained = [c for c in calls if "--summarize_only" not in c]
    assert len(trained) == 8  # four steps, two processes of one plan each
    finetune = [c for c in trained if "--methods" in c and "finetune_ancestry" in option(c, "--methods")]
    assert len(finetune) == 2 and all(option(c, "--num_tasks") == "5" for c in finetune)  # Table 2's 5 tasks
    assert all(option(c, "--num_tasks") == few for c in by_experiment["fig4"] + by_experiment["fig5"])
    assert all(option(c, "--fig5_samples") == fig5 for c in by_experiment["fig5"])
