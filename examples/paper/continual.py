#!/usr/bin/env python
"""Sec. 5.3 / Fig. 6 in one command: an ancestry that keeps learning, a learngene per stage, their descendants.

Trains the home ViT on the ancestry classes 0-63 as a stream of stages (default 8 stages of 8 classes; the ancestry
keeps its weights from stage to stage), condenses every stage into a learngene (classes 64-79), trains descendants of
each learngene on ``--num_tasks`` 5-way tasks of classes 80-99 (the profile's 100 images/class, 20 epochs) beside
From-Scratch, and writes ``<output>/<profile>/fig6.{json,md,png}``. See ``harness/fig6.py`` for the design
(the 64-way head, the stage folders, the condense budget).

    python examples/paper/continual.py [--dry_run] [--summarize_only] [--stages 8] [--num_tasks 5] \\
        [--epochs_per_stage 6] [--methods auto[,default_path]] [--condense_method auto] [--num_threads 1]

Everything is resumable: a finished stage (``outputs/paper/continual/<stream>/stage-XX/`` + ``stage-XX.json``) is not retrained,
a condensed stage not condensed again, a finished descendant run (``<output>/runs/<key>.json``) not rerun;
runs and stages are claimed, so two processes of this command share the work. ``--hub_repo USER/NAME`` also pushes
every stage as one commit of that repo and condenses each learngene from its revision (which the learngene records).

Measured on the shared 2-core CPU with 1 thread (``cpu`` profile; CPU seconds of the process, the wall time was ~1.5x
with the machine shared by three other jobs): a stage of 8 classes (2,400 images) ~23 CPU-s per epoch plus ~5-15 s of
evaluation, so 6 epochs ~2.5 CPU-min and the 8-stage stream ~20 CPU-min; condensing (3 repeats x 1 epoch, 3,200
images) ~1 CPU-min per stage (91 s wall); one descendant run ~33 CPU-s (35-50 s wall; the committed Table 2 ViT runs
took ~20 s on a quieter machine). The default (8 stages, 5 tasks, ``auto``, From-Scratch once) is ~20 + 8 + 45 x 0.55
~ 53 CPU-min, ~80 min wall on the shared machine; ``--methods auto,default_path`` adds ~22 CPU-min.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

import harness
import torch
from harness import fig6


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", choices=["cpu", "smoke"],
                        help="cpu: the home ViT on mini-ImageNet; smoke: tiny ViT + synthetic images (seconds)")
    parser.add_argument("--stages", type=int, default=None, help="stages of the stream to run (default 8; smoke 3)")
    parser.add_argument("--classes_per_stage", type=int, default=None, help="new classes per stage (default 8)")
    parser.add_argument("--epochs_per_stage", type=float, default=None,
                        help=f"ancestry epochs per stage (default {fig6.CPU_EPOCHS_PER_STAGE}; part of the stream's key)")
    parser.add_argument("--num_tasks", type=int, default=None, help="descendant tasks per stage (default 5; smoke 2)")
    parser.add_argument("--methods", default="auto",
                        help=f"descendants of each stage's learngene, comma-separated from {','.join(fig6.STAGE_METHODS)} "
                             "(From-Scratch is always trained, once per learngene depth)")
    parser.add_argument("--condense_method", default=None, help="hf_learngene.condense method (default auto)")
    parser.add_argument("--condense_objective", default=None, help="Auto-Learngene objective (default paper)")
    parser.add_argument("--num_layers", type=int, default=None,
                        help="learngene size (default 3, fixed across stages; 0: the paper's 1/L rule)")
    parser.add_argument("--condense_max_images", type=int, default=None, help="condense images (default 3200)")
    parser.add_argument("--condense_repeats", type=int, default=None, help="condense repeats (default 3)")
    parser.add_argument("--condense_epochs", type=float, default=None, help="condense epochs (default 1)")
    parser.add_argument("--hub_repo", default=None, help="push every stage as a commit of this Hub repo and condense "
                                                         "from its revisions")
    parser.add_argument("--dataset", default=None, help="dataset folder or Hub id (default: the shared mini-ImageNet)")
    parser.add_argument("--output", default=str(harness.DEFAULT_OUTPUT), help="results folder (runs/ + summaries)")
    parser.add_argument("--work_dir", default=str(harness.DEFAULT_WORK_DIR), help="stage folders, learngenes, scratch")
    parser.add_argument("--num_threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--dry_run", action="store_true", help="list stages, condenses and runs (cached or not), stop")
    parser.add_argument("--summarize_only", action="store_true", help="write the summary from the records only")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    return parser.parse_args(argv)


def command_line(argv: list[str]) -> str:
    """The command as recorded in the summary: absolute paths relative to the repository when they are in it or in the
    shared folder beside it (``../shared/...``), else by their name only (a temporary folder, wherever the clone is)."""
    words = []
    for word in argv:
        if word.startswith(("/", "~")):  # no absolute path of this machine in committed results
            path = Path(word).expanduser().resolve()
            beside = path.is_relative_to(harness.REPO_ROOT) or path.is_relative_to(harness.REPO_ROOT.parent / "shared")
            word = os.path.relpath(path, harness.REPO_ROOT) if beside else path.name
        words.append(word)
    return shlex.join(["python", "examples/paper/continual.py", *words])


def build_session(args: argparse.Namespace, argv: list[str]) -> fig6.Continual:
    base = harness.Context(profile=harness.get_profile(args.profile), output=Path(args.output),
                           work_dir=Path(args.work_dir), dataset=args.dataset, progress=args.progress)
    condense = {key: value for key, value in (
        ("method", args.condense_method), ("objective", args.condense_objective),
        ("max_images", args.condense_max_images), ("num_repeats", args.condense_repeats),
        ("epochs", args.condense_epochs)) if value is not None}
    if args.num_layers is not None:
        condense["num_layers"] = args.num_layers or None
    kwargs = {key: value for key, value in (
        ("stages", args.stages), ("num_tasks", args.num_tasks), ("classes_per_stage", args.classes_per_stage),
        ("epochs_per_stage", args.epochs_per_stage)) if value is not None}
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    return fig6.Continual.for_profile(base, condense=condense, methods=methods, hub_repo=args.hub_repo,
                                      command=command_line(argv), **kwargs)


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO)
    torch.set_num_threads(args.num_threads)
    session = build_session(args, argv)
    with harness.quiet_transformers():
        if args.dry_run:
            print("\n".join(session.plan()))
            return {}
        summary = session.run(train=not args.summarize_only)
    print(f"fig6: {summary['files']['md']}")
    return summary


if __name__ == "__main__":
    main()
