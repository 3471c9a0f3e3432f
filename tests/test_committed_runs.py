"""The committed runs of the paper harness are still found: their cache keys are re-derived from what they record and
from the harness's own plans (``examples/paper/results/runs``, one JSON per run, named by its key).

The ancestry weights and the precomputed learngene folders are not in the repository: their fingerprints are taken
from the records (one per family, one per learngene); everything else (profiles, methods, learngene keys of the
condensed home-ancestry learngenes, run specs) is derived by the harness as it is now.
"""

from __future__ import annotations

import json
from pathlib import Path

import harness  # examples/paper/harness/ (pytest.ini: pythonpath = examples/paper)
import pytest
from harness import widths
from harness.utils import _hash

RESULTS = Path(__file__).resolve().parents[1] / "examples" / "paper" / "results"
RUNS = RESULTS / "runs"


def _load(pattern: str) -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text())) for path in sorted(RUNS.glob(pattern))]


def harness_runs() -> list[tuple[Path, dict]]:
    """The committed descendant runs of the harness (``RunSpec`` records; not the condense metadata, the width runs,
    the layer selections of ``which_layers.py`` or the Table 3 baseline records)."""
    return [(p, r) for p, r in _load("*.json") if not p.name.startswith(("condense-", "select-"))
            and "_width-" not in p.name and "_table3-" not in p.name]


def committed_fingerprints() -> tuple[dict[str, str], dict[str, str]]:
    """``{family: ancestry fingerprint}`` (the one most runs of the family record: the Table 2 ancestry; runs on
    another one, e.g. Fig. 6's continually trained stages, name theirs) and ``{learngene key: folder fingerprint}`` of
    the precomputed learngenes, as the committed runs record them."""
    from collections import Counter

    ancestries: dict[str, Counter] = {}
    learngenes = {}
    for _, record in harness_runs():
        spec = record["spec"]
        ancestries.setdefault(spec["family"], Counter())[spec["ancestry"]] += 1
        if "-file-" in spec["learngene"]:
            learngenes[spec["learngene"]] = spec["learngene"].rsplit("-", 1)[-1]
    return {family: counts.most_common(1)[0][0] for family, counts in ancestries.items()}, learngenes


@pytest.fixture
def committed_context(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``make(profile, families, **overrides)``: a :class:`harness.Context` on the committed results whose ancestry
    and precomputed-learngene fingerprints are the committed ones (the dataset: the default, ``mini-imagenet``)."""
    ancestries, learngenes = committed_fingerprints()
    monkeypatch.setenv("LEARNGENE_DATASET", str(tmp_path / "mini-imagenet"))
    monkeypatch.setattr(harness.Context, "ancestry_fingerprint",
                        lambda self, family: getattr(self, "_test_ancestry_fp", {}).get(family) or ancestries[family])
    monkeypatch.setattr(harness.context, "learngene_fingerprint", lambda folder: learngenes[Path(folder).name])

    def make(profile: str = "cpu", learngene_keys: dict[str, str] | None = None,
             ancestry_fingerprints: dict[str, str] | None = None, **overrides) -> harness.Context:
        paths = {}
        for name, key in (learngene_keys or {}).items():  # stand-in folders named by the learngene's key
            (tmp_path / key).mkdir(exist_ok=True)
            (tmp_path / key / "config.json").write_text("{}")
            paths[tuple(name.split(":"))] = tmp_path / key
        ctx = harness.Context(profile=harness.get_profile(profile), output=RESULTS, work_dir=tmp_path / "work",
                              progress=False, learngene_paths=paths, **overrides)
        ctx._test_ancestry_fp = dict(ancestry_fingerprints or {})  # runs on another ancestry (Fig. 6's stages)
        return ctx

    return make


def test_the_keys_of_committed_runs_are_rederived_from_their_specs() -> None:
    runs = harness_runs()
    assert len(runs) > 300 and {r["spec"]["family"] for _, r in runs} == {"vit", "resnet", "dinov2"}
    assert {r["spec"]["method"] for _, r in runs} == set(harness.ALL_METHODS)  # every registered method has runs
    for path, record in runs:
        assert harness.RunSpec(**record["spec"]).key == record["key"] == path.stem, path.name
    width_runs = _load("*_width-*.json")
    assert {r["spec"].get("family", "dinov2") for _, r in width_runs} == {"dinov2", "resnet"}
    for path, record in width_runs:
        assert widths.WidthRun(**record["spec"]).key == record["key"] == path.stem, path.name
    condensed = _load("condense-*.json")
    assert len(condensed) >= 4
    for path, meta in condensed:
        assert f"{meta['family']}-{meta['method']}-{_hash(meta['settings'], 12)}" == meta["key"], path.name
        assert path.stem == f"condense-{meta['key']}"


def test_make_spec_rederives_every_committed_run(committed_context) -> None:
    """``make_spec`` with the run's profile (``cpu``) gives back every committed run: the same spec, the same key
    (the methods' registry entries decide the learngene, draw, distillation and recipe fields)."""
    _, learngenes = committed_fingerprints()
    contexts: dict[tuple, harness.Context] = {}
    for path, record in harness_runs():
        spec = record["spec"]
        assert spec["profile"] == "cpu"
        # dinov2:auto -> key; the home families' runs use condensed learngenes unless the run names a file (Fig. 6)
        keys = {key.split("-file-")[0].replace("-", ":", 1): key for key in sorted(learngenes)
                if key.split("-", 1)[0] not in harness.HOME_FAMILIES}
        if spec["learngene"] in learngenes:  # a run on another precomputed learngene (e.g. the main path's 7 layers)
            keys[spec["learngene"].split("-file-")[0].replace("-", ":", 1)] = spec["learngene"]
        context_key = (spec["epochs"], tuple(sorted(keys.items())), spec["family"], spec["ancestry"])
        if context_key not in contexts:
            contexts[context_key] = committed_context(epochs=spec["epochs"], learngene_keys=keys,
                                                      ancestry_fingerprints={spec["family"]: spec["ancestry"]})
        ctx = contexts[context_key]
        made = harness.make_spec(ctx, spec["family"], spec["method"], spec["task_seed"], spec["samples_per_class"],
                                 spec["learning_rate"], spec["weight_decay"], draw=spec.get("draw"))
        assert made == harness.RunSpec(**spec) and made.key == record["key"], path.name


def test_the_committed_summaries_find_all_their_runs(committed_context) -> None:
    """The plans of the committed summaries (``run.py`` with the overrides each summary records) find every run
    cached, and the condensed home-ancestry learngenes their metadata."""
    summaries = [p for p in sorted((RESULTS / "cpu").glob("*.json")) + sorted((RESULTS / "cpu" / "dinov2").glob("*.json"))
                 if p.stem in harness.EXPERIMENTS]  # mainpath, table3, which_layers, fig6: their own tests
    assert {p.stem for p in summaries} == set(harness.EXPERIMENTS)
    assert len(summaries) == 2 * len(harness.EXPERIMENTS)
    for path in summaries:
        data = json.loads(path.read_text())
        overrides = dict(data.get("overrides") or {})  # the home-ancestry summaries predate overrides
        keys = overrides.pop("learngenes", None)
        ctx = committed_context(data["profile"]["name"], learngene_keys=keys, **overrides)
        planned = harness.plan_runs(ctx, [data["experiment"]], data["families"])
        missing = [s.key for s in planned if not harness.run_path(ctx, s).exists()]
        assert planned and not missing, (path, missing)
        assert {r["key"] for r in data["runs"]} <= {s.key for s in planned} | {p.stem for p, _ in harness_runs()}
    home = committed_context()
    for family in harness.HOME_FAMILIES:
        for method in ("auto", "heur"):
            assert home.condense_meta(family, method)["key"] == home.learngene_key(family, method)


def test_the_main_path_summary_is_its_committed_runs() -> None:
    """``mainpath.json`` (``examples/paper/main_path.py``): every row's runs are committed, its per-task accuracies and
    mean are theirs, and the default path's runs are the harness's ``default_path`` method."""
    path = RESULTS / "cpu" / "dinov2" / "mainpath.json"
    if not path.exists():
        pytest.skip("the main path was not run")
    data = json.loads(path.read_text())
    runs = dict(_load("*.json"))
    by_key = {record["key"]: record for record in runs.values() if "key" in record}
    for name, row in data["rows"].items():
        if row.get("missing"):
            continue
        records = [by_key[key] for key in row["keys"]]
        assert {str(r["spec"]["task_seed"]): r["result"]["final_accuracy"] for r in records} == row["per_task"], name
        assert abs(sum(row["per_task"].values()) / len(row["per_task"]) - row["mean"]) < 1e-9
        assert {r["spec"]["method"] for r in records} == {row["method"]}
    assert data["rows"]["default_path"]["method"] == "default_path" and len(data["rows"]["default_path"]["tasks"]) == 5


def test_the_table3_summaries_are_their_committed_records() -> None:
    """``table3.json`` (``examples/paper/table3.py``): every record it names is committed, the baseline records' keys
    are re-derived from their specs, and each cell's per-task accuracies are its records'."""
    from harness import table3

    paths = [p for p in (RESULTS / "cpu" / "table3.json", RESULTS / "cpu" / "dinov2" / "table3.json") if p.exists()]
    if not paths:
        pytest.skip("Table 3 was not run")
    baselines = _load("*_table3-*.json")
    for path, record in baselines:
        assert table3.BaselineSpec(**record["spec"]).key == record["key"] == path.stem, path.name
    by_key = {record["key"]: record for _, record in _load("*.json") if "key" in record}
    for path in paths:
        data = json.loads(path.read_text())
        for family, rows in data["cells"].items():
            for row, by_shots in rows.items():
                for shots, cell in by_shots.items():
                    records = [by_key[key] for key in cell["keys"]]  # KeyError: a record that is not committed
                    assert {str(r["spec"]["task_seed"]): r["result"]["final_accuracy"] for r in records} == \
                        cell["per_task"], (path.name, family, row, shots)
                    assert all(int(r["spec"]["samples_per_class"]) == int(shots) for r in records)
