"""Bad input on the command line, tried as a new user would: every case ends in a one-line error that says the fix,
with exit code 2 and no traceback, before any output is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import hf_learngene.data as data_module
from hf_learngene.cli import main
from tests.hub_server import HUB_USERNAME, LocalHub
from tests.tiny_models import tiny_bert, tiny_image_dataset, tiny_vit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-inputs")
    tiny_vit().save_pretrained(root / "vit")
    tiny_bert().save_pretrained(root / "bert")
    tiny_vit().save_pretrained(root / "truncated")
    weights = root / "truncated" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    tiny_image_dataset(num_classes=100, per_class=2).save_to_disk(str(root / "data100"))  # mini-ImageNet's labels
    (root / "a-file").write_text("not a folder")
    (root / "empty").mkdir()
    return {"root": root, "vit": root / "vit", "bert": root / "bert", "truncated": root / "truncated",
            "data": root / "data100", "file": root / "a-file", "empty": root / "empty"}


def _args(inputs: dict[str, Path], out_folder: Path, **overrides: str) -> list[str]:
    """``learngene condense`` arguments for a tiny, fast Auto-Learngene run (it reads the dataset, unlike the default
    method), with ``overrides`` (``flag_name=value``) applied."""
    values = {"ancestry": str(inputs["vit"]), "dataset": str(inputs["data"]), "classes": "0-3", "output": str(out_folder),
              "method": "auto", "max_iterations": "1", "batch_size": "4", "meta_batch_size": "4"}
    values.update({k: v.format(**{name: str(path) for name, path in inputs.items()}) for k, v in overrides.items()})
    args = ["condense", "--no-progress"]
    for name, value in values.items():
        args += [f"--{name.replace('_', '-')}", value]
    return args


def _run(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as stop:  # argparse errors exit
        return int(stop.code)


def assert_one_line_error(code: int, stderr: str, pattern: str, command: str = "condense") -> str:
    """Exit code 2, no traceback, and exactly one error line (progress bars aside) that matches ``pattern``."""
    assert code == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, stderr
    line = errors[0]
    assert line.startswith(f"learngene {command}: error: ") and stderr.rstrip().endswith(line), stderr
    assert re.search(pattern, line), line
    assert len(line) < 400, line
    return line


# (case id, overrides of the good arguments, the error line must match)
BAD_INPUTS = [
    ("truncated-weights", {"ancestry": "{truncated}"}, r"model\.safetensors is truncated .* download it again"),
    ("bert-ancestry", {"ancestry": "{bert}"}, r"Architecture 'bert' is not supported.*Supported families: dinov2"),
    ("missing-ancestry", {"ancestry": "/nonexistent-ancestry"}, r"neither a local directory nor a Hub repo id"),
    ("wrong-label-column", {"label_column": "fine_label"}, r"no column 'fine_label'.*Pass label_column="),
    ("wrong-image-column", {"image_column": "img"}, r"no column 'img'.*Pass image_column="),
    ("layer-indices-out-of-range", {"method": "manual", "layer_indices": "0-9"},
     r"layer_indices: \[4, 5, 6, 7, 8, 9\] out of range: the ancestry has 4 layers \(0\.\.3\)"),
    ("manual-without-layer-indices", {"method": "manual"}, r"method='manual' needs layer_indices, e\.g\. \[0, 1, 2\]"),
    ("negative-learning-rate", {"learning_rate": "-1"}, r"CondenseConfig\.learning_rate: must be a positive"),
    ("one-class", {"classes": "2"}, r"at least 2 classes.*Pick more classes"),
    ("classes-out-of-range", {"classes": "64-300"},
     r"Classes 100-300 are out of range: the label column 'label' has 100 classes \(0-99\)\. Pick classes within"),
    ("malformed-classes", {"classes": "sixty-four"}, r"Malformed class spec item 'sixty-four'.*expected e\.g\. '0-63'"),
    ("output-is-a-file", {"output": "{file}"}, r"--output '.*a-file' is a file, not a folder: pass the path of a folder"),
    ("output-inside-a-file", {"output": "{file}/learngene"}, r"is inside '.*a-file', which is a file, not a folder"),
    ("missing-dataset", {"dataset": "/nonexistent"},
     r"Dataset '/nonexistent' does not exist\. Pass an existing local dataset folder or a Hub dataset id"),
    ("empty-dataset-folder", {"dataset": "{empty}"}, r"No dataset found in '.*empty'.*Pass a folder written by"),
    ("pair-set-not-json", {"pair_set": "[[0,0"}, r"--pair-set '\[\[0,0' is not valid JSON.*pass 'all' or a JSON list"),
    ("pair-set-out-of-range", {"pair_set": "[[0,9]]"}, r"pairs \[\(0, 9\)\] are out of range"),
    ("not-an-int", {"num_repeats": "three"},
     r"argument --num-repeats: invalid int value: 'three' \(options: learngene condense --help\)"),
    ("bad-layer-indices", {"method": "manual", "layer_indices": "first"}, r"argument --layer-indices: Malformed class"),
    ("bad-image-mean", {"image_mean": "a,b,c"}, r"argument --image-mean: expected comma-separated numbers"),
    ("short-image-mean", {"image_mean": "0.5,0.5", "image_size": "32"}, r"image_mean: must be 3 numbers"),
]


@pytest.mark.parametrize(("overrides", "pattern"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_one_line_error(inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
                                       overrides: dict[str, str], pattern: str) -> None:
    code = _run(_args(inputs, tmp_path / "out", **overrides))
    assert_one_line_error(code, capsys.readouterr().err, pattern)
    assert not (tmp_path / "out").exists()
    assert (inputs["file"]).read_text() == "not a folder"


def test_no_dataset_and_no_shared_copy(inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(data_module.DATASET_ENV_VAR, raising=False)
    monkeypatch.setattr(data_module, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    args = [a for a in _args(inputs, tmp_path / "out") if a not in ("--dataset", str(inputs["data"]))]
    assert_one_line_error(_run(args), capsys.readouterr().err, r"No dataset given.*Pass --dataset")
    code = _run(["demo", "--output", str(tmp_path / "demo"), "--cache-dir", str(tmp_path / "cache")])
    assert_one_line_error(code, capsys.readouterr().err, r"No dataset given.*Pass --dataset", command="demo")
    code = _run(["demo", "--output", str(inputs["file"])])
    assert_one_line_error(code, capsys.readouterr().err, r"is a file, not a folder", command="demo")
    assert not (tmp_path / "out").exists() and not (tmp_path / "demo").exists()


def test_missing_hub_repos(local_hub: LocalHub, inputs: dict[str, Path], tmp_path: Path,
                           capsys: pytest.CaptureFixture) -> None:
    code = _run(_args(inputs, tmp_path / "out", ancestry=f"{HUB_USERNAME}/no-such-model"))
    assert_one_line_error(code, capsys.readouterr().err, r"'test-user/no-such-model' was not found on the Hub")
    code = _run(_args(inputs, tmp_path / "out", dataset=f"{HUB_USERNAME}/no-such-data"))
    assert_one_line_error(code, capsys.readouterr().err,
                          r"Dataset 'test-user/no-such-data' is neither a local folder nor a Hub dataset")
    assert not (tmp_path / "out").exists()


def test_the_default_method_needs_no_dataset_and_says_in_one_line_when_one_is_given(
        inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``--method``, First-k: no dataset needed (none found is fine); one given is not used, and one warning
    line (not Python's warning with its source line) names ``--method auto`` as the way to condense on it."""
    import warnings

    monkeypatch.delenv(data_module.DATASET_ENV_VAR, raising=False)
    monkeypatch.setattr(data_module, "_REPO_ROOT", tmp_path / "repo")  # no shared dataset either
    assert _run(["condense", "--ancestry", str(inputs["vit"]), "--output", str(tmp_path / "no-data"),
                 "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err.lower()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the library's warning is not raised on top
        code = _run(["condense", "--ancestry", str(inputs["vit"]), "--dataset", str(inputs["data"]),
                     "--output", str(tmp_path / "with-data"), "--no-progress"])
    assert code == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line.lower()]
    assert lines == [("learngene condense: warning: --method first_k reads no condense data: --dataset is not used "
                      "(--method auto, Auto-Learngene, condenses on it)")]
    for name in ("no-data", "with-data"):
        assert json.loads((tmp_path / name / "config.json").read_text())["layer_indices"] == [0, 1]
