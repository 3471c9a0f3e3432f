"""``examples/paper/which_layers.py`` (harness.which_layers): the layer-selection comparison on the smoke profile
(tiny DINOv2, synthetic images) and the committed summary against its committed selections and runs."""

from __future__ import annotations

import json
from pathlib import Path

import harness  # examples/paper/harness/ (pytest.ini: pythonpath = examples/paper)
import pytest
import which_layers as script
from harness import which_layers as wl

RESULTS = Path(__file__).resolve().parents[1] / "examples" / "paper" / "results"


pytestmark = pytest.mark.usefixtures("one_thread_frozen_gc")


@pytest.fixture
def smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> harness.Context:
    """A smoke-profile base context whose "committed" Auto / Heur scores are planted for the tiny 4-layer DINOv2:
    Auto ranks layers 3, 2, 1, 0; Heur 0, 1, 2, 3."""
    for name, scores in (("auto", [0.1, 0.2, 0.3, 0.4]), ("heur", [0.4, 0.3, 0.2, 0.1])):
        folder = tmp_path / "scores" / name
        folder.mkdir(parents=True)
        (folder / "scores.json").write_text(json.dumps({"layer_scores": scores, "wall_time": 1.0, "method": name,
                                                        "data": {"num_images": 8}}))
        (folder / "config.json").write_text("{}")
        (folder / "condense_config.json").write_text(json.dumps({"method": "auto", "epochs": 1, "num_repeats": 1,
                                                                 "max_iterations": 2, "batch_size": 4,
                                                                 "meta_batch_size": 2, "checkpoint_dir": "<local>"}))
        monkeypatch.setitem(wl.COMMITTED_SCORES, name, folder)
    monkeypatch.setattr(wl, "AUTO_TOPK_FOLDER", tmp_path / "topk-{k}")
    return harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "results",
                           work_dir=tmp_path / "work", progress=False)


def test_identical_selections_share_one_learngene_and_their_runs(smoke: harness.Context) -> None:
    setting = wl.Setting(2, "default_path", epochs=1, num_tasks=2)
    cells = {c.method: c for c in wl.plan(smoke, [setting], ("first_k", "heur@all", "auto@all", "evenly_spaced"))}
    assert cells["first_k"].layers == cells["heur@all"].layers == [[0, 1]]  # Heur's top 2 = the first 2
    assert cells["auto@all"].layers == [[2, 3]] and cells["evenly_spaced"].layers == [[0, 2]]
    first, heur = ([spec.key for _, spec in cells[m].specs] for m in ("first_k", "heur@all"))
    assert first == heur  # the same learngene folder, so the same runs
    assert len(wl.unique_runs(list(cells.values()))) == 3 * setting.num_tasks
    # a layer set equal to the committed Auto top-k uses the top-k folder cut from the committed scores
    assert wl.learngene_folder(smoke, [2, 3]) == Path(str(wl.AUTO_TOPK_FOLDER).format(k=2))
    assert wl.learngene_folder(smoke, [0, 1]).name == "layers-0-1"


def test_selections_are_cached_and_the_summary_compares_with_first_k(smoke: harness.Context) -> None:
    pick = wl.selection(smoke, "block_influence", 2, per_class=6, seed=0)
    assert len(pick["layers"]) == 2 and pick["wall_time_s"] > 0
    cached = wl.selection(smoke, "block_influence", 2, per_class=6, seed=0, compute=False)
    assert cached == pick  # read back, not recomputed
    assert wl.selection(smoke, "block_influence", 2, per_class=5, seed=0, compute=False) is None
    setting = wl.Setting(2, "paper", epochs=1, num_tasks=2)
    methods = ("first_k", "auto@all")
    for ctx, spec in wl.unique_runs(wl.plan(smoke, [setting], methods)):
        harness.run_one(ctx, spec)
    summary = wl.summarize_which_layers(smoke, [setting], methods, budget=False)
    rows = summary["table"][setting.name]["rows"]
    assert rows["first_k"]["tasks"] == [0, 1] and "vs_first_k" not in rows["first_k"]
    paired = rows["auto@all"]["vs_first_k"]
    per_task = {t: rows["auto@all"]["per_task"][str(t)] - rows["first_k"]["per_task"][str(t)] for t in (0, 1)}
    assert paired["mean_difference"] == pytest.approx(sum(per_task.values()) / 2)
    assert paired["wins"] == sum(d > 0 for d in per_task.values()) and not paired["same_layers"]
    assert Path(summary["files"]["md"]).read_text().count("| First-k |") == 1


def test_the_findings_rule_needs_two_points_and_four_of_five_wins() -> None:
    def group(mean: float, wins: int, n: int = 5, same: bool = False) -> dict:
        return {"g": {"rows": {"x": {"vs_first_k": {"tasks": list(range(n)), "mean_difference": mean, "wins": wins,
                                                    "ties": 0, "same_layers": same}}}}}

    assert wl._findings(group(0.03, 4))["g"]["beats_first_k"] == ["x"]
    assert wl._findings(group(0.03, 3))["g"]["beats_first_k"] == []
    assert wl._findings(group(0.01, 5))["g"]["beats_first_k"] == []
    assert wl._findings(group(0.05, 3, n=3))["g"]["beats_first_k"] == ["x"]
    assert wl._findings(group(0.05, 5, same=True))["g"]["beats_first_k"] == []


def test_budget_study_agreement_with_the_largest_budget(smoke: harness.Context, monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    picks = {(5, 0): [0, 1], (5, 1): [0, 2], (5, 2): [0, 1], (20, 0): [0, 1], (20, 1): [0, 1], (20, 2): [0, 1],
             (50, 0): [0, 1], (50, 1): [0, 1], (50, 2): [1, 2]}

    def fake(ctx, method, k, per_class=20, seed=0, draw=0, compute=True):
        if method != "block_influence" or k != 2:
            return None
        return {"layers": picks[(per_class, seed)], "wall_time_s": float(per_class)}

    monkeypatch.setattr(wl, "selection", fake)
    study = wl.budget_study(smoke, ks=(2,), compute=False)["block_influence/k2"]
    assert study["reference"] == [0, 1] and study["reference_budget"] == 50
    assert study["by_budget"]["5"]["agree_with_largest"] == 2
    assert study["by_budget"]["20"]["agree_with_largest"] == 3
    assert study["by_budget"]["5"]["jaccard_to_largest"] == pytest.approx((1 + 1 / 3 + 1) / 3)


def test_settings_flag() -> None:
    assert script.parse_settings("3:default_path:20:3,6:paper:10:5") == (
        wl.Setting(3, "default_path", 20, 3), wl.Setting(6, "paper", 10, 5))
    with pytest.raises(SystemExit, match="Unknown recipe"):
        script.parse_settings("3:nope:20:3")


def test_the_committed_summary_is_its_committed_selections_and_runs() -> None:
    path = RESULTS / "cpu" / "dinov2" / "which_layers.json"
    if not path.exists():
        pytest.skip("which_layers.py was not run")
    data = json.loads(path.read_text())
    runs = {p.stem for p in (RESULTS / "runs").glob("dinov2-*.json")}
    selections = [json.loads(p.read_text()) for p in (RESULTS / "runs").glob("select-dinov2-*.json")]
    picked = {(s["config"]["method"], s["config"]["k"]): s["layers"] for s in selections
              if s["config"]["k"] and s["config"]["seed"] == 0 and s["config"]["per_class"] in (None, wl.DEFAULT_BUDGET)}
    for group in data["table"].values():
        k = group["setting"]["k"]
        for method, row in group["rows"].items():
            if (method, k) in picked and row["tasks"]:
                assert row["layers"] == [picked[(method, k)]], (method, k)
            for task, accuracy in row.get("per_task", {}).items():
                assert 0 <= accuracy <= 1 and int(task) in row["tasks"]
    assert data["command"].startswith("python examples/paper/which_layers.py")
    assert runs  # the runs the summary reads are committed (keys checked by test_committed_runs)
