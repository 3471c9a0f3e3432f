"""Tests for hf_learngene.data and the experiment tasks (hf_learngene.experiments.tasks); synthetic data, one test
on the shared mini-ImageNet copy."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Image
from PIL import Image as PILImage

from hf_learngene import data as D
from hf_learngene.experiments import tasks as T
from hf_learngene.experiments.training import collate_fn

N_CLASSES = 6
TRAIN_PER_CLASS = 8
TEST_PER_CLASS = 3
NAMES = [f"cls{c}" for c in range(N_CLASSES)]


def _png(color: tuple[int, int, int], size: tuple[int, int] = (12, 10)) -> bytes:
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    arr[...] = color
    arr[0, 0] = (255, 255, 255)  # a marker in the top-left corner
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _make(per_class: int, offset: int = 0) -> Dataset:
    images, labels = [], []
    for i in range(per_class):
        for c in range(N_CLASSES):  # interleaved classes
            images.append({"bytes": _png((c * 40, i + offset, 7)), "path": None})
            labels.append(c)
    feats = Features({"image": Image(), "label": ClassLabel(names=NAMES)})
    return Dataset.from_dict({"image": images, "label": labels}, features=feats)


@pytest.fixture(scope="module")
def train_ds() -> Dataset:
    return _make(TRAIN_PER_CLASS)


@pytest.fixture(scope="module")
def test_ds() -> Dataset:
    return _make(TEST_PER_CLASS, offset=100)


# ------------------------------------------------------------------------------------------------
def test_parse_class_spec() -> None:
    assert D.parse_class_spec("64-79") == list(range(64, 80))
    assert D.parse_class_spec("80,81,90-99") == [80, 81, *range(90, 100)]
    assert D.parse_class_spec(" 3 , 5 - 6 ") == [3, 5, 6]
    assert D.parse_class_spec(7) == [7]
    assert D.parse_class_spec([2, "4-5", np.int64(9)]) == [2, 4, 5, 9]
    assert D.parse_class_spec((0, 1)) == [0, 1]
    for bad in ["", "a-b", "5-3", "1,1", "1-3,2"]:
        with pytest.raises(ValueError):
            D.parse_class_spec(bad)
    assert D.format_class_spec([80, 81, 90, 91, 92, 5]) == "80-81,90-92,5"
    assert D.parse_class_spec(D.format_class_spec([1, 2, 3, 7, 9, 10])) == [1, 2, 3, 7, 9, 10]


def test_class_split() -> None:
    s = T.MINI_IMAGENET_SPLIT
    assert (len(s.ancestry), len(s.condense), len(s.descendant)) == (64, 16, 20)
    assert s.ancestry[0] == 0 and s.condense[0] == 64 and s.descendant[-1] == 99
    assert s.as_specs() == {"ancestry": "0-63", "condense": "64-79", "descendant": "80-99"}
    assert T.ClassSplit([0, 1], "2", (3,)).as_dict() == {"ancestry": [0, 1], "condense": [2], "descendant": [3]}
    with pytest.raises(ValueError):
        T.ClassSplit("0-5", "5-6", "7")


def test_default_dataset_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert D._REPO_ROOT == Path(__file__).resolve().parents[1]  # the repository, as when it lived in experiments/
    assert T.default_dataset_path is D.default_dataset_path  # the toolkit's protocol names the core's function
    monkeypatch.setenv(D.DATASET_ENV_VAR, str(tmp_path))
    assert D.default_dataset_path() == str(tmp_path)
    monkeypatch.delenv(D.DATASET_ENV_VAR)
    monkeypatch.setattr(D, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="--dataset"):
        D.default_dataset_path()


def test_load_image_dataset_from_disk(tmp_path: Path, train_ds: Dataset) -> None:
    train_ds.save_to_disk(str(tmp_path / "ds"))
    ds = D.load_image_dataset(tmp_path / "ds")
    assert len(ds) == len(train_ds) and ds.features == train_ds.features


def test_select_classes(train_ds: Dataset) -> None:
    sel = D.select_classes(train_ds, "4,1")
    assert len(sel) == 2 * TRAIN_PER_CLASS
    assert sel.features["label"].names == ["cls4", "cls1"]
    assert sel.features["orig_label"].names == NAMES
    labels, orig = np.asarray(sel["label"]), np.asarray(sel["orig_label"])
    assert set(labels.tolist()) == {0, 1}
    assert np.all(np.where(labels == 0, 4, 1) == orig)
    # images are untouched
    assert sel[0]["image"].size == (12, 10)
    # a second selection keeps the root dataset's labels in orig_label
    sel2 = D.select_classes(sel, [1])
    assert set(np.asarray(sel2["orig_label"]).tolist()) == {1}
    assert set(np.asarray(sel2["label"]).tolist()) == {0}
    assert sel2.features["label"].names == ["cls1"]
    # no relabel
    raw = D.select_classes(train_ds, [2, 3], relabel=False)
    assert set(np.asarray(raw["label"]).tolist()) == {2, 3} and "orig_label" not in raw.column_names
    with pytest.raises(ValueError):
        D.select_classes(train_ds, [N_CLASSES])


def test_select_classes_datasetdict(train_ds: Dataset, test_ds: Dataset) -> None:
    from datasets import DatasetDict

    dd = D.select_classes(DatasetDict(train=train_ds, test=test_ds), "0-1")
    assert len(dd["train"]) == 2 * TRAIN_PER_CLASS and len(dd["test"]) == 2 * TEST_PER_CLASS


def test_make_task(train_ds: Dataset, test_ds: Dataset) -> None:
    t = T.make_task(train_ds, test_ds, "1-5", n_way=3, samples_per_class=2, seed=1)
    assert t.n_way == t.num_labels == 3 and t.seed == 1 and t.samples_per_class == 2
    assert len(t.classes) == 3 and set(t.classes) <= {1, 2, 3, 4, 5} and t.classes == sorted(t.classes)
    assert len(t.train) == 6 and len(t.test) == 3 * TEST_PER_CLASS
    assert t.id2label == {i: NAMES[c] for i, c in enumerate(t.classes)}
    assert t.label2id == {v: k for k, v in t.id2label.items()}
    for split in (t.train, t.test):
        lab, orig = np.asarray(split["label"]), np.asarray(split["orig_label"])
        assert np.all(np.asarray(t.classes)[lab] == orig)
        assert split.features["label"].names == [NAMES[c] for c in t.classes]
    # seeded & deterministic
    t_again = T.make_task(train_ds, test_ds, "1-5", n_way=3, samples_per_class=2, seed=1)
    assert t_again.classes == t.classes and list(t_again.train["orig_label"]) == list(t.train["orig_label"])
    # stable: the k=2 subset is a prefix of the k=5 subset
    t5 = T.make_task(train_ds, test_ds, "1-5", n_way=3, samples_per_class=5, seed=1)
    assert t5.classes == t.classes

    def _ids(ds: Dataset) -> list[tuple[int, int]]:
        return [(int(r["orig_label"]), int(np.asarray(r["image"])[0, 1, 1])) for r in ds]

    assert _ids(t5.train)[:6] == _ids(t.train)
    # different seeds give different draws (over a few seeds)
    draws = {tuple(T.make_task(train_ds, test_ds, "0-5", 3, 1, seed=s).classes) for s in range(6)}
    assert len(draws) > 1
    # all samples / whole pool
    full = T.make_task(train_ds, test_ds, [0, 2], n_way=None)
    assert len(full.train) == 2 * TRAIN_PER_CLASS and full.classes == [0, 2]
    with pytest.raises(ValueError):
        T.make_task(train_ds, test_ds, "0-5", n_way=2, samples_per_class=TRAIN_PER_CLASS + 1)
    with pytest.raises(ValueError):
        T.make_task(train_ds, test_ds, "0-2", n_way=4)


def test_image_transform_eval(train_ds: Dataset) -> None:
    tf = D.ImageTransform(size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    ds = train_ds.with_transform(tf)
    row = ds[0]
    assert set(row) == {"pixel_values", "labels"}
    assert row["pixel_values"].shape == (3, 16, 16) and row["pixel_values"].dtype == torch.float32
    assert row["labels"] == 0
    batch = tf(train_ds[:4])
    assert batch["pixel_values"].shape == (4, 3, 16, 16) and batch["labels"] == [0, 1, 2, 3]
    assert float(batch["pixel_values"].min()) >= -1.0 and float(batch["pixel_values"].max()) <= 1.0
    # deterministic in eval mode
    assert torch.equal(tf(train_ds[:4])["pixel_values"], batch["pixel_values"])
    # no resize when the size already matches: exact values
    exact = D.ImageTransform(size=(10, 12), mean=(0, 0, 0), std=(1, 1, 1), rescale_factor=1.0)(train_ds[:1])
    img = np.asarray(train_ds[0]["image"]).transpose(2, 0, 1).astype(np.float32)
    assert np.array_equal(exact["pixel_values"][0].numpy(), img)
    # grayscale, undecoded dict and numpy inputs
    gray = PILImage.new("L", (5, 5), 128)
    raw = {"bytes": _png((1, 2, 3)), "path": None}
    out = tf({"image": [gray, raw, np.zeros((5, 5, 3), np.uint8)]})
    assert out["pixel_values"].shape == (3, 3, 16, 16) and "labels" not in out


def test_image_transform_shortest_edge() -> None:
    tf = D.ImageTransform(size=8, resize_shortest_edge=10, mean=(0, 0, 0), std=(1, 1, 1))
    img = PILImage.new("RGB", (20, 10))
    assert tf({"image": [img]})["pixel_values"].shape == (1, 3, 8, 8)


def test_image_transform_train_augmentation(train_ds: Dataset) -> None:
    tf = D.ImageTransform(size=(10, 12), mean=(0, 0, 0), std=(1, 1, 1), rescale_factor=1.0, train=True, seed=0)
    assert tf.crop_padding == 1
    batch = train_ds[:32]
    a = tf(batch)["pixel_values"]
    b = tf(batch)["pixel_values"]
    assert a.shape == (32, 3, 10, 12)
    assert not torch.equal(a, b)  # fresh randomness on each call
    # seeded: a new transform with the same seed reproduces the stream
    again = D.ImageTransform(size=(10, 12), mean=(0, 0, 0), std=(1, 1, 1), rescale_factor=1.0, train=True, seed=0)
    assert torch.equal(again(batch)["pixel_values"], a)
    # augmentation is a crop/flip: the white marker moves around / some zero padding appears
    eval_out = tf.with_train(False)(batch)["pixel_values"]
    assert not tf.with_train(False).train and tf.train
    assert not torch.equal(a, eval_out)
    assert (a == 0).any()
    # flip only, no padding: every image equals the original or its mirror
    flip = D.ImageTransform(size=(10, 12), mean=(0, 0, 0), std=(1, 1, 1), train=True, crop_padding=0, seed=1)
    f_out, e_out = flip(batch)["pixel_values"], flip.with_train(False)(batch)["pixel_values"]
    same = (f_out == e_out).flatten(1).all(1)
    mirrored = (f_out == e_out.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and bool(mirrored.any()) and bool(same.any())


def test_image_transform_from_processor(tmp_path: Path) -> None:
    from transformers import ConvNextImageProcessor, ViTImageProcessor

    vit = ViTImageProcessor(size={"height": 20, "width": 24}, image_mean=[0.1, 0.2, 0.3], image_std=[0.4, 0.5, 0.6])
    tf = D.ImageTransform.from_processor(vit, train=True, seed=3)
    assert tf.size == (20, 24) and tf.mean == (0.1, 0.2, 0.3) and tf.std == (0.4, 0.5, 0.6) and tf.train
    assert tf.resize_shortest_edge is None and tf.seed == 3
    cnx = ConvNextImageProcessor(size={"shortest_edge": 84}, crop_pct=0.875)
    cnx.save_pretrained(tmp_path / "proc")
    tf2 = D.ImageTransform.from_processor(tmp_path / "proc", crop_padding=4)
    assert tf2.size == (84, 84) and tf2.resize_shortest_edge == 96 and tf2.crop_padding == 4 and not tf2.train
    out = tf2({"image": [PILImage.new("RGB", (100, 90))]})
    assert out["pixel_values"].shape == (1, 3, 84, 84)


def test_collate_fn(train_ds: Dataset) -> None:
    ds = train_ds.with_transform(D.ImageTransform(size=8))
    batch = collate_fn([ds[i] for i in range(5)])
    assert batch["pixel_values"].shape == (5, 3, 8, 8)
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [0, 1, 2, 3, 4]
    assert collate_fn([{"pixel_values": torch.zeros(3, 2, 2), "label": 1}])["labels"].tolist() == [1]
    # works with a DataLoader over the transformed dataset (batched __getitems__)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_fn)
    first = next(iter(loader))
    assert first["pixel_values"].shape == (4, 3, 8, 8)


@pytest.mark.shared_data
def test_shared_mini_imagenet_split() -> None:
    try:
        path = T.default_dataset_path()
    except FileNotFoundError:
        pytest.skip("shared mini-ImageNet not available")
    ds = D.load_image_dataset(path)
    assert len(ds["train"]) == 37_200 and len(ds["test"]) == 10_000
    split = T.MINI_IMAGENET_SPLIT
    sizes = {}
    for group, classes in split.as_dict().items():
        sel = D.select_classes(ds, classes)
        sizes[group] = (len(sel["train"]), len(sel["test"]), sel["train"].features["label"].num_classes)
    assert sizes == {
        "ancestry": (64 * 300, 64 * 100, 64),
        "condense": (16 * 500, 16 * 100, 16),
        "descendant": (20 * 500, 20 * 100, 20),
    }
    task = T.make_task(ds["train"], ds["test"], split.descendant, n_way=5, samples_per_class=10, seed=0)
    assert len(task.train) == 50 and len(task.test) == 500 and all(80 <= c < 100 for c in task.classes)
    assert task.train[0]["image"].size == (84, 84)


def test_experiment_names_live_only_in_the_toolkit() -> None:
    """The mini-ImageNet protocol, tasks and the collator are in hf_learngene.experiments, and only there: the core's
    hf_learngene.data does not reach into the toolkit for them, and the old re-export modules are gone."""
    import importlib

    import hf_learngene.experiments

    for name in ("MINI_IMAGENET_SPLIT", "ClassSplit", "Task", "make_task"):
        assert getattr(T, name) is getattr(hf_learngene.experiments, name), name
        assert not hasattr(D, name), name
    assert not hasattr(D, "collate_fn") and hf_learngene.experiments.collate_fn is collate_fn
    for old in ("hf_learngene.training", "hf_learngene.distillation"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        D.nope  # noqa: B018


def test_load_image_dataset_without_a_path_reads_the_default_dataset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                     train_ds: Dataset) -> None:
    train_ds.save_to_disk(str(tmp_path / "ds"))
    monkeypatch.setenv(T.DATASET_ENV_VAR, str(tmp_path / "ds"))
    assert len(D.load_image_dataset()) == len(train_ds)
