"""What the summaries of every experiment share: loading finished runs, the header of a summary, writing its
JSON / Markdown / PNG, learning curves, per-method cells, paired per-task differences and the cost side."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_learngene.experiments.training import epochs_to_reach

from .methods import ALL_METHODS, CONDENSE_METHOD, behaviour
from .runs import RunSpec, load_run
from .utils import _mean_std, _now, _write_json, portable_path, versions

if TYPE_CHECKING:
    from .context import Context


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
    entry = behaviour(method)
    if not records or entry.learngene is None or not entry.inherits_layers:
        return None
    if entry.draws:
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


