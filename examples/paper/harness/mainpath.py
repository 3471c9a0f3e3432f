"""The library's main path on the shared DINOv2, measured (issue "The learngene from the Hub is all a descendant needs").

The main path is ``from_learngene(<a learngene folder that carries Auto's layers and the ancestry's input embedding>)``
trained with ``DescendantTrainer`` and their defaults (method ``default_path``). It is measured with the Table 2
protocol (5-way tasks of classes 80-99, 100 images/class, 20 epochs) beside:

* the references already in the cache: From-Scratch, the paper's descendant (``auto``), ``auto_embed``,
  ``auto_embed_lowlr`` (the same recipe built by hand with the ancestry at hand) and the whole-ancestry fine-tunes;
* options toward the whole-ancestry fine-tune at <= 60 % of its parameters (:data:`VARIANTS`): the ancestry's final
  norm carried too, 7 layers instead of 6, 30 epochs instead of 20 (3 tasks each where 5 did not fit the CPU budget);
* smaller learngenes on the same path: 3 layers, and 1 layer (what the default ``1/L`` rule keeps on this ancestry).

Each variant is a :class:`~harness.context.Context` of the ``cpu`` profile with its own Auto learngene (6 or 7 layers)
and epochs, so its runs live in the same run cache under their own keys. :func:`summarize_mainpath` writes
``<output>/cpu/dinov2/mainpath.{json,md,png}`` (a parameters-vs-accuracy plot); ``examples/paper/main_path.py`` runs and
summarizes it in one command.

The same measurement on the home-trained ResNet-18 (``--family resnet``, :data:`RESNET_VARIANTS`): the learngene is the
one the harness condenses (Auto-Learngene, the Table 2 learngene), the input embedding is the ResNet stem, and the
variants are From-Scratch, the paper's descendant, the default path (the recorded inherited lr scale), the default path
at one learning rate (``default_path_lr1``: is the recorded scale right for a ResNet? The same descendant as the
paper's plus the ancestry's stem at one lr) and the whole ancestry fine-tuned (3 tasks: what the CPU allowed); summary
``<output>/cpu/mainpath.{json,md,png}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .context import Context
from .profiles import get_profile
from .runs import load_run, make_spec
from .summaries import _finish, _header, _plt
from .utils import _mean_std

FAMILY = "dinov2"
MAINPATH_FAMILIES = ("dinov2", "resnet")
SAMPLES = 100
#: The target of the issue: the whole-ancestry fine-tune's level at <= 60 % of its parameters.
TARGET_ACCURACY, TARGET_FRACTION = 0.89, 0.60


@dataclass(frozen=True)
class Variant:
    """One row of the measurement: a method of the harness, the size of the Auto learngene it is built on, epochs
    and the number of tasks (task seeds ``0..num_tasks-1``)."""

    name: str
    label: str
    method: str
    num_layers: int = 6
    epochs: int = 20
    num_tasks: int = 5
    reference: bool = False


#: The references (cached Table 2 runs) and the main path with its options.
VARIANTS = (
    Variant("scratch", "From-Scratch", "scratch", reference=True),
    Variant("auto", "Paper's descendant (layers only, one lr)", "auto", reference=True),
    Variant("auto_embed", "+ the ancestry's embedding, one lr (by hand)", "auto_embed", reference=True),
    Variant("auto_embed_lowlr", "+ embedding, inherited lr x0.1 (by hand, ancestry at hand)", "auto_embed_lowlr",
            reference=True),
    Variant("default_path", "Library default path (learngene folder alone)", "default_path"),
    Variant("default_path_norm", "Default path + the ancestry's final norm", "default_path_norm", num_tasks=3),
    Variant("default_path_k7", "Default path, 7 layers", "default_path", num_layers=7, num_tasks=3),
    Variant("default_path_30ep", "Default path, 30 epochs", "default_path", epochs=30, num_tasks=3),
    Variant("default_path_k3", "Default path, 3 layers", "default_path", num_layers=3, num_tasks=3),
    Variant("default_path_k1", "Default path, 1 layer (what the 1/L rule keeps)", "default_path", num_layers=1,
            num_tasks=3),
    Variant("finetune_ancestry_lowlr", "Whole ancestry, lr x0.1 (head x1)", "finetune_ancestry_lowlr", reference=True),
    Variant("finetune_ancestry", "Whole ancestry, one lr", "finetune_ancestry", reference=True),
)


#: The home-trained ResNet-18 (its Table 2 Auto learngene, condensed by the harness; the stem is its input embedding).
#: Every row is trained when missing (the references too: Table 2's runs are reused when the ancestry is the same).
RESNET_VARIANTS = (
    Variant("scratch", "From-Scratch", "scratch"),
    Variant("auto", "Paper's descendant (layers only, one lr)", "auto"),
    Variant("default_path", "Library default path (learngene folder alone)", "default_path"),
    Variant("default_path_lr1", "Default path at one learning rate (= the stem by hand, one lr)", "default_path_lr1"),
    Variant("finetune_ancestry_lowlr", "Whole ancestry, lr x0.1 (head x1)", "finetune_ancestry_lowlr", num_tasks=3),
    Variant("finetune_ancestry", "Whole ancestry, one lr", "finetune_ancestry", num_tasks=3),
)
FAMILY_VARIANTS = {"dinov2": VARIANTS, "resnet": RESNET_VARIANTS}


def variant_context(base: Context, variant: Variant, learngenes: dict[int, str | Path], family: str = FAMILY
                    ) -> Context:
    """The :class:`Context` of ``variant``: ``base``'s folders, the ``cpu`` profile, its Auto learngene (DINOv2:
    ``learngenes[num_layers]``, a precomputed folder cut by ``select_top_k.py``; ResNet: the harness's condensed one),
    epochs and tasks."""
    paths = {(family, "auto"): str(learngenes[variant.num_layers])} if family == "dinov2" else {}
    return Context(profile=get_profile("cpu"), output=base.output, work_dir=base.work_dir, dataset=base.dataset,
                   ancestries=dict(base.ancestries), progress=base.progress, methods=[variant.method],
                   num_tasks=variant.num_tasks, epochs=variant.epochs, learngene_paths=paths)


def variant_specs(ctx: Context, variant: Variant, family: str = FAMILY) -> list[Any]:
    return [make_spec(ctx, family, variant.method, task, SAMPLES) for task in range(variant.num_tasks)]


def _paired(mine: dict[int, float], theirs: dict[int, float]) -> dict[str, Any] | None:
    tasks = sorted(set(mine) & set(theirs))
    if not tasks:
        return None
    diffs = [mine[t] - theirs[t] for t in tasks]
    return {"tasks": tasks, "mean_difference": float(np.mean(diffs)), "max_abs_difference": float(np.max(np.abs(diffs))),
            "wins": int(sum(d > 0 for d in diffs)), "ties": int(sum(d == 0 for d in diffs))}


def summarize_mainpath(base: Context, learngenes: dict[int, str | Path], family: str = FAMILY) -> dict[str, Any]:
    """The table, findings and plot of the main-path measurement on ``family`` from the cached runs (variants without
    runs are listed as missing)."""
    rows: dict[str, dict[str, Any]] = {}
    per_task: dict[str, dict[int, float]] = {}
    ancestry_parameters = None
    for variant in FAMILY_VARIANTS[family]:
        ctx = variant_context(base, variant, learngenes, family)
        records = [r for r in (load_run(ctx, s) for s in variant_specs(ctx, variant, family)) if r is not None]
        if not records:
            rows[variant.name] = {"label": variant.label, "missing": True}
            continue
        accuracies = {int(r["spec"]["task_seed"]): float(r["result"]["final_accuracy"]) for r in records}
        mean, std = _mean_std(list(accuracies.values()))
        parameters = int(records[0]["result"]["num_parameters"])
        ancestry_parameters = ancestry_parameters or records[0].get("ancestry_num_parameters")
        per_task[variant.name] = accuracies
        rows[variant.name] = {
            "label": variant.label, "method": variant.method, "num_layers": None if "finetune" in variant.method
            else variant.num_layers if family == "dinov2" else len(records[0].get("learngene_layers") or []) or None,
            "epochs": variant.epochs, "tasks": sorted(accuracies), "mean": mean, "std": std,
            "per_task": {str(t): a for t, a in sorted(accuracies.items())}, "num_parameters": parameters,
            "train_time_s": float(np.mean([r["result"]["wall_time_s"] for r in records])),
            "keys": [r["key"] for r in records], "reference": variant.reference}
    for name, row in rows.items():
        if row.get("missing"):
            continue
        row["parameter_fraction"] = row["num_parameters"] / ancestry_parameters if ancestry_parameters else None
        for reference in ("auto_embed_lowlr", "finetune_ancestry_lowlr", "scratch", "auto", "default_path"):
            if name != reference and reference in per_task:
                row[f"vs_{reference}"] = _paired(per_task[name], per_task[reference])
    findings = _findings(rows) if family == "dinov2" else _resnet_findings(rows)
    data = {**_header(base, "mainpath", [family]), "rows": rows, "findings": findings,
            "ancestry_num_parameters": ancestry_parameters,
            "target": {"accuracy": TARGET_ACCURACY, "parameter_fraction": TARGET_FRACTION} if family == "dinov2"
            else None,
            "command": "python examples/paper/main_path.py" + ("" if family == "dinov2" else f" --family {family}")}
    return _finish(base, "mainpath", data, _markdown(rows, findings, family), _plot(rows, family))


def _resnet_findings(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What decides the ResNet families' defaults: the default path vs the paper's descendant and From-Scratch, and
    the recorded inherited lr scale vs one learning rate."""
    out: dict[str, Any] = {}
    default = rows.get("default_path", {})
    if default.get("missing"):
        return out
    for reference in ("scratch", "auto"):
        if default.get(f"vs_{reference}"):
            out[f"default_vs_{reference}"] = default[f"vs_{reference}"]
    lr1 = rows.get("default_path_lr1", {})
    if not lr1.get("missing") and lr1.get("vs_default_path"):
        out["lr1_vs_default"] = lr1["vs_default_path"]
    return out


def _findings(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    default, recipe = rows.get("default_path", {}), rows.get("auto_embed_lowlr", {})
    if not default.get("missing") and default.get("vs_auto_embed_lowlr"):
        paired = default["vs_auto_embed_lowlr"]
        out["default_vs_recipe"] = {**paired, "default": [default["mean"], default["std"]],
                                    "recipe": [recipe["mean"], recipe["std"]],
                                    "within_noise": abs(paired["mean_difference"]) <= recipe["std"]}
    options = [(name, row) for name, row in rows.items() if name.startswith("default_path") and not row.get("missing")
               and (row.get("parameter_fraction") or 1) <= TARGET_FRACTION]
    if options:
        name, best = max(options, key=lambda item: item[1]["mean"])
        out["best_option"] = {"name": name, "label": best["label"], "mean": best["mean"], "tasks": best["tasks"],
                              "parameter_fraction": best["parameter_fraction"],
                              "target_met": best["mean"] >= TARGET_ACCURACY}
    return out


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _markdown(rows: dict[str, dict[str, Any]], findings: dict[str, Any], family: str = FAMILY) -> str:
    if family != "dinov2":
        return _resnet_markdown(rows, findings)
    lines = ["# The library's main path on the shared DINOv2", "",
             ("5-way tasks of classes 80-99, 100 images/class, the `cpu` profile's training (AdamW, lr 2e-4, wd 0.05, "
              "cosine); paired differences on the tasks both rows have."), "",
             ("| | layers | epochs | parameters (of the ancestry) | tasks | accuracy (%) | vs `auto_embed_lowlr` | "
              "vs whole ancestry lr x0.1 | train time / run |"), "|---|---|---|---|---|---|---|---|---|"]

    for row in rows.values():
        if row.get("missing"):
            lines.append(f"| {row['label']} | | | | not run | | | | |")
            continue
        fraction = f" ({100 * row['parameter_fraction']:.0f} %)" if row.get("parameter_fraction") else ""
        lines.append(f"| {row['label']} | {row['num_layers'] or 'all'} | {row['epochs']} | "
                     f"{row['num_parameters'] / 1e6:.1f}M{fraction} | {len(row['tasks'])} | "
                     f"{_pct(row['mean'])} ± {_pct(row['std'])} | {_paired_cell(row, 'vs_auto_embed_lowlr')} | "
                     f"{_paired_cell(row, 'vs_finetune_ancestry_lowlr')} | {row['train_time_s']:.0f} s |")
    lines.append("")
    same = findings.get("default_vs_recipe")
    if same:
        lines.append(f"The default path, built from the saved learngene folder alone, vs the same recipe built by hand "
                     f"with the ancestry: {100 * same['mean_difference']:+.1f} points on {len(same['tasks'])} tasks "
                     f"(largest per-task difference {100 * same['max_abs_difference']:.1f}); "
                     f"{'within' if same['within_noise'] else 'outside'} the recipe's spread "
                     f"({_pct(same['recipe'][1])}).")
    best = findings.get("best_option")
    if best:
        lines.append(f"Best option at <= {100 * TARGET_FRACTION:.0f} % of the ancestry's parameters: {best['label']}, "
                     f"{_pct(best['mean'])} % on {len(best['tasks'])} tasks "
                     f"({100 * best['parameter_fraction']:.0f} % of the parameters); target >= "
                     f"{100 * TARGET_ACCURACY:.0f} %: {'met' if best['target_met'] else 'missed'}.")
    return "\n".join(lines) + "\n"


def _paired_cell(row: dict[str, Any], key: str) -> str:
    p = row.get(key)
    if not p:
        return "-"
    return f"{100 * p['mean_difference']:+.1f} ({p['wins']}/{len(p['tasks'])} won, {p['ties']} tied)"


def _resnet_markdown(rows: dict[str, dict[str, Any]], findings: dict[str, Any]) -> str:
    lines = ["# The library's main path on the home-trained ResNet-18", "",
             ("5-way tasks of classes 80-99, 100 images/class, 20 epochs, the `cpu` profile's ResNet training (SGD "
              "momentum 0.9, lr 0.05, wd 5e-4, cosine); the learngene is Auto-Learngene's, condensed as for Table 2 "
              "(the ancestry retrained with examples/paper/train_ancestries.sh: its fingerprint is in every run), its "
              "input embedding the ancestry's stem. Paired differences on the tasks both rows have. Command: "
              "`python examples/paper/main_path.py --family resnet`."), "",
             ("| | parameters (of the ancestry) | tasks | accuracy (%) | vs From-Scratch | vs paper's descendant | "
              "vs default path | train time / run |"), "|---|---|---|---|---|---|---|---|"]
    for row in rows.values():
        if row.get("missing"):
            lines.append(f"| {row['label']} | | not run | | | | | |")
            continue
        fraction = f" ({100 * row['parameter_fraction']:.0f} %)" if row.get("parameter_fraction") else ""
        lines.append(f"| {row['label']} | {row['num_parameters'] / 1e6:.2f}M{fraction} | {len(row['tasks'])} | "
                     f"{_pct(row['mean'])} ± {_pct(row['std'])} | {_paired_cell(row, 'vs_scratch')} | "
                     f"{_paired_cell(row, 'vs_auto')} | {_paired_cell(row, 'vs_default_path')} | "
                     f"{row['train_time_s']:.0f} s |")
    lines.append("")
    for key, text in (("default_vs_scratch", "Default path vs From-Scratch"),
                      ("default_vs_auto", "Default path vs the paper's descendant"),
                      ("lr1_vs_default", "One learning rate vs the recorded inherited lr scale (default path)")):
        p = findings.get(key)
        if p:
            lines.append(f"- {text}: {100 * p['mean_difference']:+.1f} points, {p['wins']}/{len(p['tasks'])} tasks won.")
    return "\n".join(lines) + "\n"


def _plot(rows: dict[str, dict[str, Any]], family: str = FAMILY) -> Any:
    plt = _plt()
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    for row in rows.values():
        if row.get("missing"):
            continue
        marker = "s" if row["reference"] else "o"
        axis.errorbar(row["num_parameters"] / 1e6, 100 * row["mean"], yerr=100 * row["std"], fmt=marker, capsize=3,
                      label=f"{row['label']} ({len(row['tasks'])} tasks)")
    if family == "dinov2":
        axis.axhline(100 * TARGET_ACCURACY, color="gray", linestyle=":", linewidth=1)
    axis.set_xlabel("parameters (M)")
    axis.set_ylabel("test accuracy (%)")
    name = "DINOv2 ViT-S/14" if family == "dinov2" else "Home-trained ResNet-18"
    axis.set_title(f"{name} descendants: parameters vs accuracy (5-way, 100/class)")
    axis.legend(fontsize=7, loc="lower right")
    axis.grid(alpha=0.3)
    return figure
