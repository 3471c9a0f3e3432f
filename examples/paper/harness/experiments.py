"""The experiments of the harness (Table 2, Fig. 3, Fig. 4, Fig. 5): their run plans and summaries, one session of
them (:func:`run_experiments`) and everything in one call (:func:`run`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .context import Context
from .fig4 import fig4_specs, summarize_fig4
from .fig5 import fig5_specs, summarize_fig5
from .profiles import FAMILIES, FAMILY_SETS, HOME_FAMILIES, Profile, get_profile
from .runs import RunSpec, claim_run, run_one, run_path
from .table2 import summarize_fig3, summarize_table2, table2_specs
from .utils import quiet_transformers

logger = logging.getLogger("paper_harness")

EXPERIMENTS = ("table2", "fig3", "fig4", "fig5")

SPEC_BUILDERS: dict[str, Callable[[Context, str], list[RunSpec]]] = {
    "table2": table2_specs, "fig3": table2_specs, "fig4": fig4_specs, "fig5": fig5_specs,
}


def plan_runs(ctx: Context, experiments: Sequence[str], families: Sequence[str]) -> list[RunSpec]:
    """All runs the experiments need, deduplicated, in a stable order: experiment by experiment (Table 2 first), both
    families, task by task, so that an interrupted session leaves complete tasks behind."""
    seen: dict[str, RunSpec] = {}
    for experiment in experiments:
        for family in families:
            for spec in SPEC_BUILDERS[experiment](ctx, family):
                seen.setdefault(spec.key, spec)
    return list(seen.values())


def run_experiments(ctx: Context, experiments: Sequence[str], families: Sequence[str], *,
                    max_runs: int | None = None, progress: bool = True,
                    on_run: Callable[[RunSpec, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run every missing run of ``experiments`` x ``families`` (cached ones are skipped), then write the summaries.

    Returns ``{experiment: summary dict}`` for the home-trained families and ``{"<family>/<experiment>": ...}``
    (e.g. ``"dinov2/table2"``) for the others, whose summaries go to their own folder (:func:`family_groups`); with
    ``max_runs`` only that many new runs are trained in this call (summaries are still written from whatever is
    finished).
    """
    from tqdm.auto import tqdm

    specs = plan_runs(ctx, experiments, families)
    todo = [s for s in specs if not run_path(ctx, s).exists()]
    logger.info("%d runs planned, %d cached, %d to train", len(specs), len(specs) - len(todo), len(todo))
    if max_runs is not None:
        todo = todo[:max_runs]
    for family in families:  # condense first (cost side is reported even if no run is missing)
        for method in ctx.condensed_methods(family):
            if ctx.condense_meta(family, method) is None:
                ctx.learngene(family, method)  # condenses, or loads a precomputed learngene
    bar = tqdm(todo, desc="descendant runs", disable=not progress, dynamic_ncols=True)
    for spec in bar:
        bar.set_postfix_str(f"{spec.family}/{spec.method}/task{spec.task_seed}/k={spec.samples_per_class}")
        with claim_run(run_path(ctx, spec)) as mine:
            if not mine:  # another process of the same plan is training it
                logger.info("Skipping %s: another process is training it", spec.key)
                continue
            record = run_one(ctx, spec)
        if on_run is not None:
            on_run(spec, record)
    return summarize(ctx, experiments, families)


def family_groups(families: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``families`` split by summary folder: ``("", home-trained families)`` (``<profile>/``) first, then
    ``(family, [family])`` for each other family (``<profile>/<family>/``)."""
    groups: list[tuple[str, list[str]]] = []
    home = [f for f in families if f in HOME_FAMILIES]
    if home:
        groups.append(("", home))
    groups += [(f, [f]) for f in families if f not in HOME_FAMILIES]
    return groups


def summarize(ctx: Context, experiments: Sequence[str], families: Sequence[str]) -> dict[str, Any]:
    """Write the summaries of ``experiments`` for each of :func:`family_groups` from the cached runs.

    Returns ``{experiment: summary}`` for the home-trained group and ``{"<family>/<experiment>": summary}`` for the
    others.
    """
    summaries = {}
    for group, members in family_groups(families):
        for experiment in experiments:
            summaries[f"{group}/{experiment}" if group else experiment] = SUMMARIZERS[experiment](ctx, members)
    return summaries


SUMMARIZERS: dict[str, Callable[[Context, Sequence[str]], dict[str, Any]]] = {
    "table2": summarize_table2, "fig3": summarize_fig3, "fig4": summarize_fig4, "fig5": summarize_fig5,
}


def resolve_families(families: str | Sequence[str]) -> list[str]:
    """``"both"`` -> the home-trained families, ``"all"`` -> every family, a name -> ``[name]``; checked."""
    if isinstance(families, str):
        fams = list(FAMILY_SETS.get(families, [families]))
    else:
        fams = list(families)
    unknown = [f for f in fams if f not in FAMILIES]
    if unknown or not fams:
        raise ValueError(f"Unknown family {unknown}; choose from {', '.join(FAMILIES)}, both or all")
    return fams


def run(experiments: str | Sequence[str] = "all", profile: str | Profile = "smoke",
        families: str | Sequence[str] = "both", *, num_threads: int | None = None, max_runs: int | None = None,
        progress: bool = True, **context_kwargs: Any) -> dict[str, Any]:
    """One call for demos and notebooks: build a :class:`Context` and :func:`run_experiments`.

    ``families``: a family, a list, ``"both"`` (the home-trained ``vit`` + ``resnet``) or ``"all"``;
    ``context_kwargs`` go to :class:`Context` (``methods=``, ``num_tasks=``, ``epochs=``, ``learngene_paths=``, ...).
    The summaries of ``dinov2`` come back as ``"dinov2/<experiment>"``.

    Example:
        >>> import harness                                                            # doctest: +SKIP
        >>> out = harness.run("table2", "smoke", "vit", output="/tmp/paper")          # doctest: +SKIP
        >>> print(open(out["table2"]["files"]["md"]).read())                          # doctest: +SKIP
    """
    exps = list(EXPERIMENTS) if experiments == "all" else [experiments] if isinstance(experiments, str) else list(
        experiments)
    fams = resolve_families(families)
    prof = get_profile(profile) if isinstance(profile, str) else profile
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    ctx = Context(profile=prof, progress=progress, **context_kwargs)
    with quiet_transformers():
        return run_experiments(ctx, exps, fams, max_runs=max_runs, progress=progress)

