"""The figures of a forecaster's best run: a stretch of the test series with the truth, the
one-step forecasts and the forecasts iterated several steps ahead, per target, in the data's
units; and the MAE by step ahead beside persistence's."""

import numpy as np
from matplotlib.figure import Figure

from fidle_runs.report.plots import png

MAX_PANELS = 6  # targets drawn (SYNOP has 12: the first ones)


def forecast_stretch(truth: np.ndarray, one_step: np.ndarray,
                     paths: list[tuple[int, np.ndarray]], names: list[str], title: str) -> bytes:
    """truth, one_step: (steps, targets); paths: (first step, (k, targets)) forecasts iterated
    k steps from the window ending just before `first step`."""
    panels = min(len(names), MAX_PANELS)
    fig = Figure(figsize=(9, 1.9 * panels + 0.6))
    axes = np.atleast_1d(fig.subplots(panels, 1, sharex=True))
    steps = np.arange(len(truth))
    for column, ax in enumerate(axes):
        ax.plot(steps, truth[:, column], color="black", linewidth=1.2, label="truth")
        ax.plot(steps, one_step[:, column], color="#1f77b4", linewidth=1, alpha=0.9,
                label="1 step ahead")
        for index, (first, path) in enumerate(paths):
            ax.plot(np.arange(first, first + len(path)), path[:, column], color="#d62728",
                    linewidth=1.2, marker=".", markersize=3,
                    label=f"{len(path)} steps ahead, iterated" if index == 0 else None)
        ax.set_ylabel(names[column])
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8, ncols=3)
    axes[0].set_title(title, fontsize=10)
    axes[-1].set_xlabel("test step")
    return png(fig)


def mae_by_step(network: list[float], persistence: list[float], title: str) -> bytes:
    """Test MAE (z-score) of the forecasts k steps ahead, k = 1..n."""
    fig = Figure(figsize=(6, 3.4))
    ax = fig.subplots()
    k = np.arange(1, len(network) + 1)
    ax.plot(k, network, marker="o", color="#1f77b4", label="network, iterated")
    ax.plot(k, persistence, marker="s", color="#7f7f7f", linestyle="--",
            label="persistence (last value seen)")
    ax.set_xticks(k)
    ax.set_xlabel("steps ahead")
    ax.set_ylabel("test MAE (z-score)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return png(fig)
