"""Which layers should a learngene keep? The selection methods compared on the shared DINOv2 (issue "Which layers").

Three parts, each cached so that a rerun does only what is missing:

1. **Selections** (:func:`selection`): every method's pick of ``k`` of the ancestry's layers on the condense classes
   (64-79) with a budget of images per class and a seed, and its wall time: the library's selection methods
   (``first_k``, ``evenly_spaced``, ``block_influence``, ``angular_block``, ``probe_greedy``) and Auto-Learngene
   (the committed scores' settings, the budget applied) condensed with :func:`hf_learngene.condense`; Heur-Learngene
   and Auto-Learngene on all images as committed (``examples/results/condense_dinov2/{heur,default5}``, top-k of
   their scores); Random-k (:func:`~harness.methods.random_layer_indices`, draws 0-2). Records:
   ``<output>/runs/select-dinov2-<method>-<hash>.json``.
2. **Budget** (:func:`budget_study`): the same selections at several images per class and seeds: how many images each
   data-reading method needs before its pick stops changing (the issue's data budget).
3. **Descendants** (:func:`descendant_specs`): each distinct layer set trained under the library's default path
   (``default_path``: the layers plus the carried input embedding, the recorded inherited lr scale) and/or the
   paper's recipe (``auto``: layers only, one learning rate) on the Table 2 protocol, as harness runs keyed by the
   learngene's content. A layer set equal to the top-k of the committed Auto scores uses the folder
   ``main_path.py`` / ``dinov2_proof.sh`` cut (``outputs/condense_dinov2/default5-top<k>``), so the committed runs of
   those learngenes are reused; any other set is cut with :meth:`LearngeneModel.from_ancestry` (layers only) into
   ``<work_dir>/which_layers/layers-<indices>``, one folder per set whichever methods picked it, so identical
   selections are trained once. Paper recipe + Random-k reuses the committed ``random_k`` runs.

:func:`summarize_which_layers` writes ``<output>/cpu/dinov2/which_layers.{json,md,png}``: per setting (k x recipe x
epochs), each method's layers, mean accuracy, paired difference and wins vs First-k, and wall time; the budget table.
``examples/paper/which_layers.py`` runs all of it in one command.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .context import Context
from .methods import random_layer_indices
from .profiles import REPO_ROOT
from .runs import RunSpec, claim_run, load_run, make_spec, method_specs
from .summaries import _finish, _header, _plt
from .utils import _hash, _mean_std, _now, _write_json

logger = logging.getLogger("paper_harness")

FAMILY = "dinov2"
#: The committed condense runs of the shared DINOv2 (all 8000 condense images) whose top-k the study reads.
COMMITTED_SCORES = {"auto": REPO_ROOT / "examples" / "results" / "condense_dinov2" / "default5",
                    "heur": REPO_ROOT / "examples" / "results" / "condense_dinov2" / "heur"}
#: Where main_path.py / dinov2_proof.sh cut the top-k folders of the committed Auto scores (their runs are committed).
AUTO_TOPK_FOLDER = REPO_ROOT / "outputs" / "condense_dinov2" / "default5-top{k}"
#: Methods that condense with the library (selection methods and Auto-Learngene with a budget).
CONDENSED = ("first_k", "evenly_spaced", "block_influence", "angular_block", "probe_greedy", "auto")
#: Methods that read no images (their pick does not depend on the budget or the seed).
DATA_FREE = ("first_k", "evenly_spaced")
#: Every method of the comparison, in table order (``auto@all`` / ``heur@all``: the committed full-data scores).
METHODS = ("first_k", "evenly_spaced", "block_influence", "angular_block", "probe_greedy", "auto", "auto@all",
           "heur@all", "random_k")
LABELS = {"first_k": "First-k", "evenly_spaced": "Evenly spaced", "block_influence": "Block influence (ShortGPT)",
          "angular_block": "Angular block (Gromov et al.)", "probe_greedy": "Probe greedy (after SLEB)",
          "auto": "Auto-Learngene (budget)", "auto@all": "Auto-Learngene (all 8000 images, committed)",
          "heur@all": "Heur-Learngene (all 8000 images, committed)", "random_k": "Random-k (seeded draws)"}
#: Random-k draws: all three on every task under the paper's recipe (the committed Table 2 runs), one per task (draw =
#: task seed) under the default path.
RANDOM_DRAWS = (0, 1, 2)
#: Training recipes: the harness method each one trains a learngene with.
RECIPES = {"default_path": "default_path", "paper": "auto"}
RECIPE_LABELS = {"default_path": "default path (layers + carried embedding, inherited lr scale)",
                 "paper": "paper's recipe (layers only, one lr)"}


@dataclass(frozen=True)
class Setting:
    """One cell group of the comparison: ``k`` layers, a recipe, epochs and tasks (seeds ``0..num_tasks-1``)."""

    k: int
    recipe: str
    epochs: int = 20
    num_tasks: int = 3

    @property
    def name(self) -> str:
        return f"k{self.k}-{self.recipe}-{self.epochs}ep"


#: The default comparison, what the 2-core CPU allowed: k = 3 under the default path on 3 tasks (every method's
#: layers trained), k = 6 under the paper's recipe on 5 tasks (the committed Table 2 runs: Auto = Heur = First-k,
#: Random-k; the other methods' k = 6 picks are listed, their descendants not trained). Not run: k = 6 under the
#: default path for any method but First-k (85.7 %, 5 tasks), ~9 CPU-minutes per run.
SETTINGS = (Setting(3, "default_path"), Setting(6, "paper", num_tasks=5))
#: Images per class of the budget study and its seeds (probe_greedy, the slowest, on the first sizes only).
BUDGETS = (5, 20, 50)
BUDGET_SEEDS = (0, 1, 2)
PROBE_BUDGETS = (5, 20)
#: Auto-Learngene condenses (1 epoch x 5 repeats of the committed settings): the budgets that fit the CPU.
AUTO_BUDGETS = (5, 20)
#: The budget of the comparison's selections (images per class of the condense classes) and its seed.
DEFAULT_BUDGET = 20


# --------------------------------------------------------------------------------------------------
# Selections
# --------------------------------------------------------------------------------------------------
def _auto_settings() -> dict[str, Any]:
    """The committed Auto run's condense settings (objective, meta learning rate, repeats...), minus the local ones."""
    settings = json.loads((COMMITTED_SCORES["auto"] / "condense_config.json").read_text())
    for local in ("checkpoint_dir", "progress", "resume", "log_with", "extra"):
        settings.pop(local, None)
    return settings


def selection_config(method: str, k: int, per_class: int | None, seed: int) -> dict[str, Any]:
    """What determines a selection (its cache key): the method, k, images per class, the seed and the settings."""
    config: dict[str, Any] = {"method": method, "k": k, "per_class": None if method in DATA_FREE else per_class,
                              "seed": 0 if method in DATA_FREE else seed}
    if method == "auto":
        config["settings"] = _auto_settings()
        config["k"] = None  # Auto's scores do not depend on k: one condense gives every size
    return config


def _selection_path(ctx: Context, config: dict[str, Any]) -> Path:
    return ctx.runs_dir / f"select-{FAMILY}-{config['method'].replace('@', '-')}-{_hash(config, 12)}.json"


def _num_layers(ctx: Context) -> int:
    """The ancestry's number of integral layers (12 for the shared DINOv2)."""
    return int(ctx.ancestry(FAMILY).config.num_hidden_layers)


def _committed_topk(method: str, k: int) -> dict[str, Any]:
    from hf_learngene.condensation import select_layers

    scores = json.loads((COMMITTED_SCORES[method.split("@")[0]] / "scores.json").read_text())
    return {"layers": select_layers(scores["layer_scores"], num_layers=k), "wall_time_s": scores["wall_time"],
            "layer_scores": scores["layer_scores"], "images": scores["data"]["num_images"],
            "source": f"examples/results/condense_dinov2/{COMMITTED_SCORES[method.split('@')[0]].name}/scores.json"}


def selection(ctx: Context, method: str, k: int, per_class: int | None = DEFAULT_BUDGET, seed: int = 0,
              draw: int = 0, compute: bool = True) -> dict[str, Any] | None:
    """The pick of ``method`` for ``k`` layers: ``{"layers", "wall_time_s", ...}``; condensed (and cached) for
    :data:`CONDENSED` methods, read for the committed and Random-k ones. ``compute=False``: ``None`` if not cached."""
    if method in ("auto@all", "heur@all"):
        return _committed_topk(method, k)
    if method == "random_k":
        return {"layers": random_layer_indices(_num_layers(ctx), k, draw), "wall_time_s": 0.0, "draw": draw}
    config = selection_config(method, k, per_class, seed)
    path = _selection_path(ctx, config)
    if path.exists():
        record = json.loads(path.read_text())
    elif not compute:
        return None
    else:
        record = _condense_selection(ctx, method, k, config)
        _write_json(path, record)
    if method == "auto":  # one condense for every k: cut the top-k of its scores
        from hf_learngene.condensation import select_layers

        record = {**record, "layers": select_layers(record["layer_scores"], num_layers=k)}
    return record


def _condense_selection(ctx: Context, method: str, k: int, config: dict[str, Any]) -> dict[str, Any]:
    from hf_learngene import condense
    from hf_learngene.condensation.methods import get_condense_method
    from hf_learngene.data import format_class_spec
    from hf_learngene.experiments import MINI_IMAGENET_SPLIT

    num_classes = len(MINI_IMAGENET_SPLIT.condense)
    config_class = get_condense_method(method).config_class
    # the budget is config["per_class"] through max_images (a total, split per class), as the first selections were
    # made; the library's own per-class default budget is switched off so that it never applies on top
    fields: dict[str, Any] = {"method": method, "image_size": ctx.image_size(FAMILY), "seed": config["seed"],
                              "include_embeddings": False, "progress": False, "max_images_per_class": None}
    if method == "auto":
        fields.update({k_: v for k_, v in config["settings"].items() if k_ in config_class.__dataclass_fields__})
        fields.update(checkpoint_dir=str(ctx.work_dir / "which_layers" / "auto-checkpoints" /
                                         _hash(config, 12)), seed=config["seed"], progress=False)
    else:
        fields["num_layers"] = k
    if config["per_class"] is not None:
        fields["max_images"] = config["per_class"] * num_classes
    dataset = None if method in DATA_FREE else ctx.raw
    logger.info("Selecting: %s k=%s %s/class seed %s", method, config["k"], config["per_class"], config["seed"])
    start = time.perf_counter()
    result = condense(str(ctx.ancestry_path(FAMILY)), dataset, config_class(**fields),
                      classes=None if dataset is None else format_class_spec(MINI_IMAGENET_SPLIT.condense))
    wall = time.perf_counter() - start
    return {"config": config, "layers": [int(i) for i in result.selected_layers],
            "layer_scores": [float(x) for x in result.layer_scores], "wall_time_s": wall,
            "method_wall_time_s": float(result.wall_time), "images": (result.data or {}).get("num_images"),
            "created": _now()}


# --------------------------------------------------------------------------------------------------
# Budget study
# --------------------------------------------------------------------------------------------------
def _budgets(method: str) -> tuple[int, ...]:
    return {"probe_greedy": PROBE_BUDGETS, "auto": AUTO_BUDGETS}.get(method, BUDGETS)


def budget_plan(ks: Sequence[int] = (3, 6)) -> list[tuple[str, int, int, int]]:
    """``(method, k, images per class, seed)`` of the budget study (Auto once for every k)."""
    plan = []
    for method in ("block_influence", "angular_block", "probe_greedy", "auto"):
        budgets = _budgets(method)
        for k in (ks[:1] if method in ("auto", "probe_greedy") else ks):  # Auto: one condense for every k
            plan += [(method, k, n, s) for n in budgets for s in BUDGET_SEEDS]
    return plan


def budget_study(ctx: Context, ks: Sequence[int] = (3, 6), compute: bool = True) -> dict[str, Any]:
    """Per method, k and budget: the picks of the seeds, how many agree with the pick at the largest budget, the
    mean Jaccard overlap with it, and the mean wall time."""
    out: dict[str, Any] = {}
    for method in ("block_influence", "angular_block", "probe_greedy", "auto"):
        budgets = _budgets(method)
        for k in ks:
            rows = {}
            for n in budgets:
                records = [selection(ctx, method, k, n, s, compute=compute) for s in BUDGET_SEEDS]
                records = [r for r in records if r is not None]
                if records:
                    rows[n] = {"picks": [r["layers"] for r in records],
                               "wall_time_s": float(np.mean([r["wall_time_s"] for r in records]))}
            if not rows:
                continue
            reference = rows[max(rows)]["picks"]
            ref = max(set(map(tuple, reference)), key=lambda p: reference.count(list(p)))  # the majority pick
            for row in rows.values():
                row["agree_with_largest"] = sum(tuple(p) == ref for p in row["picks"])
                row["jaccard_to_largest"] = float(np.mean([len(set(p) & set(ref)) / len(set(p) | set(ref))
                                                           for p in row["picks"]]))
            out[f"{method}/k{k}"] = {"method": method, "k": k, "reference": list(ref), "reference_budget": max(rows),
                                     "by_budget": {str(n): row for n, row in rows.items()}}
    return out


# --------------------------------------------------------------------------------------------------
# Descendants
# --------------------------------------------------------------------------------------------------
def learngene_folder(ctx: Context, layers: Sequence[int]) -> Path:
    """The layers-only learngene folder of ``layers``: the committed Auto top-k cut when it holds them, else one cut
    from the ancestry (once per layer set)."""
    from hf_learngene import LearngeneModel

    k = len(layers)
    auto_top = _committed_topk("auto@all", k)["layers"]
    if list(layers) == list(auto_top):
        folder = Path(str(AUTO_TOPK_FOLDER).format(k=k))
        if not (folder / "config.json").exists():
            import subprocess
            import sys

            subprocess.run([sys.executable, str(REPO_ROOT / "examples" / "paper" / "select_top_k.py"), "--scores",
                            str(COMMITTED_SCORES["auto"]), "--ancestry", str(ctx.ancestry_path(FAMILY)),
                            "--num-layers", str(k), "--output", str(folder)], check=True)
        return folder
    folder = ctx.work_dir / "which_layers" / ("layers-" + "-".join(map(str, layers)))
    if not (folder / "config.json").exists():
        with claim_run(folder / "config.json", wait=True) as mine:
            if mine:
                LearngeneModel.from_ancestry(str(ctx.ancestry_path(FAMILY)), list(layers),
                                             include_embeddings=False).save_pretrained(folder)
    return folder


def setting_context(base: Context, setting: Setting, folder: Path, method: str | None = None) -> Context:
    """The :class:`Context` whose Auto learngene is ``folder`` (``base``'s profile with the setting's epochs and tasks;
    ``method``: the harness method it trains, default the setting's recipe's)."""
    return Context(profile=base.profile, output=base.output, work_dir=base.work_dir, dataset=base.dataset,
                   ancestries=dict(base.ancestries), progress=base.progress,
                   methods=[method or RECIPES[setting.recipe]],
                   num_tasks=setting.num_tasks, epochs=setting.epochs,
                   learngene_paths={(FAMILY, "auto"): str(folder)})


@dataclass
class Cell:
    """The runs of one method in one setting: its layer sets (one, or one per Random-k draw) and run specs."""

    method: str
    setting: Setting
    layers: list[list[int]]
    specs: list[tuple[Context, RunSpec]]


def method_cell(base: Context, setting: Setting, method: str, compute: bool = True) -> Cell | None:
    """The :class:`Cell` of ``method`` in ``setting`` (``None`` when its selection is not cached and
    ``compute=False``)."""
    specs: list[tuple[Context, RunSpec]] = []
    if method == "random_k" and setting.recipe == "paper":  # the committed random_k runs: 3 draws on every task
        layer_sets = [selection(base, method, setting.k, draw=d)["layers"] for d in RANDOM_DRAWS]
        folder = learngene_folder(base, _committed_topk("auto@all", setting.k)["layers"])
        ctx = setting_context(base, setting, folder, "random_k")
        specs = [(ctx, s) for t in range(setting.num_tasks) for s in method_specs(ctx, FAMILY, "random_k", t, ctx.profile.samples_per_class)]
        return Cell(method, setting, layer_sets, specs)
    if method == "random_k":  # one draw per task (draw = task seed), so the tasks see distinct draws
        per_task = {t: selection(base, method, setting.k, draw=t)["layers"] for t in range(setting.num_tasks)}
    else:
        pick = selection(base, method, setting.k, compute=compute)
        if pick is None:
            return None
        per_task = {t: pick["layers"] for t in range(setting.num_tasks)}
    layer_sets = [list(x) for x in dict.fromkeys(tuple(v) for v in per_task.values())]
    for t, layers in per_task.items():
        ctx = setting_context(base, setting, learngene_folder(base, layers))
        specs.append((ctx, make_spec(ctx, FAMILY, RECIPES[setting.recipe], t, ctx.profile.samples_per_class)))
    return Cell(method, setting, layer_sets, specs)


def plan(base: Context, settings: Sequence[Setting], methods: Sequence[str] = METHODS,
         compute: bool = True) -> list[Cell]:
    """Every cell of the comparison (selections computed when missing unless ``compute=False``)."""
    cells = []
    for setting in settings:
        for method in methods:
            cell = method_cell(base, setting, method, compute=compute)
            if cell is not None:
                cells.append(cell)
    return cells


def unique_runs(cells: Sequence[Cell]) -> list[tuple[Context, RunSpec]]:
    """The distinct runs of ``cells`` (identical selections share runs), in plan order."""
    seen: dict[str, tuple[Context, RunSpec]] = {}
    for cell in cells:
        for ctx, spec in cell.specs:
            seen.setdefault(spec.key, (ctx, spec))
    return list(seen.values())


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------
def _task_accuracy(cell: Cell) -> dict[int, float]:
    """Per task, the cell's accuracy (Random-k: the mean over its draws); tasks with a missing run are left out."""
    by_task: dict[int, list[float]] = {}
    missing: set[int] = set()
    for ctx, spec in cell.specs:
        record = load_run(ctx, spec)
        if record is None:
            missing.add(spec.task_seed)
        else:
            by_task.setdefault(spec.task_seed, []).append(float(record["result"]["final_accuracy"]))
    return {t: float(np.mean(v)) for t, v in sorted(by_task.items()) if t not in missing}


def summarize_which_layers(base: Context, settings: Sequence[Setting] = SETTINGS,
                           methods: Sequence[str] = METHODS, budget: bool = True) -> dict[str, Any]:
    """The comparison table (per setting: layers, accuracy, paired difference vs First-k, wins, wall time) and the
    budget study, from cached selections and runs only."""
    cells = plan(base, settings, methods, compute=False)
    table: dict[str, Any] = {}
    for setting in settings:
        rows: dict[str, Any] = {}
        mine = [c for c in cells if c.setting == setting]
        reference = next((c for c in mine if c.method == "first_k"), None)
        ref_acc = _task_accuracy(reference) if reference else {}
        for cell in mine:
            acc = _task_accuracy(cell)
            pick = (selection(base, cell.method, setting.k, compute=False) if cell.method != "random_k" else None)
            row: dict[str, Any] = {"label": LABELS[cell.method], "layers": cell.layers, "tasks": sorted(acc),
                                   "wall_time_s": None if pick is None else float(pick["wall_time_s"])}
            if acc:
                row["mean"], row["std"] = _mean_std(list(acc.values()))
                row["per_task"] = {str(t): a for t, a in acc.items()}
                common = sorted(set(acc) & set(ref_acc))
                if common and cell.method != "first_k":
                    diffs = [acc[t] - ref_acc[t] for t in common]
                    row["vs_first_k"] = {"tasks": common, "mean_difference": float(np.mean(diffs)),
                                         "wins": int(sum(d > 0 for d in diffs)),
                                         "ties": int(sum(d == 0 for d in diffs)),
                                         "same_layers": cell.layers == (reference.layers if reference else None)}
            rows[cell.method] = row
        table[setting.name] = {"setting": asdict(setting), "recipe_label": RECIPE_LABELS[setting.recipe],
                               "rows": rows}
    budget_rows = budget_study(base, compute=False) if budget else {}
    findings = _findings(table)
    data = {**_header(base, "which_layers", [FAMILY]), "table": table, "budget": budget_rows,
            "findings": findings, "default_budget_per_class": DEFAULT_BUDGET,
            "command": "python examples/paper/which_layers.py"}
    return _finish(base, "which_layers", data, _markdown(table, budget_rows, findings), _plot(table))


def _findings(table: dict[str, Any]) -> dict[str, Any]:
    """Per setting, the methods that beat First-k by >= 2 points with >= 4/5 (or all of 3) paired wins."""
    out: dict[str, Any] = {}
    for name, group in table.items():
        winners = []
        for method, row in group["rows"].items():
            paired = row.get("vs_first_k")
            if not paired or paired["same_layers"]:
                continue
            n = len(paired["tasks"])
            needed = 4 if n >= 5 else n
            if paired["mean_difference"] >= 0.02 and paired["wins"] >= needed:
                winners.append(method)
        out[name] = {"beats_first_k": winners}
    return out


def _markdown(table: dict[str, Any], budget_rows: dict[str, Any], findings: dict[str, Any]) -> str:
    lines = ["# Which layers? Selection methods on the shared DINOv2", "",
             ("5-way tasks of classes 80-99, 100 images/class, the `cpu` profile's training; selections on the condense "
              f"classes 64-79 with {DEFAULT_BUDGET} images/class, seed 0 (Auto / Heur `@all`: the committed runs on all "
              "8000 images). Paired differences vs First-k on the same tasks; identical layer sets are trained once. "
              "Command: `python examples/paper/which_layers.py`."), ""]
    for group in table.values():
        s = group["setting"]
        lines += [f"## k = {s['k']}, {group['recipe_label']}, {s['epochs']} epochs", "",
                  "| method | layers | tasks | accuracy (%) | vs First-k (points, wins) | selection wall time |",
                  "|---|---|---|---|---|---|"]
        for row in group["rows"].values():
            layers = "; ".join(str(x) for x in row["layers"])
            if "mean" not in row:
                lines.append(f"| {row['label']} | {layers} | not run | | | |")
                continue
            p = row.get("vs_first_k")
            vs = "-" if not p else (f"{100 * p['mean_difference']:+.1f} ({p['wins']}/{len(p['tasks'])} won"
                                    f"{', same layers' if p['same_layers'] else ''})")
            wall = "-" if row["wall_time_s"] is None else f"{row['wall_time_s']:.0f} s"
            lines.append(f"| {row['label']} | {layers} | {len(row['tasks'])} | {100 * row['mean']:.1f} ± "
                         f"{100 * row['std']:.1f} | {vs} | {wall} |")
        lines.append("")
    lines += ["Beats First-k by >= 2 points with >= 4/5 paired wins (all wins on 3 tasks): " + "; ".join(
        f"{name}: {', '.join(f['beats_first_k']) or 'none'}" for name, f in findings.items()), ""]
    if budget_rows:
        lines += ["## How many condense images a selection needs", "",
                  ("Picks of 3 seeds (different images) per budget; `agree`: seeds whose pick equals the majority pick "
                   "at the largest budget; Jaccard: mean overlap with it."), "",
                  "| method | k | images/class | picks | agree | Jaccard | wall time / pick |", "|---|---|---|---|---|---|---|"]
        for entry in budget_rows.values():
            for n, row in entry["by_budget"].items():
                picks = "; ".join(str(p) for p in row["picks"])
                lines.append(f"| {LABELS[entry['method']]} | {entry['k']} | {n} | {picks} | "
                             f"{row['agree_with_largest']}/{len(row['picks'])} | {row['jaccard_to_largest']:.2f} | "
                             f"{row['wall_time_s']:.0f} s |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _plot(table: dict[str, Any]) -> Any:
    plt = _plt()
    groups = list(table.values())
    figure, axes = plt.subplots(1, max(1, len(groups)), figsize=(5 * max(1, len(groups)), 4.2), squeeze=False)
    for axis, group in zip(axes[0], groups):
        rows = [(r["label"], r) for r in group["rows"].values() if "mean" in r]
        axis.barh([label for label, _ in rows], [100 * r["mean"] for _, r in rows],
                  xerr=[100 * r["std"] for _, r in rows], color="tab:blue", alpha=0.7)
        s = group["setting"]
        axis.set_title(f"k={s['k']}, {s['recipe']}, {s['epochs']} ep", fontsize=9)
        axis.set_xlabel("test accuracy (%)")
        axis.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    return figure


__all__ = ["SETTINGS", "Setting", "budget_plan", "budget_study", "learngene_folder", "plan", "selection",
           "summarize_which_layers", "unique_runs"]
