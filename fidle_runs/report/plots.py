"""The figures that compare runs (matrix heatmaps, metric vs duration, learning curves), each
drawn with matplotlib (no pyplot state, no display) and returned as PNG bytes for embedding."""

import io
import math
from collections.abc import Sequence

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from fidle_runs.report.learning_curves import Curves
from fidle_runs.report.metric import Metric
from fidle_runs.report.ranking import Matrix
from fidle_runs.report.run_index import RunRow
from fidle_runs.report.wording import plural

DPI = 100
MODEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
                "#17becf", "#7f7f7f", "#bcbd22")


def png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    return out.getvalue()


def model_color(models: Sequence[str], model: str) -> str:
    return MODEL_COLORS[sorted(models).index(model) % len(MODEL_COLORS)]


def metric_heatmap(matrix: Matrix) -> bytes:
    """The mean metric of each dataset x model seed group with its 95 % interval, brighter where
    better (whatever the direction); a fraction on the absolute 0..100 % scale, so a winner near
    chance is not drawn as a success; another metric on a scale at least four times its widest
    interval, so differences within the noise are not drawn as extremes. The best mean of each
    dataset framed, the winner in bold, the cells tied with it framed dashed; FIDLE's published
    number under ours where it has one."""
    metric = matrix.metric
    values = np.full((len(matrix.datasets), len(matrix.models)), np.nan)
    for (dataset, model), cell in matrix.cells.items():
        values[matrix.datasets.index(dataset), matrix.models.index(model)] = \
            metric.shown(cell.value)
    finite = values[np.isfinite(values)]
    widths = [metric.shown(c.group.interval.high) - metric.shown(c.group.interval.low)
              for c in matrix.cells.values() if c.group.interval is not None]
    span = max(float(np.ptp(finite)), 4 * max(widths, default=0.0)) or 1.0
    middle = (finite.min() + finite.max()) / 2
    norm = (Normalize(0, 100) if metric.fraction
            else Normalize(middle - span / 2, middle + span / 2))
    fig = Figure(figsize=(1.6 + 1.5 * len(matrix.models), 0.9 + 0.55 * len(matrix.datasets)))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(values), norm=norm, aspect="auto",
                      cmap="viridis" if metric.mode == "max" else "viridis_r")
    fig.colorbar(image, ax=ax, label=_axis_label(metric), shrink=0.9)
    ax.set_xticks(range(len(matrix.models)), matrix.models)
    ax.set_yticks(range(len(matrix.datasets)), matrix.datasets)
    ax.xaxis.tick_top()
    winner = matrix.winner()
    for i, dataset in enumerate(matrix.datasets):
        best = matrix.best_model(dataset)
        for j, model in enumerate(matrix.models):
            if not np.isfinite(values[i, j]):
                continue
            cell = matrix.cells[(dataset, model)]
            text = metric.format(cell.value)
            if cell.group.interval is not None:
                half = (cell.group.interval.high - cell.group.interval.low) / 2
                text += f" ±{metric.format(half)}"
            text += f"\nn={cell.runs}"
            reference = matrix.fidle(dataset, model)
            if reference is not None:
                text += f"\nFIDLE {metric.format(reference)}"
            position = norm(values[i, j])
            bright = position > 0.5 if metric.mode == "max" else position < 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="black" if bright else "white",
                    fontweight="bold" if (dataset, model) == winner else "normal")
            if model == best:
                ax.add_patch(_frame(j, i, "red" if (dataset, model) == winner else "black"))
            elif cell.tied:
                ax.add_patch(_frame(j, i, "red", linestyle="--"))
    ax.set_title(f"{matrix.label} data: mean {_axis_label(metric)} ± half its 95 % interval, "
                 "best mean per dataset framed, winner in red, tied with it dashed", fontsize=9,
                 pad=24)
    return png(fig)


def _axis_label(metric: Metric) -> str:
    """`test_acc (%)`, `test_mae (lower is better)`."""
    unit = " (%)" if metric.fraction else ""
    return f"{metric.name}{unit}" + (", lower is better" if metric.mode == "min" else "")


def _frame(x: float, y: float, color: str, linestyle: str = "-") -> Rectangle:
    return Rectangle((x - 0.47, y - 0.45), 0.94, 0.9, fill=False, edgecolor=color, linewidth=2,
                     linestyle=linestyle)


def metric_vs_duration(rows: list[RunRow], metric: Metric, label: str) -> bytes:
    """Every completed run: its metric against its duration (fit + test), one colour per model,
    with the front of runs nothing beat faster (best so far in the metric's direction)."""
    runs = sorted((r for r in rows if r.primary_value is not None), key=lambda r: r.duration_s)
    models = sorted({r.model for r in runs})
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for model in models:
        mine = [r for r in runs if r.model == model]
        ax.scatter([r.duration_s / 60 for r in mine],
                   [metric.shown(r.primary_value) for r in mine], s=22,
                   color=model_color(models, model), label=model, alpha=0.8)
    front: list[RunRow] = []
    for r in runs:
        if not front or metric.better(r.primary_value, front[-1].primary_value):
            front.append(r)
    ax.step([r.duration_s / 60 for r in front], [metric.shown(r.primary_value) for r in front],
            where="post", color="gray", linewidth=1, label="best so far")
    durations = [r.duration_s for r in runs if r.duration_s > 0]
    if durations and max(durations) / min(durations) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("duration (minutes, fit + test)")
    ax.set_ylabel(_axis_label(metric))
    ax.set_title(f"{label} data: {metric.name} vs duration ({plural(len(runs), 'run')})",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png(fig)


def learning_curves(panels: dict[str, list[tuple[str, str, Curves]]], measure: str,
                    fraction: bool, label: str) -> bytes:
    """One panel per dataset, one colour per model: validation solid, training dashed.
    `panels` maps dataset -> [(model, legend, curves)]; `measure` is what is drawn (acc, mae,
    loss), in % when it is a `fraction`."""
    models = sorted({model for lines in panels.values() for model, _, _ in lines})
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(3.6 * columns, 2.8 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    scale = 100 if fraction else 1
    for ax, (dataset, lines) in zip(axes, panels.items(), strict=False):
        for model, legend, curves in lines:
            color = model_color(models, model)
            for stage, style in (("val", "-"), ("train", "--")):
                series = curves.series.get(f"{stage}_{measure}")
                if series:
                    ax.plot(series[0], [scale * v for v in series[1]], style, color=color,
                            marker="." if len(series[0]) < 30 else None,
                            label=legend if stage == "val" else None)
        ax.set_title(dataset, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel(f"{measure} (%)" if fraction else measure, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"{label} data: {measure} per epoch (validation solid, training dashed)",
                 fontsize=10)
    fig.tight_layout()
    return png(fig)
