"""Table 3 of the paper (few-shot): 5-way 10-shot and 20-shot tasks of classes 80-99, descendants beside the
baselines a few-shot user would pick.

* Descendants: registered harness methods (:data:`METHODS`: From-Scratch, Auto-/Heur-Learngene, First-k, the
  library's default path and the whole ancestry fine-tuned at 0.1 x the learning rate), planned with
  :func:`~harness.runs.method_specs` at ``samples_per_class = shots``, so they share the run cache with every other
  experiment (the Fig. 5 runs at 10 and 20 images/class are the same runs) and a run whose descendant is Auto's
  (First-k / Heur-Learngene when their layers are Auto's) copies Auto's record (:func:`~harness.runs.run_one`).
* Baselines without descendant training (:data:`BASELINES`, *not* registered methods): the frozen whole ancestry's
  pooled features (:func:`ancestry_features`) of the support images classified by the nearest class mean
  (ProtoNet-style, cosine or euclidean) or by a logistic-regression probe (:func:`linear_probe_predict`), on exactly the
  test images of the descendant runs of the same task (the first ``eval_per_class`` test images of each class). One
  record per (family, baseline, task, shots) in ``<output>/runs/<family>_table3-<baseline>-<hash>.json``
  (:class:`BaselineSpec`: the hash covers the ancestry fingerprint, the dataset, the task, the test images, the image
  transform and the baseline's options).
* Summary (:func:`summarize_table3`): mean and 95 % confidence interval over tasks per cell (Student t:
  ``t_{0.975, n-1} * s / sqrt(n)``, :func:`confidence_interval`), the number of tasks, paired differences to
  Auto-Learngene, the command, and the paper's Table 3 (:data:`PAPER_TABLE3`, a citation) beside ours; written per
  :func:`~harness.experiments.family_groups` group to ``<output>/<profile>/[<family>/]table3.{json,md,png}``.

``examples/paper/table3.py`` is the command (``--dry_run``, ``--summarize_only``, resumable, claims).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from hf_learngene.data import format_class_spec
from hf_learngene.experiments.tasks import MINI_IMAGENET_SPLIT, make_task
from hf_learngene.experiments.training import collate_fn
from hf_learngene.utils import count_parameters

from .methods import METHOD_COLORS, METHOD_LABELS, ft
from .profiles import FAMILY_LABELS, Profile
from .runs import RunSpec, claim_run, load_run, method_specs, run_one, run_path
from .summaries import _finish, _header, _plt
from .utils import _hash, _no_datasets_progress, _now, _write_json, versions

if TYPE_CHECKING:
    from .context import Context

logger = logging.getLogger("paper_harness")

EXPERIMENT = "table3"
#: Shots of the paper's Table 3; the smoke profile's synthetic dataset has 6 training images per class.
SHOTS = (10, 20)
SMOKE_SHOTS = (2, 4)
#: Tasks per family by default (task seeds ``0..N-1``); the paper averages over 100 tasks.
DEFAULT_NUM_TASKS = 20
PAPER_NUM_TASKS = 100
#: The families of the Table 3 command by default.
DEFAULT_FAMILIES = ("dinov2", "resnet")
#: Descendant methods, in run order: Auto before the methods that may copy its record (Heur-Learngene, First-k).
METHODS = ("scratch", "auto", "heur", "first_k", "default_path", "finetune_ancestry_lowlr")
#: Baselines without descendant training, on the frozen whole ancestry's pooled features.
BASELINES = ("prototype_cosine", "prototype_euclidean", "linear_probe")
BASELINE_LABELS = {"prototype_cosine": "Nearest prototype, cosine (frozen ancestry)",
                   "prototype_euclidean": "Nearest prototype, euclidean (frozen ancestry)",
                   "linear_probe": "Linear probe, logistic regression (frozen ancestry)"}
BASELINE_COLORS = {"prototype_cosine": "tab:olive", "prototype_euclidean": "khaki", "linear_probe": "teal"}
#: Options of each baseline (part of its records' keys). The probe: multinomial logistic regression on L2-normalised
#: features, L2 penalty ``||W||^2 / (2 C n)`` on the weights (not the bias) beside the mean cross-entropy - scikit-learn's
#: ``LogisticRegression(C=1)`` objective, as in Tian et al. 2020 ("Rethinking few-shot image classification") -
#: solved full-batch with L-BFGS in float64 from zero weights (deterministic).
BASELINE_OPTIONS: dict[str, dict[str, Any]] = {
    "prototype_cosine": {"classifier": "prototype", "metric": "cosine"},
    "prototype_euclidean": {"classifier": "prototype", "metric": "euclidean"},
    "linear_probe": {"classifier": "logistic_regression", "normalize": "l2", "C": 1.0, "max_iter": 500,
                     "solver": "lbfgs-strong_wolfe-float64"},
}
#: What the baselines' features are (part of their keys): the backbone's pooled output.
FEATURES = "pooler_output"
#: Bump to re-key every baseline record after a change of how they are computed.
BASELINE_VERSION = 1
CI_LEVEL = 0.95
CI_METHOD = "Student t: mean ± t_{0.975, n-1} · s / sqrt(n), s the sample std (ddof=1) over tasks"

#: The paper's Table 3 (a citation, NOT our results): learngene-paper.md, "TABLE 3 Multi-class classification
#: accuracies on CIFAR100 and ImageNet100", all eleven rows (MatchingNet ... Auto-Learngene), columns
#: ``(dataset, 5-way, backbone) -> {shots: (mean, ±)}`` in %. The paper averages over 100 tasks and does not say
#: whether ± is a standard deviation or a confidence interval. Our dataset (mini-ImageNet, classes 80-99) is the
#: paper's "ImageNet100" setting; our ResNet family is a home-trained ResNet-18 ancestry like its ResNet column.
PAPER_TABLE3_SOURCE = ("learngene-paper.md, TABLE 3 'Multi-class classification accuracies on CIFAR100 and "
                       "ImageNet100' (rows MatchingNet [83] ... Auto-Learngene; 100 tasks; ± as printed)")
PAPER_TABLE3: dict[str, dict[str, dict[int, tuple[float, float]]]] = {
    "MatchingNet [83]": {"CIFAR100, 5-way, VGG": {10: (56.71, 4.48), 20: (60.98, 3.09)},
                         "ImageNet100, 5-way, ResNet": {10: (53.14, 2.78), 20: (60.48, 2.66)}},
    "MAML [16]": {"CIFAR100, 5-way, VGG": {10: (51.70, 1.75), 20: (62.36, 2.88)},
                  "ImageNet100, 5-way, ResNet": {10: (48.73, 3.10), 20: (57.10, 2.42)}},
    "ProtoNet [38]": {"CIFAR100, 5-way, VGG": {10: (56.40, 2.88), 20: (61.02, 3.18)},
                      "ImageNet100, 5-way, ResNet": {10: (52.91, 1.57), 20: (60.13, 1.73)}},
    "Reptile [84]": {"CIFAR100, 5-way, VGG": {10: (50.13, 3.73), 20: (60.00, 3.31)},
                     "ImageNet100, 5-way, ResNet": {10: (46.52, 2.63), 20: (54.70, 1.96)}},
    "Baseline++ [85]": {"CIFAR100, 5-way, VGG": {10: (52.67, 4.02), 20: (61.20, 3.29)},
                        "ImageNet100, 5-way, ResNet": {10: (53.24, 2.75), 20: (62.43, 1.63)}},
    "DeepEMD [42]": {"CIFAR100, 5-way, VGG": {10: (58.03, 1.85), 20: (63.69, 2.05)},
                     "ImageNet100, 5-way, ResNet": {10: (54.93, 1.78), 20: (63.41, 1.47)}},
    "ProtoMAML [86]": {"CIFAR100, 5-way, VGG": {10: (53.11, 1.25), 20: (59.57, 1.34)},
                       "ImageNet100, 5-way, ResNet": {10: (52.74, 2.52), 20: (62.23, 1.34)}},
    "First-order MTL [44]": {"CIFAR100, 5-way, VGG": {10: (57.12, 3.29), 20: (63.30, 2.24)},
                             "ImageNet100, 5-way, ResNet": {10: (52.20, 2.60), 20: (63.10, 2.11)}},
    "BOIL [87]": {"CIFAR100, 5-way, VGG": {10: (59.14, 2.51), 20: (65.01, 1.35)},
                  "ImageNet100, 5-way, ResNet": {10: (55.40, 2.43), 20: (64.85, 1.28)}},
    "Heur-Learngene [18]": {"CIFAR100, 5-way, VGG": {10: (58.86, 3.12), 20: (64.24, 1.89)},
                            "ImageNet100, 5-way, ResNet": {10: (54.00, 3.33), 20: (63.40, 1.19)}},
    "Auto-Learngene": {"CIFAR100, 5-way, VGG": {10: (61.80, 2.62), 20: (68.48, 2.75)},
                       "ImageNet100, 5-way, ResNet": {10: (55.76, 4.68), 20: (66.04, 2.09)}},
}
#: The paper column printed beside ours (the mini-ImageNet setting).
PAPER_COLUMN = "ImageNet100, 5-way, ResNet"
#: Our rows and the paper's row printed beside them: the same method (``=``) or the closest one (``≈``: the paper's
#: ProtoNet / Baseline++ train a backbone on the base classes; ours use the frozen ancestry).
PAPER_ROW_OF = {"heur": ("=", "Heur-Learngene [18]"), "auto": ("=", "Auto-Learngene"),
                "prototype_cosine": ("≈", "ProtoNet [38]"), "prototype_euclidean": ("≈", "ProtoNet [38]"),
                "linear_probe": ("≈", "Baseline++ [85]")}


def default_shots(profile: Profile) -> tuple[int, ...]:
    """10 and 20 shots; the smoke profile's 2 and 4 (its synthetic dataset has 6 training images per class)."""
    return SMOKE_SHOTS if profile.synthetic else SHOTS


def row_label(name: str) -> str:
    return BASELINE_LABELS.get(name) or METHOD_LABELS[name]


# --------------------------------------------------------------------------------------------------
# Confidence intervals
# --------------------------------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes ``betacf``)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t distribution with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution (bisection on :func:`t_cdf`; no scipy needed).

    Example:
        >>> round(t_quantile(0.975, 4), 4), round(t_quantile(0.975, 19), 4)
        (2.7764, 2.093)
    """
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
        if high - low < 1e-12:
            break
    return 0.5 * (low + high)


def confidence_interval(values: Sequence[float], level: float = CI_LEVEL) -> dict[str, Any]:
    """Mean and Student-t confidence interval of ``values`` (one per task): ``half = t_{(1+level)/2, n-1} * s /
    sqrt(n)`` with ``s`` the sample standard deviation (ddof=1); ``half`` is ``None`` for fewer than two values.

    Example:
        >>> ci = confidence_interval([0.5, 0.6, 0.7])
        >>> round(ci["mean"], 3), round(ci["half"], 4), ci["n"]
        (0.6, 0.2484, 3)
    """
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    n = int(arr.size)
    if n == 0:
        return {"mean": None, "std": None, "half": None, "low": None, "high": None, "n": 0, "level": level}
    mean = float(arr.mean())
    if n == 1:
        return {"mean": mean, "std": None, "half": None, "low": None, "high": None, "n": 1, "level": level}
    std = float(arr.std(ddof=1))
    half = t_quantile(0.5 + level / 2.0, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "half": half, "low": mean - half, "high": mean + half, "n": n, "level": level}


# --------------------------------------------------------------------------------------------------
# Baselines: classifiers on frozen features
# --------------------------------------------------------------------------------------------------
def prototype_predict(support: torch.Tensor, labels: torch.Tensor, query: torch.Tensor,
                      metric: str = "cosine") -> torch.Tensor:
    """Nearest class mean (ProtoNet-style): the mean support feature of each class, the query's class the nearest
    mean (``cosine``: largest cosine similarity of L2-normalised features and means; ``euclidean``: smallest squared
    distance of the raw features). Labels are ``0..C-1``.

    Example:
        >>> support = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> prototype_predict(support, torch.tensor([0, 0, 1]), torch.tensor([[0.2, 0.9], [1.0, 0.2]])).tolist()
        [1, 0]
    """
    support, query = support.double(), query.double()
    classes = int(labels.max()) + 1
    if metric == "cosine":
        support = torch.nn.functional.normalize(support, dim=1)
        query = torch.nn.functional.normalize(query, dim=1)
    means = torch.stack([support[labels == c].mean(dim=0) for c in range(classes)])
    if metric == "cosine":
        return (query @ torch.nn.functional.normalize(means, dim=1).T).argmax(dim=1)
    if metric == "euclidean":
        return torch.cdist(query, means).argmin(dim=1)
    raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")


def linear_probe_predict(support: torch.Tensor, labels: torch.Tensor, query: torch.Tensor, C: float = 1.0,
                         max_iter: int = 500, normalize: str | None = "l2", **_: Any) -> torch.Tensor:
    """Multinomial logistic regression on the support features, applied to the query (:data:`BASELINE_OPTIONS`):
    mean cross-entropy + ``||W||^2 / (2 C n)`` (scikit-learn's ``C``; the bias is not penalised), L-BFGS in float64
    from zero weights, on L2-normalised features (``normalize="l2"``)."""
    x, q = support.double(), query.double()
    if normalize == "l2":
        x, q = torch.nn.functional.normalize(x, dim=1), torch.nn.functional.normalize(q, dim=1)
    elif normalize is not None:
        raise ValueError(f"normalize must be 'l2' or None, got {normalize!r}")
    n, dim = x.shape
    classes = int(labels.max()) + 1
    weight = torch.zeros(classes, dim, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")
    penalty = 1.0 / (2.0 * C * n)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight.T + bias, labels) + penalty * (weight ** 2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        return (q @ weight.T + bias).argmax(dim=1)


def classify(baseline: str, support: torch.Tensor, labels: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Predictions of ``baseline`` (:data:`BASELINES`) for the query features."""
    options = dict(BASELINE_OPTIONS[baseline])
    kind = options.pop("classifier")
    if kind == "prototype":
        return prototype_predict(support, labels, query, metric=options["metric"])
    if kind == "logistic_regression":
        return linear_probe_predict(support, labels, query, **options)
    raise ValueError(f"Unknown classifier {kind!r}")


def pooled_features(output: Any) -> torch.Tensor:
    """``(batch, dim)`` features of a backbone output: its ``pooler_output`` (DINOv2: the final-norm [CLS] token;
    ResNet: the global average pool of the last stage), else the final-norm [CLS] token of ``last_hidden_state``
    (a ViT without a pooler), else the spatial mean of a feature map."""
    pooled = getattr(output, "pooler_output", None)
    if pooled is not None:
        return pooled.flatten(1)
    hidden = output.last_hidden_state
    return hidden[:, 0] if hidden.dim() == 3 else hidden.mean(dim=(2, 3))


def ancestry_features(ctx: Context, family: str, dataset: Any, batch_size: int = 50) -> tuple[torch.Tensor,
                                                                                              torch.Tensor]:
    """Features (:func:`pooled_features` of the frozen whole ancestry) and labels of ``dataset``'s rows, each image
    through the descendants' evaluation transform (``ctx.transform(family)`` without augmentation: the same size and
    normalisation as the descendant runs)."""
    from hf_learngene.families import get_family

    backbone = get_family(family).backbone(ctx.ancestry(family))
    transformed = dataset.with_transform(ctx.transform(family).with_train(False))
    features, labels = [], []
    with torch.no_grad():
        for start in range(0, len(transformed), batch_size):
            batch = collate_fn([transformed[i] for i in range(start, min(start + batch_size, len(transformed)))])
            features.append(pooled_features(backbone(pixel_values=batch["pixel_values"])).float())
            labels.append(batch["labels"])
    return torch.cat(features), torch.cat(labels)


#: The feature extractor of the baselines (a seam for tests: ``(ctx, family, dataset) -> (features, labels)``).
FeatureFn = Callable[["Context", str, Any], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass(frozen=True)
class BaselineSpec:
    """Everything that determines one baseline record (its hash is the cache key): the task (family, seed, shots,
    classes, dataset), its test images (``eval_per_class``), the frozen ancestry (weights fingerprint), the images'
    transform, the features and the classifier's options."""

    family: str
    baseline: str
    task_seed: int
    samples_per_class: int
    n_way: int
    classes: str
    dataset: str
    ancestry: str
    image_size: int
    eval_per_class: int | None
    transform: str
    features: str
    options: str
    profile: str
    version: int = BASELINE_VERSION

    @property
    def key(self) -> str:
        return f"{self.family}_{EXPERIMENT}-{self.baseline}-{_hash(asdict(self))}"


def _transform_key(ctx: Context, family: str) -> str:
    tf = ctx.transform(family).with_train(False)
    fields = {name: getattr(tf, name) for name in ("size", "mean", "std", "resize_shortest_edge", "resample",
                                                   "crop_offset", "rescale_factor", "do_normalize")}
    return _hash(fields, 12)


def baseline_spec(ctx: Context, family: str, baseline: str, task_seed: int, shots: int) -> BaselineSpec:
    """The :class:`BaselineSpec` of ``baseline`` on task ``task_seed`` with ``shots`` support images per class."""
    if baseline not in BASELINE_OPTIONS:
        raise ValueError(f"Unknown baseline {baseline!r}; choose from {', '.join(BASELINES)}")
    p = ctx.profile
    return BaselineSpec(
        family=family, baseline=baseline, task_seed=int(task_seed), samples_per_class=int(shots), n_way=p.n_way,
        classes=format_class_spec(MINI_IMAGENET_SPLIT.descendant), dataset=ctx.dataset_id,
        ancestry=ctx.ancestry_fingerprint(family), image_size=ctx.image_size(family), eval_per_class=p.eval_per_class,
        transform=_transform_key(ctx, family), features=FEATURES,
        options=_hash(BASELINE_OPTIONS[baseline], 12), profile=p.name)


def baseline_path(ctx: Context, spec: BaselineSpec) -> Path:
    return ctx.runs_dir / f"{spec.key}.json"


def load_baseline(ctx: Context, spec: BaselineSpec) -> dict[str, Any] | None:
    path = baseline_path(ctx, spec)
    return json.loads(path.read_text()) if path.exists() else None


@dataclass
class BaselineRunner:
    """Computes baseline records; the features of a task's images are extracted once per session (the test images are
    shared by every baseline and shot count). A record's ``wall_time_s`` is what the baseline costs alone: the
    features of its support and test images plus the fit."""

    ctx: Context
    feature_fn: FeatureFn = ancestry_features
    _cache: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor, float]] = field(default_factory=dict, repr=False)

    def _features(self, key: tuple[Any, ...], family: str, dataset: Any) -> tuple[torch.Tensor, torch.Tensor, float]:
        if key not in self._cache:
            start = time.time()
            features, labels = self.feature_fn(self.ctx, family, dataset)
            self._cache[key] = (features, labels, time.time() - start)
        return self._cache[key]

    def run(self, spec: BaselineSpec, force: bool = False) -> dict[str, Any]:
        """The record of ``spec`` (cached, else computed and written to ``<output>/runs/<key>.json``)."""
        if not force:
            cached = load_baseline(self.ctx, spec)
            if cached is not None:
                return cached
        raw = self.ctx.raw
        with _no_datasets_progress():
            task = make_task(raw["train"], raw["test"], spec.classes, n_way=spec.n_way,
                             samples_per_class=spec.samples_per_class, seed=spec.task_seed)
            test = ft.first_per_class(task.test, spec.eval_per_class)  # the descendant runs' test images
        family = spec.family
        base = (family, spec.task_seed, spec.n_way, spec.classes, spec.ancestry, spec.transform)
        support, support_labels, support_time = self._features((*base, "train", spec.samples_per_class), family,
                                                               task.train)
        query, query_labels, query_time = self._features((*base, "test", spec.eval_per_class), family, test)
        start = time.time()
        predictions = classify(spec.baseline, support, support_labels, query)
        fit_time = time.time() - start
        accuracy = float((predictions == query_labels).double().mean())
        ancestry_parameters = count_parameters(self.ctx.ancestry(family))
        record = {
            "key": spec.key, "spec": asdict(spec), "experiment": EXPERIMENT, "task_classes": task.classes,
            "baseline_options": BASELINE_OPTIONS[spec.baseline],
            "result": {"final_accuracy": accuracy, "num_train_samples": len(task.train),
                       "num_eval_samples": len(test), "feature_dim": int(support.shape[1]),
                       "num_parameters": ancestry_parameters, "num_trained_parameters": 0,
                       "feature_time_s": support_time + query_time, "fit_time_s": fit_time,
                       "wall_time_s": support_time + query_time + fit_time},
            "ancestry_num_parameters": ancestry_parameters,
            "num_threads": torch.get_num_threads(), "versions": versions(), "finished": _now(),
        }
        _write_json(baseline_path(self.ctx, spec), record)
        return record


# --------------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Table3Settings:
    """What one Table 3 covers: families, shots, tasks per family (descendants and baselines), methods, baselines."""

    families: tuple[str, ...] = DEFAULT_FAMILIES
    shots: tuple[int, ...] = SHOTS
    num_tasks: Mapping[str, int] = field(default_factory=dict)
    baseline_num_tasks: Mapping[str, int] = field(default_factory=dict)
    methods: tuple[str, ...] = METHODS
    baselines: tuple[str, ...] = BASELINES

    def __post_init__(self) -> None:
        unknown = [b for b in self.baselines if b not in BASELINE_OPTIONS]
        if unknown:
            raise ValueError(f"Unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}")
        if not self.shots or min(self.shots) < 1:
            raise ValueError(f"shots must be positive, got {self.shots}")
        for name, counts in (("num_tasks", self.num_tasks), ("baseline_num_tasks", self.baseline_num_tasks)):
            if any(n < 1 for n in counts.values()):
                raise ValueError(f"{name} must be >= 1, got {dict(counts)}")

    def tasks(self, family: str) -> int:
        return int(self.num_tasks.get(family, DEFAULT_NUM_TASKS))

    def baseline_tasks(self, family: str) -> int:
        return int(self.baseline_num_tasks.get(family, self.tasks(family)))

    def as_dict(self) -> dict[str, Any]:
        return {"families": list(self.families), "shots": list(self.shots),
                "num_tasks": {f: self.tasks(f) for f in self.families},
                "baseline_num_tasks": {f: self.baseline_tasks(f) for f in self.families},
                "methods": list(self.methods), "baselines": list(self.baselines)}


def table3_specs(ctx: Context, settings: Table3Settings, family: str) -> list[RunSpec]:
    """The descendant runs of ``family``: task by task (an interrupted session leaves complete tasks), every shot
    count, every method (Auto before the methods that may copy its record); deduplicated by key."""
    seen: dict[str, RunSpec] = {}
    for task in range(settings.tasks(family)):
        for shots in settings.shots:
            for method in settings.methods:
                for spec in method_specs(ctx, family, method, task, shots):
                    seen.setdefault(spec.key, spec)
    return list(seen.values())


def table3_baseline_specs(ctx: Context, settings: Table3Settings, family: str) -> list[BaselineSpec]:
    """The baseline records of ``family``: task by task, every shot count and baseline."""
    return [baseline_spec(ctx, family, b, t, s) for t in range(settings.baseline_tasks(family))
            for s in settings.shots for b in settings.baselines]


def plan_table3(ctx: Context, settings: Table3Settings) -> dict[str, dict[str, list[Any]]]:
    """``{family: {"baselines": [BaselineSpec], "runs": [RunSpec]}}``."""
    return {f: {"baselines": table3_baseline_specs(ctx, settings, f), "runs": table3_specs(ctx, settings, f)}
            for f in settings.families}


def run_table3(ctx: Context, settings: Table3Settings, *, max_runs: int | None = None, command: str | None = None,
               baselines_only: bool = False, feature_fn: FeatureFn | None = None,
               on_run: Callable[[RunSpec, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Compute the missing baseline records (seconds per task), train the missing descendant runs (at most
    ``max_runs`` trainings in this call, copies of Auto's record not counted; claimed, so parallel processes of one plan train each run once), then write the
    summaries (:func:`summarize_table3`)."""
    plan = plan_table3(ctx, settings)
    runner = BaselineRunner(ctx, feature_fn or ancestry_features)
    trained = 0
    for family in settings.families:
        for spec in plan[family]["baselines"]:
            path = baseline_path(ctx, spec)
            if path.exists():
                continue
            with claim_run(path) as mine:
                if mine and not path.exists():
                    runner.run(spec)
        if baselines_only:
            continue
        todo = [s for s in plan[family]["runs"] if not run_path(ctx, s).exists()]
        logger.info("table3 %s: %d descendant runs planned, %d to train", family, len(plan[family]["runs"]),
                    len(todo))
        for spec in todo:
            if max_runs is not None and trained >= max_runs:
                break
            path = run_path(ctx, spec)
            with claim_run(path) as mine:
                if not mine or path.exists():  # another process is training it / just finished it
                    continue
                logger.info("table3: %s/%s task %d, %d shots", family, spec.method, spec.task_seed,
                            spec.samples_per_class)
                record = run_one(ctx, spec)
                trained += not record.get("identical_to")  # a copy of Auto's record costs nothing
            if on_run is not None:
                on_run(spec, record)
    return summarize_table3(ctx, settings, command=command)


# --------------------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------------------
def _cell(records: list[dict[str, Any]]) -> dict[str, Any]:
    per_task = {int(r["spec"]["task_seed"]): float(r["result"]["final_accuracy"]) for r in records}
    ci = confidence_interval(list(per_task.values()))
    walls = [r["result"].get("wall_time_s") for r in records if r["result"].get("wall_time_s") is not None]
    return {**ci, "num_tasks": len(per_task), "task_seeds": sorted(per_task),
            "per_task": {str(t): a for t, a in sorted(per_task.items())},
            "num_parameters": records[0]["result"].get("num_parameters") if records else None,
            "mean_wall_time_s": float(np.mean(walls)) if walls else None,
            "identical_to_auto": bool(records) and all(r.get("identical_to") for r in records),
            "keys": [r["key"] for r in records]}


def _paired(mine: dict[str, float], auto: dict[str, float]) -> dict[str, Any] | None:
    tasks = sorted(set(mine) & set(auto), key=int)
    if not tasks:
        return None
    diffs = [mine[t] - auto[t] for t in tasks]
    return {**confidence_interval(diffs), "task_seeds": [int(t) for t in tasks],
            "wins": int(sum(d > 0 for d in diffs)), "ties": int(sum(d == 0 for d in diffs))}


def _collect(ctx: Context, settings: Table3Settings, family: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``{row: {str(shots): cell}}``: every baseline and method of the settings, from the cached records."""
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for baseline in settings.baselines:
        cells[baseline] = {}
        for shots in settings.shots:
            records = [r for r in (load_baseline(ctx, baseline_spec(ctx, family, baseline, t, shots))
                                   for t in range(settings.baseline_tasks(family))) if r is not None]
            cells[baseline][str(shots)] = _cell(records)
    for method in settings.methods:
        cells[method] = {}
        for shots in settings.shots:
            records = [r for r in (load_run(ctx, s) for t in range(settings.tasks(family))
                                   for s in method_specs(ctx, family, method, t, shots)) if r is not None]
            cells[method][str(shots)] = _cell(records)
    return cells


def _fmt(cell: dict[str, Any]) -> str:
    if not cell["n"]:
        return "-"
    half = "" if cell["half"] is None else f" ± {100 * cell['half']:.1f}"
    return f"{100 * cell['mean']:.1f}{half}"


def _paper(row: str, shots: int) -> str:
    match = PAPER_ROW_OF.get(row)
    if match is None:
        return ""
    relation, name = match
    mean, pm = PAPER_TABLE3[name][PAPER_COLUMN][shots]
    return f"{relation} {mean:.2f} ± {pm:.2f} ({name})"


def summarize_table3(ctx: Context, settings: Table3Settings, command: str | None = None) -> dict[str, Any]:
    """Write ``table3.{json,md,png}`` per :func:`~harness.experiments.family_groups` group from the cached records;
    returns ``{"table3": summary}`` for the home-trained group and ``{"<family>/table3": summary}`` for the others."""
    from .experiments import family_groups

    out = {}
    for group, members in family_groups(settings.families):
        out[f"{group}/{EXPERIMENT}" if group else EXPERIMENT] = _summarize_group(ctx, settings, members, command)
    return out


def _summarize_group(ctx: Context, settings: Table3Settings, families: Sequence[str],
                     command: str | None) -> dict[str, Any]:
    p = ctx.profile
    data = _header(ctx, EXPERIMENT, families)
    data.update({"command": command, "settings": settings.as_dict(), "epochs": p.epochs,
                 "eval_per_class": p.eval_per_class, "ci": {"level": CI_LEVEL, "method": CI_METHOD},
                 "baseline_options": {b: BASELINE_OPTIONS[b] for b in settings.baselines}, "features": FEATURES,
                 "paper_table3": {"source": PAPER_TABLE3_SOURCE, "column_beside_ours": PAPER_COLUMN,
                                  "rows": {name: {col: {str(s): list(v) for s, v in shots.items()}
                                                  for col, shots in cols.items()}
                                           for name, cols in PAPER_TABLE3.items()},
                                  "our_rows": {row: list(match) for row, match in PAPER_ROW_OF.items()}},
                 "cells": {}, "paired_vs_auto": {}, "runs": []})
    rows = [*settings.baselines, *settings.methods]
    for family in families:
        cells = _collect(ctx, settings, family)
        data["cells"][family] = cells
        data["runs"] += sorted({k for row in cells.values() for cell in row.values() for k in cell["keys"]})
        paired: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row == "auto":
                continue
            for shots in settings.shots:
                pair = _paired(cells[row][str(shots)]["per_task"], cells.get("auto", {}).get(str(shots), {})
                               .get("per_task", {}))
                if pair is not None:
                    paired.setdefault(row, {})[str(shots)] = pair
        data["paired_vs_auto"][family] = paired
    markdown = _markdown(ctx, settings, families, data)
    return _finish(ctx, EXPERIMENT, data, markdown, _plot(settings, families, data))


def _markdown(ctx: Context, settings: Table3Settings, families: Sequence[str], data: dict[str, Any]) -> str:
    p = ctx.profile
    shots = settings.shots
    lines = [f"# Table 3: few-shot ({p.n_way}-way, classes 80-99; {p.name} profile)", ""]
    if data["command"]:
        lines += [f"Made by `{data['command']}`.", ""]
    test_images = (f"the first {p.eval_per_class} test images of each class" if p.eval_per_class
                   else "all test images of its classes")
    lines += [(f"Test accuracy (%) per task, mean ± the half-width of its {100 * CI_LEVEL:.0f} % confidence interval "
               f"over tasks ({CI_METHOD}); n = number of tasks (task seeds 0..n-1). Every row of a task is evaluated on "
               f"the same test images ({test_images}). Descendants: {p.epochs} epochs at `samples_per_class` = shots "
               "(the profile's recipe); baselines: no training of the ancestry, its pooled features (DINOv2: "
               "final-norm [CLS]; ResNet: global average pool) of the support images classified by nearest class mean "
               "or a logistic-regression probe (L2-normalised features, C = 1, L-BFGS)."), ""]
    for family in families:
        cells = data["cells"][family]
        header = ["Method", "params"]
        for s in shots:
            header += [f"{s}-shot", "n"]
        header += ["s / run (" + " / ".join(f"{s}-shot" for s in shots) + ")"]
        header += [f"paper {s}-shot ({PAPER_COLUMN})" for s in shots if s in (10, 20)]
        lines += [f"## {FAMILY_LABELS.get(family, family)}", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        for row in [*settings.baselines, *settings.methods]:
            first = next((c for c in cells[row].values() if c["n"]), None)
            params = f"{first['num_parameters'] / 1e6:.2f}M" if first and first.get("num_parameters") else "-"
            if row in settings.baselines and first:
                params += " frozen"
            values = []
            for s in shots:
                cell = cells[row][str(s)]
                values += [_fmt(cell) + (" (= Auto)" if cell["identical_to_auto"] else ""), str(cell["n"])]
            walls = [cells[row][str(s)]["mean_wall_time_s"] for s in shots]
            values.append(" / ".join("-" if w is None else f"{w:.0f}" for w in walls))
            values += [_paper(row, s) for s in shots if s in (10, 20)]
            lines.append(f"| {row_label(row)} | {params} | " + " | ".join(values) + " |")
        paired = data["paired_vs_auto"][family]
        if paired:
            lines += ["", (f"Paired differences to Auto-Learngene on the same tasks (points, mean ± "
                           f"{100 * CI_LEVEL:.0f} % CI; wins = tasks where the row beats Auto):"), "",
                      "| Row | " + " | ".join(f"{s}-shot" for s in shots) + " |", "|---|" + "---|" * len(shots)]
            for row, by_shots in paired.items():
                values = []
                for s in shots:
                    pair = by_shots.get(str(s))
                    if pair is None:
                        values.append("-")
                        continue
                    half = "" if pair["half"] is None else f" ± {100 * pair['half']:.1f}"
                    values.append(f"{100 * pair['mean']:+.1f}{half} ({pair['wins']}/{pair['n']} wins)")
                lines.append(f"| {row_label(row)} - Auto | " + " | ".join(values) + " |")
        lines.append("")
    lines += ["## The paper's Table 3 (citation, not our results)", "",
              f"Source: {PAPER_TABLE3_SOURCE}. Accuracy (%).", "",
              "| Method | " + " | ".join(f"{col} {s}-shot" for col in next(iter(PAPER_TABLE3.values()))
                                       for s in (10, 20)) + " |",
              "|---|" + "---|" * 4]
    for name, cols in PAPER_TABLE3.items():
        lines.append(f"| {name} | " + " | ".join(f"{m:.2f} ± {pm:.2f}" for col in cols.values()
                                                 for m, pm in (col[10], col[20])) + " |")
    lines.append("")
    return "\n".join(lines)


def _plot(settings: Table3Settings, families: Sequence[str], data: dict[str, Any]) -> Any:
    plt = _plt()
    rows = [*settings.baselines, *settings.methods]
    fig, axes = plt.subplots(1, len(families), figsize=(max(6.0, 0.9 * len(rows) + 2) * len(families), 4.2),
                             squeeze=False)
    width = 0.8 / len(settings.shots)
    for ax, family in zip(axes[0], families):
        cells = data["cells"][family]
        for i, s in enumerate(settings.shots):
            xs = np.arange(len(rows)) + (i - (len(settings.shots) - 1) / 2) * width
            means = [100 * (cells[r][str(s)]["mean"] or 0.0) for r in rows]
            halves = [100 * (cells[r][str(s)]["half"] or 0.0) for r in rows]
            colors = [BASELINE_COLORS.get(r) or METHOD_COLORS.get(r, "gray") for r in rows]
            ax.bar(xs, means, width, yerr=halves, capsize=2, color=colors, alpha=0.55 + 0.45 * i /
                   max(1, len(settings.shots) - 1), edgecolor="black", linewidth=0.4, label=f"{s}-shot")
        ax.set_xticks(np.arange(len(rows)), [r.replace("_", "\n", 1) for r in rows], fontsize=7)
        ax.set_ylabel(f"test accuracy (%), ±{100 * CI_LEVEL:.0f} % CI")
        ax.set_title(f"{FAMILY_LABELS.get(family, family)}: 5-way " + "/".join(map(str, settings.shots)) + "-shot")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def as_num_tasks(value: int | Mapping[str, int] | None, families: Sequence[str]) -> dict[str, int]:
    """``N`` (every family) or ``{family: N}`` -> ``{family: N}`` (missing families: :data:`DEFAULT_NUM_TASKS`)."""
    if value is None:
        return {f: DEFAULT_NUM_TASKS for f in families}
    if isinstance(value, int):
        return {f: value for f in families}
    return {f: int(value.get(f, DEFAULT_NUM_TASKS)) for f in families}
