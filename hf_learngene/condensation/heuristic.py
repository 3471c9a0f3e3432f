"""Heur-Learngene: the gradient heuristic of the conference version (Wang et al., AAAI 2022).

A copy of the ancestry is fine-tuned on a sequence of tasks drawn from the condense classes (each task has
its own fresh linear head on the pooled output of the last integral layer). After every step the relative
gradient size of each integral layer, ``||grad Theta^l|| / ||Theta^l||``, is recorded. Layers whose
parameters barely need to move across tasks are the *stable* ones that carry task-independent knowledge:
a layer's score is its inverse mean relative gradient, normalised to sum to 1, and, as for Auto-Learngene,
the config's size rule selects from the scores (the conference version: the layers scoring above ``1/L``,
``size_rule="threshold"``; by default the top half).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from ..errors import LearngeneError
from ..families import ArchitectureFamily
from .base import RepeatResult
from .config import HeuristicConfig
from .data import CondenseData
from .repeats import repeat_seed
from .selection import select_layers


class _TaskModel(nn.Module):
    """The ancestry copy with a fresh head reading the pooled output of its last integral layer."""

    def __init__(self, model: PreTrainedModel, family: ArchitectureFamily, width: int, n_way: int) -> None:
        super().__init__()
        self.model, self.family = model, family
        self.head = nn.Linear(width, n_way)
        self.last = family.num_layers(model.config) - 1

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        _, feats = self.family.forward_features(self.model, pixel_values, layers=[self.last])
        return self.head(self.family.pool(feats[0]))


def run_heuristic_repeat(
    ancestry: PreTrainedModel,
    family: ArchitectureFamily,
    data: CondenseData,
    config: HeuristicConfig,
    accelerator: Accelerator,
    repeat: int,
) -> RepeatResult:
    """Fine-tune a copy of the ancestry on ``heuristic_num_tasks`` tasks and score layers by gradient stability.

    The runner of the ``"heuristic"`` method (a finished repeat is resumed by
    :func:`~hf_learngene.condensation.repeats.run_repeat`)."""
    seed = repeat_seed(config, repeat)
    if config.heuristic_n_way > data.num_classes:
        raise LearngeneError(f"CondenseConfig.heuristic_n_way={config.heuristic_n_way} but the condense data has "
                             f"only {data.num_classes} classes.")
    device = accelerator.device
    num_layers = family.num_layers(ancestry.config)
    labels = np.asarray(data.train_labels)
    rng = np.random.default_rng(seed)
    stats = np.zeros((config.heuristic_num_tasks, num_layers))
    log = []
    total = config.heuristic_num_tasks * config.heuristic_steps_per_task
    bar = tqdm(total=total, desc=f"Heur-Learngene repeat {repeat + 1}/{config.num_repeats}",
               disable=not (config.progress and accelerator.is_local_main_process), dynamic_ncols=True)
    start = time.perf_counter()
    images = 0
    for task in range(config.heuristic_num_tasks):
        classes = np.sort(rng.choice(data.num_classes, size=config.heuristic_n_way, replace=False))
        rows = np.flatnonzero(np.isin(labels, classes))
        remap = {int(c): i for i, c in enumerate(classes)}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1000 + task)
            model = copy.deepcopy(ancestry).eval()
            for p in model.parameters():
                p.requires_grad_(True)
            probe, _ = data.batch("train", rows[:2].tolist())
            with torch.no_grad():
                _, feats = family.forward_features(model, probe.to(device), layers=[num_layers - 1])
            model.train()
            task_model = _TaskModel(model, family, family.pool(feats[0]).shape[-1], config.heuristic_n_way)
        optimizer = torch.optim.AdamW(task_model.parameters(), lr=config.heuristic_learning_rate, weight_decay=0.0)
        task_model, optimizer = accelerator.prepare(task_model, optimizer)
        layers = family.integral_layers(accelerator.unwrap_model(task_model).model)
        sums = np.zeros(num_layers)
        per_rank = config.heuristic_batch_size
        needed = per_rank * accelerator.num_processes
        if len(rows) < needed:
            raise LearngeneError(f"Task {task} has {len(rows)} images, fewer than one batch ({needed}); lower "
                                 "heuristic_batch_size.")
        steps_per_epoch = len(rows) // needed
        order = rng.permutation(rows)
        for step in range(config.heuristic_steps_per_task):
            epoch, position = divmod(step, steps_per_epoch)
            if position == 0 and epoch > 0:
                order = rng.permutation(rows)
            begin = (position * accelerator.num_processes + accelerator.process_index) * per_rank
            x, y = data.batch("train", order[begin:begin + per_rank].tolist())
            y = torch.tensor([remap[int(v)] for v in y], device=device)
            with accelerator.autocast():
                loss = F.cross_entropy(task_model(x.to(device)).float(), y)
            if not math.isfinite(loss.item()):
                raise LearngeneError(f"Heur-Learngene loss is NaN/inf at task {task} step {step + 1}; lower "
                                     f"heuristic_learning_rate (now {config.heuristic_learning_rate}).")
            accelerator.backward(loss)
            for index, layer in enumerate(layers):
                grad = torch.sqrt(sum((p.grad.float() ** 2).sum() for p in layer.parameters() if p.grad is not None))
                weight = torch.sqrt(sum((p.detach().float() ** 2).sum() for p in layer.parameters()))
                sums[index] += float(grad / (weight + 1e-12))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            images += needed
            bar.update(1)
            bar.set_postfix(task=task, loss=f"{loss.item():.3f}")
            if (step + 1) % config.log_every == 0:
                log.append({"task": task, "step": step + 1, "loss": loss.item()})
        stats[task] = sums / config.heuristic_steps_per_task
        accelerator.free_memory()
        del task_model, optimizer, model
    bar.close()
    wall = time.perf_counter() - start
    instability = stats.mean(axis=0)
    stability = 1.0 / np.maximum(instability, 1e-12)
    layer_scores = stability / stability.sum()
    result = RepeatResult(
        repeat=repeat, seed=seed, layer_scores=layer_scores.tolist(), selected_layers=select_layers(layer_scores),
        pair_scores=None, steps=total, wall_time=wall, images_per_second=images / wall if wall > 0 else None,
        log=log + [{"relative_gradient_per_task": stats.tolist()}],
    )
    return result
