"""The figures of a hyper-parameter search (a Study of fidle_runs.report.studies): its
optimisation history, the objective against each parameter (slice plots) and the parameters'
importance; matplotlib without pyplot, PNG bytes like fidle_runs.report.plots."""

import math
import textwrap

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fidle_runs.report.plots import _axis_label, png
from fidle_runs.report.studies import Study


def optimisation_history(study: Study) -> bytes:
    """Each completed trial's objective by trial number, the best so far as a step line, and
    its test value beside it (hollow diamonds) when the objective is another metric; pruned
    trials at the monitor value they were stopped at (hollow), failed and diverged ones as red
    ticks on the axis; a search chosen on its test set carries its warning in the title."""
    metric = study.objective
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    complete = study.completed
    ax.scatter([t.number for t in complete], [metric.shown(t.value) for t in complete], s=26,
               color="#1f77b4", label=f"{metric.name} (complete)", zorder=3)
    pruned = [t for t in study.trials if t.state == "pruned" and t.value is not None]
    if pruned:
        ax.scatter([t.number for t in pruned], [metric.shown(t.value) for t in pruned], s=26,
                   facecolors="none", edgecolors="#7f7f7f", label="pruned (monitor when stopped)",
                   zorder=3)
    tested = [t for t in complete if study.beside(t)]
    if tested and study.primary is not None:
        ax.scatter([t.number for t in tested], [study.primary.shown(t.primary) for t in tested],
                   s=30, marker="D", facecolors="none", edgecolors="#2ca02c", zorder=3,
                   label=f"{study.primary.name} (recorded, not chosen on)")
    steps = [(t.number, metric.shown(b)) for t, b in zip(study.trials, study.best_so_far(),
                                                          strict=True) if b is not None]
    if steps:
        ax.step(*zip(*steps, strict=True), where="post", color="#d62728", linewidth=1.2,
                label="best so far")
    failed = [t.number for t in study.trials if t.state in ("fail", "diverged")]
    if failed:
        ax.plot(failed, [0] * len(failed), "|", color="red", markersize=14, clip_on=False,
                transform=ax.get_xaxis_transform(), label="failed or diverged")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(_axis_label(metric) if not tested else
                  f"{_axis_label(metric)}, {_axis_label(study.primary)}")
    title = f"search {study.name}: {study.counts()}"
    if study.warning:
        title += "\n" + textwrap.fill(study.warning, 110)
    ax.set_title(title, fontsize=10 if not study.warning else 8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png(fig)


def slices(study: Study) -> bytes:
    """One panel per parameter: each completed trial's objective against its value, coloured
    by trial number (later trials brighter); log axes for parameters searched on a log scale."""
    metric = study.objective
    params = list(dict.fromkeys(name for t in study.completed for name in t.params))
    columns = min(3, max(1, len(params)))
    rows = math.ceil(len(params) / columns)
    fig = Figure(figsize=(4.2 * columns, 3.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    last = max((t.number for t in study.trials), default=1) or 1
    for ax, name in zip(axes, params, strict=False):
        trials = [t for t in study.completed if name in t.params]
        values = [t.params[name] for t in trials]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        x = values if numeric else [str(v) for v in values]
        ax.scatter(x, [metric.shown(t.value) for t in trials], s=24,
                   c=[t.number / last for t in trials], cmap="viridis", vmin=0, vmax=1)
        if numeric and name in study.log_params:
            ax.set_xscale("log")
        ax.set_xlabel(name, fontsize=8)
        ax.set_ylabel(_axis_label(metric), fontsize=8)
        ax.tick_params(labelsize=7)
        if not numeric:
            ax.tick_params(axis="x", labelrotation=30)
        ax.grid(alpha=0.3)
    for ax in axes[len(params):]:
        ax.set_visible(False)
    fig.suptitle(f"search {study.name}: {metric.name} against each parameter (colour: trial "
                 "number, later brighter)", fontsize=10)
    fig.tight_layout()
    return png(fig)


def importances(values: dict[str, float], study: Study) -> bytes:
    """Horizontal bars, the most important parameter on top."""
    names = sorted(values, key=values.get)
    fig = Figure(figsize=(7, 0.9 + 0.45 * len(names)))
    ax = fig.subplots()
    ax.barh(names, [values[n] for n in names], color="#1f77b4")
    for y, name in enumerate(names):
        ax.text(values[name], y, f" {values[name]:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.1 * max(values.values()))
    ax.set_xlabel(f"importance for {study.objective.name} (fANOVA, sums to 1)")
    ax.tick_params(labelsize=8)
    ax.set_title(f"search {study.name}: parameter importance", fontsize=10)
    return png(fig)
