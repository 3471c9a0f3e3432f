"""Runs: :class:`RunSpec` (one descendant training; its hash is the cache key), the run cache
(``<output>/runs/<key>.json``), claims that let parallel processes of one plan train each run once, and
:func:`run_one`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import transformers

from hf_learngene.data import format_class_spec
from hf_learngene.experiments.tasks import MINI_IMAGENET_SPLIT, make_task
from hf_learngene.experiments.training import classifier_training_arguments
from hf_learngene.utils import count_parameters

from .methods import ALL_METHODS, CONDENSE_METHOD, build_run_model, ft, get_method, run_learngene, spec_learngene_key
from .utils import _hash, _no_datasets_progress, _now, _write_json, versions

if TYPE_CHECKING:
    from .context import Context


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


def make_spec(ctx: Context, family: str, method: str, task_seed: int, samples_per_class: int,
              learning_rate: float | None = None, weight_decay: float | None = None,
              draw: int | None = None) -> RunSpec:
    """The :class:`RunSpec` of ``method`` on task ``task_seed`` with the profile's settings (optionally other lr/wd;
    ``draw`` for ``random_k``, default 0)."""
    if method not in ALL_METHODS:
        raise ValueError(f"Unknown method {method!r}; choose from {', '.join(ALL_METHODS)}")
    profile = ctx.profile
    hp = profile.hparams[family]
    entry = get_method(method)
    if entry.draws:
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
        distill_weight=profile.distill_weight if entry.distill_loss else 0.0,
        classes=format_class_spec(MINI_IMAGENET_SPLIT.descendant), dataset=ctx.dataset_id,
        ancestry=ctx.ancestry_fingerprint(family), learngene=spec_learngene_key(ctx, family, method),
        profile=profile.name, distill_loss=entry.distill_loss, draw=draw,
        **entry.spec_fields,
    )


def method_specs(ctx: Context, family: str, method: str, task_seed: int, samples_per_class: int,
                 learning_rate: float | None = None, weight_decay: float | None = None) -> list[RunSpec]:
    """The runs of ``method`` on one task: one, or one per draw (``Profile.random_k_draws``) for ``random_k``
    (with ``Context.random_k_draw_per_task``: one run, draw = the task seed, so the tasks see distinct draws)."""
    draws: Sequence[int | None] = [None]
    if get_method(method).draws:
        draws = [task_seed] if ctx.random_k_draw_per_task else range(ctx.profile.random_k_draws)
    return [make_spec(ctx, family, method, task_seed, samples_per_class, learning_rate, weight_decay, draw=d)
            for d in draws]


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


def identical_auto_spec(ctx: Context, spec: RunSpec) -> RunSpec | None:
    """Auto's run on the same task when ``spec`` would train exactly the same descendant, else ``None``.

    That is the case for the methods registered with ``same_as_auto`` (``first_k`` / ``random_k`` / ``heur`` /
    ``auto_paper``) when their learngene holds Auto's
    layers with the same tensors: the descendant (same layers, same seed, no padding) and its training are then
    identical, so the run is not trained twice; its record says ``identical_to``.
    """
    if not get_method(spec.method).same_as_auto:
        return None
    mine, auto = run_learngene(ctx, spec), ctx.learngene(spec.family, "auto")
    if list(mine.config.layer_indices) != list(auto.config.layer_indices):
        return None
    theirs = auto.state_dict()
    layers = {key: value for key, value in mine.state_dict().items()  # its descendant does not take a carried
              if not key.startswith("embeddings.")}                     # embedding (Method.same_as_auto)
    if any(key not in theirs or not torch.equal(value, theirs[key]) for key, value in layers.items()):
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
