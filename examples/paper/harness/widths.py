"""Narrower descendants (issue "Descendants of any size"): learngene vs From-Scratch vs Weight Selection at one
reduced width, for the real DINOv2 or a home-trained ResNet / ViT ancestry (the family is the learngene's).

The runs (:class:`WidthRun`, cached as ``<output>/runs/<family>_width-<method>-<hash>.json``), their descendants
(:func:`build_model`), training (:func:`run_one`) and summary (:func:`summarize`, ``<output>/<profile>/<family>_width/``);
the command line is ``examples/paper/width_reduction.py``, whose docstring describes the methods.
"""

from __future__ import annotations

import argparse
import json
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import transformers

from hf_learngene import LearngeneModel, from_learngene, scratch_descendant_like
from hf_learngene.data import format_class_spec
from hf_learngene.experiments.tasks import MINI_IMAGENET_SPLIT, make_task
from hf_learngene.experiments.training import classifier_training_arguments
from hf_learngene.utils import count_parameters
from hf_learngene.weight_selection import weight_selection_descendant

from .methods import ft
from .summaries import _plt
from .utils import _hash, _mean_std, _now, _pct, _write_json, portable_path, versions

if TYPE_CHECKING:
    from .context import Context

#: Families of the harness this measurement takes (the learngene's ``config.family``), and their labels.
FAMILIES = {"dinov2": "DINOv2", "vit": "ViT", "resnet": "ResNet"}
STAGED = ("resnet",)  # widths per stage (hidden_sizes / embedding_size), Weight Selection by stage
METHODS = ("learngene", "scratch", "weight_selection")
#: Recipe options beyond the paper (as ``auto_embed`` / ``auto_embed_lowlr`` in the harness): ``learngene_embed``
#: also inherits the ancestry's input embedding, element-selected with the layers' channels (:func:`hf_learngene.
#: recipes.inherit_embeddings`); ``learngene_embed_lowlr`` besides trains every inherited weight at 0.1 x the learning
#: rate; ``weight_selection_lowlr`` is Weight Selection trained that way. Opt-in (``--methods``), reported beside the
#: paper's recipe. Value: (the method it builds on, the inherited weights' lr scale or None for one lr).
INHERITED_LR_SCALE = 0.1
RECIPE_METHODS = {"learngene_embed": ("learngene", None), "learngene_embed_lowlr": ("learngene", INHERITED_LR_SCALE),
                  "weight_selection_lowlr": ("weight_selection", INHERITED_LR_SCALE)}
#: The library's main path at this width: ``from_learngene`` of a learngene folder that carries the learngene's layers
#: and the ancestry's input embedding, with its defaults (the embedding inherited and element-selected, the recorded
#: ``inherited_lr_scale``: 1.0 for a narrowed descendant), trained with ``DescendantTrainer``.
LIBRARY_METHODS = ("default_path",)
ALL_METHODS = (*METHODS, *RECIPE_METHODS, *LIBRARY_METHODS)
METHOD_LABELS = {"learngene": "Learngene (element-selected)", "scratch": "From-Scratch",
                 "weight_selection": "Weight Selection (lowest k layers + embeddings)",
                 "learngene_embed": "Learngene + ancestry embeddings (element-selected)",
                 "learngene_embed_lowlr": "Learngene + ancestry embeddings (element-selected), inherited lr x0.1",
                 "weight_selection_lowlr": "Weight Selection, inherited lr x0.1",
                 "default_path": "Library default path (learngene with embedding, from_learngene defaults)"}


def summary_name(family: str) -> str:
    """The results folder / cache-key prefix of ``family``'s width runs (``dinov2_width``, ``resnet_width``)."""
    return f"{family}_width"


#: Fields added after the first (DINOv2) runs were cached: left out of a run's hash at these values, so those runs
#: keep their cache keys.
LATER_FIELDS = {"family": "dinov2", "hidden_sizes": None, "embedding_size": None}


@dataclass(frozen=True)
class WidthRun:
    """Everything that determines one training run (its hash is the cache key)."""

    method: str
    width_selection: str | None  # None for scratch (nothing is selected)
    task_seed: int
    samples_per_class: int
    hidden_size: int | None  # transformer families (None for a ResNet)
    num_attention_heads: int | None
    intermediate_size: int | None
    num_random_layers: int
    layout: str
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    optim: str
    lr_scheduler_type: str
    warmup: float
    image_size: int
    eval_per_class: int | None
    n_way: int
    classes: str
    dataset: str
    ancestry: str
    learngene: str
    profile: str
    family: str = "dinov2"
    hidden_sizes: tuple[int, ...] | None = None  # ResNet: the stage widths
    embedding_size: int | None = None  # ResNet: the stem width

    @property
    def key(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}
        return f"{summary_name(self.family)}-{self.method}-{_hash(fields)}"

    def width_options(self) -> dict[str, Any]:
        """The width keyword arguments of ``from_learngene`` for this run."""
        if self.family in STAGED:
            options: dict[str, Any] = {"hidden_sizes": list(self.hidden_sizes or ()),
                                       "embedding_size": self.embedding_size}
            if self.num_random_layers:
                options["num_random_layers"] = self.num_random_layers
            if self.layout != "after":
                options["layout"] = self.layout
            return options
        return {"hidden_size": self.hidden_size, "num_attention_heads": self.num_attention_heads,
                "intermediate_size": self.intermediate_size, "num_random_layers": self.num_random_layers,
                "layout": self.layout}

    @property
    def label(self) -> str:
        return self.method if self.width_selection is None else f"{self.method}:{self.width_selection}"


TOKEN_WIDTH_FLAGS = ("hidden_size", "num_attention_heads", "intermediate_size")
STAGED_WIDTH_FLAGS = ("hidden_sizes", "embedding_size")


def default_widths(family: str, ancestry_config: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The descendant widths of the runs: the ones given; by default half the ancestry's width. ViT / DINOv2: the
    heads keep the ancestry's head dimension when it divides the width (ViT-S/14 at 192: 3 heads of 64), else the
    ancestry's head count; the MLP keeps the ancestry's ratio to the width (192: 768)."""
    given = [f for f in (TOKEN_WIDTH_FLAGS if family in STAGED else STAGED_WIDTH_FLAGS) if getattr(args, f)]
    if given:
        wanted = STAGED_WIDTH_FLAGS if family in STAGED else TOKEN_WIDTH_FLAGS
        raise SystemExit(f"--{', --'.join(given)} do not apply to a {FAMILIES[family]} learngene; its widths are "
                         f"--{', --'.join(wanted)}.")
    if family in STAGED:
        hidden = args.hidden_sizes or [int(w) // 2 for w in ancestry_config.hidden_sizes]
        stem = args.embedding_size or int(ancestry_config.embedding_size) // 2
        return {"hidden_sizes": tuple(int(w) for w in hidden), "embedding_size": int(stem), "hidden_size": None,
                "num_attention_heads": None, "intermediate_size": None}
    width, heads = int(ancestry_config.hidden_size), int(ancestry_config.num_attention_heads)
    mlp = getattr(ancestry_config, "intermediate_size", None) or int(width * ancestry_config.mlp_ratio)
    hidden = args.hidden_size or width // 2
    if args.num_attention_heads:
        num_heads = args.num_attention_heads
    elif hidden % (width // heads) == 0:
        num_heads = hidden // (width // heads)
    else:
        num_heads = heads
    if hidden % num_heads:
        raise SystemExit(f"--num_attention_heads {num_heads} does not divide the width {hidden}: pass "
                         "--num_attention_heads (a divisor of --hidden_size).")
    return {"hidden_size": hidden, "num_attention_heads": num_heads,
            "intermediate_size": args.intermediate_size or int(mlp) * hidden // width}


def describe_width(widths: dict[str, Any]) -> str:
    """``width 192, 3 heads, MLP 768`` or ``stage widths [16, 32, 64, 128], stem 16``."""
    if widths.get("hidden_sizes"):
        return f"stage widths {list(widths['hidden_sizes'])}, stem {widths['embedding_size']}"
    return f"width {widths['hidden_size']}, {widths['num_attention_heads']} heads, MLP {widths['intermediate_size']}"


def method_label(method: str, family: str) -> str:
    """The table label of ``method`` (Weight Selection selects by stage for a ResNet)."""
    if family in STAGED and method.startswith("weight_selection"):
        return METHOD_LABELS[method].replace("lowest k layers + embeddings", "first blocks of every stage + stem")
    return METHOD_LABELS[method]


@dataclass(frozen=True)
class LearngeneRef:
    """The learngene of the runs as they are keyed and reported: its name, its id in the cache keys (a learngene
    folder's content fingerprint, or the harness's condense key for ``--learngene auto``) and its layers."""

    name: str
    fingerprint: str
    layers: list[int]


def plan_runs(ctx: Context, learngene_ref: LearngeneRef, args: argparse.Namespace) -> list[WidthRun]:
    """The runs of the measurement: every method (learngene / Weight Selection once per width rule) on every task
    and sample size."""
    family = args.family
    profile, hp = ctx.profile, ctx.profile.hparams[family]
    common = {**args.widths, "num_random_layers": args.num_random_layers,
              "layout": args.layout, "epochs": profile.epochs, "batch_size": profile.batch_size,
              "learning_rate": hp.learning_rate, "weight_decay": hp.weight_decay, "optim": hp.optim,
              "lr_scheduler_type": hp.lr_scheduler_type, "warmup": hp.warmup, "image_size": ctx.image_size(family),
              "eval_per_class": profile.eval_per_class, "n_way": profile.n_way,
              "classes": format_class_spec(MINI_IMAGENET_SPLIT.descendant), "dataset": ctx.dataset_id,
              "ancestry": ctx.ancestry_fingerprint(family), "learngene": learngene_ref.fingerprint,
              "profile": profile.name, "family": family}
    runs = []
    for samples in args.samples_per_class:
        for task in range(profile.num_tasks):
            for method in args.methods:
                rules = [None] if method == "scratch" else args.width_selections
                runs += [WidthRun(method=method, width_selection=rule, task_seed=task, samples_per_class=samples,
                                  **common) for rule in rules]
    return runs


def build_model(ctx: Context, learngene: LearngeneModel, run: WidthRun, task: Any) -> Any:
    """The descendant of ``run`` for ``task`` (seeded by the task seed, like the harness's runs)."""
    options = {"id2label": task.id2label, "label2id": task.label2id, "image_size": run.image_size,
               "seed": run.task_seed, **run.width_options()}
    paper = {"inherit_embeddings": False}  # the paper's fresh embedding, whatever the learngene carries
    if run.method == "default_path":
        carrying = ctx.carrying_learngene(run.family, list(learngene.config.layer_indices))
        return from_learngene(carrying, width_selection=run.width_selection, **options)
    if run.method in ("learngene_embed", "learngene_embed_lowlr"):
        from hf_learngene.recipes import inherit_embeddings

        return inherit_embeddings(from_learngene(learngene, width_selection=run.width_selection, **paper, **options),
                                  ctx.ancestry(run.family))
    if run.method == "learngene":
        return from_learngene(learngene, width_selection=run.width_selection, **paper, **options)
    if run.method == "scratch":
        return scratch_descendant_like(learngene, **options)
    if run.method in ("weight_selection", "weight_selection_lowlr"):
        if run.num_random_layers or run.layout != "after":
            raise ValueError("weight_selection takes the ancestry's lowest k layers: use --num_random_layers 0 and "
                             "--layout after (or drop the method).")
        options = {k: v for k, v in options.items() if k not in ("num_random_layers", "layout")}
        if run.family in STAGED:  # the first blocks of every stage, as many as the learngene descendant has there
            depths = list(from_learngene(learngene, **paper, **options).config.depths)
            return weight_selection_descendant(ctx.ancestry(run.family), depths=depths,
                                               width_selection=run.width_selection, **options)
        return weight_selection_descendant(ctx.ancestry(run.family), len(learngene.config.layer_indices),
                                           width_selection=run.width_selection, **options)
    raise ValueError(f"Unknown method {run.method!r}; choose from {', '.join(ALL_METHODS)}")


def run_path(ctx: Context, run: WidthRun) -> Path:
    return ctx.runs_dir / f"{run.key}.json"


def run_one(ctx: Context, learngene: LearngeneModel, run: WidthRun) -> dict[str, Any]:
    """Train one descendant (or return its cached record)."""
    path = run_path(ctx, run)
    if path.exists():
        return json.loads(path.read_text())
    transformers.set_seed(run.task_seed)
    raw = ctx.raw
    task = make_task(raw["train"], raw["test"], run.classes, n_way=run.n_way, samples_per_class=run.samples_per_class,
                     seed=run.task_seed)
    model = build_model(ctx, learngene, run, task)
    scratch = ctx.work_dir / "trainer" / run.key
    args = classifier_training_arguments(scratch, epochs=run.epochs, batch_size=run.batch_size, eval_batch_size=128,
                                         learning_rate=run.learning_rate, weight_decay=run.weight_decay,
                                         optim=run.optim, lr_scheduler_type=run.lr_scheduler_type, warmup=run.warmup,
                                         seed=run.task_seed, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ft.finetune(model, task, args, transform=ctx.transform(run.family),
                                     eval_per_class=run.eval_per_class, quiet=True,
                                     inherited_lr_scale=RECIPE_METHODS.get(run.method, (None, None))[1]
                                     or (1.0 if run.method in RECIPE_METHODS or run.method == "learngene" else None))
    shutil.rmtree(scratch, ignore_errors=True)
    result.pop("trainer")
    origin = getattr(model.config, "learngene", None) or {}
    record = {"key": run.key, "spec": asdict(run), "label": run.label, "task_classes": task.classes,
              "result": result, "num_parameters": count_parameters(model),
              "sizes": origin.get("sizes"), "inherited_layers": [e["ancestry_layer"] for e in origin.get("layer_map", [])],
              "num_threads": torch.get_num_threads(), "device": "cuda" if torch.cuda.is_available() else "cpu",
              "versions": versions(), "finished": _now()}
    _write_json(path, record)
    return record


def summarize(ctx: Context, runs: list[WidthRun], learngene_ref: LearngeneRef, args: argparse.Namespace
              ) -> dict[str, Any]:
    """Mean / std of the final accuracy per method and sample size, paired differences of every learngene rule
    against From-Scratch and Weight Selection (same rule), written as JSON and a Markdown table."""
    records = [json.loads(run_path(ctx, r).read_text()) for r in runs if run_path(ctx, r).exists()]
    cells: dict[str, dict[str, Any]] = {}
    for samples in args.samples_per_class:
        by_label: dict[str, dict[int, float]] = {}
        params: dict[str, int] = {}
        for record in records:
            if record["spec"]["samples_per_class"] == samples:
                by_label.setdefault(record["label"], {})[record["spec"]["task_seed"]] = record["result"][
                    "final_accuracy"]
                params[record["label"]] = record["num_parameters"]
        cell: dict[str, Any] = {}
        for label, per_task in by_label.items():
            mean, std = _mean_std(list(per_task.values()))
            cell[label] = {"final_mean": mean, "final_std": std, "n": len(per_task), "per_task": per_task,
                           "num_parameters": params[label]}
        for rule in args.width_selections:
            for method in ("learngene", "learngene_embed", "learngene_embed_lowlr", "default_path"):
                mine = by_label.get(f"{method}:{rule}", {})
                for reference in ("scratch", f"weight_selection:{rule}", f"weight_selection_lowlr:{rule}"):
                    theirs = by_label.get(reference, {})
                    shared = sorted(set(mine) & set(theirs))
                    if shared:
                        diffs = [mine[t] - theirs[t] for t in shared]
                        cell.setdefault("paired", {})[f"{method}:{rule} - {reference}"] = {
                            "mean": float(np.mean(diffs)), "wins": sum(d > 0 for d in diffs), "n": len(diffs),
                            "differences": diffs}
        cells[str(samples)] = cell
    family, experiment = args.family, summary_name(args.family)
    width = {k: (list(v) if isinstance(v, tuple) else v) for k, v in args.widths.items() if v is not None}
    data = {"experiment": experiment, "family": family, "profile": asdict(ctx.profile),
            "width": {**width, "num_random_layers": args.num_random_layers, "layout": args.layout},
            "learngene": {"folder": learngene_ref.name, "fingerprint": learngene_ref.fingerprint,
                          "layers": list(learngene_ref.layers)},
            "ancestry": portable_path(ctx.ancestry_path(family)), "ancestry_num_parameters":
                count_parameters(ctx.ancestry(family)),
            "planned": len(runs), "finished": len(records), "summary": cells, "versions": versions(),
            "created": _now()}
    lines = [f"# Width-reduced {FAMILIES[family]} descendants ({ctx.profile.name} profile)", "",
             (f"{describe_width(width)[:1].upper()}{describe_width(width)[1:]}; learngene "
             f"`{data['learngene']['folder']}` (ancestry layers {data['learngene']['layers']}); "
             f"{ctx.profile.epochs} epochs, {ctx.profile.n_way}-way tasks of classes 80-99 at "
             f"{ctx.image_size(family)} px; {len(records)}/{len(runs)} runs finished."), ""]
    for samples, cell in cells.items():
        lines += [f"## {samples} samples per class", "", "| method | final accuracy (%) | tasks | parameters |",
                  "|---|---|---|---|"]
        for label, value in cell.items():
            if label == "paired":
                continue
            method, _, rule = label.partition(":")
            name = method_label(method, family) + (f", `{rule}`" if rule else "")
            lines.append(f"| {name} | {_pct(value['final_mean'], value['final_std'])} | {value['n']} | "
                         f"{value['num_parameters']:,} |")
        for name, pair in cell.get("paired", {}).items():
            lines.append(f"\n{name}: {round(100 * pair['mean'], 2) + 0.0:+.2f} points ({pair['wins']}/{pair['n']} wins)")
        lines.append("")
    folder = ctx.profile_dir / experiment
    folder.mkdir(parents=True, exist_ok=True)
    plot = plot_results(cells, folder / "results.png", f"{FAMILIES[family]} descendants, {describe_width(width)}")
    if plot is not None:
        lines.append(f"![width-reduced descendants]({plot.name})")
    _write_json(folder / "results.json", data)
    (folder / "results.md").write_text("\n".join(lines) + "\n")
    data["files"] = {"json": str(folder / "results.json"), "md": str(folder / "results.md")}
    return data


def plot_results(cells: dict[str, dict[str, Any]], path: Path, title: str) -> Path | None:
    """Bars of the final accuracy (mean ± std over tasks) per method, one group per sample size."""
    groups = {samples: {k: v for k, v in cell.items() if k != "paired"} for samples, cell in cells.items()}
    labels = sorted({label for cell in groups.values() for label in cell})
    if not labels:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(groups) * len(labels) / 2, 3.6))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        xs = [g + i * width for g, cell in enumerate(groups.values()) if label in cell]
        values = [cell[label] for cell in groups.values() if label in cell]
        ax.bar(xs, [100 * v["final_mean"] for v in values], width,
               yerr=[100 * (0 if np.isnan(v["final_std"]) else v["final_std"]) for v in values], capsize=3,
               label=label.replace("_embed_lowlr", " + emb., lr x0.1").replace("_embed", " + emb.")
               .replace("_lowlr", ", lr x0.1")
               .replace("weight_selection", "Weight Selection").replace("learngene", "Learngene"))
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], [f"{s}/class" for s in groups])
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

