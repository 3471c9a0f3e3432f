"""Fig. 4: hyperparameter sensitivity (final accuracy over the learning-rate x weight-decay grid)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .methods import METHOD_LABELS
from .profiles import FAMILY_LABELS
from .runs import RunSpec, method_specs
from .summaries import _finish, _header, _method_cell, _plt, _records
from .utils import _pct

if TYPE_CHECKING:
    from .context import Context


def fig4_specs(ctx: Context, family: str) -> list[RunSpec]:
    """Fig. 4 runs: the profile's lr x wd grid for its ``fig4_methods``."""
    p, hp = ctx.profile, ctx.profile.hparams[family]
    return [s for lr in hp.grid_learning_rates for wd in hp.grid_weight_decays
            for t in range(p.fig4_num_tasks) for m in p.fig4_methods
            for s in method_specs(ctx, family, m, t, p.fig4_samples_per_class, lr, wd)]



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

