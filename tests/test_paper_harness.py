"""The paper harness (examples/paper) end to end on the smoke profile: tiny random ancestries, synthetic images."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import pytest

PAPER_DIR = Path(__file__).resolve().parent.parent / "examples" / "paper"
sys.path.insert(0, str(PAPER_DIR))

import harness
import run as paper_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _one_thread_frozen_gc(one_torch_thread):
    """One torch thread (see conftest); freezing gc makes Trainer's gc cheap."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _ctx(tmp_path: Path, **kwargs) -> harness.Context:
    return harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "results",
                           work_dir=tmp_path / "work", progress=False, **kwargs)


def test_smoke_profile_all_experiments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx(tmp_path)
    profile = ctx.profile
    families = list(harness.FAMILIES)
    with harness.quiet_transformers():
        summaries = harness.run_experiments(ctx, harness.EXPERIMENTS, families, progress=False)
    assert set(summaries) == set(harness.EXPERIMENTS)

    # every experiment wrote JSON + Markdown + PNG
    for experiment in harness.EXPERIMENTS:
        for ext in ("json", "md", "png"):
            assert (ctx.profile_dir / f"{experiment}.{ext}").is_file(), (experiment, ext)
        assert (ctx.profile_dir / f"{experiment}.png").read_bytes()[:8] == PNG_MAGIC
        data = json.loads((ctx.profile_dir / f"{experiment}.json").read_text())
        assert data["experiment"] == experiment and data["profile"]["name"] == "smoke"
        assert data["versions"]["hf_learngene"]

    # the run cache: one small JSON per deduplicated run, with per-epoch metrics
    specs = harness.plan_runs(ctx, harness.EXPERIMENTS, families)
    run_files = [p for p in ctx.runs_dir.glob("*.json") if not p.name.startswith("condense-")]
    assert len(run_files) == len(specs) < sum(len(harness.SPEC_BUILDERS[e](ctx, f))
                                              for e in harness.EXPERIMENTS for f in families)
    for spec in specs:
        record = harness.load_run(ctx, spec)
        assert record["key"] == spec.key and record["seed"] == spec.task_seed
        history = record["result"]["history"]
        assert [row["epoch"] for row in history] == list(range(1, profile.epochs + 1))
        assert all(0.0 <= row["eval_accuracy"] <= 1.0 and "train_loss" in row for row in history)
        assert record["result"]["wall_time_s"] > 0 and record["versions"]["transformers"]
        if spec.method == "distill":
            assert record["result"]["layer_pairs"] and "feature_loss" in history[0]
    # every learngene came from condense (cost side metadata for both methods and families)
    for family in families:
        for method in ("auto", "heur"):
            meta = ctx.condense_meta(family, method)
            assert meta["selected_layers"] and meta["wall_time_s"] > 0
            assert meta["condense_config"]["method"] == harness.CONDENSE_METHOD[method]
            assert ctx.learngene(family, method).config.selection_method == harness.CONDENSE_METHOD[method]
            threshold = 1 / len(meta["layer_scores"])
            assert [i for i, score in enumerate(meta["layer_scores"]) if score > threshold] == meta["selected_layers"]

    table2 = json.loads((ctx.profile_dir / "table2.json").read_text())
    for family in families:
        for method in harness.METHODS:
            cell = table2["summary"][family][method]
            assert cell["num_tasks"] == profile.num_tasks and 0.0 <= cell["final_mean"] <= 1.0
        cost = table2["cost"][family]
        assert set(cost["condense"]) == {"auto", "heur"}
        assert 0 < cost["methods"]["auto"]["parameter_ratio"] < 1
        assert cost["methods"]["scratch"]["num_parameters"] == cost["methods"]["auto"]["num_parameters"]
        assert "epochs_to_reach_scratch_final" in cost["methods"]["auto"]
    assert "Auto-Learngene" in (ctx.profile_dir / "table2.md").read_text()

    fig3 = json.loads((ctx.profile_dir / "fig3.json").read_text())
    for family in families:
        assert set(fig3["curves"][family]) == set(harness.METHODS)
        assert len(fig3["curves"][family]["auto"]["mean"]) == profile.epochs
        sizes = {str(k) for k in (profile.samples_per_class, *profile.fig5_samples)}
        assert set(fig3["curves_by_samples"][family]) == sizes

    fig4 = json.loads((ctx.profile_dir / "fig4.json").read_text())
    for family in families:
        hp = profile.hparams[family]
        grid = fig4["grid"][family]["accuracy"]["scratch"]
        assert len(grid) == len(hp.grid_learning_rates) and len(grid[0]) == len(hp.grid_weight_decays)
        assert fig4["sensitivity"][family]["auto"]["max_minus_min"] is not None

    fig5 = json.loads((ctx.profile_dir / "fig5.json").read_text())
    for family in families:
        for method in profile.fig5_methods:
            assert fig5["accuracy"][family][method]["samples_per_class"] == list(profile.fig5_samples)
            assert all(m is not None for m in fig5["accuracy"][family][method]["mean"])

    # resumable: a rerun trains nothing
    def boom(*args, **kwargs):
        raise AssertionError("a cached run was retrained")

    monkeypatch.setattr(harness.ft, "finetune", boom)
    monkeypatch.setattr(harness, "condense", boom)
    harness.run_experiments(_ctx(tmp_path), ["table2"], families, progress=False)


def test_cli_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = paper_cli.main(["--experiment", "all", "--profile", "smoke", "--family", "vit", "--dry_run",
                          "--output", str(tmp_path / "results"), "--work_dir", str(tmp_path / "work"),
                          "--num_threads", "1", "--no_progress"])
    assert out["planned"] > 0 and out["cached"] == 0
    assert "runs planned" in capsys.readouterr().out


def test_cli_estimate_condenses_then_measures(tmp_path: Path) -> None:
    args = ["--experiment", "table2", "--profile", "smoke", "--family", "vit", "--estimate", "--output",
            str(tmp_path / "results"), "--work_dir", str(tmp_path / "work"), "--num_threads", "1", "--no_progress"]
    estimate = paper_cli.main(args)["estimate"]
    assert estimate["num_runs"] > 0 and estimate["estimated_seconds"] > 0
    assert set(estimate["throughput"]) == {"vit/auto", "vit/distill"}
    # the descendant shape came from the real Auto-Learngene learngene, now cached for the runs
    meta = harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "results",
                           work_dir=tmp_path / "work").condense_meta("vit", "auto")
    assert estimate["learngene_layers"]["vit"] == meta["selected_layers"]
    assert estimate["condense_wall_time_s"]["vit/auto"] == meta["wall_time_s"]
    assert estimate["condense_wall_time_s"]["vit/heur"] is None


def test_get_learngene_calls_condense(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    learngene = harness.get_learngene("auto", "vit", ctx)
    meta = ctx.condense_meta("vit", "auto")
    assert meta["selected_layers"] == list(learngene.config.layer_indices)
    # condense ran with the smoke profile's settings and selected layers above 1/L
    assert learngene.config.selection_method == "auto" and meta["condense_config"]["method"] == "auto"
    assert meta["condense_config"]["max_iterations"] == ctx.profile.condense["max_iterations"]
    assert len(meta["layer_scores"]) == 4 and min(meta["layer_scores"][i] for i in meta["selected_layers"]) > 1 / 4
    assert (ctx.work_dir / "learngenes" / ctx.learngene_key("vit", "auto") / "scores.json").is_file()
    # cached: the second call loads from disk
    again = harness.get_learngene("auto", "vit", ctx)
    assert again.config.layer_indices == learngene.config.layer_indices


def test_finetune_descendant_cli(tmp_path: Path) -> None:
    import finetune_descendant as ft

    from hf_learngene import LearngeneModel

    data_dir = tmp_path / "data"
    harness.synthetic_dataset(train_per_class=4, test_per_class=3).save_to_disk(str(data_dir))
    ancestry = harness.tiny_ancestry("vit", image_size=16)
    ancestry.save_pretrained(tmp_path / "ancestry")
    LearngeneModel.from_ancestry(ancestry, layer_indices=[0, 1]).save_pretrained(tmp_path / "learngene")
    common = ["--dataset", str(data_dir), "--classes", "80-99", "--n_way", "3", "--samples_per_class", "4",
              "--num_train_epochs", "2", "--per_device_train_batch_size", "4", "--num_threads", "1",
              "--disable_tqdm", "true", "--image_size", "16"]
    results = {}
    for init, extra in (("learngene", ["--learngene", str(tmp_path / "learngene")]),
                        ("scratch", ["--like_learngene", str(tmp_path / "learngene"), "--save_final_model", "false"]),
                        ("distill", ["--like_learngene", str(tmp_path / "learngene"),
                                     "--teacher", str(tmp_path / "ancestry"), "--save_final_model", "false"])):
        out = tmp_path / f"{init}-run"
        results[init] = ft.main(["--init", init, "--output_dir", str(out), *extra, *common])
        saved = json.loads((out / "finetune_results.json").read_text())
        assert [row["epoch"] for row in saved["history"]] == [1, 2]
        assert saved["init"] == init and len(saved["task"]["classes"]) == 3
    # --init learngene saved a plain transformers descendant
    from transformers import AutoModelForImageClassification

    descendant = AutoModelForImageClassification.from_pretrained(tmp_path / "learngene-run")
    assert type(descendant).__name__ == "ViTForImageClassification" and descendant.config.num_labels == 3
    assert results["distill"]["layer_pairs"] == [[0, 0], [1, 1]]
    assert "feature_loss" in results["distill"]["history"][0]
