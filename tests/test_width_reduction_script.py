"""examples/paper/width_reduction.py end to end on the smoke profile (tiny random DINOv2, synthetic images)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import harness  # examples/paper/harness/ (pytest.ini: pythonpath = examples/paper)
import pytest
import width_reduction

PAPER_DIR = Path(__file__).resolve().parent.parent / "examples" / "paper"


pytestmark = pytest.mark.usefixtures("one_thread_frozen_gc")


def _args(tmp_path: Path, *extra: str) -> list[str]:
    return ["--profile", "smoke", "--learngene", str(tmp_path / "lg"), "--output", str(tmp_path / "results"),
            "--work_dir", str(tmp_path / "work"), "--hidden_size", "16", "--num_attention_heads", "1",
            "--intermediate_size", "32", "--num_tasks", "1", "--samples_per_class", "2,3", "--epochs", "1", *extra]


def test_width_reduction_smoke_runs_caches_and_summarizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hf_learngene import LearngeneModel

    ctx = harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "results",
                          work_dir=tmp_path / "work", progress=False)
    LearngeneModel.from_ancestry(str(ctx.ancestry_path("dinov2")), layer_indices=[1, 2]).save_pretrained(
        tmp_path / "lg")
    planned = width_reduction.main(_args(tmp_path, "--width_selections", "uniform,heads", "--dry_run"))
    assert planned == {"planned": 2 * (1 + 2 + 2), "cached": 0}  # 2 sizes x (scratch + 2 rules x 2 methods)
    with harness.quiet_transformers():
        summary = width_reduction.main(_args(tmp_path, "--width_selections", "uniform,heads"))
    assert summary["finished"] == summary["planned"] == 10
    cell = summary["summary"]["2"]
    assert set(cell) == {"learngene:uniform", "learngene:heads", "scratch", "weight_selection:uniform",
                         "weight_selection:heads", "paired"}
    assert cell["scratch"]["num_parameters"] == cell["learngene:uniform"]["num_parameters"] == cell[
        "weight_selection:uniform"]["num_parameters"]
    assert set(cell["paired"]) == {"learngene:uniform - scratch", "learngene:uniform - weight_selection:uniform",
                                   "learngene:heads - scratch", "learngene:heads - weight_selection:heads"}
    assert summary["learngene"]["layers"] == [1, 2] and not Path(summary["ancestry"]).is_absolute()
    folder = tmp_path / "results" / "smoke" / "dinov2_width"
    assert json.loads((folder / "results.json").read_text())["finished"] == 10
    md = (folder / "results.md").read_text()
    assert "| From-Scratch |" in md and "Weight Selection" in md and "learngene:heads - scratch" in md
    assert (folder / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "(results.png)" in md
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "runs").glob("dinov2_width-*.json")]
    assert len(records) == 10
    for record in records:
        sizes = record["sizes"]
        if record["spec"]["method"] != "scratch":
            assert sizes["hidden_size"] == 16 and sizes["num_parameters"] < sizes["full_width_num_parameters"]
        assert len(record["result"]["history"]) == 1
    ws = next(r for r in records if r["spec"]["method"] == "weight_selection")
    assert ws["inherited_layers"] == [0, 1]  # the lowest k = 2 ancestry layers
    # resumable: a rerun trains nothing
    monkeypatch.setattr(harness.ft, "finetune", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    assert width_reduction.main(_args(tmp_path, "--width_selections", "uniform,heads"))["finished"] == 10


def test_width_reduction_recipe_methods_inherit_embeddings_and_train_them_slower(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hf_learngene import LearngeneModel

    ctx = harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "results",
                          work_dir=tmp_path / "work", progress=False)
    LearngeneModel.from_ancestry(str(ctx.ancestry_path("dinov2")), layer_indices=[1, 2]).save_pretrained(
        tmp_path / "lg")
    seen: list[dict] = []
    real = harness.ft.finetune

    def spy(model, *args, **kwargs):
        origin = model.config.learngene
        seen.append({"ws": bool(origin.get("weight_selection")), "scale": kwargs.get("inherited_lr_scale"),
                     "embeddings": origin.get("embeddings"), "layers": [e["ancestry_layer"] for e in origin["layer_map"]]})
        return real(model, *args, **kwargs)

    monkeypatch.setattr(harness.ft, "finetune", spy)
    with harness.quiet_transformers():
        summary = width_reduction.main(_args(tmp_path, "--methods",
                                             "learngene_embed,learngene_embed_lowlr,weight_selection_lowlr",
                                             "--samples_per_class", "2"))
    assert summary["finished"] == 3
    embed, embed_lowlr, ws_lowlr = seen  # in --methods order
    # one learning rate is named explicitly (inherit_embeddings updates a descendant's recommended scale)
    assert (embed["scale"], embed_lowlr["scale"], ws_lowlr["scale"]) == (1.0, 0.1, 0.1)
    assert not embed["ws"] and not embed_lowlr["ws"] and ws_lowlr["ws"]
    assert embed["layers"] == embed_lowlr["layers"] == [1, 2] and ws_lowlr["layers"] == [0, 1]
    for record in (embed["embeddings"], embed_lowlr["embeddings"]):  # the ancestry's embedding, at width 16
        assert record and record["axes"]["cls_token"] == [None, None, "channels"]
    assert set(summary["summary"]["2"]["paired"]) == {
        "learngene_embed:uniform - weight_selection_lowlr:uniform",
        "learngene_embed_lowlr:uniform - weight_selection_lowlr:uniform"}
    # one summary of every cached run, whichever --methods / --width_selections trained them; nothing is trained
    with harness.quiet_transformers():
        width_reduction.main(_args(tmp_path, "--samples_per_class", "2", "--width_selections", "heads",
                                   "--methods", "learngene"))
    monkeypatch.setattr(harness.ft, "finetune", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    summary = width_reduction.main(_args(tmp_path, "--samples_per_class", "2", "--summarize_only"))
    assert summary["planned"] == summary["finished"] == 4  # one task: every method/rule seen is complete
    with pytest.raises(SystemExit, match="No cached runs"):
        width_reduction.main(_args(tmp_path, "--samples_per_class", "2", "--epochs", "3", "--summarize_only"))
    assert set(summary["summary"]["2"]) == {"learngene_embed:uniform", "learngene_embed_lowlr:uniform",
                                            "weight_selection_lowlr:uniform", "learngene:heads", "paired"}


def test_width_reduction_of_a_resnet_learngene_halves_every_stage_and_selects_by_stage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hf_learngene import LearngeneModel

    ctx = harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "results",
                          work_dir=tmp_path / "work", progress=False)
    LearngeneModel.from_ancestry(str(ctx.ancestry_path("resnet")), layer_indices=[2, 3, 4, 5, 6]).save_pretrained(
        tmp_path / "lg")
    args = ["--profile", "smoke", "--learngene", str(tmp_path / "lg"), "--output", str(tmp_path / "results"),
            "--work_dir", str(tmp_path / "work"), "--num_tasks", "1", "--samples_per_class", "2", "--epochs", "1"]
    with harness.quiet_transformers():
        summary = width_reduction.main(args)  # default: half the ancestry's widths ([8, 16, 16, 32], stem 8)
    assert summary["family"] == "resnet" and summary["finished"] == summary["planned"] == 3
    assert summary["width"]["hidden_sizes"] == [4, 8, 8, 16] and summary["width"]["embedding_size"] == 4
    cell = summary["summary"]["2"]
    # the same architecture for all three: Weight Selection takes the first blocks of every stage
    assert cell["scratch"]["num_parameters"] == cell["learngene:uniform"]["num_parameters"] == cell[
        "weight_selection:uniform"]["num_parameters"]
    records = {json.loads(p.read_text())["spec"]["method"]: json.loads(p.read_text())
               for p in (tmp_path / "results" / "runs").glob("resnet_width-*.json")}
    assert set(records) == {"learngene", "scratch", "weight_selection"}
    assert records["learngene"]["inherited_layers"] == [2, 3, 4, 5, 6]
    assert records["weight_selection"]["inherited_layers"] == [0, 2, 3, 4, 5, 6]  # stage-wise first blocks
    assert records["learngene"]["sizes"]["hidden_sizes"] == [4, 8, 8, 16]
    folder = tmp_path / "results" / "smoke" / "resnet_width"
    md = (folder / "results.md").read_text()
    assert md.startswith("# Width-reduced ResNet descendants") and "Stage widths [4, 8, 8, 16], stem 4" in md
    monkeypatch.setattr(harness.ft, "finetune", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    assert width_reduction.main([*args, "--summarize_only"])["finished"] == 3


def test_width_reduction_takes_the_harness_auto_learngene_of_a_family(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["--profile", "smoke", "--output", str(tmp_path / "results"), "--work_dir", str(tmp_path / "work"),
            "--num_tasks", "1", "--samples_per_class", "2", "--epochs", "1", "--methods", "learngene,scratch"]
    with pytest.raises(SystemExit, match="--learngene auto needs --family"):
        width_reduction.main(["--learngene", "auto", *args])
    with pytest.raises(SystemExit, match="not condensed yet"):  # a dry run / summary never condenses
        width_reduction.main(["--learngene", "auto", "--family", "resnet", *args, "--dry_run"])
    with harness.quiet_transformers():
        summary = width_reduction.main(["--learngene", "auto", "--family", "resnet", *args])
    assert summary["finished"] == 2 and summary["learngene"]["folder"].startswith("resnet-auto-")
    condensed = [p for p in (tmp_path / "work" / "learngenes").iterdir() if (p / "config.json").exists()]
    assert [p.name for p in condensed] == [summary["learngene"]["folder"]]
    assert summary["learngene"]["layers"] == list(json.loads((condensed[0] / "config.json").read_text())[
        "layer_indices"])
    # keyed by the harness's condense key: the summary works without the learngene folder (a fresh checkout)
    shutil.rmtree(tmp_path / "work" / "learngenes")
    monkeypatch.setattr(harness.ft, "finetune", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    monkeypatch.setattr(harness.learngenes, "condense", lambda *a, **k: (_ for _ in ()).throw(AssertionError("condensed")))
    assert width_reduction.main(["--learngene", "auto", "--family", "resnet", *args, "--summarize_only"])[
        "finished"] == 2
    with pytest.raises(SystemExit, match="is a 'resnet' learngene, not 'dinov2'"):
        with harness.quiet_transformers():
            ctx = harness.Context(profile=harness.get_profile("smoke"), output=tmp_path / "o", work_dir=tmp_path / "w",
                                  progress=False)
            from hf_learngene import LearngeneModel

            LearngeneModel.from_ancestry(str(ctx.ancestry_path("resnet")), layer_indices=[2]).save_pretrained(
                tmp_path / "lg")
        width_reduction.main(["--learngene", str(tmp_path / "lg"), "--family", "dinov2", *args])
    with pytest.raises(SystemExit, match="--hidden_size do not apply to a ResNet learngene"):
        width_reduction.main(["--learngene", str(tmp_path / "lg"), "--hidden_size", "8", *args, "--dry_run"])


def test_width_reduction_default_widths_keep_the_head_dimension() -> None:
    from transformers import Dinov2Config, ViTConfig

    def widths(config, **given):
        args = argparse.Namespace(**{f: None for f in (*harness.widths.TOKEN_WIDTH_FLAGS,
                                                       *harness.widths.STAGED_WIDTH_FLAGS)})
        vars(args).update(given)
        return harness.widths.default_widths("vit", config, args)

    vit_s = Dinov2Config(hidden_size=384, num_attention_heads=6, mlp_ratio=4)
    assert widths(vit_s) == {"hidden_size": 192, "num_attention_heads": 3, "intermediate_size": 768}
    assert widths(vit_s, hidden_size=128) == {"hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512}
    # the home ViT: width 96, 3 heads of 32, MLP 384 -> at 48 the head dimension cannot stay: 3 heads of 16
    home = ViTConfig(hidden_size=96, num_attention_heads=3, intermediate_size=384)
    assert widths(home) == {"hidden_size": 48, "num_attention_heads": 3, "intermediate_size": 192}
    with pytest.raises(SystemExit, match="does not divide the width 50"):
        widths(home, hidden_size=50)


def test_width_reduction_keys_of_the_committed_dinov2_runs_stand() -> None:
    """Every committed DINOv2 width run is found again under its key (the fields added later stay out of it)."""
    records = [json.loads(p.read_text()) for p in sorted((PAPER_DIR / "results" / "runs").glob("dinov2_width-*.json"))]
    assert len(records) >= 70
    for record in records:
        assert harness.widths.WidthRun(**record["spec"]).key == record["key"]
