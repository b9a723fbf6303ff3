"""The figures of a regressor's best run, in the target's own units: predicted against true
values with the diagonal a perfect model lies on, and the residuals' histogram."""

import numpy as np
from matplotlib.figure import Figure

from fidle_runs.report.plots import png

MAX_PANELS = 4  # targets drawn (the first ones)
BINS = 30


def predicted_vs_true(y_true: np.ndarray, y_pred: np.ndarray, names: list[str],
                      title: str) -> bytes:
    """y_true, y_pred: (samples, targets)."""
    fig, axes = _target_panels(names, 4.2)
    for column, ax in enumerate(axes):
        true, pred = y_true[:, column], y_pred[:, column]
        low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
        ax.plot([low, high], [low, high], color="#7f7f7f", linestyle="--", linewidth=1,
                label="predicted = true")
        ax.scatter(true, pred, s=12, alpha=0.7, color="#1f77b4", edgecolors="none")
        ax.set_xlabel(f"true {names[column]}")
        ax.set_ylabel(f"predicted {names[column]}")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return png(fig)


def residual_histogram(y_true: np.ndarray, y_pred: np.ndarray, names: list[str],
                       title: str) -> bytes:
    """The residuals predicted - true of each target, with their mean (the bias) marked."""
    fig, axes = _target_panels(names, 3.4)
    for column, ax in enumerate(axes):
        residuals = y_pred[:, column] - y_true[:, column]
        ax.hist(residuals, bins=BINS, color="#1f77b4", alpha=0.8)
        ax.axvline(0, color="black", linewidth=1)
        ax.axvline(float(residuals.mean()), color="#d62728", linestyle="--", linewidth=1,
                   label=f"mean {residuals.mean():+.3g}")
        ax.set_xlabel(f"predicted - true {names[column]}")
        ax.set_ylabel("test samples")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return png(fig)


def _target_panels(names: list[str], height: float) -> tuple[Figure, np.ndarray]:
    """A figure of one panel per target, side by side (the first MAX_PANELS targets), and its
    axes in the targets' order."""
    panels = min(len(names), MAX_PANELS)
    fig = Figure(figsize=(4.2 * panels, height))
    return fig, np.atleast_1d(fig.subplots(1, panels))
