"""`condense()`: turn an ancestry into a learngene with a registered condensing method (First-k, the default;
Auto-Learngene, Heur-Learngene, the other layer-selection methods, a manual pick, or one of yours: see
:mod:`hf_learngene.condensation.methods`)."""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from datasets import Dataset, DatasetDict
from transformers import PreTrainedModel

from ..constants import (
    CONDENSE_CONFIG_NAME,
    CONDENSE_LOG_NAME,
    LAYER_SCORES_PLOT_NAME,
    PAIR_SCORES_PLOT_NAME,
    SCORE_TRAJECTORY_PLOT_NAME,
    SCORES_NAME,
)
from ..errors import LearngeneError
from ..hub import LoadedAncestry, load_ancestry
from ..modeling_learngene import LearngeneModel, layer_parameter_counts, layer_parameter_fraction
from ..utils import atomic_directory
from .base import BaseCondenseConfig, RepeatResult
from .config import AutoLearngeneConfig
from .data import prepare_condense_data
from .methods import default_condense_config, get_condense_method
from .plots import plot_layer_scores, plot_pair_scores, plot_score_trajectory
from .repeats import run_repeat
from .selection import select_layers
from .size_rules import PAPER_SIZE_RULE


@dataclass
class CondenseResult:
    """What :func:`condense` returns.

    Attributes:
        method: the condensing method, e.g. ``"auto"``, ``"heuristic"`` or ``"manual"``.
        config: the :class:`CondenseConfig` used.
        pair_scores: ``alpha^{l,k}``, shape ``(L, K)``, mean over repeats (auto only).
        layer_scores: ``alpha~^l``, shape ``(L,)``, sums to 1 (mean over repeats).
        selected_layers: the learngene's layers: what ``config.size_rule`` keeps of ``layer_scores`` (default
            ``"half"``: the top ``L // 2``; ``"threshold"``: ``[l for l in range(L) if layer_scores[l] > 1/L]``), or
            the top ``num_layers``, capped by ``max_parameter_fraction``.
        selection_frequency: share of repeats that selected each layer.
        repeats: one :class:`RepeatResult` per pseudo-descendant initialisation / task sequence.
        learngene: the :class:`LearngeneModel` with all provenance filled in.
        wall_time: seconds spent condensing (all repeats).
        parameter_fraction: the learngene's share of the parameters of the ancestry's integral layers.
    """

    method: str
    config: BaseCondenseConfig
    layer_scores: np.ndarray | None
    pair_scores: np.ndarray | None
    selected_layers: list[int]
    selection_frequency: np.ndarray | None
    repeats: list[RepeatResult]
    learngene: LearngeneModel
    wall_time: float
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def parameter_fraction(self) -> float | None:
        """The learngene's share of the parameters of the ancestry's integral layers (what the size controls cap)."""
        return self.learngene.config.layer_parameter_fraction

    @property
    def images_per_second(self) -> float | None:
        """Mean condensing throughput of the repeats' training loops."""
        rates = [r.images_per_second for r in self.repeats if r.images_per_second]
        return float(np.mean(rates)) if rates else None

    def scores_dict(self) -> dict[str, Any]:
        """Everything about the selection, JSON-able (written as ``scores.json`` by :meth:`save`)."""
        as_list = (lambda a: None if a is None else np.asarray(a).tolist())
        return {
            "method": self.method,
            "selected_layers": self.selected_layers,
            "layer_scores": as_list(self.layer_scores),
            "pair_scores": as_list(self.pair_scores),
            "selection_frequency": as_list(self.selection_frequency),
            "threshold": None if self.layer_scores is None else 1.0 / len(self.layer_scores),
            "objective": self.config.objective if self.config.runs(AutoLearngeneConfig) else None,
            "selection_rule": {"num_layers": self.config.num_layers,
                               "max_parameter_fraction": self.config.max_parameter_fraction,
                               "size_rule": self.config.size_rule},
            "parameter_fraction": self.parameter_fraction,
            "wall_time": self.wall_time,
            "images_per_second": self.images_per_second,
            "repeats": [{k: v for k, v in r.to_dict().items() if k != "log"} for r in self.repeats],
            "data": self.data,
        }

    def summary(self) -> str:
        """A Markdown table of the layer scores and selection."""
        fraction = "" if self.parameter_fraction is None else f", {self.parameter_fraction:.0%} of the layer parameters"
        lines = [(f"**{self.method}** condensing: selected layers {self.selected_layers}{fraction} "
                 f"({self.wall_time:.1f} s)"), "", "| layer | score | selected in repeats |", "|---|---|---|"]
        num_layers = self.learngene.config.ancestry_num_layers
        for layer in range(num_layers):
            score = "-" if self.layer_scores is None else f"{self.layer_scores[layer]:.4f}"
            freq = "-" if self.selection_frequency is None else f"{self.selection_frequency[layer]:.0%}"
            mark = " **(learngene)**" if layer in self.selected_layers else ""
            lines.append(f"| {layer}{mark} | {score} | {freq} |")
        return "\n".join(lines)

    def _artifacts(self, folder: Path) -> None:
        if self.pair_scores is not None:
            plot_pair_scores(self.pair_scores, folder / PAIR_SCORES_PLOT_NAME,
                             title=f"Auto-Learngene pair scores (mean of {len(self.repeats)} repeats)")
        trajectory = _trajectory(self.repeats, len(self.layer_scores)) if self.layer_scores is not None else None
        if trajectory is not None:
            plot_score_trajectory(*trajectory, folder / SCORE_TRAJECTORY_PLOT_NAME,
                                  title=f"max_k alpha^(l,k) during condensing (mean of {len(self.repeats)} repeats)")
        if self.layer_scores is not None:
            plot_layer_scores(self.layer_scores, folder / LAYER_SCORES_PLOT_NAME, self.selected_layers,
                              self.selection_frequency, title=f"{self.method} layer scores")
        (folder / SCORES_NAME).write_text(json.dumps(self.scores_dict(), indent=2))
        (folder / CONDENSE_CONFIG_NAME).write_text(json.dumps(self.config.recorded_dict(), indent=2, sort_keys=True))
        (folder / CONDENSE_LOG_NAME).write_text(json.dumps([
            {"repeat": r.repeat, "seed": r.seed, "log": r.log} for r in self.repeats], indent=1))

    def save(self, directory: str | os.PathLike, repo_id: str | None = None) -> Path:
        """Write the learngene plus ``scores.json``, ``condense_config.json``, ``condense_log.json`` and the
        plots (embedded in the model card), atomically. The folder is ready for ``push_to_hub``.

        Example:
            >>> result.save("outputs/vit-learngene")  # doctest: +SKIP
        """
        with atomic_directory(directory, keep_existing=False) as tmp:
            self._artifacts(tmp)
            self.learngene.save_pretrained(tmp, repo_id=repo_id)
        return Path(directory)

    def push_to_hub(self, repo_id: str, **kwargs: Any):
        """Upload the learngene with its scores, plots and logs (see :meth:`LearngeneModel.push_to_hub`)."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            self._artifacts(folder)
            extra = {p.name: p for p in folder.iterdir()}
            return self.learngene.push_to_hub(repo_id, extra_files=extra, **kwargs)


def condense(
    ancestry: PreTrainedModel | str | os.PathLike,
    dataset: Dataset | DatasetDict | str | os.PathLike | None = None,
    config: BaseCondenseConfig | None = None,
    *,
    image_column: str = "image",
    label_column: str = "label",
    classes: Any = None,
    split: str = "train",
    revision: str | None = None,
    dataset_revision: str | None = None,
    token: str | bool | None = None,
    accelerator: Accelerator | None = None,
) -> CondenseResult:
    """Condense ``ancestry`` into a learngene.

    Args:
        ancestry: a `transformers` ViT/DeiT/DINOv2/ResNet model, a local directory or a Hub id.
        dataset: the condense data: a ``datasets.Dataset``/``DatasetDict``, a local path or a Hub id, with an
            image and a label column (not needed for the default method, ``"first_k"``, for ``method="manual"``
            and the other methods that read none, e.g. ``"evenly_spaced"``).
        config: :class:`CondenseConfig` (``CondenseConfig()``: Auto-Learngene, the paper's method), or the config
            class of a registered method (e.g. :class:`~hf_learngene.condensation.config.HeuristicConfig`). Default:
            :func:`~hf_learngene.condensation.methods.default_condense_config`, the library's default method
            ``DEFAULT_CONDENSE_METHOD`` (``"first_k"``: the first half of the layers, no data; no method measured
            beat it, docs/results/which_layers.md) with its defaults.
        image_column, label_column: column names.
        classes: which labels to condense on, e.g. ``"64-79"`` or ``[64, 65, ...]`` (default: all).
        split: split to use when ``dataset`` has several.
        revision, dataset_revision: Hub revisions of the ancestry and of the dataset.
        token: Hub token for private repos.
        accelerator: an ``accelerate.Accelerator`` to run on (default: one built from ``config``).

    Example:
        >>> from hf_learngene import CondenseConfig, condense
        >>> result = condense("outputs/ancestry/vit", "../shared/datasets/mini-imagenet",  # doctest: +SKIP
        ...                   CondenseConfig(num_repeats=3, epochs=1), classes="64-79")
        >>> result.selected_layers, result.layer_scores  # doctest: +SKIP
        >>> result.save("vit-learngene")  # doctest: +SKIP
    """
    config = config or default_condense_config()
    config.validate()
    method = get_condense_method(config.method)
    loaded: LoadedAncestry = load_ancestry(ancestry, revision=revision, token=token)
    family = loaded.family
    num_layers = family.num_layers(loaded.model.config)
    start = time.perf_counter()
    if method.runner is None:  # the config names the layers (manual)
        indices = list(config.layer_indices or [])
        learngene = LearngeneModel.from_ancestry(loaded, indices, selection_method=method.name,
                                                 selection_arguments=config.to_dict(),
                                                 include_embeddings=config.include_embeddings)
        return CondenseResult(method.name, config, None, None, learngene.config.layer_indices, None, [], learngene,
                              time.perf_counter() - start)
    data = None
    if not method.needs_data:  # e.g. first_k: the runner gets data=None
        if dataset is not None:
            warnings.warn(f"method={config.method!r} reads no condense data: the dataset is not used (nor recorded); "
                          "CondenseConfig() (Auto-Learngene, CLI --method auto) condenses on it.", UserWarning,
                          stacklevel=2)
    elif dataset is None:
        raise LearngeneError(f"method={config.method!r} needs condense data: pass dataset=... (a datasets.Dataset, "
                             "a local folder or a Hub id) with an image and a label column.")
    else:
        data = prepare_condense_data(dataset, config, ancestry_config=loaded.model.config, ancestry_dir=loaded.folder,
                                     image_column=image_column, label_column=label_column, classes=classes,
                                     split=split, revision=dataset_revision)
    if accelerator is None:
        # A multi-process launch on a machine without GPU (`accelerate launch --multi_gpu` or `torchrun`) must
        # use the CPU backend (gloo); accelerate only picks it when told the run is on the CPU.
        cpu_only = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
        accelerator = Accelerator(cpu=cpu_only, mixed_precision=config.mixed_precision,
                                  gradient_accumulation_steps=config.gradient_accumulation_steps,
                                  log_with=config.log_with, project_dir=config.checkpoint_dir)
    if config.log_with:
        accelerator.init_trackers("hf_learngene_condense", config={k: v for k, v in config.to_dict().items()
                                                                   if isinstance(v, (int, float, str, bool))})
    set_seed(config.seed)
    model = loaded.model
    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    model.to(accelerator.device).eval().requires_grad_(False)
    try:
        repeats = [run_repeat(method, model, family, data, config, accelerator, r) for r in range(config.num_repeats)]
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)
        if config.log_with:
            accelerator.end_training()
    layer_scores = np.mean([r.layer_scores for r in repeats], axis=0)
    with_pairs = all(r.pair_scores is not None for r in repeats)  # Auto-Learngene scores (l, k) pairs
    pair_scores = np.mean([r.pair_scores for r in repeats], axis=0) if with_pairs else None
    layers = family.integral_layers(model)
    sizes = layer_parameter_counts(layers)
    rule = {"num_layers": config.num_layers, "max_parameter_fraction": config.max_parameter_fraction,
            "layer_parameters": sizes, "size_rule": config.scores_size_rule()}
    for r in repeats:  # each repeat's own selection under the same rule (selection_frequency)
        r.selected_layers = select_layers(r.layer_scores, **rule)
    selected = select_layers(layer_scores, **rule)
    frequency = np.mean([[layer in r.selected_layers for layer in range(num_layers)] for r in repeats], axis=0)
    fraction = layer_parameter_fraction(layers, selected)
    # How many layers the 1/L rule keeps depends on the scores: say so when it keeps too many or too few (the other
    # rules and the size controls keep what was asked for).
    by_threshold = (config.size_rule == PAPER_SIZE_RULE and config.num_layers is None
                    and config.max_parameter_fraction is None)
    if by_threshold and fraction > 0.5:
        warnings.warn(
            f"The selection keeps {len(selected)} of {num_layers} layers, {fraction:.0%} of the ancestry's layer "
            "parameters: little is condensed. Cap it with CondenseConfig(num_layers=k) or "
            "CondenseConfig(max_parameter_fraction=0.5) (CLI: --num-layers / --max-parameter-fraction), or keep half "
            "the layers with the default size_rule='half'.",
            UserWarning, stacklevel=2)
    if by_threshold and 0 < len(selected) < num_layers // 4 and num_layers >= 4:
        warnings.warn(
            f"The 1/L rule keeps {len(selected)} of {num_layers} layers ({fraction:.0%} of the layer parameters): a "
            "learngene that small gives weak descendants (measured on the shared DINOv2: 1 and 3 layers far below 6 "
            "and 7, docs/results/mainpath.md). Ask for a size with CondenseConfig(num_layers=k) (CLI --num-layers K), "
            "or keep half the ancestry's layers with the default size_rule='half' (CLI --size-rule half).",
            UserWarning, stacklevel=2)
    if not selected and config.scores_size_rule() == PAPER_SIZE_RULE:
        raise LearngeneError(
            f"No layer scored above 1/L = {1 / num_layers:.4f} (scores {np.round(layer_scores, 4).tolist()}): the "
            "scores are uniform, so the meta-network learned nothing. Condense longer (epochs / max_iterations) or "
            "raise meta_learning_rate, or keep the top layers with size_rule='half' or num_layers=k."
        )
    if not selected:
        raise LearngeneError(f"The size rule {config.size_rule!r} selected no layer (scores "
                             f"{np.round(layer_scores, 4).tolist()}); pass num_layers=k or another size_rule.")
    learngene = LearngeneModel.from_ancestry(
        loaded, selected, selection_method=config.method,
        selection_arguments=config.recorded_dict(),
        layer_scores=[float(s) for s in layer_scores],
        pair_scores=None if pair_scores is None else pair_scores.tolist(),
        condense_data=None if data is None else data.provenance(),
        include_embeddings=config.include_embeddings,
    )
    return CondenseResult(config.method, config, layer_scores, pair_scores, selected, frequency, repeats, learngene,
                          time.perf_counter() - start, {} if data is None else data.provenance())


def _trajectory(repeats: list[RepeatResult], num_layers: int) -> tuple[list[int], np.ndarray] | None:
    """Steps and the mean over repeats of ``max_k alpha^{l,k}`` per logged step (from the repeats' logs)."""
    logs = [[e for e in r.log if e.get("pair_scores") is not None] for r in repeats]
    length = min((len(log) for log in logs), default=0)
    if length == 0:
        return None
    steps = [int(e["step"]) for e in logs[0][:length]]
    values = np.mean([[np.max(np.asarray(e["pair_scores"]), axis=1)[:num_layers] for e in log[:length]]
                      for log in logs], axis=0)
    return steps, values

