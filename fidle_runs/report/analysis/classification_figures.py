"""The figures of a classifier's best run: confusion matrix, accuracy per class, its most
confident mistakes and the classes' pictures, labelled with the dataset's own class names; for
texts, the accuracy by text length."""

import io
import math

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from PIL import Image

from fidle_runs.report.plots import png
from fidle_runs.report.wording import class_label, shorten

ZERO_STUB = 1.0  # width (%) drawn for a class at 0 %, so that its bar shows
LENGTH_BINS = 6  # text length bins of the accuracy by length


def confusion_heatmap(counts: np.ndarray, class_names: list[str], title: str) -> bytes:
    """Row-normalized confusion matrix (share of each true class), a power scale so that rare
    confusions stay visible beside a bright diagonal."""
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    n = len(counts)
    side = min(9, 3.5 + 0.13 * n)
    fontsize = 6 if n > 20 else 8
    fig = Figure(figsize=(side + 1, side))
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="magma_r", norm=PowerNorm(0.4, vmin=0, vmax=1))
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    ax.set_xticks(range(n), [str(c) for c in range(n)], fontsize=fontsize)
    ax.set_yticks(range(n), [class_label(c, class_names[c], 24) for c in range(n)],
                  fontsize=fontsize)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    return png(fig)


def worst_classes(accuracy: np.ndarray, overall: float) -> list[int]:
    """The classes drawn in red, worst first: at most a quarter of them and five (none of two),
    below the overall accuracy; classes without test images are not among them."""
    below = np.flatnonzero(accuracy < overall)  # NaN compares False
    order = below[np.argsort(accuracy[below], kind="stable")]
    return order[: min(5, len(accuracy) // 4)].tolist()


def class_accuracy_bars(accuracy: np.ndarray, overall: float, class_names: list[str],
                        title: str) -> bytes:
    """Test accuracy of every class, its value written beside its bar, the worst classes in
    red (a class at 0 % keeps a visible stub), overall accuracy dashed."""
    n = len(accuracy)
    fig = Figure(figsize=(8, 0.18 * n + 1.4))
    ax = fig.subplots()
    worst = set(worst_classes(accuracy, overall))
    percent = 100 * accuracy
    widths = np.where(np.isnan(percent), 0, np.maximum(np.nan_to_num(percent), ZERO_STUB))
    ax.barh(range(n), widths, color=["#d62728" if c in worst else "#1f77b4" for c in range(n)])
    for c, value in enumerate(percent):
        text = "no test images" if np.isnan(value) else f"{value:.1f}"
        ax.text(widths[c] + 0.8, c, text, va="center", fontsize=6,
                color="#d62728" if c in worst else "#333")
    ax.axvline(100 * overall, color="gray", linestyle="--", linewidth=1,
               label=f"all classes {100 * overall:.2f} %")
    ax.set_yticks(range(n), [class_label(c, class_names[c], 40) for c in range(n)],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.set_xlabel("test accuracy of the class (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    return png(fig)


def mistakes_grid(images: np.ndarray, true: np.ndarray, predicted: np.ndarray,
                  confidence: np.ndarray, class_names: list[str], title: str,
                  columns: int = 8) -> bytes:
    """Misclassified test images (N, H, W, C uint8), each titled `true → predicted
    (confidence)` and the predicted class's name; one mosaic in one axes (32 small axes take
    seconds to draw)."""
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
                f"({100 * confidence[k]:.0f} %)\n{shorten(class_names[predicted[k]], 19)}",
                ha="center", va="bottom", fontsize=7)
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    return png(fig)


def picture(image: np.ndarray, size: int = 40) -> bytes:
    """A class's picture (H, W, C uint8), enlarged without smoothing, for the table of
    confused pairs."""
    out = io.BytesIO()
    pixels = image[..., 0] if image.shape[-1] == 1 else image
    Image.fromarray(pixels).resize((size, size), Image.Resampling.NEAREST).save(out, format="png")
    return out.getvalue()


def length_bins(lengths: np.ndarray, bins: int = LENGTH_BINS) -> np.ndarray:
    """Edges of up to `bins` bins of text lengths holding about as many texts each (quantiles;
    repeated edges of very common lengths merged)."""
    edges = np.unique(np.quantile(lengths, np.linspace(0, 1, bins + 1)).round())
    return edges if len(edges) > 1 else np.array([edges[0], edges[0] + 1])


def accuracy_by_length(lengths: np.ndarray, correct: np.ndarray, title: str) -> bytes:
    """Test accuracy of the texts in each length bin (tokens before padding or cutting), with
    the bin's number of texts on its bar."""
    edges = length_bins(lengths)
    which = np.clip(np.searchsorted(edges, lengths, side="right") - 1, 0, len(edges) - 2)
    fig = Figure(figsize=(7, 3.4))
    ax = fig.subplots()
    labels, shares = [], []
    for b in range(len(edges) - 1):
        members = which == b
        labels.append(f"{int(edges[b])}-{int(edges[b + 1])}")
        shares.append(100 * float(correct[members].mean()) if members.any() else 0.0)
        ax.text(b, shares[-1] + 1, f"{int(members.sum())} texts", ha="center", fontsize=8)
    ax.bar(range(len(shares)), shares, color="#1f77b4")
    ax.axhline(100 * float(correct.mean()), color="#d62728", linestyle="--", linewidth=1,
               label=f"all texts {100 * float(correct.mean()):.1f} %")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("text length (tokens)")
    ax.set_ylabel("test accuracy %")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    return png(fig)
