"""Auto-Learngene: the meta-network condensing of the paper (Sec. 4.2, Algorithm 1).

One *repeat* trains a randomly initialised pseudo-descendant ``f(.; theta)`` and the alignment
``h(.; zeta)`` with ``L_total = L_cls + L_meta`` on the training data ``D`` (``alpha`` held fixed), then
updates the meta-network ``G(.; phi)`` with ``L_meta`` on a batch of the disjoint meta-data ``D-hat``
(Eq. 16), for ``I`` iterations. The ancestry ``F(.; Theta)`` is frozen throughout.

- ``psi-bar^{l,k}`` = mean over feature dimensions of ``(h(z^k) - Z^l)^2`` (Eqs. 7, 11-14), per image.
- ``alpha^{l,k} = ReLU6(FC_{l,k}(pool(Z^l)))``: one fully connected layer per candidate pair (Sec. 5.1).
- ``L_meta = sum_{(l,k) in R} alpha^{l,k} psi-bar^{l,k}`` (Eq. 8), averaged over the batch.
- After training, ``alpha^{l,k}`` is averaged over ``D-hat``; ``alpha^l = max_k alpha^{l,k}``;
  ``alpha~ = softmax(alpha^l)`` (Eq. 9); layers with ``alpha~^l > 1/L`` form the learngene (Eq. 10).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from ..errors import LearngeneError
from ..families import ArchitectureFamily
from ..families.base import batched_squared_distances
from ..utils import write_json_atomic
from .base import RepeatResult
from .config import AutoLearngeneConfig
from .data import CondenseData
from .features import feature_store
from .objectives import MetaObjective, get_objective
from .repeats import repeat_folder, repeat_seed
from .selection import select_layers


def layer_scores_from_pairs(pair_scores: np.ndarray, pairs: list[tuple[int, int]] | None = None) -> np.ndarray:
    """``softmax_l(max_k alpha^{l,k})`` (Eq. 9); pairs outside ``R`` are ignored."""
    alpha = np.asarray(pair_scores, dtype=np.float64)
    if pairs is not None:
        mask = np.zeros_like(alpha, dtype=bool)
        for l, k in pairs:
            mask[l, k] = True
        alpha = np.where(mask, alpha, -np.inf)
    best = alpha.max(axis=1)
    best = np.where(np.isfinite(best), best, 0.0)
    exp = np.exp(best - best.max())
    return exp / exp.sum()


class MetaNetwork(nn.Module):
    """``G(.; phi)``: for each pair ``(l, k)`` one FC layer on the pooled ``Z^l``, then the objective's activation.

    The ``K`` FC layers that read the same ``Z^l`` are stored as one ``Linear(width_l, K)``. With the ``"paper"``
    objective (the default here) the activation is ReLU6 per pair (Sec. 5.1); with ``"scale_free"`` the FC reads
    the layer-normalised pooled ``Z^l`` (divided by ``sqrt(width)``) and ``alpha^{., k}`` is a softmax over ``l``.
    """

    def __init__(self, widths: list[int], num_pseudo_layers: int, pairs: list[tuple[int, int]],
                 init_bias: float = 1.0, init_std: float = 0.01, objective: MetaObjective | str = "paper") -> None:
        super().__init__()
        self.objective = get_objective(objective) if isinstance(objective, str) else objective
        self.heads = nn.ModuleList([nn.Linear(width, num_pseudo_layers) for width in widths])
        for head in self.heads:
            nn.init.normal_(head.weight, std=init_std)
            nn.init.constant_(head.bias, init_bias)
        mask = torch.zeros(len(widths), num_pseudo_layers)
        for l, k in pairs:
            mask[l, k] = 1.0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        """``alpha`` of shape ``(batch, L, K)`` (zero outside ``R``)."""
        if self.objective.normalise_meta_input:
            pooled = [F.layer_norm(z, z.shape[-1:]) / math.sqrt(z.shape[-1]) for z in pooled]
        logits = torch.stack([head(z) for head, z in zip(self.heads, pooled)], dim=1)
        return self.objective.alpha(logits, self.mask)


class PseudoDescendant(nn.Module):
    """The pseudo-descendant ``f(.; theta)`` together with the alignments ``h(.; zeta)`` of every pair."""

    def __init__(self, model: PreTrainedModel, family: ArchitectureFamily, pairs: list[tuple[int, int]],
                 alignments: dict[tuple[int, int], nn.Module]) -> None:
        super().__init__()
        self.model = model
        self.family = family
        self.pairs = pairs
        self.alignments = nn.ModuleDict({f"{l}_{k}": alignments[(l, k)] for l, k in pairs})
        self.identity = all(isinstance(m, nn.Identity) for m in self.alignments.values())
        # Alignments of one class may compute all their distances at once (FeatureAlignment.squared_distances).
        self._batched = batched_squared_distances(self.alignments.values())
        self._modules_in_order = [self.alignments[f"{l}_{k}"] for l, k in pairs]
        num_l = 1 + max(l for l, _ in pairs)
        self._num_k = 1 + max(k for _, k in pairs)
        mask = torch.zeros(num_l, self._num_k)
        for l, k in pairs:
            mask[l, k] = 1.0
        self.register_buffer("pair_mask", mask, persistent=False)
        self.register_buffer("pair_index", torch.tensor([l * self._num_k + k for l, k in pairs]), persistent=False)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits, z)``: logits and the raw outputs ``z^k`` of every pseudo-descendant layer."""
        return self.family.forward_features(self.model, pixel_values)

    def psi(self, ancestry_features: list[torch.Tensor], feats: list[torch.Tensor]) -> torch.Tensor:
        """``psi-bar^{l,k}`` per image, shape ``(batch, L, K)`` (zero outside ``R``)."""
        batch = feats[0].shape[0]
        num_l, num_k = len(ancestry_features), len(feats)
        if self.identity:
            # (a - b)^2 averaged = mean(a^2) + mean(b^2) - 2 mean(a b), all pairs at once.
            big = torch.stack([f.reshape(batch, -1) for f in ancestry_features], dim=1)  # (B, L, D)
            small = torch.stack([f.reshape(batch, -1) for f in feats], dim=1)  # (B, K, D)
            dim = big.shape[-1]
            cross = torch.bmm(big, small.transpose(1, 2)) / dim
            psi = (big.pow(2).mean(-1)[:, :, None] + small.pow(2).mean(-1)[:, None, :] - 2 * cross).clamp_min(0)
            return psi * self._mask(num_l, num_k, psi)
        if self._batched is not None:
            values = self._batched([(module, feats[k], ancestry_features[l])
                                    for module, (l, k) in zip(self._modules_in_order, self.pairs)])
        else:
            values = torch.stack([
                ((module(feats[k]) - ancestry_features[l]) ** 2).reshape(batch, -1).mean(-1)
                for module, (l, k) in zip(self._modules_in_order, self.pairs)], dim=1)
        psi = values.new_zeros(batch, num_l * num_k)
        if num_k == self._num_k:
            index = self.pair_index.to(psi.device)
        else:
            index = torch.tensor([l * num_k + k for l, k in self.pairs], device=psi.device)
        return psi.index_copy(1, index, values).reshape(batch, num_l, num_k)

    def pair_mask_like(self, ancestry_features: list[torch.Tensor], feats: list[torch.Tensor]) -> torch.Tensor:
        """The ``(L, K)`` indicator of ``R`` for these features (dtype and device of ``feats``)."""
        return self._mask(len(ancestry_features), len(feats), feats[0])

    def _mask(self, num_l: int, num_k: int, like: torch.Tensor) -> torch.Tensor:
        """The ``(L, K)`` indicator of ``R``."""
        mask = self.pair_mask
        if mask.shape != (num_l, num_k):
            mask = torch.zeros(num_l, num_k)
            for l, k in self.pairs:
                mask[l, k] = 1.0
        return mask.to(device=like.device, dtype=like.dtype)


def candidate_pairs(config: AutoLearngeneConfig, num_layers: int, num_pseudo_layers: int) -> list[tuple[int, int]]:
    """The candidate pair set ``R`` (default: every ``(l, k)``)."""
    if config.pair_set == "all":
        return [(l, k) for l in range(num_layers) for k in range(num_pseudo_layers)]
    pairs = sorted({(int(l), int(k)) for l, k in config.pair_set})
    bad = [p for p in pairs if p[0] >= num_layers or p[1] >= num_pseudo_layers]
    if bad:
        raise LearngeneError(f"CondenseConfig.pair_set: pairs {bad} are out of range for an ancestry with "
                             f"{num_layers} layers and a pseudo-descendant with {num_pseudo_layers}.")
    return pairs


def _after_step(step: int) -> None:
    """Called after every iteration; tests replace it to simulate a crash."""


class _BatchPlan:
    """Deterministic batches: the order of epoch ``e`` is a permutation seeded by ``(seed, e)``.

    Batch ``i`` is a pure function of ``i``, so a resumed run sees exactly the batches an uninterrupted
    run would; each process takes its own slice of the global batch.
    """

    def __init__(self, size: int, batch: int, seed: int, rank: int, world: int) -> None:
        self.size, self.batch, self.seed, self.rank, self.world = size, batch, seed, rank, world
        self.per_epoch = size // (batch * world)
        if self.per_epoch < 1:
            raise LearngeneError(f"{size} images cannot fill one batch of {batch} on each of {world} processes; "
                                 "lower the batch size.")
        self._cache: tuple[int, np.ndarray] | None = None

    def indices(self, step: int) -> list[int]:
        epoch, position = divmod(step, self.per_epoch)
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.size))
        start = (position * self.world + self.rank) * self.batch
        return self._cache[1][start:start + self.batch].tolist()


def _cosine(optimizer: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total))


class AutoLearngeneStep:
    """Everything one repeat of Algorithm 1 trains, and one iteration of it (lines 3-7) as a call.

    Building it is line 1: the pseudo-descendant ``f(.; theta)``, the alignments ``h(.; zeta)`` of every pair in
    ``R`` and the meta-network ``G(.; phi)`` are initialised under ``seed`` (the shapes of ``Z^l`` and ``z^k``
    are read from ``probe``, a couple of condense images), their optimizers and cosine schedulers over ``total``
    iterations are made and everything goes through ``accelerator.prepare``. ``step(x, y, x_hat, i)`` then runs
    one iteration on a batch ``(x, y)`` of ``D`` and a batch ``x_hat`` of ``D-hat``. :func:`run_auto_repeat`
    drives it over the data; benchmarks call it on fixed batches. The ancestry must stay frozen (eval mode, no
    gradients): its features of both batches come from one forward pass.
    """

    def __init__(self, ancestry: PreTrainedModel, family: ArchitectureFamily, config: AutoLearngeneConfig,
                 accelerator: Accelerator, *, num_classes: int, probe: torch.Tensor, seed: int, total: int,
                 repeat: int = 0) -> None:
        self.ancestry, self.family, self.config, self.accelerator = ancestry, family, config, accelerator
        self.repeat = repeat
        self.objective = get_objective(config.objective)
        ancestry.eval()  # frozen: no dropout, BatchNorm on running statistics (condense() also does this)
        device = accelerator.device
        ancestry_config = ancestry.config
        self.num_layers = family.num_layers(ancestry_config)
        pseudo_config = family.pseudo_descendant_config(ancestry_config, config.pseudo_descendant_layers,
                                                        num_classes)
        self.num_pseudo = family.num_layers(pseudo_config)
        self.pairs = pairs = candidate_pairs(config, self.num_layers, self.num_pseudo)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pseudo_model = family.build_model(pseudo_config)
            # Shapes of Z^l and z^k decide the alignments and the meta-network's input widths.
            with torch.no_grad():
                _, big = family.forward_features(ancestry, probe.to(device))
                _, small = family.forward_features(pseudo_model, probe)
            alignments = {(l, k): family.make_alignment(tuple(small[k].shape[1:]), tuple(big[l].shape[1:]))
                          for l, k in pairs}
            student = PseudoDescendant(pseudo_model, family, pairs, alignments)
            widths = [family.pool(z).shape[-1] for z in big]
            meta = MetaNetwork(widths, self.num_pseudo, pairs, config.meta_init_bias, config.meta_init_std,
                               objective=self.objective)

        if config.optimizer == "sgd":
            opt_theta = torch.optim.SGD(student.parameters(), lr=config.learning_rate, momentum=0.9,
                                        weight_decay=config.weight_decay)
        else:
            opt_theta = torch.optim.AdamW(student.parameters(), lr=config.learning_rate,
                                          weight_decay=config.weight_decay)
        # Eq. 16: plain gradient descent
        opt_phi = torch.optim.SGD(meta.parameters(), lr=config.effective_meta_learning_rate)
        # With gradient accumulation the optimizers step once every `gradient_accumulation_steps` iterations.
        updates = math.ceil(total / config.gradient_accumulation_steps)
        self.sched_theta = _cosine(opt_theta, updates)
        self.sched_phi = _cosine(opt_phi, updates) if config.meta_lr_scheduler == "cosine" else \
            torch.optim.lr_scheduler.LambdaLR(opt_phi, lambda _: 1.0)
        # Schedulers are stepped by hand once per iteration (accelerate would step them once per process) and
        # registered so that checkpoints include them.
        self.student, self.meta, self.opt_theta, self.opt_phi = accelerator.prepare(student, meta, opt_theta, opt_phi)
        accelerator.register_for_checkpointing(self.sched_theta, self.sched_phi)
        self.raw_student: PseudoDescendant = accelerator.unwrap_model(self.student)
        self.raw_meta: MetaNetwork = accelerator.unwrap_model(self.meta)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, x_hat: torch.Tensor, step: int,
                 features: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One iteration (``step`` counts from 0, for error messages). Returns the losses ``L_cls``, ``L_meta``
        (on ``D``), ``L_meta`` on ``D-hat`` and the batch's ``alpha^{l,k}`` (shape ``(M, L, K)``).

        ``features``: the ancestry's ``(Z^l of x, Z^l of x_hat)`` when already known (the feature cache); the
        ancestry is frozen, so they are what its forward pass would give."""
        accelerator, family, ancestry = self.accelerator, self.family, self.ancestry
        student, meta, raw_student, raw_meta = self.student, self.meta, self.raw_student, self.raw_meta
        device = accelerator.device
        x, y, x_hat = x.to(device), y.to(device), x_hat.to(device)
        student.train()
        with accelerator.accumulate(student, meta):
            # The ancestry is frozen (eval mode, no gradients): Z^l of both batches in one forward pass.
            num_d = x.shape[0]
            if features is not None:
                big, big_hat = [z.to(device) for z in features[0]], [z.to(device) for z in features[1]]
            else:
                with torch.no_grad(), accelerator.autocast():
                    _, both = family.forward_features(ancestry, torch.cat([x, x_hat]))
                    big, big_hat = [z[:num_d] for z in both], [z[num_d:] for z in both]
                    del both
            # (1) theta, zeta <- grad of L_cls + L_meta on a batch of D, alpha held fixed.
            with torch.no_grad(), accelerator.autocast():
                alpha = raw_meta([family.pool(z).float() for z in big])
            with accelerator.autocast():
                logits, small = student(x)
                loss_cls = F.cross_entropy(logits.float(), y)
                psi = self.objective.distances(raw_student, [b.float() for b in big], [s.float() for s in small])
                loss_meta = (alpha * psi).sum(dim=(1, 2)).mean()
                loss_total = loss_cls + loss_meta
            _check_finite(loss_total, step, self.repeat, self.config, accelerator, "L_total")
            accelerator.backward(loss_total)
            self.opt_theta.step()
            if accelerator.sync_gradients:  # the optimizer really stepped (not an accumulation micro-batch)
                self.sched_theta.step()
            self.opt_theta.zero_grad(set_to_none=True)

            # (2) phi <- grad of L_meta on a batch of the meta-data D-hat (Eq. 16).
            with torch.no_grad(), accelerator.autocast():
                _, small_hat = raw_student(x_hat)
                psi_hat = self.objective.distances(raw_student, [b.float() for b in big_hat],
                                                   [s.float() for s in small_hat])
            with accelerator.autocast():
                alpha_hat = meta([family.pool(z).float() for z in big_hat])
                loss_meta_hat = (alpha_hat * psi_hat).sum(dim=(1, 2)).mean()
            _check_finite(loss_meta_hat, step, self.repeat, self.config, accelerator, "L_meta on D-hat")
            accelerator.backward(loss_meta_hat)
            self.opt_phi.step()
            if accelerator.sync_gradients:
                self.sched_phi.step()
            self.opt_phi.zero_grad(set_to_none=True)
        return loss_cls.detach(), loss_meta.detach(), loss_meta_hat.detach(), alpha_hat.detach()

    def close(self) -> None:
        """Unregister the schedulers from the accelerator's checkpointed objects.

        Otherwise they pile up over repeats: a checkpoint of repeat ``r`` would hold the schedulers of repeats
        ``0..r`` (which a resumed run cannot load), and each keeps its optimizer and pseudo-descendant alive.
        """
        custom = getattr(self.accelerator, "_custom_objects", None)
        if isinstance(custom, list):
            custom[:] = [obj for obj in custom if obj is not self.sched_theta and obj is not self.sched_phi]


def run_auto_repeat(
    ancestry: PreTrainedModel,
    family: ArchitectureFamily,
    data: CondenseData,
    config: AutoLearngeneConfig,
    accelerator: Accelerator,
    repeat: int,
) -> RepeatResult:
    """Run Algorithm 1 once (one pseudo-descendant initialisation) and score the ancestry's layers.

    The runner of the ``"auto"`` method; it checkpoints within the repeat every ``checkpoint_every`` iterations
    and resumes from there (a finished repeat is resumed by :func:`~hf_learngene.condensation.repeats.run_repeat`).
    """
    seed = repeat_seed(config, repeat)
    ckpt_dir = repeat_folder(config, "auto", repeat)
    device = accelerator.device
    plan_d = _BatchPlan(len(data.train), config.batch_size, seed, accelerator.process_index,
                        accelerator.num_processes)
    plan_meta = _BatchPlan(len(data.meta), config.meta_batch_size, seed + 7919, accelerator.process_index,
                           accelerator.num_processes)
    total = config.max_iterations or max(1, math.ceil(config.epochs * plan_d.per_epoch))
    store = feature_store(ancestry, family, data, config, accelerator)
    store.fill(draws=total * config.batch_size * config.num_repeats)
    probe_x, _ = data.batch("train", list(range(min(2, len(data.train)))))
    iteration = AutoLearngeneStep(ancestry, family, config, accelerator, num_classes=data.num_classes,
                                  probe=probe_x, seed=seed, total=total, repeat=repeat)
    try:
        num_layers, num_pseudo, pairs = iteration.num_layers, iteration.num_pseudo, iteration.pairs
        sched_theta, sched_phi, raw_student, raw_meta = (iteration.sched_theta, iteration.sched_phi,
                                                         iteration.raw_student, iteration.raw_meta)

        step, log, elapsed = 0, [], 0.0
        if ckpt_dir is not None and config.resume and (ckpt_dir / "progress.json").exists():
            progress = json.loads((ckpt_dir / "progress.json").read_text())
            accelerator.load_state(str(ckpt_dir / progress["state"]))
            step, log, elapsed = progress["step"], progress["log"], progress["elapsed"]

        ancestry.eval()
        bar = tqdm(total=total, initial=step, desc=f"Auto-Learngene repeat {repeat + 1}/{config.num_repeats}",
                   disable=not (config.progress and accelerator.is_local_main_process), dynamic_ncols=True)
        window: dict[str, list[float]] = {"loss_cls": [], "loss_meta": [], "loss_meta_hat": []}
        alpha_window: list[torch.Tensor] = []
        start = time.perf_counter()
        while step < total:
            idx_d, idx_meta = plan_d.indices(step), plan_meta.indices(step)
            x, y = data.batch("train", idx_d)
            x_hat, _ = data.batch("meta", idx_meta)
            features = None
            if store.filled and any(store.cached_images.values()):
                big, big_hat = store.get([("train", idx_d, x), ("meta", idx_meta, x_hat)])
                features = (big, big_hat)
            loss_cls, loss_meta, loss_meta_hat, alpha_hat = iteration(x, y, x_hat, step, features)
            step += 1
            window["loss_cls"].append(loss_cls.item())
            window["loss_meta"].append(loss_meta.item())
            window["loss_meta_hat"].append(loss_meta_hat.item())
            alpha_window.append(alpha_hat.float().mean(0).cpu())
            bar.update(1)
            bar.set_postfix(L_cls=f"{window['loss_cls'][-1]:.3f}", L_meta=f"{window['loss_meta'][-1]:.3f}",
                            L_meta_hat=f"{window['loss_meta_hat'][-1]:.3f}")
            if step % config.log_every == 0 or step == total:
                entry = {"step": step, "repeat": repeat, **{k: float(np.mean(v)) for k, v in window.items()},
                         "lr": float(sched_theta.get_last_lr()[0]), "meta_lr": float(sched_phi.get_last_lr()[0]),
                         "pair_scores": torch.stack(alpha_window).mean(0).tolist()}
                log.append(entry)
                if config.log_with:
                    accelerator.log({f"repeat{repeat}/{k}": v for k, v in entry.items()
                                     if k not in ("pair_scores", "step", "repeat")}, step=step)
                window = {k: [] for k in window}
                alpha_window = []
            if ckpt_dir is not None and (step % config.checkpoint_every == 0) and step < total:
                _checkpoint(accelerator, ckpt_dir, step, log, elapsed + time.perf_counter() - start)
            _after_step(step)
        bar.close()
        loop_time = elapsed + time.perf_counter() - start
        images = step * config.batch_size * accelerator.num_processes

        # alpha^{l,k}: the trained meta-network averaged over the whole meta-data (each process its share).
        raw_student.eval()
        sums = torch.zeros(num_layers, num_pseudo, device=device, dtype=torch.float64)
        count = torch.zeros((), device=device, dtype=torch.float64)
        with torch.no_grad(), accelerator.autocast():
            order = list(range(accelerator.process_index, len(data.meta), accelerator.num_processes))
            for offset in range(0, len(order), config.batch_size):
                chunk = order[offset:offset + config.batch_size]
                x_hat, _ = data.batch("meta", chunk)
                big_hat = store.get([("meta", chunk, x_hat)])[0]
                alpha_hat = raw_meta([family.pool(z).float() for z in big_hat])
                sums += alpha_hat.double().sum(0)
                count += alpha_hat.shape[0]
        sums = accelerator.reduce(sums, reduction="sum")
        count = accelerator.reduce(count, reduction="sum")
        pair_scores = (sums / count).cpu().numpy()
        layer_scores = layer_scores_from_pairs(pair_scores, pairs)
        result = RepeatResult(
            repeat=repeat, seed=seed, pair_scores=pair_scores.tolist(), layer_scores=layer_scores.tolist(),
            selected_layers=select_layers(layer_scores), steps=step, wall_time=loop_time,
            images_per_second=images / loop_time if loop_time > 0 else None, log=log,
        )
        accelerator.free_memory()
        return result
    finally:
        iteration.close()


def _check_finite(loss: torch.Tensor, step: int, repeat: int, config: AutoLearngeneConfig, accelerator: Accelerator,
                  name: str) -> None:
    bad = torch.tensor(0.0 if torch.isfinite(loss).item() else 1.0, device=accelerator.device)
    if accelerator.num_processes > 1:
        bad = accelerator.reduce(bad, reduction="sum")
    if bad.item() > 0:
        raise LearngeneError(
            f"{name} is NaN/inf at step {step + 1} of repeat {repeat}. Lower learning_rate (now "
            f"{config.learning_rate}) or meta_learning_rate (now {config.meta_learning_rate}), check the images "
            f"are normalised, or use mixed_precision='no' (now {config.mixed_precision!r})."
        )


def _checkpoint(accelerator: Accelerator, ckpt_dir: Path, step: int, log: list, elapsed: float) -> None:
    """Save models, optimizers, schedulers and RNG states through accelerate, then point progress.json at them.

    The state of step ``n`` goes to its own folder and ``progress.json`` is replaced atomically afterwards, so a
    kill at any moment leaves a consistent (state, step) pair; older states are removed after.
    """
    accelerator.wait_for_everyone()
    name = f"state-{step:08d}"
    accelerator.save_state(str(ckpt_dir / name), safe_serialization=True)
    if accelerator.is_main_process:
        write_json_atomic(ckpt_dir / "progress.json", {"step": step, "state": name, "log": log, "elapsed": elapsed})
        for old in ckpt_dir.glob("state-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
