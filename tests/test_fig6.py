"""Sec. 5.3 / Fig. 6 (``examples/paper/harness/fig6.py``, ``examples/paper/continual.py``) on the smoke profile: a tiny
ViT trained on a stream of synthetic classes, a learngene per stage, descendants, the summary; the stages as Hub
revisions on the local Hub server."""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import harness  # examples/paper/harness/ (pytest.ini: pythonpath = examples/paper)
import pytest
import torch
from harness import fig6
from harness.utils import _hash
from huggingface_hub import HfApi, hf_hub_download
from transformers import ViTForImageClassification

import hf_learngene
from hf_learngene import LearngeneModel
from tests.hub_server import HUB_USERNAME, LocalHub

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COMMAND = "python examples/paper/continual.py --profile smoke"


def _session(root: Path, **kwargs) -> fig6.Continual:
    base = harness.Context(profile=harness.get_profile("smoke"), output=root / "results", work_dir=root / "work",
                           progress=False)
    return fig6.Continual.for_profile(base, command=COMMAND, **kwargs)


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory):
    """The whole smoke experiment, run once: 3 stages of 2 classes, a learngene each, 2 tasks per stage."""
    root = tmp_path_factory.mktemp("fig6")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gc.freeze()
    try:
        session = _session(root)
        with harness.quiet_transformers():
            summary = session.run()
        yield root, session, summary
    finally:
        gc.unfreeze()
        torch.set_num_threads(threads)


def _copy(root: Path, tmp_path: Path) -> Path:
    for name in ("results", "work"):
        shutil.copytree(root / name, tmp_path / name)
    return tmp_path


def _records(session: fig6.Continual) -> list[dict]:
    return [json.loads(fig6.stage_record_file(session.work_dir, session.stream, s).read_text())
            for s in range(session.stages)]


def test_each_stage_starts_from_the_previous_stage_bit_for_bit(done) -> None:
    _, session, _ = done
    records = _records(session)
    assert [r["classes"] for r in records] == ["0-1", "2-3", "4-5"]
    assert [r["started_from"] for r in records] == ["init", "stage-00", "stage-01"]
    id2label = fig6._ancestry_labels(session.raw, session.stream)
    fresh, _ = fig6.start_model(session.work_dir, session.stream, 0, id2label)
    assert fig6.state_sha256(fresh) == records[0]["start_sha256"]
    for stage in range(1, session.stages):
        previous = ViTForImageClassification.from_pretrained(fig6.stage_dir(session.work_dir, session.stream, stage - 1))
        assert fig6.state_sha256(previous) == records[stage - 1]["end_sha256"]  # the saved folder is the stage's end
        start, _ = fig6.start_model(session.work_dir, session.stream, stage, id2label)
        for name, tensor in previous.state_dict().items():  # the start of a stage is the previous end, bit for bit
            assert torch.equal(tensor, start.state_dict()[name]), name
        assert records[stage]["start_sha256"] == records[stage - 1]["end_sha256"]
    for record in records:
        assert record["end_sha256"] != record["start_sha256"]  # every stage trained
        assert record["num_classes_seen"] == 2 * (record["stage"] + 1) and 0 <= record["seen_accuracy"] <= 1
        assert [row["epoch"] for row in record["history"]] == [1.0]  # one evaluation row per epoch, no other
    # the head: one 64-way head throughout
    last = ViTForImageClassification.from_pretrained(fig6.stage_dir(session.work_dir, session.stream, 2))
    assert last.config.num_labels == 64


def test_a_finished_stage_is_not_retrained_and_a_missing_one_restarts_from_its_predecessor(
        done, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _, _ = done
    session = _session(_copy(root, tmp_path))
    before = _records(session)
    calls = []
    original = fig6._train_stage

    def spy(work_dir, stream, stage, raw, progress):
        calls.append(stage)
        return original(work_dir, stream, stage, raw, progress)

    monkeypatch.setattr(fig6, "_train_stage", spy)
    assert fig6.train_stream(session.work_dir, session.output, session.stream, 3, session.raw) == before
    assert calls == []
    fig6.stage_record_file(session.work_dir, session.stream, 2).unlink()  # as if stage 2 had been killed before
    shutil.move(fig6.stage_dir(session.work_dir, session.stream, 2),       # its end (a half-written stage)
                fig6.stage_dir(session.work_dir, session.stream, 2).with_suffix(".partial"))
    with harness.quiet_transformers():
        again = fig6.train_stream(session.work_dir, session.output, session.stream, 3, session.raw)
    assert calls == [2]
    assert again[2]["start_sha256"] == before[1]["end_sha256"]
    assert again[2]["end_sha256"] == before[2]["end_sha256"]  # seeded: the same stage again

    # nothing else is redone either: no condensing, no descendant training
    def boom(*args, **kwargs):
        raise AssertionError("redone")

    monkeypatch.setattr(hf_learngene, "condense", boom)
    monkeypatch.setattr(fig6, "run_one", boom)
    monkeypatch.setattr(fig6, "_train_stage", boom)
    assert all(line.lstrip().startswith("[cached]") or line.startswith("stream ") for line in session.plan())
    with harness.quiet_transformers():
        session.run()


def test_the_dry_run_lists_what_is_left(tmp_path: Path) -> None:
    lines = _session(tmp_path).plan()
    assert lines[0].startswith("stream vit-2cls-ep1-") and len(lines) == 4
    assert all(line.startswith("[to train] stage ") for line in lines[1:])


def test_the_summary_is_the_runs_vs_stages(done, tmp_path: Path) -> None:
    _, session, summary = done
    out = session.output / "smoke"
    for ext in ("json", "md", "png"):
        assert (out / f"fig6.{ext}").is_file()
    assert (out / "fig6.png").read_bytes()[:8] == PNG_MAGIC
    data = json.loads((out / "fig6.json").read_text())
    rows = data["rows"]
    assert [r["classes_learned"] for r in rows] == [2, 4, 6]
    runs = {}
    for path in (session.output / "runs").glob("vit-*.json"):
        record = json.loads(path.read_text())
        assert record["key"] == path.stem == harness.RunSpec(**record["spec"]).key
        runs.setdefault((record["spec"]["ancestry"], record["spec"]["method"]), {})[record["spec"]["task_seed"]] = \
            (record["key"], record["result"]["final_accuracy"])
    assert len(runs) == 3 + 1  # auto on each stage's ancestry, From-Scratch once (one learngene depth)
    for row in rows:
        assert row["selected_layers"] and len(row["selected_layers"]) == 2
        mine = runs[(row["ancestry_fingerprint"], "auto")]
        cell = row["methods"]["auto"]
        assert cell["per_task"] == {str(t): a for t, (_, a) in mine.items()} and len(mine) == 2
        assert cell["keys"] == [mine[task][0] for task in sorted(mine)]
        assert cell["mean"] == pytest.approx(sum(a for _, a in mine.values()) / 2)
        assert row["scratch"]["reference_stage"] == 0  # the flat line
        assert row["scratch"]["per_task"] == rows[0]["scratch"]["per_task"]
    condensed = sorted((session.output / "runs").glob("condense-*.json"))  # in the harness's form of a condense record
    assert len(condensed) == 3
    for path in condensed:
        meta = json.loads(path.read_text())
        assert path.stem == f"condense-{meta['key']}" == f"condense-vit-fig6-auto-{_hash(meta['settings'], 12)}"
    stage_fingerprints = {r["ancestry_fingerprint"] for r in rows}
    assert len(stage_fingerprints) == 3  # each stage its own ancestry, so its own runs
    markdown = (out / "fig6.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(table) == 3
    for line, row in zip(table, rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[:2] == [str(row["stage"]), str(row["classes_learned"])]
        assert cells[3] == str(row["selected_layers"])
        auto = row["methods"]["auto"]
        assert cells[4] == f"{100 * auto['mean']:.1f} ± {100 * auto['std']:.1f} (2 tasks)"
    assert fig6.PAPER_FIG6 in markdown and COMMAND in markdown and data["command"] == COMMAND
    assert "upward trend" in data["paper"] and data["trend"]["auto"]["paired_tasks"] == 2
    # the summary needs only the records under <output>: rebuilt without the work dir, it is the same
    shutil.copytree(session.output, tmp_path / "results")
    alone = _session(tmp_path).run(train=False)
    assert alone["rows"] == json.loads(json.dumps(summary["rows"]))


def test_each_learngene_card_lists_its_lineage(done) -> None:
    _, session, _ = done
    folders = sorted((fig6.stream_dir(session.work_dir, session.stream) / "learngenes").iterdir())
    assert [f.name[:8] for f in folders] == ["stage-00", "stage-01", "stage-02"]
    last = (folders[2] / "README.md").read_text()
    assert fig6.LINEAGE_TITLE in last and "<!-- hf_learngene:generated:end -->" in last.split(fig6.LINEAGE_TITLE)[0]
    rows = [line for line in last.split(fig6.LINEAGE_TITLE)[1].splitlines() if line.startswith("| ") and
            line[2].isdigit()]
    records = _records(session)
    assert [row.split("|")[1].strip() for row in rows] == ["0", "1"]
    assert all(records[i]["ancestry_fingerprint"] in rows[i] for i in range(2))
    assert "(none: the first stage)" in (folders[0] / "README.md").read_text()


def test_stages_are_revisions_of_one_hub_repo_and_learngenes_record_theirs(
        done, tmp_path: Path, local_hub: LocalHub) -> None:
    root, _, _ = done
    repo = f"{HUB_USERNAME}/continual-vit"
    session = _session(_copy(root, tmp_path), hub_repo=repo)
    records = _records(session)
    shas = [fig6.push_stage(session.work_dir, session.stream, s, repo) for s in range(3)]
    assert len(set(shas)) == 3
    assert fig6.push_stage(session.work_dir, session.stream, 1, repo) == shas[1]  # pushed once
    commits = [c.commit_id for c in HfApi().list_repo_commits(repo)]
    assert commits[:3] == shas[::-1]  # one repo, one commit per stage, in order
    for stage, sha in enumerate(shas):
        weights = hf_hub_download(repo, "model.safetensors", revision=sha)
        local = fig6.stage_dir(session.work_dir, session.stream, stage) / "model.safetensors"
        assert Path(weights).read_bytes() == local.read_bytes()
    with harness.quiet_transformers():
        for stage in range(3):
            folder, meta = fig6.condense_stage(session.work_dir, session.output, session.stream, stage,
                                               session.source(stage, records[stage]), session.raw, session.dataset,
                                               session.condense, session.base.profile.image_size)
            learngene = LearngeneModel.from_pretrained(folder)
            assert learngene.config.ancestry_revision == shas[stage] == meta["ancestry_revision"]
            assert learngene.config.ancestry_name_or_path == repo and meta["ancestry_repo"] == repo
    card = (folder / "README.md").read_text().split(fig6.LINEAGE_TITLE)[1]
    assert f"`{repo}`" in card and shas[0] in card and shas[1] in card and shas[2] not in card


def test_the_command_dry_run_and_summarize_only(done, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import continual  # examples/paper/continual.py

    root, _, summary = done
    _copy(root, tmp_path)
    paths = ["--profile", "smoke", "--work_dir", str(tmp_path / "work"), "--output", str(tmp_path / "results")]
    assert continual.main([*paths, "--dry_run"]) == {}
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("stream vit-2cls-ep1-") and sum(line.startswith("[cached]") for line in lines) == 3 + 3 + 8
    again = continual.main([*paths, "--summarize_only"])
    assert again["rows"] == json.loads(json.dumps(summary["rows"]))
    assert again["command"] == "python examples/paper/continual.py --profile smoke --work_dir work --output results " \
                               "--summarize_only"  # no path of this machine
