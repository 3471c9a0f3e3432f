#!/usr/bin/env python
"""Reproduce the Learngene paper's Table 2 and Figs. 3-5 (thin CLI over ``examples/paper/harness.py``).

Examples (from the repository root)::

    # seconds: tiny random ancestries + synthetic images (what tests/test_paper_harness.py runs)
    python examples/paper/run.py --experiment all --profile smoke      # -> outputs/paper/smoke-results/

    # est. ~2.5 h (budget 4 h) on a shared 2-core CPU; resumable: finished runs are cached in
    # examples/paper/results/runs/<hash>.json, a rerun skips them
    python examples/paper/run.py --experiment all --profile cpu --family both --num_threads 1

    # what is planned / cached, and an estimate of the remaining time from a few measured steps
    python examples/paper/run.py --experiment all --profile cpu --dry_run --estimate

    # the paper's settings, on a GPU
    python examples/paper/run.py --experiment all --profile paper

Outputs: ``<output>/<profile>/{table2,fig3,fig4,fig5}.{json,md,png}`` and the run cache ``<output>/runs/`` (one small
JSON per finished run, keyed by a hash of its configuration, plus ``condense-<key>.json`` per learngene); learngene
weights and Trainer scratch files go under ``--work_dir`` (``outputs/paper``, not committed).
Ancestries default to ``outputs/ancestry/vit`` and ``outputs/ancestry/resnet18`` (see examples/train_ancestry.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="all", choices=[*harness.EXPERIMENTS, "all"],
                        help="Which experiment (fig3 reuses the table2 runs).")
    parser.add_argument("--profile", default="smoke", choices=list(harness.PROFILES), help="Experiment sizes.")
    parser.add_argument("--family", default="both", choices=[*harness.FAMILIES, "both"])
    parser.add_argument("--dataset", default=None,
                        help="Local dataset folder or Hub id (default: shared mini-ImageNet).")
    parser.add_argument("--output", default=None,
                        help="Results folder (JSON/MD/PNG + runs/); default examples/paper/results, or "
                             "outputs/paper/smoke-results for the smoke profile.")
    parser.add_argument("--work_dir", default=str(harness.DEFAULT_WORK_DIR),
                        help="Folder for learngene weights and scratch files (not committed).")
    parser.add_argument("--ancestry_vit", default=None, help="ViT ancestry dir (default outputs/ancestry/vit).")
    parser.add_argument("--ancestry_resnet", default=None,
                        help="ResNet ancestry dir (default outputs/ancestry/resnet18).")
    parser.add_argument("--num_threads", type=int, default=1,
                        help="torch.set_num_threads (1 is fastest on a shared 2-core machine; 2 if it is yours).")
    parser.add_argument("--max_runs", type=int, default=None, help="Train at most this many new runs, then summarize.")
    parser.add_argument("--dry_run", action="store_true", help="Only list planned / cached runs.")
    parser.add_argument("--estimate", action="store_true",
                        help="Measure throughput for a few steps and estimate the remaining training time (condenses "
                             "the Auto-Learngene learngenes first when they are not cached: the runs reuse them).")
    parser.add_argument("--summarize_only", action="store_true", help="Write the summaries from cached runs only.")
    parser.add_argument("--no_progress", action="store_true", help="Disable progress bars.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO)
    torch.set_num_threads(args.num_threads)
    experiments = list(harness.EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    families = list(harness.FAMILIES) if args.family == "both" else [args.family]
    ancestries = {k: v for k, v in (("vit", args.ancestry_vit), ("resnet", args.ancestry_resnet)) if v}
    output = args.output or (harness.DEFAULT_WORK_DIR / "smoke-results" if args.profile == "smoke"
                             else harness.DEFAULT_OUTPUT)
    ctx = harness.Context(profile=harness.get_profile(args.profile), output=Path(output),
                          work_dir=Path(args.work_dir), dataset=args.dataset, ancestries=ancestries,
                          progress=not args.no_progress)
    out: dict = {}
    with harness.quiet_transformers():
        if args.dry_run or args.estimate:
            specs = harness.plan_runs(ctx, experiments, families)
            cached = [s for s in specs if harness.run_path(ctx, s).exists()]
            out["planned"], out["cached"] = len(specs), len(cached)
            print(f"{len(specs)} runs planned, {len(cached)} cached, {len(specs) - len(cached)} to train")
            if args.estimate:
                out["estimate"] = harness.estimate_runtime(ctx, experiments, families)
                print(json.dumps(out["estimate"], indent=1))
            return out
        if args.summarize_only:
            out = {e: harness.SUMMARIZERS[e](ctx, families) for e in experiments}
        else:
            out = harness.run_experiments(ctx, experiments, families, max_runs=args.max_runs,
                                          progress=not args.no_progress)
    for experiment, summary in out.items():
        files = summary.get("files", {})
        print(f"{experiment}: {files.get('md')}")
    return out


if __name__ == "__main__":
    main()
