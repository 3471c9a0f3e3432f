"""Runtime estimate: measure the training throughput of each kind of descendant for a few steps and extrapolate the
remaining runs of a plan."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from hf_learngene.experiments.training import classifier_training_arguments

from .experiments import plan_runs
from .methods import behaviour, build_run_model
from .runs import make_spec, run_path

if TYPE_CHECKING:
    from .context import Context


def measure_throughput(ctx: Context, family: str, method: str, steps: int = 5,
                       eval_images: int = 64) -> dict[str, float]:
    """Seconds per training image and per evaluation image of ``method``'s descendant (``steps`` timed steps).

    Measured on random pixels with the real models (learngene layout, teacher for distillation; the distillation loss
    is :class:`~hf_learngene.FeatureDistillationTrainer`'s own); the first step is a warm-up and not timed.
    """
    import tempfile
    from types import SimpleNamespace

    spec = make_spec(ctx, family, method, 0, ctx.profile.samples_per_class)
    size = ctx.image_size(family)
    bs = spec.batch_size
    fake_task = SimpleNamespace(id2label={i: str(i) for i in range(spec.n_way)},
                                label2id={str(i): i for i in range(spec.n_way)})
    model, extra = build_run_model(ctx, spec, fake_task)
    x = torch.randn(bs, 3, size, size)
    y = torch.randint(0, spec.n_way, (bs,))
    params = list(model.parameters())
    distiller = None
    if "teacher" in extra:
        from hf_learngene import FeatureDistillationTrainer
        from hf_learngene.experiments.distillation import layer_pairs_from_learngene

        with tempfile.TemporaryDirectory() as tmp:  # measured on the CPU, like the other methods
            distiller = FeatureDistillationTrainer(
                model=model, args=classifier_training_arguments(tmp, eval_strategy="no", use_cpu=True, progress=False),
                teacher=extra["teacher"],
                layer_pairs=layer_pairs_from_learngene(model, extra["learngene"]),
                distill_weight=extra["distill_weight"], feature_loss=extra["feature_loss"])
        params += list(distiller.build_aligners(x[:2]).parameters())
    model.train()
    opt = torch.optim.AdamW(params, lr=1e-4)
    t_start = 0.0
    for step in range(steps + 1):
        if step == 1:
            t_start = time.perf_counter()
        if distiller is not None:
            loss = distiller.compute_loss(model, {"pixel_values": x, "labels": y})
        else:
            loss = model(pixel_values=x, labels=y).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    train_s = (time.perf_counter() - t_start) / (steps * bs)
    model.eval()
    with torch.no_grad():
        xe = torch.randn(eval_images, 3, size, size)
        model(pixel_values=xe[:8])
        t0 = time.perf_counter()
        model(pixel_values=xe)
        eval_s = (time.perf_counter() - t0) / eval_images
    # data pipeline: decode + transform of real rows
    tf = ctx.transform(family)
    rows = ctx.raw["train"].select(range(min(64, len(ctx.raw["train"]))))
    t0 = time.perf_counter()
    tf(rows[:])
    data_s = (time.perf_counter() - t0) / len(rows)
    return {"train_s_per_image": train_s, "eval_s_per_image": eval_s, "data_s_per_image": data_s}


def estimate_runtime(ctx: Context, experiments: Sequence[str], families: Sequence[str], steps: int = 5,
                     include_cached: bool = False) -> dict[str, Any]:
    """Estimate the training time of the (missing) runs from measured throughput.

    The descendants' shape depends on the Auto-Learngene learngene, so a family's learngene is condensed first when
    it is not cached yet (it is kept: the runs use it). Its condensing time is reported; the Heur-Learngene
    learngenes that are not cached yet come on top.
    """
    specs = plan_runs(ctx, experiments, families)
    if not include_cached:
        specs = [s for s in specs if not run_path(ctx, s).exists()]
    rates: dict[tuple[str, str], dict[str, float]] = {}
    total = 0.0
    per_family: dict[str, float] = {}
    per_experiment_runs: dict[str, int] = {}
    test_per_class = ctx.profile.eval_per_class or 100
    for spec in specs:
        # every learngene method has Auto's architecture; distillation adds the teacher; fine-tuning is the ancestry:
        # methods with a teacher or without a learngene are measured on their own, the others as Auto's descendant
        method = behaviour(spec.method)
        rate_key = (spec.family, method.name if method.distill_loss or method.learngene is None else "auto")
        if rate_key not in rates:
            rates[rate_key] = measure_throughput(ctx, spec.family, rate_key[1], steps=steps)
        r = rates[rate_key]
        train_imgs = spec.n_way * spec.samples_per_class * spec.epochs
        eval_imgs = spec.n_way * test_per_class * spec.epochs
        seconds = train_imgs * (r["train_s_per_image"] + r["data_s_per_image"]) + eval_imgs * (
            r["eval_s_per_image"] + r["data_s_per_image"]) + 3.0  # + Trainer setup
        total += seconds
        per_family[spec.family] = per_family.get(spec.family, 0.0) + seconds
    for experiment in experiments:
        per_experiment_runs[experiment] = len(plan_runs(ctx, [experiment], families))
    condensed = {f"{f}/{m}": (ctx.condense_meta(f, m) or {}).get("wall_time_s") for f in families
                 for m in ctx.condensed_methods(f)}
    layers = {f: (ctx.condense_meta(f, "auto") or {}).get("selected_layers") for f in families}
    for f in families:
        if ctx.precomputed(f, "auto") is not None:
            layers[f] = list(ctx.learngene(f, "auto").config.layer_indices)
    return {
        "profile": ctx.profile.name, "num_runs": len(specs), "runs_per_experiment": per_experiment_runs,
        "estimated_seconds": total, "estimated_hours": total / 3600, "per_family_seconds": per_family,
        "throughput": {f"{k[0]}/{k[1]}": v for k, v in rates.items()}, "num_threads": torch.get_num_threads(),
        "learngene_layers": layers,
        "condense_wall_time_s": condensed,
        "note": "training + per-epoch eval of the runs; condense_wall_time_s: condensing already done (null: not "
                "condensed yet, comes on top)",
    }

