"""``compute_metrics`` with `evaluate`, as transformers' own examples do, working offline too.

:func:`load_metric` returns ``evaluate.load(name)`` when the Hub answers; on a machine that cannot reach it (or with
``HF_HUB_OFFLINE=1``) it prints one line and loads the metric module hf_learngene ships for it
(``metric_modules/<name>/<name>.py``: ``accuracy``); without `evaluate` installed (it is the ``evaluate`` extra, not a
dependency) it prints one line and uses :func:`hf_learngene.experiments.training.accuracy_metrics` (numpy) for
``accuracy``. :func:`metric_compute_fn` turns the metric into ``Trainer``'s ``compute_metrics``.

Example:
    >>> compute_metrics = metric_compute_fn("accuracy")  # doctest: +SKIP
    >>> trainer = Trainer(..., compute_metrics=compute_metrics)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: The metric modules shipped with the package (``metric_modules/<name>/<name>.py``).
METRIC_MODULES = Path(__file__).parent / "metric_modules"


def shipped_metrics() -> list[str]:
    """Names of the metric modules hf_learngene ships (the offline fallbacks)."""
    return sorted(p.name for p in METRIC_MODULES.iterdir() if (p / f"{p.name}.py").is_file())


def load_metric(name: str = "accuracy") -> Any:
    """An `evaluate` metric: ``evaluate.load(name)``, else (Hub unreachable) the shipped module of that name; ``None``
    when `evaluate` is not installed. Either fallback prints one line (no traceback).

    Example:
        >>> metric = load_metric("accuracy")  # doctest: +SKIP
        >>> metric.compute(predictions=[0, 1], references=[0, 0])  # doctest: +SKIP
        {'accuracy': 0.5}
    """
    try:
        import evaluate
    except ImportError:
        print(f"hf_learngene: `evaluate` is not installed (pip install 'hf_learngene[evaluate]'); computing {name!r} "
              "with numpy.")
        return None
    try:
        return evaluate.load(name)
    except Exception as err:  # noqa: BLE001 (offline, a blocked Hub, a missing script: evaluate raises many kinds)
        local = METRIC_MODULES / name
        if not (local / f"{name}.py").is_file():
            raise ValueError(f"The metric {name!r} could not be loaded from the Hub ({type(err).__name__}) and "
                             f"hf_learngene ships no copy of it (it ships {', '.join(shipped_metrics())}); use one of "
                             "those or a machine that can reach the Hub.") from None
        print(f"hf_learngene: could not load the metric {name!r} from the Hub ({type(err).__name__}); using the copy "
              "shipped with hf_learngene.")
        return evaluate.load(str(local))


def metric_compute_fn(name: str = "accuracy") -> Callable[[Any], dict[str, float]]:
    """``compute_metrics`` for ``Trainer``: argmax of the logits against the labels, scored with :func:`load_metric`.

    Example:
        >>> fn = metric_compute_fn("accuracy")  # doctest: +SKIP
        >>> fn((np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])))  # doctest: +SKIP
        {'accuracy': 0.5}
    """
    metric = load_metric(name)
    if metric is None:
        if name != "accuracy":
            raise ValueError(f"--metric_name {name!r} needs `evaluate` (pip install 'hf_learngene[evaluate]'); "
                             "without it only 'accuracy' is available.")
        from .training import accuracy_metrics

        return accuracy_metrics

    def compute(eval_pred: Any) -> dict[str, float]:
        logits, labels = (eval_pred.predictions, eval_pred.label_ids) if hasattr(eval_pred, "predictions") \
            else eval_pred
        logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits)
        result = metric.compute(predictions=logits.argmax(-1), references=np.asarray(labels))
        return {key: float(value) for key, value in result.items()}

    return compute
