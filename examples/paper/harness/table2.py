"""Table 2 (final accuracy of the descendants per method) and Fig. 3 (their convergence): the same runs (Fig. 3
adds the finished Fig. 5 runs at the other sample sizes)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .methods import ALL_METHODS, METHOD_COLORS, METHOD_LABELS, RECIPE_METHODS, base_method
from .profiles import FAMILY_LABELS
from .runs import RunSpec, load_run, method_specs
from .summaries import _cost_side, _curves, _finish, _header, _method_cell, _paired, _plt, _summary_methods
from .utils import _pct

if TYPE_CHECKING:
    from .context import Context


def table2_specs(ctx: Context, family: str) -> list[RunSpec]:
    """Table 2 (and Fig. 3) runs: task by task, every method of :meth:`Context.methods_for` (Random-k: every draw)."""
    p = ctx.profile
    return [s for t in range(p.num_tasks) for m in ctx.methods_for(family)
            for s in method_specs(ctx, family, m, t, p.samples_per_class)]


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

