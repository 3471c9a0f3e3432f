"""Plots of condensing scores (matplotlib, written as PNG)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_SUBPLOTS_KEYWORDS = ("sharex", "sharey", "squeeze", "width_ratios", "height_ratios", "subplot_kw", "gridspec_kw")


class _AggPlots:
    """``plt.subplots`` / ``plt.close`` for the plots of this module, on Agg canvases kept out of pyplot.

    Figures are drawn by the non-interactive Agg renderer and never registered with pyplot: saving a plot neither
    switches matplotlib's global backend (no ``matplotlib.use``) nor opens a window or an inline image in a notebook.
    Other attributes are pyplot's (imported on first use).
    """

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
        """Like ``pyplot.subplots``: grid keywords go to ``Figure.subplots``, the rest (``figsize``...) to ``Figure``."""
        grid = {k: kwargs.pop(k) for k in _SUBPLOTS_KEYWORDS if k in kwargs}
        fig = Figure(**kwargs)
        FigureCanvasAgg(fig)
        return fig, fig.subplots(nrows, ncols, **grid)

    @staticmethod
    def close(fig: Any) -> None:
        """Release ``fig`` (pyplot's figures too, when pyplot is loaded)."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(fig)

    def __getattr__(self, name: str) -> Any:
        import matplotlib.pyplot

        return getattr(matplotlib.pyplot, name)


plt = _AggPlots()


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it to ``path`` (PNG) and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)


def plot_pair_scores(pair_scores: np.ndarray, path: str | Path, title: str = "Pair scores alpha^{l,k}") -> Path:
    """Heatmap of the ``L x K`` pair scores (ancestry layer vs pseudo-descendant layer)."""
    scores = np.asarray(pair_scores)
    fig, ax = plt.subplots(figsize=(max(4.8, 1.6 + 0.55 * scores.shape[1]), max(3.0, 1.2 + 0.4 * scores.shape[0])))
    image = ax.imshow(scores, aspect="auto", cmap="viridis")
    ax.set_xlabel("pseudo-descendant layer k")
    ax.set_ylabel("ancestry layer l")
    ax.set_xticks(range(scores.shape[1]))
    ax.set_yticks(range(scores.shape[0]))
    for (l, k), value in np.ndenumerate(scores):
        ax.text(k, l, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="white" if value < scores.mean() else "black")
    fig.colorbar(image, ax=ax)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def plot_layer_scores(layer_scores: np.ndarray, path: str | Path, selected: list[int] | None = None,
                      frequency: np.ndarray | None = None, title: str = "Layer scores") -> Path:
    """Bar chart of the normalised layer scores with the ``1/L`` selection line."""
    scores = np.asarray(layer_scores)
    num_layers = len(scores)
    selected = set(selected or [])
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * num_layers + 1.5), 3.2))
    colors = ["tab:green" if i in selected else "tab:gray" for i in range(num_layers)]
    ax.bar(range(num_layers), scores, color=colors)
    ax.axhline(1.0 / num_layers, color="tab:red", linestyle="--", label=f"1/L = {1.0 / num_layers:.3f}")
    if frequency is not None:
        for i, f in enumerate(frequency):
            ax.text(i, scores[i], f"{f:.0%}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(num_layers))
    ax.set_xlabel("ancestry layer l (green: selected; labels: share of repeats selecting it)"
                  if frequency is not None else "ancestry layer l (green: selected)")
    ax.set_ylabel("score")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_score_trajectory(steps: list[int], values: np.ndarray, path: str | Path,
                          title: str = "Scores during condensing") -> Path:
    """One line per ancestry layer: ``max_k alpha^{l,k}`` (``values``, shape ``(len(steps), L)``) over the steps."""
    import matplotlib.pyplot as plt

    values = np.asarray(values)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    cmap = plt.get_cmap("viridis", max(2, values.shape[1]))
    for layer in range(values.shape[1]):
        ax.plot(steps, values[:, layer], color=cmap(layer), label=f"l={layer}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("max_k alpha^(l,k) (logged window mean)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6, ncol=2, loc="best")
    return save_figure(fig, path)
