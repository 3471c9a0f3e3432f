"""Fig. 5: final accuracy with fewer training samples per class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .methods import METHOD_COLORS, METHOD_LABELS
from .profiles import FAMILY_LABELS
from .runs import RunSpec, method_specs
from .summaries import _finish, _header, _method_cell, _plt, _records
from .utils import _mean_std, _pct

if TYPE_CHECKING:
    from .context import Context


def fig5_specs(ctx: Context, family: str) -> list[RunSpec]:
    """Fig. 5 runs: every sample size for the methods of :meth:`Context.fig5_methods`."""
    p = ctx.profile
    return [s for n in p.fig5_samples for t in range(p.fig5_num_tasks) for m in ctx.fig5_methods(family)
            for s in method_specs(ctx, family, m, t, n)]



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

