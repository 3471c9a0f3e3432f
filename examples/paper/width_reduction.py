#!/usr/bin/env python
"""Narrower descendants (issue "Descendants of any size"): learngene vs From-Scratch vs Weight Selection at one
reduced width, for the real DINOv2 or a home-trained ResNet / ViT ancestry (the family is the learngene's).

Three ways to initialise a width-reduced descendant (default: half the ancestry's widths, i.e. for the DINOv2 ViT-S/14
width 192, 3 heads, MLP 768, about 1/4 of the parameters per layer; for a ResNet every stage and the stem at half
width), trained on the harness's seeded 5-way tasks of mini-ImageNet classes 80-99 with the harness's recipe for the
family (``examples/paper/harness/``, profile ``cpu``; the runs and summary: ``harness/widths.py``):

* ``learngene``: ``from_learngene(--learngene, hidden_size=..., width_selection=...)``, the learngene's layers
  element-selected (one run per ``--width_selections`` rule);
* ``scratch``: ``scratch_descendant_like(...)``, the same architecture, all weights fresh;
* ``weight_selection``: :func:`hf_learngene.weight_selection.weight_selection_descendant`, the ancestry's lowest k
  layers (k = the learngene's size) and its embeddings, element-selected with the same rule (Xu et al., ICLR 2024);
  for a ResNet the first blocks of every stage, as many as the learngene descendant has there (``depths=``), so both
  have the same architecture;
* recipe options beyond the paper (``--methods``, opt-in): ``learngene_embed`` (the learngene descendant plus the
  ancestry's input embedding, element-selected with the layers' channels), ``learngene_embed_lowlr`` (the same, every
  inherited weight at 0.1 x the learning rate) and ``weight_selection_lowlr`` (Weight Selection trained that way).

Resumable: every run is cached as ``<output>/runs/<family>_width-<method>-<hash>.json`` (hash of its full
configuration), a rerun skips finished runs. The summary goes to ``<output>/<profile>/<family>_width/{results.json,
results.md,results.png}``. Examples (from the repository root)::

    python examples/paper/width_reduction.py --learngene outputs/condense_dinov2/default5-top6 \\
        --num_tasks 5 --samples_per_class 100,20 --epochs 20 --num_threads 1
    # the home-trained ResNet-18 (examples/paper/train_ancestries.sh) at half width, its Auto learngene
    python examples/paper/width_reduction.py --learngene outputs/paper/learngenes/resnet-auto-<key> \\
        --hidden_sizes 16,32,64,128 --embedding_size 16 --num_tasks 5 --samples_per_class 100,20

``--profile smoke`` runs on the harness's tiny random ancestries and synthetic images (``tests/test_paper_harness.py``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import harness  # the package beside this script (examples/paper/harness/)
import torch
from harness.widths import (
    ALL_METHODS,
    FAMILIES,
    METHODS,
    RECIPE_METHODS,
    LearngeneRef,
    default_widths,
    plan_runs,
    run_one,
    run_path,
    summarize,
)

from hf_learngene import LearngeneModel
from hf_learngene.sizing import available_width_selections

logger = logging.getLogger("width_reduction")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def ints(value: str) -> list[int]:
        return [int(v) for v in value.split(",")]

    def names(choices: tuple[str, ...]):
        def parse(value: str) -> tuple[str, ...]:
            items = tuple(v.strip() for v in value.split(",") if v.strip())
            unknown = [v for v in items if v not in choices]
            if unknown or not items:
                raise argparse.ArgumentTypeError(f"unknown {unknown or '(none)'}; choose from {', '.join(choices)}")
            return items
        return parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learngene", required=True,
                        help="the learngene folder (e.g. a top-6 learngene), or `auto`: the harness's Auto-Learngene "
                             "of --family, condensed with the profile's settings or reused from its cache")
    parser.add_argument("--family", default=None, choices=list(FAMILIES),
                        help="with --learngene auto: whose Auto-Learngene (otherwise the learngene's family)")
    parser.add_argument("--profile", default="cpu", choices=list(harness.PROFILES), help="harness profile")
    parser.add_argument("--methods", type=names(ALL_METHODS), default=METHODS,
                        help="comma-separated methods (default: the paper's recipe; recipe options beyond the paper: "
                        f"{', '.join(RECIPE_METHODS)})")
    parser.add_argument("--width_selections", type=names(available_width_selections()), default=("uniform",),
                        help="element selection rules of the learngene and Weight Selection runs, e.g. "
                             "uniform,heads,magnitude")
    parser.add_argument("--hidden_size", type=int, default=None,
                        help="ViT / DINOv2 descendant width (default: half the ancestry's, 192 for the ViT-S/14)")
    parser.add_argument("--num_attention_heads", type=int, default=None,
                        help="heads (default: the ancestry's head dimension kept when it divides the width)")
    parser.add_argument("--intermediate_size", type=int, default=None,
                        help="MLP width (default: the ancestry's MLP ratio to the width)")
    parser.add_argument("--hidden_sizes", type=ints, default=None,
                        help="ResNet: comma-separated stage widths (default: half the ancestry's)")
    parser.add_argument("--embedding_size", type=int, default=None, help="ResNet: stem width (default: half)")
    parser.add_argument("--num_random_layers", type=int, default=0,
                        help="ViT / DINOv2: fresh layers beside the inherited ones; ResNet: fresh blocks of a stage "
                             "without inherited ones (0 = the default, 1)")
    parser.add_argument("--layout", default="after", choices=["after", "before", "interleave"])
    parser.add_argument("--num_tasks", type=int, default=None, help="tasks (default: the profile's)")
    parser.add_argument("--samples_per_class", type=ints, default=None,
                        help="comma-separated training images per class (default: the profile's)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the profile's)")
    parser.add_argument("--dataset", default=None, help="dataset folder or Hub id (default: shared mini-ImageNet)")
    parser.add_argument("--ancestry", default=None,
                        help="the ancestry the learngene was condensed from (default: the harness's for its family)")
    parser.add_argument("--output", default=None, help="results folder (default examples/paper/results, smoke: "
                                                       "outputs/paper/smoke-results)")
    parser.add_argument("--work_dir", default=str(harness.DEFAULT_WORK_DIR), help="scratch folder (not committed)")
    parser.add_argument("--num_threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--max_runs", type=int, default=None, help="train at most this many new runs, then summarize")
    parser.add_argument("--dry_run", action="store_true", help="list the planned runs only")
    parser.add_argument("--summarize_only", action="store_true",
                        help="train nothing; summarize every cached run of these settings (all methods and width "
                        "rules, the given sample sizes)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO)
    torch.set_num_threads(args.num_threads)
    output = args.output or (harness.DEFAULT_WORK_DIR / "smoke-results" if args.profile == "smoke"
                             else harness.DEFAULT_OUTPUT)
    if args.learngene == "auto":
        if args.family is None:
            raise SystemExit("--learngene auto needs --family (dinov2, vit or resnet): whose Auto-Learngene to use.")
    else:
        learngene = LearngeneModel.from_pretrained(args.learngene)
        if args.family not in (None, learngene.config.family):
            raise SystemExit(f"{args.learngene} is a {learngene.config.family!r} learngene, not {args.family!r}: "
                             "drop --family (it is read from the learngene) or pass another learngene.")
        args.family = learngene.config.family
        if args.family not in FAMILIES:
            raise SystemExit(f"{args.learngene} is a {args.family!r} learngene; this experiment takes "
                             f"{', '.join(FAMILIES)} learngenes (the harness's families).")
    ctx = harness.Context(profile=harness.get_profile(args.profile), output=Path(output),
                          work_dir=Path(args.work_dir), dataset=args.dataset,
                          ancestries={args.family: args.ancestry} if args.ancestry else {}, progress=False,
                          num_tasks=args.num_tasks, epochs=args.epochs)
    if args.learngene == "auto":  # condensed once by the harness (or taken from its cache), saved in the work dir
        if (args.dry_run or args.summarize_only) and ctx.condense_meta(args.family, "auto") is None:
            raise SystemExit(f"The {FAMILIES[args.family]} Auto-Learngene is not condensed yet (no "
                             f"{ctx.runs_dir / ('condense-' + ctx.learngene_key(args.family, 'auto'))}.json): run "
                             "without --dry_run / --summarize_only to condense it, or pass a learngene folder.")
        key = ctx.learngene_key(args.family, "auto")
        if not (args.dry_run or args.summarize_only):
            with harness.quiet_transformers():
                learngene = ctx.learngene(args.family, "auto")
        # keyed by the condense settings (ancestry weights included), not the folder: a re-condense keeps the keys
        ref = LearngeneRef(name=key, fingerprint=key, layers=list(ctx.condense_meta(args.family, "auto")[
            "selected_layers"]))
        logger.info("The harness's Auto-Learngene of %s: layers %s (%s)", args.family, ref.layers,
                    ctx.work_dir / "learngenes" / key)
    else:
        folder = Path(args.learngene)
        ref = LearngeneRef(name=folder.resolve().name, fingerprint=harness.learngene_fingerprint(folder),
                           layers=list(learngene.config.layer_indices))
    args.samples_per_class = args.samples_per_class or [ctx.profile.samples_per_class]
    args.widths = default_widths(args.family, ctx.ancestry(args.family).config, args)
    if args.summarize_only:  # whatever was trained with these settings, by any --methods / --width_selections
        args.methods, args.width_selections = ALL_METHODS, available_width_selections()
        planned = plan_runs(ctx, ref, args)
        cached = [r for r in planned if run_path(ctx, r).exists()]
        if not cached:
            raise SystemExit("No cached runs of these settings (--learngene, --epochs, --num_tasks, --samples_per_class, "
                             f"the width) under {ctx.runs_dir}: nothing to summarize (the summary files are left as "
                             "they are).")
        # planned: every (sample size, method, rule) with a cached run, on every task
        seen = {(r.samples_per_class, r.label) for r in cached}
        runs = [r for r in planned if (r.samples_per_class, r.label) in seen]
        args.width_selections = tuple(dict.fromkeys(r.width_selection for r in cached if r.width_selection))
        summary = summarize(ctx, runs, ref, args)
        print(f"summary of {len(cached)} cached runs ({len(runs)} planned): {summary['files']['md']}")
        return summary
    runs = plan_runs(ctx, ref, args)
    done = [r for r in runs if run_path(ctx, r).exists()]
    print(f"{len(runs)} runs planned, {len(done)} cached, {len(runs) - len(done)} to train")
    if args.dry_run:
        for run in runs:
            print(("[cached] " if run in done else "[to run] ") + f"{run.label} task={run.task_seed} "
                  f"samples/class={run.samples_per_class} epochs={run.epochs} key={run.key}")
        return {"planned": len(runs), "cached": len(done)}
    trained = 0
    with harness.quiet_transformers():
        for run in runs:
            if run_path(ctx, run).exists():
                continue
            if args.max_runs is not None and trained >= args.max_runs:
                break
            with harness.claim_run(run_path(ctx, run)) as mine:  # parallel processes train each run once
                if not mine:
                    logger.info("Skipping %s: another process is training it", run.key)
                    continue
                record = run_one(ctx, learngene, run)
            trained += 1
            logger.info("%s task %d, %d/class: final accuracy %.4f", run.label, run.task_seed, run.samples_per_class,
                        record["result"]["final_accuracy"])
    summary = summarize(ctx, runs, ref, args)
    print(f"summary: {summary['files']['md']}")
    return summary


if __name__ == "__main__":
    main()
