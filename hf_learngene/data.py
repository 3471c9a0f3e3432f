"""Data helpers of the library core: load image-classification datasets, pick classes, turn images into
``pixel_values``.

* :func:`load_image_dataset` - load a local dataset folder or a Hub id;
* :func:`default_dataset_path` - where it loads from without one: ``$LEARNGENE_DATASET`` or the shared copy in
  ``../shared/datasets/mini-imagenet``;
* :func:`parse_class_spec`, :func:`format_class_spec` - class specs such as ``"64-79"`` or ``"1,2,5-9"``;
* :func:`select_classes` - keep some classes and remap their labels to ``0..n-1``;
* :class:`ImageTransform` - a fast batched PIL -> ``pixel_values`` transform for ``Dataset.set_transform``
  with optional random-crop + flip augmentation (no torchvision needed).

The experiment toolkit (:mod:`hf_learngene.experiments`) builds on this module: the mini-ImageNet class split
(``MINI_IMAGENET_SPLIT``, ``ClassSplit``) and seeded N-way tasks (``make_task``, ``Task``) are in
:mod:`hf_learngene.experiments.tasks`, the ``Trainer`` collator (``collate_fn``) in
:mod:`hf_learngene.experiments.training`.

Example:

    >>> from hf_learngene.data import ImageTransform, load_image_dataset, select_classes
    >>> ds = load_image_dataset("../shared/datasets/mini-imagenet")
    >>> condense_classes = select_classes(ds["train"], "64-79")        # labels 0..15
    >>> tf = ImageTransform(size=84, train=True)
    >>> batch = condense_classes.with_transform(tf)[:4]                 # {"pixel_values": (4,3,84,84), "labels": [...]}
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Value, load_dataset, load_from_disk
from PIL import Image

from .constants import DATASET_ENV_VAR
from .errors import LearngeneError

__all__ = [
    "DATASET_ENV_VAR",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageTransform",
    "default_dataset_path",
    "format_class_spec",
    "label_names",
    "load_image_dataset",
    "parse_class_spec",
    "select_classes",
]

#: ImageNet channel statistics (RGB, for pixel values in ``[0, 1]``).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
_REPO_ROOT = Path(__file__).resolve().parents[1]
_SHARED_REL = Path("shared") / "datasets" / "mini-imagenet"


def default_dataset_path() -> str:
    """Return the default dataset location.

    Resolution order: the ``LEARNGENE_DATASET`` environment variable (a local path or a Hub id), then
    ``<repo>/../shared/datasets/mini-imagenet``, then ``<cwd>/../shared/datasets/mini-imagenet``.

    Example:
        >>> os.environ["LEARNGENE_DATASET"] = "/data/mini-imagenet"
        >>> default_dataset_path()
        '/data/mini-imagenet'

    Raises:
        FileNotFoundError: if nothing is configured and the shared copy does not exist.
    """
    env = os.environ.get(DATASET_ENV_VAR)
    if env:
        return env
    candidates = [_REPO_ROOT.parent / _SHARED_REL, Path.cwd().parent / _SHARED_REL]
    for cand in candidates:
        if cand.is_dir():
            return str(cand.resolve())
    raise FileNotFoundError(
        "No dataset given and no shared copy found (looked in: "
        + ", ".join(str(c) for c in candidates)
        + f"). Pass --dataset <local path or Hub id> or set the {DATASET_ENV_VAR} environment variable."
    )


def load_image_dataset(
    path_or_id: str | os.PathLike[str] | None = None,
    split: str | None = None,
    revision: str | None = None,
    **kwargs: Any,
) -> Dataset | DatasetDict:
    """Load an image-classification dataset (thin wrapper over :func:`datasets.load_dataset`).

    Args:
        path_or_id: a local dataset folder (parquet/imagefolder/... with a dataset card, or a folder written
            by ``save_to_disk``), or a Hub dataset id. ``None`` uses
            :func:`default_dataset_path` (``$LEARNGENE_DATASET`` or the shared copy).
        split: e.g. ``"train"``; ``None`` returns a :class:`~datasets.DatasetDict` with all splits.
        revision: Hub revision (commit sha / branch / tag); ignored for local folders.
        **kwargs: forwarded to :func:`datasets.load_dataset` (e.g. ``cache_dir``, ``name``).

    Raises:
        LearngeneError: when ``path_or_id`` is a local path that does not exist, a folder without data files, or
            neither a local folder nor a reachable Hub dataset (the message says what to pass instead).

    Example:
        >>> ds = load_image_dataset()                      # DatasetDict(train=37200, test=10000)
        >>> test = load_image_dataset(split="test")
        >>> other = load_image_dataset("uoft-cs/cifar100", split="train", revision="aadb3af")
    """
    if path_or_id is None:
        path_or_id = default_dataset_path()
    path = os.fspath(path_or_id)
    local = Path(path)
    if local.is_dir() and ((local / "dataset_dict.json").is_file() or (local / "state.json").is_file()):
        ds = load_from_disk(str(local), keep_in_memory=kwargs.get("keep_in_memory"))
        return ds[split] if split is not None and isinstance(ds, DatasetDict) else ds
    if not local.exists() and _looks_like_local_path(path):
        raise LearngeneError(f"Dataset {path!r} does not exist. Pass an existing local dataset folder or a Hub "
                             "dataset id ('user/name').")
    if revision is not None and not local.exists():
        kwargs["revision"] = revision
    try:
        return load_dataset(path, split=split, **kwargs)
    except FileNotFoundError as err:  # also datasets' DatasetNotFoundError
        detail = " ".join(str(err).split())
        if local.exists():
            raise LearngeneError(f"No dataset found in {path!r} ({detail}). Pass a folder written by save_to_disk, a "
                                 "folder of data files (parquet, csv, imagefolder, ...) or a Hub dataset id.") from err
        raise LearngeneError(f"Dataset {path!r} is neither a local folder nor a Hub dataset ({detail}). Check the "
                             "path or id; for a private Hub dataset log in with `hf auth login`.") from err
    except ConnectionError as err:
        detail = " ".join(str(err).split())
        raise LearngeneError(f"Dataset {path!r} is not a local folder and the Hub cannot be reached ({detail}). Pass "
                             "a local dataset folder, or go online to load a Hub dataset.") from err


def _looks_like_local_path(path: str) -> bool:
    """Whether ``path`` can only be a local path (absolute, ``./``, ``~``, or more than one ``/``), not a Hub id."""
    return os.path.isabs(path) or path.startswith((".", "~")) or path.count("/") > 1 or "\\" in path


# --------------------------------------------------------------------------------------------------
# Class specs
# --------------------------------------------------------------------------------------------------
_RANGE_RE = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$")

ClassSpec = str | int | Iterable[int | str]


def parse_class_spec(spec: ClassSpec) -> list[int]:
    """Parse a class specification into a list of class ids (order preserved, inclusive ranges).

    Accepts a string of comma separated ids and inclusive ranges, a single int, or an iterable of
    ints / such strings.

    Example:
        >>> parse_class_spec("64-79")[:3], len(parse_class_spec("64-79"))
        ([64, 65, 66], 16)
        >>> parse_class_spec("80,81,90-92")
        [80, 81, 90, 91, 92]
        >>> parse_class_spec([3, "5-6"])
        [3, 5, 6]

    Raises:
        LearngeneError: (a ``ValueError``) on malformed items, descending ranges, duplicates or an empty result.
    """
    items: list[int | str]
    if isinstance(spec, (int, np.integer)):
        items = [int(spec)]
    elif isinstance(spec, str):
        items = [spec]
    else:
        items = list(spec)
    out: list[int] = []
    for item in items:
        if isinstance(item, (int, np.integer)):
            out.append(int(item))
            continue
        for part in str(item).split(","):
            if not part.strip():
                continue
            m = _RANGE_RE.match(part)
            if m is None:
                raise LearngeneError(f"Malformed class spec item {part!r} in {spec!r} (expected e.g. '0-63' or '80,81')")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if hi < lo:
                raise LearngeneError(f"Descending range {part!r} in class spec {spec!r} (write it as low-high, e.g. "
                                     "'64-79')")
            out.extend(range(lo, hi + 1))
    if not out:
        raise LearngeneError(f"Empty class spec {spec!r} (expected e.g. '0-63' or '80,81')")
    if len(set(out)) != len(out):
        dups = sorted({c for c in out if out.count(c) > 1})
        raise LearngeneError(f"Duplicate classes {dups} in class spec {spec!r}: list each class once")
    return out


def format_class_spec(classes: Iterable[int]) -> str:
    """Inverse of :func:`parse_class_spec`: compact string with ranges for consecutive runs.

    Example:
        >>> format_class_spec([80, 81, 90, 91, 92, 5])
        '80-81,90-92,5'
    """
    cls = [int(c) for c in classes]
    parts: list[str] = []
    i = 0
    while i < len(cls):
        j = i
        while j + 1 < len(cls) and cls[j + 1] == cls[j] + 1:
            j += 1
        parts.append(str(cls[i]) if i == j else f"{cls[i]}-{cls[j]}")
        i = j + 1
    return ",".join(parts)


# --------------------------------------------------------------------------------------------------
# Class selection
# --------------------------------------------------------------------------------------------------
def label_names(ds: Dataset, label_column: str = "label") -> list[str] | None:
    """Class names of ``ds[label_column]`` if it is a :class:`~datasets.ClassLabel`, else ``None``."""
    feat = ds.features[label_column]
    return list(feat.names) if isinstance(feat, ClassLabel) else None


def _labels_array(ds: Dataset, label_column: str) -> np.ndarray:
    """Labels as an int64 numpy array, without decoding any image."""
    col = ds.select_columns([label_column]).with_format("numpy")[:][label_column]
    return np.asarray(col, dtype=np.int64)


def _relabel_fn(labels: list[int], lut: list[int], label_column: str, orig_label_column: str | None) -> dict:
    arr = np.asarray(labels, dtype=np.int64)
    out = {label_column: np.asarray(lut, dtype=np.int64)[arr]}
    if orig_label_column is not None:
        out[orig_label_column] = arr
    return out


def _relabel(
    ds: Dataset, classes: Sequence[int], label_column: str, orig_label_column: str, keep_in_memory: bool
) -> Dataset:
    """Map labels ``classes[i] -> i`` and set a ClassLabel feature with the selected class names."""
    names = label_names(ds, label_column)
    top = max(max(classes), (len(names) - 1) if names is not None else 0)
    lut = [-1] * (top + 1)
    for i, c in enumerate(classes):
        lut[c] = i
    features = ds.features.copy()
    new_names = [names[c] for c in classes] if names is not None else [str(c) for c in classes]
    # keep an existing orig_label column: it then still refers to the root dataset's labels
    write_orig = orig_label_column not in ds.column_names
    if write_orig:
        features[orig_label_column] = ds.features[label_column] if names is not None else Value("int64")
    features[label_column] = ClassLabel(names=new_names)
    return ds.map(
        _relabel_fn,
        batched=True,
        batch_size=10_000,
        input_columns=[label_column],
        fn_kwargs={
            "lut": lut,
            "label_column": label_column,
            "orig_label_column": orig_label_column if write_orig else None,
        },
        features=features,
        keep_in_memory=keep_in_memory,
        desc="Relabel",
    )


def select_classes(
    ds: Dataset | DatasetDict,
    classes: ClassSpec,
    label_column: str = "label",
    relabel: bool = True,
    orig_label_column: str = "orig_label",
    keep_in_memory: bool = False,
) -> Dataset | DatasetDict:
    """Keep only the rows whose label is in ``classes`` (no image is decoded: fast).

    With ``relabel=True`` (default) the label of class ``classes[i]`` becomes ``i``, the label feature becomes a
    ``ClassLabel`` with the selected class names (in that order) and the original label is kept in
    ``orig_label_column`` (a ``ClassLabel`` with the original names; an existing column of that name is left
    untouched so it always refers to the root dataset). A :class:`~datasets.DatasetDict` is processed split by split.

    Example:
        >>> anc = select_classes(ds["train"], "0-63")
        >>> anc.features["label"].num_classes, anc[0]["orig_label"]
        (64, 0)
        >>> desc = select_classes(ds["test"], "80-99")   # labels 0..19 (= 80..99)
    """
    cls = parse_class_spec(classes)
    if isinstance(ds, DatasetDict):
        return DatasetDict(
            {
                k: select_classes(v, cls, label_column, relabel, orig_label_column, keep_in_memory)  # type: ignore[misc]
                for k, v in ds.items()
            }
        )
    names = label_names(ds, label_column)
    if names is not None:
        bad = [c for c in cls if not 0 <= c < len(names)]
        if bad:
            last = len(names) - 1
            raise LearngeneError(f"Classes {format_class_spec(bad)} are out of range: the label column "
                                 f"{label_column!r} has {len(names)} classes (0-{last}). Pick classes within 0-{last}.")
    wanted = np.asarray(cls, dtype=np.int64)
    out = ds.filter(
        lambda labels: np.isin(np.asarray(labels, dtype=np.int64), wanted),
        batched=True,
        batch_size=10_000,
        input_columns=[label_column],
        keep_in_memory=keep_in_memory,
        desc="Select classes",
    )
    if relabel:
        out = _relabel(out, cls, label_column, orig_label_column, keep_in_memory)
    return out


# --------------------------------------------------------------------------------------------------
# Image transform
# --------------------------------------------------------------------------------------------------
def _size_get(size: Any, key: str) -> Any:
    if size is None:
        return None
    if isinstance(size, Mapping):
        return size.get(key)
    return getattr(size, key, None)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


@dataclass
class ImageTransform:
    """Batched transform ``{image_column: [PIL...], label_column: [...]} -> {"pixel_values", "labels"}``.

    For :meth:`datasets.Dataset.set_transform` / ``with_transform``. Steps: decode (PIL image, ``{"bytes"}`` dict or
    array) -> RGB -> resize (skipped when already at the right size) -> optional center crop -> [train only:
    zero-pad by ``crop_padding`` and random crop back, random horizontal flip] -> rescale -> normalise.
    The output ``pixel_values`` is a float32 tensor ``(B, 3, H, W)``; labels are passed through as a list under
    ``output_label_column``. Other columns are dropped, so use ``remove_unused_columns=False`` with ``Trainer``.

    Randomness: with ``seed`` set, the main process uses a private ``torch.Generator`` seeded with it; with
    ``seed=None`` (and always inside DataLoader worker processes, where the DataLoader seeds torch per worker and per
    epoch) the global torch RNG is used, so ``transformers.set_seed`` makes runs reproducible.

    Args:
        size: output size, int or ``(height, width)``.
        mean, std: per-channel normalisation (after rescaling); defaults to ImageNet statistics.
        train: enable augmentation.
        crop_padding: zero padding for the random crop; ``None`` -> ``max(1, min(H, W) // 8)`` (10 for 84, 4 for 32).
        flip_prob: probability of a horizontal flip (train only).
        resize_shortest_edge: if set, resize the shortest edge to this value (keeping the aspect ratio) and then
            center crop to ``size``; otherwise resize directly to ``size``.
        resample: PIL resampling filter.
        crop_offset: how the center crop's offset is rounded: ``"floor"`` (transformers' ``center_crop``) or
            ``"round"`` (torchvision's ``CenterCrop``, what timm checkpoints are evaluated with).
        rescale_factor: multiply uint8 pixels by this (``1/255``).
        do_normalize: apply ``(x - mean) / std``.

    Example:
        >>> train_tf = ImageTransform(size=84, train=True, seed=0)
        >>> eval_tf = train_tf.with_train(False)
        >>> ds_train = ds["train"].with_transform(train_tf)
        >>> ds_train[0]["pixel_values"].shape
        torch.Size([3, 84, 84])
        >>> tf = ImageTransform.from_processor("outputs/ancestry/vit")    # reads preprocessor_config.json
    """

    size: int | tuple[int, int] = 224
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    train: bool = False
    crop_padding: int | None = None
    flip_prob: float = 0.5
    seed: int | None = None
    resize_shortest_edge: int | None = None
    resample: int = Image.Resampling.BILINEAR
    crop_offset: str = "floor"
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_column: str = "image"
    label_column: str = "label"
    output_label_column: str = "labels"
    _generator: torch.Generator | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.size = _pair(self.size)
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std must have 3 values (RGB)")
        if self.crop_offset not in ("floor", "round"):
            raise ValueError(f"crop_offset must be 'floor' (transformers) or 'round' (torchvision / timm), got "
                             f"{self.crop_offset!r}")
        if self.crop_padding is None:
            self.crop_padding = max(1, min(self.size) // 8)
        self._mean_t = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._std_t = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)

    # -- construction helpers ------------------------------------------------------------------------
    @classmethod
    def from_processor(cls, processor: Any, train: bool = False, **overrides: Any) -> ImageTransform:
        """Build the transform matching a Hugging Face image processor.

        ``processor`` is an image processor instance, or a local folder / Hub id with a ``preprocessor_config.json``
        (loaded with :class:`transformers.AutoImageProcessor`). Understands ``size`` as ``{height, width}`` (resize)
        or ``{shortest_edge}`` (ConvNeXt style: resize to ``shortest_edge / crop_pct`` then center crop when
        ``shortest_edge < 384``; or resize + ``crop_size`` center crop when ``do_center_crop``), plus
        ``image_mean``/``image_std``/``do_normalize``/``do_rescale``/``rescale_factor``/``resample``.
        ``overrides`` are passed to the constructor last (e.g. ``crop_padding=8``, ``seed=0``).

        Example:
            >>> from transformers import ViTImageProcessor
            >>> tf = ImageTransform.from_processor(ViTImageProcessor(size={"height": 84, "width": 84}), train=True)
            >>> tf.size
            (84, 84)
        """
        if isinstance(processor, (str, os.PathLike)):
            from transformers import AutoImageProcessor

            processor = AutoImageProcessor.from_pretrained(os.fspath(processor))
        size = getattr(processor, "size", None)
        h, w = _size_get(size, "height"), _size_get(size, "width")
        se = _size_get(size, "shortest_edge")
        crop_pct = getattr(processor, "crop_pct", None)
        crop_size = getattr(processor, "crop_size", None)
        do_center_crop = bool(getattr(processor, "do_center_crop", False)) and crop_size is not None
        kw: dict[str, Any] = {}
        if h and w:
            kw["size"] = (int(h), int(w))
        elif se:
            se = int(se)
            if crop_pct is not None:  # ConvNextImageProcessor semantics
                kw["size"] = (se, se)
                if se < 384:
                    kw["resize_shortest_edge"] = int(se / crop_pct)
            elif do_center_crop:
                kw["size"] = (int(_size_get(crop_size, "height")), int(_size_get(crop_size, "width")))
                kw["resize_shortest_edge"] = se
            else:
                kw["size"] = (se, se)
        else:
            raise ValueError(f"Cannot infer an image size from processor {type(processor).__name__} (size={size})")
        if getattr(processor, "do_normalize", True) and getattr(processor, "image_mean", None) is not None:
            kw["mean"], kw["std"] = tuple(processor.image_mean), tuple(processor.image_std)
        else:
            kw["mean"], kw["std"], kw["do_normalize"] = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), False
        kw["rescale_factor"] = float(processor.rescale_factor) if getattr(processor, "do_rescale", True) else 1.0
        resample = getattr(processor, "resample", None)
        if resample is not None:
            kw["resample"] = int(resample)
        kw["train"] = train
        kw.update(overrides)
        return cls(**kw)

    def with_train(self, train: bool = True) -> ImageTransform:
        """Copy of this transform with augmentation switched on/off (same size/normalisation/seed)."""
        return dataclasses.replace(self, train=train)

    # -- pickling (DataLoader workers, datasets fingerprinting) ---------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_generator"] = None
        return state

    # -- the transform ----------------------------------------------------------------------------------
    def _to_array(self, img: Any) -> np.ndarray:
        if isinstance(img, Mapping):  # undecoded datasets Image: {"bytes": ..., "path": ...}
            img = Image.open(io.BytesIO(img["bytes"])) if img.get("bytes") else Image.open(img["path"])
        elif isinstance(img, (np.ndarray, torch.Tensor)):
            arr = np.asarray(img)
            if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
                arr = arr.transpose(1, 2, 0)
            if arr.dtype != np.uint8:
                arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
            img = Image.fromarray(arr.squeeze(-1) if arr.ndim == 3 and arr.shape[-1] == 1 else arr)
        if img.mode != "RGB":
            img = img.convert("RGB")
        h, w = self.size
        if self.resize_shortest_edge is not None:
            s = self.resize_shortest_edge
            iw, ih = img.size
            # the long side truncated, as transformers' get_resize_output_image_size and torchvision's Resize do
            nw, nh = (s, max(1, int(ih * s / iw))) if iw <= ih else (max(1, int(iw * s / ih)), s)
            if (nw, nh) != (iw, ih):
                img = img.resize((nw, nh), resample=self.resample)
            if (nh, nw) != (h, w):
                if self.crop_offset == "round":  # torchvision's CenterCrop (timm)
                    left, top = max(0, round((nw - w) / 2)), max(0, round((nh - h) / 2))
                else:  # transformers' center_crop
                    left, top = max(0, (nw - w) // 2), max(0, (nh - h) // 2)
                img = img.crop((left, top, left + w, top + h))
        elif img.size != (w, h):
            img = img.resize((w, h), resample=self.resample)
        return np.asarray(img, dtype=np.uint8)

    def _rng(self) -> torch.Generator | None:
        if self.seed is None or torch.utils.data.get_worker_info() is not None:
            return None
        if self._generator is None:
            self._generator = torch.Generator().manual_seed(int(self.seed))
        return self._generator

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Random crop with zero padding + horizontal flip on a ``(B, C, H, W)`` batch (any dtype)."""
        gen = self._rng()
        b, _, h, w = x.shape
        p = int(self.crop_padding or 0)
        if p > 0:
            xp = torch.nn.functional.pad(x, (p, p, p, p))
            offs = torch.randint(0, 2 * p + 1, (b, 2), generator=gen).tolist()
            x = torch.stack([xp[i, :, oy : oy + h, ox : ox + w] for i, (oy, ox) in enumerate(offs)])
        if self.flip_prob > 0:
            flip = torch.rand(b, generator=gen) < self.flip_prob
            if bool(flip.any()):
                x = x.clone() if p == 0 else x
                x[flip] = x[flip].flip(-1)
        return x

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """Transform a batch (dict of lists, as given by ``set_transform``)."""
        arr = np.stack([self._to_array(img) for img in batch[self.image_column]])  # (B, H, W, 3) uint8
        x = torch.from_numpy(arr).permute(0, 3, 1, 2)
        if self.train:
            x = self.augment(x)
        x = x.to(torch.float32).mul_(self.rescale_factor)
        if self.do_normalize:
            x = (x - self._mean_t) / self._std_t
        out: dict[str, Any] = {"pixel_values": x.contiguous()}
        if self.label_column in batch:
            out[self.output_label_column] = list(batch[self.label_column])
        return out
