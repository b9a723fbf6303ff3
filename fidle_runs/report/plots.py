"""The report's figures, each drawn with matplotlib (no pyplot state, no display) and returned
as PNG bytes for embedding."""

import io
import math
from collections.abc import Sequence

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from PIL import Image

from fidle_runs.data.gtsrb.classes import CLASS_NAMES
from fidle_runs.report.fidle_reference import fidle_test_acc
from fidle_runs.report.learning_curves import Curves
from fidle_runs.report.ranking import Matrix
from fidle_runs.report.run_index import RunRow

DPI = 100
MODEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
                "#17becf", "#7f7f7f", "#bcbd22")


def png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    return out.getvalue()


def model_color(models: Sequence[str], model: str) -> str:
    return MODEL_COLORS[sorted(models).index(model) % len(MODEL_COLORS)]


def accuracy_heatmap(matrix: Matrix) -> bytes:
    """Test accuracy (%) of each dataset x model; the best model of each dataset framed, the
    winner in bold; FIDLE's published number under ours where it has one."""
    values = np.full((len(matrix.datasets), len(matrix.models)), np.nan)
    for (dataset, model), cell in matrix.cells.items():
        values[matrix.datasets.index(dataset), matrix.models.index(model)] = 100 * cell.test_acc
    fig = Figure(figsize=(1.6 + 1.5 * len(matrix.models), 0.9 + 0.55 * len(matrix.datasets)))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label="test accuracy (%)", shrink=0.9)
    ax.set_xticks(range(len(matrix.models)), matrix.models)
    ax.set_yticks(range(len(matrix.datasets)), matrix.datasets)
    ax.xaxis.tick_top()
    winner = matrix.winner()
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i, dataset in enumerate(matrix.datasets):
        best = matrix.best_model(dataset)
        for j, model in enumerate(matrix.models):
            if not np.isfinite(values[i, j]):
                continue
            text = f"{values[i, j]:.2f}"
            reference = fidle_test_acc(dataset, model)
            if reference is not None:
                text += f"\nFIDLE {reference:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="black" if values[i, j] > middle else "white",
                    fontweight="bold" if (dataset, model) == winner else "normal")
            if model == best:
                ax.add_patch(_frame(j, i, "red" if (dataset, model) == winner else "black"))
    ax.set_title(f"{matrix.label} data: test accuracy (%), best model per dataset framed, "
                 "winner in red", fontsize=9, pad=24)
    return png(fig)


def _frame(x: float, y: float, color: str) -> Rectangle:
    return Rectangle((x - 0.47, y - 0.45), 0.94, 0.9, fill=False, edgecolor=color, linewidth=2)


def accuracy_vs_duration(rows: list[RunRow], label: str) -> bytes:
    """Every completed run: test accuracy against its duration (fit + test), one colour per
    model, with the front of runs nothing beat faster."""
    runs = sorted((r for r in rows if r.test_acc is not None), key=lambda r: r.duration_s)
    models = sorted({r.model for r in runs})
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for model in models:
        mine = [r for r in runs if r.model == model]
        ax.scatter([r.duration_s / 60 for r in mine], [100 * r.test_acc for r in mine], s=22,
                   color=model_color(models, model), label=model, alpha=0.8)
    front, best = [], -1.0
    for r in runs:
        if r.test_acc > best:
            best = r.test_acc
            front.append(r)
    ax.step([r.duration_s / 60 for r in front], [100 * r.test_acc for r in front], where="post",
            color="gray", linewidth=1, label="best so far")
    durations = [r.duration_s for r in runs if r.duration_s > 0]
    if durations and max(durations) / min(durations) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("duration (minutes, fit + test)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{label} data: accuracy vs duration ({len(runs)} runs)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png(fig)


def learning_curves(panels: dict[str, list[tuple[str, str, Curves]]], metric: str,
                    label: str) -> bytes:
    """One panel per dataset, one colour per model: validation solid, training dashed.
    `panels` maps dataset -> [(model, legend, curves)]; `metric` is "acc" or "loss"."""
    models = sorted({model for lines in panels.values() for model, _, _ in lines})
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(3.6 * columns, 2.8 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for ax, (dataset, lines) in zip(axes, panels.items(), strict=False):
        for model, legend, curves in lines:
            color = model_color(models, model)
            for stage, style in (("val", "-"), ("train", "--")):
                series = curves.series.get(f"{stage}_{metric}")
                if series:
                    scale = 100 if metric == "acc" else 1
                    ax.plot(series[0], [scale * v for v in series[1]], style, color=color,
                            marker="." if len(series[0]) < 30 else None,
                            label=legend if stage == "val" else None)
        ax.set_title(dataset, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("accuracy (%)" if metric == "acc" else "loss", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    name = "accuracy" if metric == "acc" else "loss"
    fig.suptitle(f"{label} data: {name} per epoch (validation solid, training dashed)",
                 fontsize=10)
    fig.tight_layout()
    return png(fig)


def confusion_heatmap(counts: np.ndarray, title: str) -> bytes:
    """Row-normalized confusion matrix (share of each true class), a power scale so that rare
    confusions stay visible beside a bright diagonal."""
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    n = len(counts)
    fig = Figure(figsize=(9, 8))
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="magma_r", norm=PowerNorm(0.4, vmin=0, vmax=1))
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    ax.set_xticks(range(n), [str(c) for c in range(n)], fontsize=6)
    ax.set_yticks(range(n), [f"{CLASS_NAMES[c][:22]} {c}" for c in range(n)], fontsize=6)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    return png(fig)


def class_accuracy_bars(accuracy: np.ndarray, overall: float, title: str) -> bytes:
    """Test accuracy of every class, worst classes in red, overall accuracy dashed."""
    n = len(accuracy)
    fig = Figure(figsize=(8, 0.18 * n + 1.2))
    ax = fig.subplots()
    shown = np.nan_to_num(accuracy, nan=0.0) * 100
    worst = set(np.argsort(shown, kind="stable")[:5].tolist())
    colors = ["#d62728" if c in worst else "#1f77b4" for c in range(n)]
    ax.barh(range(n), shown, color=colors)
    ax.axvline(100 * overall, color="gray", linestyle="--", linewidth=1,
               label=f"all classes {100 * overall:.2f} %")
    ax.set_yticks(range(n), [f"{c} {CLASS_NAMES[c]}" for c in range(n)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("test accuracy of the class (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    return png(fig)


def mistakes_grid(images: np.ndarray, true: np.ndarray, predicted: np.ndarray,
                  confidence: np.ndarray, title: str, columns: int = 8) -> bytes:
    """Misclassified test images, each titled `true → predicted (confidence)` and the predicted
    sign; one mosaic in one axes (32 small axes take seconds to draw)."""
    n, h, w = images.shape[:3]
    scale = max(1, round(64 / h))
    tile_h, tile_w = h * scale, w * scale
    gap_x, gap_y = tile_w // 4, tile_h // 2
    rows = max(1, math.ceil(n / columns))
    mosaic = np.full((rows * (tile_h + gap_y), columns * (tile_w + gap_x), 3), 255, np.uint8)
    tiles = images.repeat(scale, axis=1).repeat(scale, axis=2)
    if tiles.shape[-1] == 1:
        tiles = tiles.repeat(3, axis=-1)
    fig = Figure(figsize=(columns * 1.4, rows * 1.75))
    ax = fig.add_axes((0, 0, 1, 0.93))
    for k in range(n):
        top = (k // columns) * (tile_h + gap_y) + gap_y
        left = (k % columns) * (tile_w + gap_x) + gap_x // 2
        mosaic[top : top + tile_h, left : left + tile_w] = tiles[k]
        ax.text(left + tile_w / 2, top - 2, f"{true[k]} → {predicted[k]} "
                f"({100 * confidence[k]:.0f} %)\n{_short(CLASS_NAMES[predicted[k]])}",
                ha="center", va="bottom", fontsize=7)
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    return png(fig)


def _short(name: str, width: int = 19) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def pictogram(image: np.ndarray, size: int = 40) -> bytes:
    """A class's pictogram, enlarged without smoothing, for the table of confused pairs."""
    out = io.BytesIO()
    Image.fromarray(image).resize((size, size), Image.Resampling.NEAREST).save(out, format="png")
    return out.getvalue()
