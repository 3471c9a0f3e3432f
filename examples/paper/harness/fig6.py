"""Sec. 5.3 / Fig. 6 of the paper: an ancestry that keeps learning, and the learngenes condensed along the way.

The paper trains its ancestry on a stream of tasks (ViT: 25 tasks of 50 ImageNet classes; VGG: 25 tasks of 5 of
CIFAR100's 64 classes), condenses a learngene after each task and reports that the descendants of the later learngenes
do better (Fig. 6: "a trend of continuous improvement"). Here, sized for a CPU:

* **The stream** (:class:`Stream`, :func:`train_stream`): the home ViT's architecture (12 layers, hidden 96, 3 heads,
  MLP 384, patch 12 on 84 px) trained with its recipe (AdamW 1e-3, wd 0.05, cosine with 5 % warm-up, label smoothing
  0.1, batch 64) on the ancestry classes 0-63 in stages of ``classes_per_stage`` classes (default 8 stages of 8: stage
  ``s`` = classes ``8s..8s+7``), ``epochs_per_stage`` epochs each. **The head**: one 64-way head, as the home ViT's;
  stage ``s`` trains the whole model (head included) with the plain 64-way loss on its own classes' images only (labels
  = class ids), i.e. class-incremental fine-tuning without replay. The ancestry keeps *all* its weights from stage to
  stage (stage ``s`` starts from stage ``s-1``'s saved folder, bit for bit: recorded as ``start_sha256`` /
  ``end_sha256`` of the state dict); the optimizer and its schedule restart each stage (a fresh AdamW, warm-up +
  cosine over the stage's epochs). A fresh head per stage would leave the backbone the same gradient signal but lose
  the ancestry's own 64-way accuracy, which the shared head gives: after each stage its accuracy on the stage's test
  images and on every class learned so far (forgetting shows there).
* **Every stage is a revision**: ``<work_dir>/continual/<stream name>/stage-XX/`` (a Hub-format ancestry folder with
  a ``README.md``), renamed into place when complete; its record ``stage-XX.json`` (beside it, not part of the
  ancestry's content fingerprint) is written last. A finished stage is never retrained, a killed one restarts from the
  previous folder. With ``hub_repo`` each stage is also pushed as one commit of that repo
  (:func:`push_stage`) and the learngenes are condensed from ``repo@revision`` (the learngene records the revision).
* **Condensing** (:func:`condense_stage`): each stage's ancestry -> a learngene with :func:`hf_learngene.condense` on
  the harness's condense classes (64-79) under a small data budget (:data:`CPU_CONDENSE`: 3 repeats x 1 epoch on
  ``max_images`` images; the paper's objective as the home ViT's Table 2 learngene; a fixed number of layers so every
  stage's descendant has the same architecture and From-Scratch is one flat line - ``num_layers=None`` keeps the
  paper's 1/L rule). The card of each learngene lists the earlier learngenes of the same stream ("Lineage").
* **Descendants**: per stage a :class:`StageContext` (the harness's :class:`~harness.context.Context` on the stage's
  ancestry, ``learngene_paths={("vit", "auto"): <the stage's learngene>}``, as :mod:`harness.mainpath` does) trains
  the profile's descendants (``auto``: the learngene's layers under a fresh embedding and head, the paper's
  descendant; optionally ``default_path``) on ``num_tasks`` 5-way tasks of classes 80-99, cached like every harness
  run (``<output>/runs/<key>.json``; the spec's ``ancestry`` is the stage's weights, its ``learngene`` the stage's
  learngene). From-Scratch (same architecture) is trained once per learngene depth.
* **Summary** (:func:`summarize_fig6`): ``<output>/<profile>/fig6.{json,md,png}``: descendant accuracy (mean ± std
  over tasks, and the run keys) vs the classes the ancestry has learned, From-Scratch as a flat line, the ancestry's
  own accuracy, the selected layers per stage, the command, and the paper's Fig. 6 beside it.

What the summary reads is all in the results: the stage records (``<output>/<profile>/continual/stage-<stream>-XX.json``),
the condense records (``<output>/runs/condense-vit-fig6-<method>-<hash>.json``, in the harness's form) and the runs, so
it can be rebuilt from committed results alone (``--summarize_only``). ``examples/paper/continual.py`` is the command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hf_learngene.data import format_class_spec
from hf_learngene.experiments.tasks import MINI_IMAGENET_SPLIT

from .context import Context
from .profiles import REPO_ROOT, SMOKE_DATASET
from .runs import RunSpec, claim_run, make_spec, run_one
from .summaries import _plt
from .utils import _hash, _mean_std, _now, _write_json, file_fingerprint, versions

logger = logging.getLogger("paper_harness")

FAMILY = "vit"
#: The folder of the stream (under the work dir) and of the stage records (under ``<output>/<profile>``).
SUBDIR = "continual"
#: Descendant methods a stage's learngene can be measured with (both follow the stage's Auto learngene).
STAGE_METHODS = ("auto", "default_path")
#: The home ViT (``examples/paper/train_ancestries.sh``): ``train_ancestry.ModelArguments`` fields.
HOME_VIT = {"arch": "vit", "image_size": 84, "patch_size": 12, "hidden_size": 96, "num_hidden_layers": 12,
            "num_attention_heads": 3, "intermediate_size": 384}
#: The smoke profile's ancestry (:func:`harness.smoke.tiny_ancestry`'s ViT).
TINY_VIT = {"arch": "vit", "image_size": 16, "patch_size": 4, "hidden_size": 32, "num_hidden_layers": 4,
            "num_attention_heads": 2, "intermediate_size": 64}
#: The home ViT's training recipe (``train_ancestries.sh``).
HOME_RECIPE = {"batch_size": 64, "learning_rate": 1e-3, "weight_decay": 0.05, "warmup": 0.05,
               "lr_scheduler_type": "cosine", "label_smoothing": 0.1, "max_grad_norm": 1.0, "seed": 42}
#: Epochs per stage of the ``cpu`` profile: the 8-stage stream in about 20 min on 1 thread (measured: see
#: ``continual.py``).
CPU_EPOCHS_PER_STAGE = 6
#: Condense settings per stage (``cpu``): ~1-2 min each on 1 thread. ``objective="paper"`` as the home ViT's Table 2
#: learngene; ``num_layers=3``: the size the 1/L rule kept on the home ViT ([0, 1, 2]), fixed across stages.
CPU_CONDENSE = {"method": "auto", "objective": "paper", "num_repeats": 3, "epochs": 1.0, "batch_size": 32,
                "max_images": 3200, "num_layers": 3}
#: Library defaults that would change what these settings mean, pinned where the installed hf_learngene has them: the
#: paper's 1/L rule when ``num_layers`` is ``None`` (``size_rule``) and ``max_images`` as the only image budget. At
#: these values they are left out of the learngene's recorded config (its fingerprint stays as without them).
PINNED_CONDENSE = {"size_rule": "threshold", "max_images_per_class": None}
SMOKE_CONDENSE = {"method": "auto", "objective": "paper", "num_repeats": 1, "max_iterations": 6, "batch_size": 8,
                  "meta_batch_size": 4, "meta_learning_rate": 1e-3, "num_layers": 2, "heuristic_num_tasks": 2,
                  "heuristic_steps_per_task": 3, "heuristic_batch_size": 8}

#: What the paper says about Fig. 6 (Sec. 5.3), beside our measurement. No numbers: the paper gives none in the text.
PAPER_FIG6 = (
    "Paper, Sec. 5.3 / Fig. 6 (\"Evolution process of ancestry model\"): the ancestry is trained on sequential tasks, "
    "akin to lifelong learning - ViT: 25 tasks of 50 ImageNet classes, 300 epochs each, the learngene inherited by five "
    "descendants evaluated on CIFAR100; VGG: 25 tasks of 5 of CIFAR100's 64 classes, 100 epochs each; every descendant "
    "a 5-way task with 500 samples/class, 50 epochs. Reported trend: \"the performance of Auto-Learngene displays an "
    "upward trend as the number of tasks trained by the ancestry model increases\" (caption: \"a trend of continuous "
    "improvement ... as the ancestry model is trained on sequential tasks\"), for both architectures. The text gives "
    "no numbers for Fig. 6."
)


# ------------------------------------------------------------------------------------------------------ the stream
@dataclass(frozen=True)
class Stream:
    """The ancestry's stream of tasks and how each stage is trained (all of it keys the stream's folder).

    Stage ``s`` trains on classes ``classes[s * classes_per_stage:(s + 1) * classes_per_stage]`` of the ancestry
    classes (default 0-63), starting from stage ``s - 1``'s weights (stage 0: a fresh model, seeded).
    """

    dataset: str
    model: dict[str, Any] = field(default_factory=lambda: dict(HOME_VIT))
    classes: tuple[int, ...] = MINI_IMAGENET_SPLIT.ancestry
    classes_per_stage: int = 8
    epochs_per_stage: float = CPU_EPOCHS_PER_STAGE
    recipe: dict[str, Any] = field(default_factory=lambda: dict(HOME_RECIPE))
    max_train_per_class: int | None = None

    def __post_init__(self) -> None:
        if self.classes_per_stage < 1 or self.classes_per_stage > len(self.classes):
            raise ValueError(f"classes_per_stage must be in 1..{len(self.classes)}, got {self.classes_per_stage}")
        if self.epochs_per_stage <= 0:
            raise ValueError(f"epochs_per_stage must be > 0, got {self.epochs_per_stage}")
        whole = float(self.epochs_per_stage).is_integer()  # 6 and 6.0 (from the command line) are one stream
        object.__setattr__(self, "epochs_per_stage", int(self.epochs_per_stage) if whole else float(self.epochs_per_stage))

    @property
    def max_stages(self) -> int:
        return len(self.classes) // self.classes_per_stage

    def stage_classes(self, stage: int) -> list[int]:
        if not 0 <= stage < self.max_stages:
            raise ValueError(f"stage must be in 0..{self.max_stages - 1}, got {stage}")
        return list(self.classes[stage * self.classes_per_stage:(stage + 1) * self.classes_per_stage])

    def seen_classes(self, stage: int) -> list[int]:
        """The classes the ancestry has learned after ``stage``."""
        return list(self.classes[:(stage + 1) * self.classes_per_stage])

    @property
    def key(self) -> str:
        return _hash({**asdict(self), "classes": format_class_spec(self.classes)}, 8)

    @property
    def name(self) -> str:
        """The stream's folder name: ``vit-<classes per stage>cls-ep<epochs>-<key>``."""
        return f"{FAMILY}-{self.classes_per_stage}cls-ep{self.epochs_per_stage:g}-{self.key}"


def stream_dir(work_dir: Path, stream: Stream) -> Path:
    return Path(work_dir) / SUBDIR / stream.name


def stage_dir(work_dir: Path, stream: Stream, stage: int) -> Path:
    return stream_dir(work_dir, stream) / f"stage-{stage:02d}"


def records_dir(output: Path, profile: str) -> Path:
    """``<output>/<profile>/continual``: the stages' records (the condense metadata and the descendant runs are in the
    harness's run cache ``<output>/runs``)."""
    return Path(output) / profile / SUBDIR


def stage_record_file(work_dir: Path, stream: Stream, stage: int) -> Path:
    """The record of a finished stage, beside its folder (written last: a stage is finished when it exists)."""
    return stream_dir(work_dir, stream) / f"stage-{stage:02d}.json"


def stage_record_path(records: Path, stream: Stream, stage: int) -> Path:
    """The copy of a stage's record in ``records`` (:func:`records_dir`; what the summary reads)."""
    return Path(records) / f"stage-{stream.key}-{stage:02d}.json"


def load_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def train_ancestry_module() -> Any:
    """``examples/train_ancestry.py`` as a module (its ``build_model`` builds the ancestry)."""
    if "train_ancestry" not in sys.modules:
        spec = importlib.util.spec_from_file_location("train_ancestry", REPO_ROOT / "examples" / "train_ancestry.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["train_ancestry"] = module
        spec.loader.exec_module(module)
    return sys.modules["train_ancestry"]


def state_sha256(model: torch.nn.Module) -> str:
    """sha256 (16 hex) of a model's state dict (names, dtypes, shapes and bytes): equal iff bit for bit equal."""
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:16]


def smoke_stream_data() -> Any:
    """The smoke profile's synthetic images (classes 64-99, unchanged) plus the ancestry classes 0-63 (own seed)."""
    from datasets import DatasetDict, concatenate_datasets

    from .smoke import synthetic_dataset

    base, ancestry = synthetic_dataset(), synthetic_dataset(classes=range(64), seed=1)
    return DatasetDict({split: concatenate_datasets([ancestry[split], base[split]]) for split in base})


def _stage_split(raw: Any, split: str, classes: Sequence[int], limit: int | None = None, seed: int = 0) -> Any:
    """The rows of ``classes`` (labels kept: the head's index is the class id), at most ``limit`` per class."""
    from hf_learngene.data import select_classes

    rows = select_classes(raw[split], list(classes), relabel=False, keep_in_memory=True)
    if limit is not None:
        labels = np.asarray(rows["label"])
        keep = []
        rng = np.random.default_rng(seed)
        for c in classes:
            index = np.flatnonzero(labels == c)
            keep += sorted(rng.permutation(index)[:limit].tolist())
        rows = rows.select(sorted(keep))
    return rows


def start_model(work_dir: Path, stream: Stream, stage: int, id2label: dict[int, str]) -> tuple[Any, Any]:
    """``(model, image processor)`` stage ``stage`` starts from: stage 0 a fresh model (seeded by the recipe's seed),
    stage ``s`` the folder of stage ``s - 1`` as saved."""
    from transformers import AutoImageProcessor, ViTForImageClassification, set_seed

    if stage == 0:
        ta = train_ancestry_module()
        set_seed(int(stream.recipe["seed"]))
        return ta.build_model(ta.ModelArguments(**stream.model), id2label)
    previous = stage_dir(work_dir, stream, stage - 1)
    if not stage_record_file(work_dir, stream, stage - 1).exists():
        raise FileNotFoundError(f"Stage {stage} starts from stage {stage - 1}, which is not finished ({previous})")
    return ViTForImageClassification.from_pretrained(previous), AutoImageProcessor.from_pretrained(previous)


def _ancestry_labels(raw: Any, stream: Stream) -> dict[int, str]:
    names = raw["train"].features["label"].names
    if list(stream.classes) != list(range(len(stream.classes))):
        raise ValueError("The stream's 64-way head indexes classes by their id: the ancestry classes must be 0..N-1")
    return {i: str(names[c]) for i, c in enumerate(stream.classes)}


def train_stage(work_dir: Path, records: Path, stream: Stream, stage: int, raw: Any, progress: bool = False
                ) -> dict[str, Any]:
    """Train stage ``stage`` (training the unfinished earlier stages first) and return its record; a finished stage
    (its record ``stage-XX.json`` exists) is returned as it is.

    The stage trains in ``stage-XX.partial``, which is renamed to ``stage-XX`` when complete; the record is written
    last. A killed stage restarts from the previous stage's folder. The record is also copied to ``records``
    (:func:`records_dir`).
    """
    path = stage_record_file(work_dir, stream, stage)
    record = load_json(path)
    if record is None:
        if stage > 0:
            train_stage(work_dir, records, stream, stage - 1, raw, progress)
        with claim_run(path, wait=True):  # one process trains a stage
            record = load_json(path)
            if record is None:
                record = _train_stage(work_dir, stream, stage, raw, progress)
    if not stage_record_path(records, stream, stage).exists():
        _write_json(stage_record_path(records, stream, stage), record)
    return record


def _train_stage(work_dir: Path, stream: Stream, stage: int, raw: Any, progress: bool) -> dict[str, Any]:
    from transformers import set_seed

    from hf_learngene.data import ImageTransform
    from hf_learngene.experiments.training import accuracy_metrics, classifier_training_arguments, train_classifier

    from .utils import _no_datasets_progress

    folder = stage_dir(work_dir, stream, stage)
    start, cpu_start = time.perf_counter(), time.process_time()
    classes, seen = stream.stage_classes(stage), stream.seen_classes(stage)
    model, processor = start_model(work_dir, stream, stage, _ancestry_labels(raw, stream))
    start_sha = state_sha256(model)
    seed = int(stream.recipe["seed"]) + stage
    with _no_datasets_progress():
        train = _stage_split(raw, "train", classes, stream.max_train_per_class, seed=seed)
        test = _stage_split(raw, "test", classes)
        seen_test = _stage_split(raw, "test", seen)
    transform = ImageTransform.from_processor(processor, train=True, seed=seed)
    recipe = stream.recipe
    scratch = stream_dir(work_dir, stream) / "trainer" / folder.name
    args = classifier_training_arguments(
        scratch, epochs=stream.epochs_per_stage, learning_rate=recipe["learning_rate"],
        weight_decay=recipe["weight_decay"], batch_size=recipe["batch_size"], eval_batch_size=256, seed=seed,
        lr_scheduler_type=recipe["lr_scheduler_type"], warmup=recipe["warmup"], progress=progress,
        label_smoothing_factor=recipe["label_smoothing"], max_grad_norm=recipe["max_grad_norm"])
    logger.info("Stream %s, stage %d: classes %s, %d training images, %g epochs (from %s)", stream.name, stage,
                format_class_spec(classes), len(train), stream.epochs_per_stage,
                "a fresh model" if stage == 0 else f"stage {stage - 1}")
    set_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_classifier(model, train.with_transform(transform), test.with_transform(transform.with_train(False)),
                                  args=args, compute_metrics=accuracy_metrics, progress=progress)
        train_time = time.perf_counter() - start
        history, stage_accuracy = list(result.history), result.final_accuracy  # before another evaluation adds a row
        seen_metrics = result.trainer.evaluate(seen_test.with_transform(transform.with_train(False)),
                                               metric_key_prefix="seen")
    model = result.trainer.model.cpu().eval()
    end_sha = state_sha256(model)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    processor.save_pretrained(partial)
    record = {
        "stream": stream.name, "stream_key": stream.key, "stage": stage, "classes": format_class_spec(classes),
        "num_classes_seen": len(seen), "seen_classes": format_class_spec(seen), "num_train_images": len(train),
        "epochs": stream.epochs_per_stage, "seed": seed, "started_from": "init" if stage == 0 else f"stage-{stage - 1:02d}",
        "start_sha256": start_sha, "end_sha256": end_sha,
        "ancestry_fingerprint": "+".join(file_fingerprint(w) for w in sorted(partial.glob("*.safetensors"))),
        "stage_accuracy": stage_accuracy, "seen_accuracy": float(seen_metrics["seen_accuracy"]),
        "history": history, "train_time_s": round(train_time, 1),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "cpu_time_s": round(time.process_time() - cpu_start, 1), "num_threads": torch.get_num_threads(),
        "settings": {**asdict(stream), "classes": format_class_spec(stream.classes)},
        "versions": versions(), "finished": _now(),
    }
    (partial / "README.md").write_text(stage_card(record, stream))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    _write_json(stage_record_file(work_dir, stream, stage), record)
    shutil.rmtree(scratch, ignore_errors=True)
    logger.info("Stage %d done in %.0f s: %.1f %% on its classes, %.1f %% on the %d classes seen", stage,
                record["wall_time_s"], 100 * record["stage_accuracy"], 100 * record["seen_accuracy"], len(seen))
    return record


def stage_card(record: dict[str, Any], stream: Stream) -> str:
    """The ``README.md`` of a stage folder (the stage's commit message on the Hub says the same in one line)."""
    start = "a fresh model" if record["stage"] == 0 else f"stage {record['stage'] - 1} (`{record['start_sha256']}`)"
    return (f"---\nlibrary_name: transformers\ntags:\n- learngene-ancestry\n- continual\n---\n\n"
            f"# {stream.name}, stage {record['stage']}\n\n"
            f"A ViT ancestry that keeps learning (hf_learngene `examples/paper/continual.py`): stage {record['stage']} "
            f"trained classes {record['classes']} for {record['epochs']:g} epoch(s), starting from {start}, with one "
            f"64-way head; it has now learned classes {record['seen_classes']}.\n\n"
            f"Test accuracy: {100 * record['stage_accuracy']:.1f} % on the stage's classes, "
            f"{100 * record['seen_accuracy']:.1f} % on the {record['num_classes_seen']} classes learned.\n")


def train_stream(work_dir: Path, records: Path, stream: Stream, stages: int, raw: Any, progress: bool = False
                 ) -> list[dict[str, Any]]:
    """Train stages ``0..stages-1`` (the finished ones are kept) and return their records."""
    if stages > stream.max_stages:
        raise ValueError(f"{stages} stages of {stream.classes_per_stage} classes exceed the {len(stream.classes)} "
                         "ancestry classes")
    return [train_stage(work_dir, records, stream, s, raw, progress) for s in range(stages)]


# ---------------------------------------------------------------------------------------------------- the Hub
def hub_record_path(work_dir: Path, stream: Stream, repo_id: str) -> Path:
    return stream_dir(work_dir, stream) / f"hub-{repo_id.replace('/', '--')}.json"


def push_stage(work_dir: Path, stream: Stream, stage: int, repo_id: str) -> str:
    """Push stage ``stage``'s folder as one commit of ``repo_id`` (once: the commit sha is recorded beside the stages)
    and return the commit sha. Push the stages in order: each commit is the next revision of the ancestry."""
    from huggingface_hub import HfApi

    path = hub_record_path(work_dir, stream, repo_id)
    pushed = load_json(path) or {}
    if str(stage) not in pushed:
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        classes = stream.stage_classes(stage)
        info = api.upload_folder(repo_id=repo_id, folder_path=stage_dir(work_dir, stream, stage),
                                 commit_message=f"stage {stage}: +classes {format_class_spec(classes)} "
                                                f"({len(stream.seen_classes(stage))} learned)")
        pushed[str(stage)] = info.oid
        _write_json(path, pushed)
    return pushed[str(stage)]


# ---------------------------------------------------------------------------------------------------- condensing
@dataclass(frozen=True)
class StageSource:
    """Where a stage's ancestry is condensed from: its local folder, or ``repo_id`` at ``revision`` on the Hub."""

    folder: Path
    fingerprint: str
    repo_id: str | None = None
    revision: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.repo_id else self.fingerprint

    @property
    def name_or_path(self) -> str:
        return self.repo_id or str(self.folder)


def stage_source(work_dir: Path, stream: Stream, stage: int, record: dict[str, Any], hub_repo: str | None = None
                 ) -> StageSource:
    folder = stage_dir(work_dir, stream, stage)
    if hub_repo is None:
        return StageSource(folder, record["ancestry_fingerprint"])
    return StageSource(folder, record["ancestry_fingerprint"], hub_repo, push_stage(work_dir, stream, stage, hub_repo))


def condense_record_settings(settings: dict[str, Any], stream: Stream, stage: int, source: StageSource,
                             dataset: str) -> dict[str, Any]:
    """Everything that decides a stage's learngene: the condense settings, the ancestry (weights fingerprint or
    ``repo@revision``), the dataset, the condense classes, the stream and the stage."""
    return {**settings, "ancestry": source.reference, "dataset": dataset,
            "classes": format_class_spec(MINI_IMAGENET_SPLIT.condense), "stream": stream.key, "stage": stage}


def condense_method_name(settings: dict[str, Any]) -> str:
    """The ``method`` of a stage's condense record: ``fig6-<condense method>`` (apart from the harness's own)."""
    return f"fig6-{settings['method']}"


def condense_meta_path(output: Path, stream: Stream, stage: int, settings: dict[str, Any], source: StageSource,
                       dataset: str) -> Path:
    """``<output>/runs/condense-<key>.json``, ``key = vit-fig6-<method>-<hash of the record's settings>`` (the
    harness's form of a condense record: ``<family>-<method>-<hash(settings)>``)."""
    full = condense_record_settings(settings, stream, stage, source, dataset)
    return Path(output) / "runs" / f"condense-{FAMILY}-{condense_method_name(settings)}-{_hash(full, 12)}.json"


def learngene_dir(work_dir: Path, stream: Stream, stage: int, meta_path: Path) -> Path:
    """``<stream>/learngenes/stage-XX-<hash>``."""
    return stream_dir(work_dir, stream) / "learngenes" / f"stage-{stage:02d}-{meta_path.stem.rsplit('-', 1)[-1]}"


def condense_stage(work_dir: Path, output: Path, stream: Stream, stage: int, source: StageSource, raw: Any,
                   dataset: str, settings: dict[str, Any], image_size: int | None = None, progress: bool = False
                   ) -> tuple[Path, dict[str, Any]]:
    """The learngene of stage ``stage`` (condensed once: ``(folder, metadata)``; the metadata also goes to
    ``<output>/runs/condense-vit-fig6-<method>-<hash>.json``, :func:`condense_meta_path`). Its card lists the earlier
    learngenes of the stream condensed with the same settings ("Lineage")."""
    from hf_learngene import CondenseConfig, condense
    from hf_learngene.utils import count_parameters

    from .learngenes import learngene_fingerprint

    meta_path = condense_meta_path(output, stream, stage, settings, source, dataset)
    folder = learngene_dir(work_dir, stream, stage, meta_path)
    with claim_run(meta_path, wait=True):
        meta = load_json(meta_path)
        if meta is not None and (folder / "config.json").exists():
            return folder, meta
        if meta is not None:
            logger.warning("The learngene of stage %d is recorded but its folder is gone: condensing it again", stage)
        pinned = {k: v for k, v in PINNED_CONDENSE.items() if k in CondenseConfig.__dataclass_fields__}
        config = CondenseConfig(**{"seed": 0, "progress": progress, **pinned, **settings,
                                   **({"image_size": image_size} if image_size else {})})
        logger.info("Condensing stage %d (%s) of %s ...", stage, settings["method"], source.reference)
        cpu_start = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = condense(source.name_or_path, raw, config, classes=list(MINI_IMAGENET_SPLIT.condense),
                              split="train", revision=source.revision)
        shutil.rmtree(folder, ignore_errors=True)
        result.save(folder)
        scores = result.scores_dict()
        meta = {
            "key": meta_path.stem.removeprefix("condense-"), "family": FAMILY, "method": condense_method_name(settings),
            "settings": condense_record_settings(settings, stream, stage, source, dataset), "condense": settings,
            "stream": stream.name, "stream_key": stream.key, "stage": stage,
            "ancestry": source.reference, "ancestry_repo": source.repo_id,
            "ancestry_revision": result.learngene.config.ancestry_revision,
            "ancestry_fingerprint": source.fingerprint, "dataset": dataset,
            "selected_layers": scores["selected_layers"], "layer_scores": scores["layer_scores"],
            "wall_time_s": result.wall_time, "cpu_time_s": round(time.process_time() - cpu_start, 1),
            "num_parameters": count_parameters(result.learngene),
            "learngene_key": f"{FAMILY}-auto-file-{learngene_fingerprint(folder)}",
            "num_threads": torch.get_num_threads(), "versions": versions(), "created": _now(),
        }
        write_lineage(folder, earlier_learngenes(output, stream, stage, settings, source), stream, source)
        _write_json(meta_path, meta)
    return folder, meta


def earlier_learngenes(output: Path, stream: Stream, stage: int, settings: dict[str, Any], source: StageSource
                       ) -> list[dict[str, Any]]:
    """The condense metadata of the stream's earlier stages condensed with ``settings`` from the same place (the same
    Hub repo, or the local folders), oldest first."""
    found = []
    for path in sorted((Path(output) / "runs").glob(f"condense-{FAMILY}-{condense_method_name(settings)}-*.json")):
        meta = json.loads(path.read_text())
        if (meta["stream_key"] == stream.key and meta["stage"] < stage and meta["condense"] == settings
                and meta.get("ancestry_repo") == source.repo_id):
            found.append(meta)
    return sorted(found, key=lambda m: m["stage"])


LINEAGE_TITLE = "## Lineage"


def lineage_section(earlier: list[dict[str, Any]], stream: Stream, source: StageSource) -> str:
    """The card's "Lineage": the learngenes condensed from earlier revisions of the same ancestry, oldest first."""
    where = f"`{source.repo_id}`" if source.repo_id else f"the stream `{stream.name}`"
    lines = [LINEAGE_TITLE, "",
             (f"This ancestry keeps learning ({stream.classes_per_stage} new classes per stage, the earlier weights "
              f"kept). Learngenes condensed with the same settings from its earlier revisions ({where}), oldest first:"),
             "",
             "| stage | classes learned | ancestry revision | layers | learngene |", "|---|---|---|---|---|"]
    for meta in earlier:
        learned = (meta["stage"] + 1) * stream.classes_per_stage
        revision = meta.get("ancestry_revision") or meta["ancestry_fingerprint"]
        lines.append(f"| {meta['stage']} | {learned} | `{revision}` | {meta['selected_layers']} | "
                     f"`{meta['learngene_key'].rsplit('-', 1)[-1]}` |")
    if not earlier:
        lines.append("| (none: the first stage) | | | | |")
    return "\n".join(lines) + "\n"


def write_lineage(folder: Path, earlier: list[dict[str, Any]], stream: Stream, source: StageSource) -> None:
    """Append the lineage to the learngene's ``README.md``, after the generated block (kept by later saves; the card
    is not part of the learngene's fingerprint)."""
    card = folder / "README.md"
    text = card.read_text() if card.exists() else ""
    text = text.split("\n" + LINEAGE_TITLE, 1)[0].rstrip() + "\n\n"
    card.write_text(text + lineage_section(earlier, stream, source))


# ---------------------------------------------------------------------------------------------------- descendants
@dataclass
class StageContext(Context):
    """The harness :class:`~harness.context.Context` of one stage: its ancestry is the stage's folder (also under
    the ``smoke`` profile, whose own ancestry is built in-process); its runs go to the harness's run cache, keyed by
    the stage's ancestry and learngene."""

    stage_ancestry: Path | None = None

    def ancestry_path(self, family: str) -> Path:
        if family == FAMILY and self.stage_ancestry is not None:
            return Path(self.stage_ancestry)
        return super().ancestry_path(family)


def stage_context(base: Context, work_dir: Path, stream: Stream, stage: int, learngene: Path, raw: Any,
                  num_tasks: int) -> StageContext:
    """Stage ``stage``'s context: the base's profile, output and dataset, the stage's ancestry folder and its learngene
    as the Auto learngene (runs keyed by its content), a work dir of its own (the carrying learngene of
    ``default_path`` is cached there by its layers only)."""
    ctx = StageContext(profile=base.profile, output=base.output,
                       work_dir=stream_dir(work_dir, stream) / "work" / f"stage-{stage:02d}", dataset=base.dataset,
                       progress=base.progress, num_tasks=num_tasks,
                       learngene_paths={(FAMILY, "auto"): str(learngene)},
                       stage_ancestry=stage_dir(work_dir, stream, stage))
    ctx._raw = raw
    return ctx


def stage_specs(ctx: Context, methods: Sequence[str], num_tasks: int) -> list[RunSpec]:
    return [make_spec(ctx, FAMILY, method, task, ctx.profile.samples_per_class) for method in methods
            for task in range(num_tasks)]


def train_missing(ctx: Context, specs: Sequence[RunSpec]) -> None:
    """Train the runs of ``specs`` that are not cached (claimed, as in ``main_path.py``)."""
    for spec in specs:
        path = ctx.runs_dir / f"{spec.key}.json"
        if path.exists():
            continue
        with claim_run(path) as mine:
            if mine and not path.exists():
                run_one(ctx, spec)


# ---------------------------------------------------------------------------------------------------- the session
@dataclass
class Continual:
    """One Fig. 6 session: the base context (profile, output, work dir, dataset), the stream, how many stages, the
    condense settings, the descendant methods and tasks, and optionally the Hub repo of the stages."""

    base: Context
    stream: Stream
    stages: int = 8
    condense: dict[str, Any] = field(default_factory=lambda: dict(CPU_CONDENSE))
    methods: tuple[str, ...] = ("auto",)
    num_tasks: int = 5
    hub_repo: str | None = None
    command: str | None = None
    _raw: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in STAGE_METHODS]
        if unknown or not self.methods:
            raise ValueError(f"Unknown stage method(s) {unknown}; choose from {', '.join(STAGE_METHODS)}")
        if not 1 <= self.stages <= self.stream.max_stages:
            raise ValueError(f"stages must be in 1..{self.stream.max_stages}, got {self.stages}")
        if self.num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {self.num_tasks}")

    @classmethod
    def for_profile(cls, base: Context, **kwargs: Any) -> Continual:
        """A session with the profile's stream and condense defaults (``smoke``: the tiny ViT, 3 stages of 2 classes,
        1 epoch each; ``cpu``: the home ViT, :data:`CPU_EPOCHS_PER_STAGE`, :data:`CPU_CONDENSE`), overridden by
        ``stream=`` fields (``classes_per_stage``, ``epochs_per_stage``, ...) and the session's fields."""
        stream_fields = {k: kwargs.pop(k) for k in list(kwargs) if k in Stream.__dataclass_fields__}
        condense = {**(SMOKE_CONDENSE if base.profile.synthetic else CPU_CONDENSE), **kwargs.pop("condense", {})}
        if base.profile.synthetic:
            stream_fields = {"model": dict(TINY_VIT), "classes_per_stage": 2, "epochs_per_stage": 1,
                             "recipe": {**HOME_RECIPE, "batch_size": 8}, **stream_fields}
            kwargs.setdefault("stages", 3)
            kwargs.setdefault("num_tasks", base.profile.num_tasks)
        return cls(base=base, stream=Stream(dataset=dataset_id(base), **stream_fields), condense=condense, **kwargs)

    @property
    def output(self) -> Path:
        return self.base.output

    @property
    def work_dir(self) -> Path:
        return self.base.work_dir

    @property
    def raw(self) -> Any:
        if self._raw is None:
            self._raw = smoke_stream_data() if self.base.profile.synthetic else self.base.raw
        return self._raw

    @property
    def dataset(self) -> str:
        return self.stream.dataset

    @property
    def records(self) -> Path:
        return records_dir(self.output, self.base.profile.name)

    def stage_record(self, stage: int) -> dict[str, Any] | None:
        return load_json(stage_record_path(self.records, self.stream, stage))

    def source(self, stage: int, record: dict[str, Any]) -> StageSource:
        return stage_source(self.work_dir, self.stream, stage, record, self.hub_repo)

    def condense_meta(self, stage: int, record: dict[str, Any]) -> dict[str, Any] | None:
        """The recorded condense metadata of a trained stage (``None`` if not condensed). Without the Hub it needs
        only the records; with it, the stage's revision (pushed on first use)."""
        if self.hub_repo is not None:
            revision = (load_json(hub_record_path(self.work_dir, self.stream, self.hub_repo)) or {}).get(str(stage))
            if revision is None:
                return None
            source = StageSource(stage_dir(self.work_dir, self.stream, stage), record["ancestry_fingerprint"],
                                 self.hub_repo, revision)
        else:
            source = StageSource(stage_dir(self.work_dir, self.stream, stage), record["ancestry_fingerprint"])
        return load_json(condense_meta_path(self.output, self.stream, stage, self.condense, source, self.dataset))

    def run(self, train: bool = True) -> dict[str, Any]:
        """Train the stream, condense every stage, train the descendants (all cached), then summarize."""
        if train:
            records = train_stream(self.work_dir, self.records, self.stream, self.stages, self.raw, self.base.progress)
            folders = {}
            for stage, record in enumerate(records):
                folders[stage], _ = condense_stage(
                    self.work_dir, self.output, self.stream, stage, self.source(stage, record), self.raw, self.dataset,
                    self.condense, self.base.profile.image_size, self.base.progress)
            contexts = {s: stage_context(self.base, self.work_dir, self.stream, s, folders[s], self.raw,
                                         self.num_tasks) for s in folders}
            for stage, reference in self.scratch_references(contexts).items():
                if reference == stage:  # From-Scratch once per learngene depth
                    train_missing(contexts[stage], stage_specs(contexts[stage], ["scratch"], self.num_tasks))
            for stage, ctx in contexts.items():
                train_missing(ctx, stage_specs(ctx, self.methods, self.num_tasks))
        return summarize_fig6(self)

    @staticmethod
    def scratch_references(contexts: dict[int, Context]) -> dict[int, int]:
        """``{stage: the stage whose From-Scratch runs are its reference}``: the first stage with the same learngene
        depth (From-Scratch copies only the learngene's architecture, so equal depths give the same descendant)."""
        first: dict[int, int] = {}
        out = {}
        for stage, ctx in sorted(contexts.items()):
            depth = len(ctx.learngene(FAMILY, "auto").config.layer_indices)
            out[stage] = first.setdefault(depth, stage)
        return out

    def plan(self) -> list[str]:
        """``--dry_run``: the stages, condenses and runs, and whether each is cached."""
        lines = [(f"stream {self.stream.name}: {self.stages} stages x {self.stream.classes_per_stage} classes, "
                  f"{self.stream.epochs_per_stage:g} epochs/stage ({stream_dir(self.work_dir, self.stream)})")]
        depths: dict[int, int] = {}
        for stage in range(self.stages):
            record = load_json(stage_record_file(self.work_dir, self.stream, stage))
            classes = format_class_spec(self.stream.stage_classes(stage))
            if record is None:
                scratch = f" + {self.num_tasks} From-Scratch" if stage == 0 else ""
                lines.append(f"[to train] stage {stage}: classes {classes}; then condense + "
                             f"{len(self.methods) * self.num_tasks} descendant runs{scratch}")
                continue
            lines.append(f"[cached]   stage {stage}: classes {classes} ({record['stage_accuracy']:.3f} on them, "
                         f"{record['seen_accuracy']:.3f} on the {record['num_classes_seen']} seen)")
            meta = self.condense_meta(stage, record)
            if meta is None:
                lines.append(f"[to run]     condense {self.condense['method']}; then "
                             f"{len(self.methods) * self.num_tasks} descendant runs")
                continue
            lines.append(f"[cached]     condense {self.condense['method']}: layers {meta['selected_layers']} "
                         f"({meta['wall_time_s']:.0f} s)")
            folder = learngene_dir(self.work_dir, self.stream, stage,
                                   condense_meta_path(self.output, self.stream, stage, self.condense,
                                                      self.source_of(stage, record, meta), self.dataset))
            if not (folder / "config.json").exists():
                lines.append("[to run]     (learngene folder missing: condensed again on the next run)")
                continue
            ctx = stage_context(self.base, self.work_dir, self.stream, stage, folder, self.raw, self.num_tasks)
            methods = list(self.methods)
            depth = len(meta["selected_layers"])
            if depths.setdefault(depth, stage) == stage:
                methods = ["scratch", *methods]
            for spec in stage_specs(ctx, methods, self.num_tasks):
                state = "cached" if (ctx.runs_dir / f"{spec.key}.json").exists() else "to run"
                lines.append(f"[{state}]{' ' * (8 - len(state))}{spec.method} task={spec.task_seed} "
                             f"epochs={spec.epochs} key={spec.key}")
        return lines

    def source_of(self, stage: int, record: dict[str, Any], meta: dict[str, Any]) -> StageSource:
        return StageSource(stage_dir(self.work_dir, self.stream, stage), record["ancestry_fingerprint"],
                           meta.get("ancestry_repo"), meta.get("ancestry_revision") if meta.get("ancestry_repo") else None)


def dataset_id(base: Context) -> str:
    """The stream's dataset in keys: the base context's, marked when the smoke data carries the ancestry classes."""
    return f"{SMOKE_DATASET}+ancestry" if base.profile.synthetic else base.dataset_id


# ---------------------------------------------------------------------------------------------------- summary
def _index_runs(folder: Path, methods: Sequence[str]) -> dict[tuple, dict[str, Any]]:
    """The ``methods``' runs in the run cache ``folder`` by (ancestry, learngene, method, task, epochs, samples,
    profile)."""
    index = {}
    for path in sorted(p for m in methods for p in folder.glob(f"{FAMILY}-{m}-*.json")):
        record = json.loads(path.read_text())
        s = record["spec"]
        index[(s["ancestry"], s["learngene"], s["method"], s["task_seed"], s["epochs"], s["samples_per_class"],
               s["profile"])] = record
    return index


def summarize_fig6(session: Continual) -> dict[str, Any]:
    """``<output>/<profile>/fig6.{json,md,png}`` from the records (stages, condenses, runs; what is missing is
    listed as such)."""
    profile = session.base.profile
    index = _index_runs(session.output / "runs", ["scratch", *session.methods])
    stages: list[dict[str, Any]] = []
    scratch_of_depth: dict[int, dict[str, Any]] = {}

    def runs(record: dict[str, Any], meta: dict[str, Any], method: str) -> dict[str, Any]:
        """The cell of ``method``'s runs on the stage: per-task accuracy, mean ± std, the run keys."""
        found = {}
        for task in range(session.num_tasks):
            run = index.get((record["ancestry_fingerprint"], meta["learngene_key"], method, task, profile.epochs,
                             profile.samples_per_class, profile.name))
            if run is not None:
                found[task] = run
        mean, std = _mean_std([r["result"]["final_accuracy"] for r in found.values()])
        return {"per_task": {str(t): float(r["result"]["final_accuracy"]) for t, r in found.items()}, "mean": mean,
                "std": std, "num_tasks": len(found), "keys": [r["key"] for r in found.values()],
                "train_time_s": float(np.mean([r["result"]["wall_time_s"] for r in found.values()])) if found else None}

    for stage in range(session.stages):
        record = session.stage_record(stage)
        row: dict[str, Any] = {"stage": stage, "classes": format_class_spec(session.stream.stage_classes(stage)),
                               "classes_learned": (stage + 1) * session.stream.classes_per_stage}
        if record is None:
            stages.append({**row, "missing": "stage"})
            continue
        row.update({k: record[k] for k in ("stage_accuracy", "seen_accuracy", "train_time_s", "start_sha256",
                                           "end_sha256", "started_from", "ancestry_fingerprint", "num_train_images")})
        meta = session.condense_meta(stage, record)
        if meta is None:
            stages.append({**row, "missing": "condense"})
            continue
        depth = len(meta["selected_layers"])
        row.update({"selected_layers": meta["selected_layers"], "layer_scores": meta["layer_scores"],
                    "condense_time_s": meta["wall_time_s"], "learngene_key": meta["learngene_key"],
                    "ancestry_revision": meta.get("ancestry_revision"), "methods": {}})
        if depth not in scratch_of_depth:  # From-Scratch of the first stage with this depth: the same descendant
            scratch_of_depth[depth] = {"reference_stage": stage, **runs(record, meta, "scratch")}
        for method in session.methods:
            row["methods"][method] = runs(record, meta, method)
        row["scratch"] = scratch_of_depth[depth]
        stages.append(row)
    trend = {method: _trend(stages, method) for method in session.methods}
    data = {
        "experiment": "fig6", "profile": asdict(profile), "family": FAMILY, "dataset": session.dataset,
        "stream": {**asdict(session.stream), "classes": format_class_spec(session.stream.classes),
                   "name": session.stream.name, "key": session.stream.key},
        "stages_requested": session.stages, "condense": session.condense, "methods": list(session.methods),
        "num_tasks": session.num_tasks, "hub_repo": session.hub_repo,
        "head": "one 64-way head; each stage trains the whole model on its own classes (plain 64-way loss, no replay)",
        "rows": stages, "trend": trend, "paper": PAPER_FIG6, "command": session.command,
        "versions": versions(), "created": _now(),
    }
    out = session.output / profile.name
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "fig6.json", data)
    (out / "fig6.md").write_text(markdown(data))
    figure = _plot(data)
    figure.savefig(out / "fig6.png", dpi=110, bbox_inches="tight")
    _plt().close(figure)
    data["files"] = {ext: str(out / f"fig6.{ext}") for ext in ("json", "md", "png")}
    return data


def _trend(rows: list[dict[str, Any]], method: str) -> dict[str, Any] | None:
    """Least-squares slope of the descendant's mean accuracy per stage, and the paired last-vs-first stage change."""
    done = [r for r in rows if "methods" in r and r["methods"][method]["num_tasks"]]
    if len(done) < 2:
        return None
    x = np.asarray([r["classes_learned"] for r in done], dtype=float)
    y = np.asarray([r["methods"][method]["mean"] for r in done])
    slope = float(np.polyfit(x, y, 1)[0])
    first, last = done[0]["methods"][method]["per_task"], done[-1]["methods"][method]["per_task"]
    tasks = sorted(set(first) & set(last), key=int)
    diffs = [last[t] - first[t] for t in tasks]
    over = [r["methods"][method]["mean"] - r["scratch"]["mean"] for r in done if r["scratch"]["num_tasks"]]
    return {"slope_per_stage": slope * (done[1]["classes_learned"] - done[0]["classes_learned"]),
            "slope_per_class": slope, "first_stage": done[0]["stage"], "last_stage": done[-1]["stage"],
            "last_minus_first": float(np.mean(diffs)) if diffs else None, "paired_tasks": len(diffs),
            "tasks_improved": int(sum(d > 0 for d in diffs)),
            "mean_over_scratch": float(np.mean(over)) if over else None}


def _pct(value: float | None, std: float | None = None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{100 * value:.1f}" + (f" ± {100 * std:.1f}" if std is not None and not math.isnan(std) else "")


def markdown(data: dict[str, Any]) -> str:
    stream, profile = data["stream"], data["profile"]
    methods = data["methods"]
    labels = {"auto": f"descendant (learngene layers, `{data['condense']['method']}`)",
              "default_path": "default path (layers + embedding)"}
    lines = ["# Fig. 6: an ancestry that keeps learning", "",
             (f"Ancestry: a ViT ({stream['model'].get('num_hidden_layers')} layers, hidden "
              f"{stream['model'].get('hidden_size')}, {stream['model'].get('image_size')} px) trained on classes {stream['classes']} in stages of "
              f"{stream['classes_per_stage']} classes ({stream['epochs_per_stage']:g} epochs/stage), keeping its weights "
              f"(head: {data['head']}). After each stage: a learngene condensed on classes 64-79 "
              f"(`{data['condense']['method']}`, {json.dumps({k: v for k, v in data['condense'].items() if k != 'method'})}); "
              f"descendants on {data['num_tasks']} {profile['n_way']}-way tasks of classes 80-99, "
              f"{profile['samples_per_class']} images/class, {profile['epochs']} epochs (`{profile['name']}` profile); "
              "From-Scratch has the same architecture (trained once per learngene depth)."), "",
             "| stage | classes learned | ancestry: stage classes / all seen (%) | layers | "
             + " | ".join(labels[m] + " (%)" for m in methods) + " | From-Scratch (%) |",
             "|---|---|---|---|" + "---|" * len(methods) + "---|"]
    for row in data["rows"]:
        if row.get("missing") == "stage":
            lines.append(f"| {row['stage']} | {row['classes_learned']} | not trained | | " + "| " * len(methods) + "|")
            continue
        ancestry = f"{_pct(row['stage_accuracy'])} / {_pct(row['seen_accuracy'])}"
        if row.get("missing") == "condense":
            lines.append(f"| {row['stage']} | {row['classes_learned']} | {ancestry} | not condensed | "
                         + "| " * len(methods) + "|")
            continue
        cells = []
        for m in methods:
            cell = row["methods"][m]
            cells.append(f"{_pct(cell['mean'], cell['std'])} ({cell['num_tasks']} tasks)" if cell["num_tasks"]
                         else "not run")
        scratch = row["scratch"]
        lines.append(f"| {row['stage']} | {row['classes_learned']} | {ancestry} | {row['selected_layers']} | "
                     + " | ".join(cells) + f" | {_pct(scratch['mean'], scratch['std']) if scratch['num_tasks'] else 'not run'} |")
    lines.append("")
    for method, trend in data["trend"].items():
        if trend is None:
            continue
        lines.append(f"Trend of the {labels[method]}: {100 * trend['slope_per_stage']:+.2f} points per stage "
                     f"(least squares over stages {trend['first_stage']}-{trend['last_stage']}); last vs first stage "
                     f"{_pct(trend['last_minus_first']) if trend['last_minus_first'] is not None else '-'} points on "
                     f"{trend['paired_tasks']} paired tasks ({trend['tasks_improved']} improved); mean over "
                     f"From-Scratch {_pct(trend['mean_over_scratch'])} points.")
    lines += ["", data["paper"], ""]
    if data.get("command"):
        lines += ["Command:", "", f"    {data['command']}", ""]
    return "\n".join(lines)


def _plot(data: dict[str, Any]) -> Any:
    plt = _plt()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    rows = [r for r in data["rows"] if "methods" in r]
    colors = {"auto": "tab:red", "default_path": "darkred"}
    for method in data["methods"]:
        points = [r for r in rows if r["methods"][method]["num_tasks"]]
        if points:
            left.errorbar([r["classes_learned"] for r in points], [100 * r["methods"][method]["mean"] for r in points],
                          yerr=[100 * r["methods"][method]["std"] for r in points], marker="o", capsize=3,
                          color=colors[method], label=f"{method} ({data['num_tasks']} tasks)")
            for r in points:
                left.annotate(",".join(map(str, r["selected_layers"])), (r["classes_learned"],
                              100 * r["methods"][method]["mean"]), textcoords="offset points", xytext=(0, 7),
                              ha="center", fontsize=6, color="dimgray")
    scratch = [r for r in rows if r["scratch"]["num_tasks"]]
    if scratch:
        xs = [r["classes_learned"] for r in scratch]
        ys = [100 * r["scratch"]["mean"] for r in scratch]
        left.step(xs, ys, where="mid", color="tab:gray", linestyle="--", label="From-Scratch")
        std = 100 * scratch[0]["scratch"]["std"]
        left.fill_between(xs, [y - std for y in ys], [y + std for y in ys], color="tab:gray", alpha=0.15, step="mid")
    left.set_xlabel("classes the ancestry has learned")
    left.set_ylabel("descendant test accuracy (%)")
    left.set_title("Descendants of each stage's learngene (layers above points)")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    trained = [r for r in data["rows"] if "stage_accuracy" in r]
    if trained:
        right.plot([r["classes_learned"] for r in trained], [100 * r["stage_accuracy"] for r in trained], marker="o",
                   label="on the stage's classes")
        right.plot([r["classes_learned"] for r in trained], [100 * r["seen_accuracy"] for r in trained], marker="s",
                   label="on all classes learned")
    right.set_xlabel("classes the ancestry has learned")
    right.set_ylabel("ancestry test accuracy (%, 64-way head)")
    right.set_title("The ancestry along the stream")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    return figure


__all__ = ["CPU_CONDENSE", "CPU_EPOCHS_PER_STAGE", "HOME_VIT", "PAPER_FIG6", "Continual", "StageContext", "Stream",
           "condense_stage", "lineage_section", "push_stage", "stage_context", "stage_dir", "state_sha256",
           "summarize_fig6", "train_stage", "train_stream"]
