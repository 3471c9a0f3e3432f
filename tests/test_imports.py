"""``import hf_learngene`` is light and leaves matplotlib's backend alone (each check in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hf_learngene

HEAVY = ("matplotlib", "datasets", "accelerate", "transformers.trainer")


def _run(code: str, *args: str) -> str:
    """Run ``code`` in a fresh interpreter (from the repository root) and return its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONSTARTUP")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).resolve().parents[1], timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_loads_no_heavy_dependency() -> None:
    out = _run(f"""
        import json, sys
        import hf_learngene
        import hf_learngene.condensation
        import hf_learngene.experiments
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert json.loads(out.splitlines()[-1]) == []


def test_public_names_load_on_first_use() -> None:
    for name in hf_learngene.__all__:
        assert getattr(hf_learngene, name) is not None, name
    assert set(hf_learngene.__all__) <= set(dir(hf_learngene))
    from hf_learngene import condensation

    for name in condensation.__all__:
        assert getattr(condensation, name) is not None, name
    from hf_learngene import experiments

    for name in experiments.__all__:
        assert getattr(experiments, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        hf_learngene.not_a_name  # noqa: B018


def test_auto_model_loads_a_learngene_after_a_light_import(tmp_path: Path) -> None:
    from tests.tiny_models import tiny_vit

    hf_learngene.LearngeneModel.from_ancestry(tiny_vit(), layer_indices=[0, 2]).save_pretrained(tmp_path / "lg")
    out = _run("""
        import sys
        import hf_learngene
        from transformers import AutoConfig, AutoModel
        assert "hf_learngene.modeling_learngene" not in sys.modules
        assert type(AutoConfig.from_pretrained(sys.argv[1])).__name__ == "LearngeneConfig"
        model = AutoModel.from_pretrained(sys.argv[1])
        assert AutoModel._model_mapping[hf_learngene.LearngeneConfig] is hf_learngene.LearngeneModel
        print(type(model).__name__, model.config.layer_indices)
    """, str(tmp_path / "lg"))
    assert out.splitlines()[-1] == "LearngeneModel [0, 2]"


def test_saving_plots_keeps_the_matplotlib_backend(tmp_path: Path) -> None:
    out = _run("""
        import sys
        import hf_learngene  # noqa: F401
        import matplotlib
        matplotlib.use("svg")  # e.g. a notebook's inline backend: hf_learngene must not switch it
        import numpy as np
        from hf_learngene.condensation.plots import plot_layer_scores, plot_pair_scores
        from hf_learngene.experiments.demo import plot_curves
        folder = sys.argv[1]
        plot_layer_scores(np.array([0.4, 0.35, 0.25]), folder + "/layers.png", selected=[0, 1])
        plot_pair_scores(np.full((3, 2), 0.5), folder + "/pairs.png")
        plot_curves({"a": [0.1, 0.2]}, __import__("pathlib").Path(folder) / "curves.png", "title")
        print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
    """, str(tmp_path))
    assert out.splitlines()[-1] == "svg False"
    for name in ("layers.png", "pairs.png", "curves.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
