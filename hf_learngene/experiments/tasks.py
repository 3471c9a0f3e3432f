"""The Learngene experiment protocol on mini-ImageNet-style datasets: class splits, seeded N-way tasks, and where
the dataset is by default.

The protocol splits the *classes* of a dataset into three disjoint groups: classes used to train the ancestry
model, classes used to condense the learngene, and classes on which descendant models are trained (as few-shot
N-way tasks).

* :func:`~hf_learngene.data.default_dataset_path` (from the core's :mod:`hf_learngene.data`) - ``$LEARNGENE_DATASET``
  or the shared copy in ``../shared/datasets/mini-imagenet``;
* :class:`ClassSplit`, :data:`MINI_IMAGENET_SPLIT` - the three class groups;
* :func:`make_task` / :class:`Task` - seeded N-way, k-samples-per-class tasks.

Example:

    >>> from hf_learngene.data import ImageTransform, load_image_dataset, select_classes
    >>> from hf_learngene.experiments import MINI_IMAGENET_SPLIT, collate_fn, make_task
    >>> ds = load_image_dataset()                     # $LEARNGENE_DATASET or ../shared/datasets/mini-imagenet
    >>> ancestry_train = select_classes(ds["train"], MINI_IMAGENET_SPLIT.ancestry)   # labels 0..63
    >>> task = make_task(ds["train"], ds["test"], MINI_IMAGENET_SPLIT.descendant, n_way=5,
    ...                  samples_per_class=10, seed=0)
    >>> train = task.train.with_transform(ImageTransform(size=84, train=True))
    >>> batch = collate_fn([train[i] for i in range(4)])   # {"pixel_values": (4,3,84,84), "labels": (4,)}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import Dataset

from ..constants import DATASET_ENV_VAR
from ..data import ClassSpec, _labels_array, _relabel, default_dataset_path, format_class_spec, parse_class_spec

__all__ = [
    "DATASET_ENV_VAR",
    "MINI_IMAGENET_SPLIT",
    "ClassSplit",
    "Task",
    "default_dataset_path",
    "make_task",
]

# --------------------------------------------------------------------------------------------------
# Class splits
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassSplit:
    """The three disjoint class groups of the Learngene protocol.

    Fields may be given as class specs (``"0-63"``, ``[80, 81]``...); they are stored as tuples of ints.

    Example:
        >>> split = ClassSplit(ancestry="0-63", condense="64-79", descendant="80-99")
        >>> len(split.ancestry), split.condense[0], split.descendant[-1]
        (64, 64, 99)
        >>> split.as_specs()
        {'ancestry': '0-63', 'condense': '64-79', 'descendant': '80-99'}
    """

    ancestry: tuple[int, ...]
    condense: tuple[int, ...]
    descendant: tuple[int, ...]

    def __post_init__(self) -> None:
        seen: dict[int, str] = {}
        for f in dataclasses.fields(self):
            ids = tuple(parse_class_spec(getattr(self, f.name)))
            object.__setattr__(self, f.name, ids)
            for c in ids:
                if c in seen:
                    raise ValueError(f"Class {c} is in both the {seen[c]!r} and {f.name!r} groups")
                seen[c] = f.name

    def as_dict(self) -> dict[str, list[int]]:
        """Return ``{"ancestry": [...], "condense": [...], "descendant": [...]}``."""
        return {f.name: list(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def as_specs(self) -> dict[str, str]:
        """Return the groups as compact spec strings (see :func:`format_class_spec`)."""
        return {f.name: format_class_spec(getattr(self, f.name)) for f in dataclasses.fields(self)}


#: Ravi & Larochelle split of mini-ImageNet ("ImageNet100" in the paper): 64 / 16 / 20 classes.
MINI_IMAGENET_SPLIT = ClassSplit(ancestry="0-63", condense="64-79", descendant="80-99")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------------
@dataclass
class Task:
    """An N-way classification task with labels ``0..n_way-1``.

    Attributes:
        train: training rows (``samples_per_class`` per class, or all), labels remapped to ``0..n-1``.
        test: all held-out rows of the same classes, same label mapping.
        classes: original class ids; ``classes[i]`` is the original id of new label ``i``.
        id2label / label2id: string class names (from the dataset's ``ClassLabel``; ``str(id)`` otherwise),
            ready for ``PretrainedConfig(id2label=..., label2id=...)``.
        seed: the seed the task was drawn with.
        samples_per_class: k, or ``None`` for all training rows.
    """

    train: Dataset
    test: Dataset
    classes: list[int]
    id2label: dict[int, str]
    label2id: dict[str, int]
    seed: int
    samples_per_class: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_way(self) -> int:
        """Number of classes of the task."""
        return len(self.classes)

    num_labels = n_way


def make_task(
    train_ds: Dataset,
    test_ds: Dataset,
    classes_pool: ClassSpec,
    n_way: int | None = 5,
    samples_per_class: int | None = None,
    seed: int = 0,
    label_column: str = "label",
    orig_label_column: str = "orig_label",
) -> Task:
    """Draw a seeded N-way task from a pool of classes.

    * ``n_way`` classes are drawn from ``classes_pool`` with ``numpy.random.default_rng(seed)`` (``n_way=None``
      or ``n_way == len(pool)`` uses the whole pool in its given order); drawn classes are sorted, and
      new label ``i`` is ``task.classes[i]``.
    * per class, the training rows are shuffled with ``default_rng([seed, class_id])`` and the first
      ``samples_per_class`` are kept (``None``: all). This is *stable*: for the same seed the 10-shot subset is a
      subset of the 20-shot subset, independently of which other classes were drawn. The train rows are ordered
      rank-major (1st sample of every class, then 2nd, ...), so ``make_task(..., 10).train`` is literally the first
      ``10 * n_way`` rows of ``make_task(..., 20).train``.
    * test = every row of those classes in ``test_ds`` (original order).

    The returned datasets are in memory (small) and carry ``orig_label_column``.

    Example:
        >>> t = make_task(ds["train"], ds["test"], MINI_IMAGENET_SPLIT.descendant, n_way=5,
        ...               samples_per_class=10, seed=3)
        >>> len(t.train), len(t.test), t.classes, t.id2label[0]
        (50, 500, [81, 83, 84, 92, 99], 'n01981276')

    Raises:
        ValueError: if ``n_way`` exceeds the pool or a class has fewer than ``samples_per_class`` training rows.
    """
    pool = parse_class_spec(classes_pool)
    if n_way is None or n_way == len(pool):
        classes = list(pool)
    else:
        if not 0 < n_way <= len(pool):
            raise ValueError(f"n_way={n_way} but the class pool has {len(pool)} classes")
        rng = np.random.default_rng(seed)
        classes = sorted(int(c) for c in rng.choice(np.asarray(pool), size=n_way, replace=False))

    labels = _labels_array(train_ds, label_column)
    per_class: list[np.ndarray] = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if samples_per_class is not None:
            if len(idx) < samples_per_class:
                raise ValueError(f"Class {c} has only {len(idx)} training rows, {samples_per_class} requested")
            idx = idx[np.random.default_rng([seed, c]).permutation(len(idx))[:samples_per_class]]
        per_class.append(idx)
    if samples_per_class is not None:
        train_idx = np.stack(per_class, axis=1).reshape(-1)  # rank-major
    else:
        train_idx = np.sort(np.concatenate(per_class))
    test_labels = _labels_array(test_ds, label_column)
    test_idx = np.flatnonzero(np.isin(test_labels, np.asarray(classes)))

    train = _relabel(train_ds.select(train_idx), classes, label_column, orig_label_column, keep_in_memory=True)
    test = _relabel(test_ds.select(test_idx), classes, label_column, orig_label_column, keep_in_memory=True)
    names = train.features[label_column].names
    id2label = {i: str(n) for i, n in enumerate(names)}
    return Task(
        train=train,
        test=test,
        classes=classes,
        id2label=id2label,
        label2id={n: i for i, n in id2label.items()},
        seed=seed,
        samples_per_class=samples_per_class,
    )
