"""Table 3 (few-shot) of the paper harness (``examples/paper/harness/table3.py``, ``examples/paper/table3.py``) on the
smoke profile: the plan, the baselines on planted features, the confidence interval, the summaries and resuming."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import harness  # examples/paper/harness/ (pytest.ini: pythonpath = examples/paper)
import pytest
import table3 as table3_cli  # examples/paper/table3.py
import torch
from harness import table3

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_thread_frozen_gc")


def _ctx(tmp_path: Path, **kwargs) -> harness.Context:
    return harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "results",
                           work_dir=tmp_path / "work", progress=False, **kwargs)


def test_the_plan_is_shots_x_tasks_x_methods_deduplicated_and_shared_with_fig5(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, fig5_samples=table3.SMOKE_SHOTS, num_tasks=3, methods=table3.METHODS)
    settings = table3.Table3Settings(families=("dinov2",), shots=table3.SMOKE_SHOTS, num_tasks={"dinov2": 3},
                                     methods=(*table3.METHODS, "auto", "scratch"))  # repeated methods: planned once
    specs = table3.table3_specs(ctx, settings, "dinov2")
    cells = {(s.task_seed, s.samples_per_class, s.method) for s in specs}
    assert cells == {(t, k, m) for t in range(3) for k in table3.SMOKE_SHOTS for m in table3.METHODS}
    assert len(specs) == len({s.key for s in specs}) == 3 * 2 * len(table3.METHODS)
    # task-major (an interrupted session leaves complete tasks), Auto before the methods that may copy it
    assert [s.task_seed for s in specs] == sorted(s.task_seed for s in specs)
    first = [s.method for s in specs if s.task_seed == 0 and s.samples_per_class == 2]
    assert first.index("auto") < first.index("first_k") and first.index("auto") < first.index("heur")
    # the same runs as Fig. 5 at these sample sizes (shared cache), with the profile's training
    fig5 = {s.key for s in harness.fig5_specs(ctx, "dinov2")}
    assert {s.key for s in specs if s.method in ctx.fig5_methods("dinov2")} <= fig5
    assert all(s.epochs == ctx.profile.epochs and s.eval_per_class == ctx.profile.eval_per_class for s in specs)
    # baselines: one record per task x shots x baseline, keyed by the ancestry fingerprint among the rest
    baselines = table3.table3_baseline_specs(ctx, settings, "dinov2")
    assert len(baselines) == len({b.key for b in baselines}) == 3 * 2 * len(table3.BASELINES)
    spec = baselines[0]
    assert spec.ancestry == ctx.ancestry_fingerprint("dinov2") and spec.key.startswith("dinov2_table3-")
    assert table3.baseline_spec(ctx, "dinov2", spec.baseline, 0, spec.samples_per_class).key == spec.key
    moved = table3.BaselineSpec(**{**spec.__dict__, "ancestry": "other"})
    assert moved.key != spec.key
    # baseline tasks can be more than the descendants'
    wide = table3.Table3Settings(families=("dinov2",), shots=(2,), num_tasks={"dinov2": 1},
                                 baseline_num_tasks={"dinov2": 5}, methods=("auto",), baselines=("linear_probe",))
    assert len(table3.table3_baseline_specs(ctx, wide, "dinov2")) == 5 and len(table3.table3_specs(ctx, wide, "dinov2")) == 1
    with pytest.raises(ValueError, match="Unknown baseline"):
        table3.Table3Settings(baselines=("knn",))


def test_prototype_and_probe_are_exact_on_planted_features() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = 5 * torch.eye(5, 16)
    labels = torch.arange(5).repeat(4)  # 4 support images per class
    support = centres[labels] + 0.1 * torch.randn(20, 16, generator=generator)
    query_labels = torch.arange(5).repeat(8)
    query = centres[query_labels] + 0.1 * torch.randn(40, 16, generator=generator)
    for baseline in table3.BASELINES:
        predictions = table3.classify(baseline, support, labels, query)
        assert torch.equal(predictions, query_labels), baseline
        # the classifier follows the support labels: relabelled support -> every query wrong
        shifted = table3.classify(baseline, support, (labels + 1) % 5, query)
        assert torch.equal(shifted, (query_labels + 1) % 5), baseline
    # cosine and euclidean differ where they should: a far query along class 0's direction
    support = torch.tensor([[1.0, 0.0], [10.0, 10.0]])
    query = torch.tensor([[20.0, 1.0]])
    assert table3.prototype_predict(support, torch.tensor([0, 1]), query, "cosine").tolist() == [0]
    assert table3.prototype_predict(support, torch.tensor([0, 1]), query, "euclidean").tolist() == [1]
    with pytest.raises(ValueError, match="metric"):
        table3.prototype_predict(support, torch.tensor([0, 1]), query, "manhattan")


def test_confidence_interval_is_the_student_t_interval() -> None:
    # t_{0.975, df} (standard tables)
    for df, expected in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (19, 2.0930), (99, 1.9842)):
        assert table3.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4), df
    assert table3.t_quantile(0.975, 10**6) == pytest.approx(1.95996, abs=1e-4)
    assert table3.t_quantile(0.025, 4) == pytest.approx(-2.7764, abs=1e-4)
    ci = table3.confidence_interval([0.5, 0.6, 0.7])
    assert ci["n"] == 3 and ci["mean"] == pytest.approx(0.6) and ci["std"] == pytest.approx(0.1)
    assert ci["half"] == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-6)
    assert ci["low"] == pytest.approx(0.6 - ci["half"]) and ci["high"] == pytest.approx(0.6 + ci["half"])
    values = [0.31, 0.42, 0.38, 0.5, 0.27, 0.44]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    assert table3.confidence_interval(values)["half"] == pytest.approx(2.570582 * std / math.sqrt(6), rel=1e-6)
    assert table3.confidence_interval([0.4])["half"] is None and table3.confidence_interval([])["mean"] is None


def test_table3_command_end_to_end_and_resumable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--profile", "smoke", "--output", str(tmp_path / "results"), "--work_dir", str(tmp_path / "work"),
            "--num_tasks", "1", "--baseline_num_tasks", "dinov2=3,resnet=1"]
    planned = table3_cli.main([*argv, "--dry_run"])
    assert planned["families"]["dinov2"]["runs"] == 2 * len(table3.METHODS)
    assert planned["families"]["dinov2"]["baselines"] == 3 * 2 * len(table3.BASELINES)
    assert planned["families"]["resnet"]["runs_cached"] == 0 and "[to run] resnet/auto" in capsys.readouterr().out

    with harness.quiet_transformers():
        out = table3_cli.main(argv)
    assert set(out) == {"table3", "dinov2/table3"}
    ctx = _ctx(tmp_path)
    folders = {"dinov2": ctx.profile_dir / "dinov2", "resnet": ctx.profile_dir}  # Context.summary_dir / family_groups
    for family, folder in folders.items():
        for ext in ("json", "md", "png"):
            assert (folder / f"table3.{ext}").is_file(), (family, ext)
        assert (folder / "table3.png").read_bytes()[:8] == PNG_MAGIC
        data = json.loads((folder / "table3.json").read_text())
        assert data["families"] == [family] and data["experiment"] == "table3"
        assert data["command"] == "python examples/paper/table3.py " + " ".join(argv)
        assert data["paper_table3"]["rows"]["Auto-Learngene"]["ImageNet100, 5-way, ResNet"]["10"] == [55.76, 4.68]
        cells = data["cells"][family]
        assert list(cells) == [*table3.BASELINES, *table3.METHODS]
        for row, by_shots in cells.items():
            assert set(by_shots) == {"2", "4"}
            for cell in by_shots.values():
                expected = 3 if (family, row) in {("dinov2", b) for b in table3.BASELINES} else 1
                assert cell["n"] == cell["num_tasks"] == expected, (family, row)
                assert 0.0 <= cell["mean"] <= 1.0
                # the interval is the Student t interval of the per-task accuracies
                assert cell["half"] == table3.confidence_interval(list(cell["per_task"].values()))["half"]
        md = (folder / "table3.md").read_text()
        assert f"Made by `{data['command']}`" in md and "| Method | params | 2-shot | n | 4-shot | n | s / run (2-shot / 4-shot) |" in md
        assert "## The paper's Table 3 (citation, not our results)" in md and "| Auto-Learngene | 61.80 ± 2.62" in md
        for row in (*table3.BASELINES, *table3.METHODS):
            assert f"| {table3.row_label(row)} |" in md, row
        # the table shows each cell's mean and interval
        cell = cells["prototype_cosine"]["2"]
        line = next(l for l in md.splitlines() if l.startswith(f"| {table3.row_label('prototype_cosine')} |"))
        if family == "dinov2":
            assert f"| {100 * cell['mean']:.1f} ± {100 * cell['half']:.1f} | 3 |" in line
        else:
            assert f"| {100 * cell['mean']:.1f} | 1 |" in line
    # baselines are evaluated on the descendant runs' test images of the same task
    for family in folders:
        auto = harness.load_run(ctx, harness.make_spec(ctx, family, "auto", 0, 2))
        record = table3.load_baseline(ctx, table3.baseline_spec(ctx, family, "linear_probe", 0, 2))
        assert record["task_classes"] == auto["task_classes"]
        assert record["result"]["num_eval_samples"] == auto["result"]["num_eval_samples"] > 0
        assert record["result"]["num_train_samples"] == auto["result"]["num_train_samples"] == 2 * ctx.profile.n_way
    # whole-ancestry fine-tune works on both families
    assert all(harness.load_run(ctx, harness.make_spec(ctx, f, "finetune_ancestry_lowlr", 0, 4)) for f in folders)

    # a rerun trains and computes nothing
    def boom(*args, **kwargs):
        raise AssertionError("a cached record was recomputed")

    files = {p.name: p.stat().st_mtime_ns for p in ctx.runs_dir.glob("*.json")}
    monkeypatch.setattr(harness.ft, "finetune", boom)
    monkeypatch.setattr(harness.learngenes, "condense", boom)
    monkeypatch.setattr(table3, "ancestry_features", boom)
    with harness.quiet_transformers():
        table3_cli.main(argv)
    assert {p.name: p.stat().st_mtime_ns for p in ctx.runs_dir.glob("*.json")} == files
    again = table3_cli.main([*argv, "--dry_run"])["families"]
    assert all(f["runs_cached"] == f["runs"] and f["baselines_cached"] == f["baselines"] for f in again.values())


def test_baselines_record_planted_features_exactly(tmp_path: Path) -> None:
    """The wiring: features that separate the task's classes perfectly give 100 % in the records and the summary."""
    def planted(ctx, family, dataset):
        labels = torch.as_tensor(dataset["label"])
        return 3 * torch.nn.functional.one_hot(labels, 5).float() + 0.05 * torch.randn(len(labels), 5), labels

    # a profile that evaluates on the first 2 test images of each class (like cpu's 40): so do the baselines
    ctx = harness.Context(profile=dataclasses.replace(harness.get_profile("smoke"), eval_per_class=2),
                          output=tmp_path / "results", work_dir=tmp_path / "work", progress=False)
    settings = table3.Table3Settings(families=("dinov2",), shots=(2,), num_tasks={"dinov2": 2}, methods=("auto",))
    out = table3.run_table3(ctx, settings, baselines_only=True, feature_fn=planted)
    cells = out["dinov2/table3"]["cells"]["dinov2"]
    for baseline in table3.BASELINES:
        assert cells[baseline]["2"]["per_task"] == {"0": 1.0, "1": 1.0}, baseline
        assert cells[baseline]["2"]["half"] == 0.0
        record = table3.load_baseline(ctx, table3.baseline_spec(ctx, "dinov2", baseline, 1, 2))
        assert record["result"]["num_eval_samples"] == 2 * ctx.profile.n_way
        assert record["result"]["num_train_samples"] == 2 * ctx.profile.n_way
    assert cells["auto"]["2"]["n"] == 0  # no descendant trained
    assert "| - | 0 |" in Path(out["dinov2/table3"]["files"]["md"]).read_text()
