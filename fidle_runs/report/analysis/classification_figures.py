"""The figures of a classifier's best run: confusion matrix, accuracy per class, its most
confident mistakes and the classes' pictures, labelled with the dataset's own class names; for
texts, the accuracy by text length; from its saved test predictions, the reliability diagram
and, for a binary classifier, the ROC and precision-recall curves."""

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


def reliability_diagram(diagram: dict[str, np.ndarray], ece: float, title: str) -> bytes:
    """classification_scores.reliability drawn: above, the accuracy of the samples in each
    confidence bin against the diagonal a calibrated network follows, a dot at the bin's mean
    confidence; below, how many samples each bin holds (log scale: a good classifier puts most
    in the last bin), so that a gap on a nearly empty bin is read as such. ECE in the title."""
    edges, count = diagram["edges"], diagram["count"]
    full = count > 0
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    fig = Figure(figsize=(6, 5.6))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.bar(centres[full], 100 * diagram["accuracy"][full], width=0.9 * width, color="#1f77b4",
            label="accuracy of the bin")
    top.plot(diagram["confidence"][full], 100 * diagram["accuracy"][full], "o",
             color="#d62728", markersize=4, label="at the bin's mean confidence")
    top.plot([0, 1], [0, 100], "--", color="gray", linewidth=1, label="calibrated")
    top.set_ylim(0, 105)
    top.set_ylabel("test accuracy %")
    top.legend(fontsize=8, loc="upper left")
    top.set_title(f"{title}: ECE {100 * ece:.2f} %", fontsize=10)
    bottom.bar(centres[full], count[full], width=0.9 * width, color="#7f7f7f")
    for x, n in zip(centres[full], count[full], strict=True):
        bottom.text(x, n, str(int(n)), ha="center", va="bottom", fontsize=6)
    bottom.set_yscale("log")
    bottom.set_ylim(0.8, 4 * max(int(count.max()), 1))
    bottom.set_ylabel("samples")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence (probability of the predicted class)")
    return png(fig)


def _curve_point(x: np.ndarray, y: np.ndarray, thresholds: np.ndarray, threshold: float,
                 decreasing: bool) -> tuple[float, float]:
    """The curve's point where the samples of probability >= threshold are called positive:
    its curve thresholds decreasing (ROC: the last point at or above it) or increasing
    (precision-recall: the first, its end point where none is)."""
    if decreasing:
        i = int(np.flatnonzero(thresholds >= threshold)[-1])
    else:
        i = int(np.searchsorted(thresholds, threshold, side="left"))
    return float(x[i]), float(y[i])


def binary_curves(roc: tuple[np.ndarray, ...], precision_recall: tuple[np.ndarray, ...],
                  areas: tuple[float, float], positive_rate: float, threshold: float | None,
                  title: str) -> bytes:
    """A binary classifier's ROC curve (classification_scores.roc_curve) beside its
    precision-recall curve (precision_recall_curve), their areas (ROC AUC, average precision) in
    the legends, chance dashed (the diagonal; precision at the positive rate) and the chosen
    decision threshold's point marked where there is one."""
    fig = Figure(figsize=(10, 4.4))
    left, right = fig.subplots(1, 2)
    fpr, tpr, roc_thresholds = roc
    left.plot(fpr, tpr, color="#1f77b4", label=f"ROC AUC {areas[0]:.4f}")
    left.plot([0, 1], [0, 1], "--", color="gray", linewidth=1, label="chance 0.5")
    precision, recall, pr_thresholds = precision_recall
    right.step(recall, precision, where="post", color="#1f77b4",
               label=f"average precision {areas[1]:.4f}")
    right.axhline(positive_rate, linestyle="--", color="gray", linewidth=1,
                  label=f"chance {positive_rate:.4f} (positive rate)")
    if threshold is not None:
        marker = {"color": "#d62728", "zorder": 3, "label": f"threshold {threshold:.4f}"}
        left.scatter(*_curve_point(fpr, tpr, roc_thresholds, threshold, True), **marker)
        right.scatter(*_curve_point(recall, precision, pr_thresholds, threshold, False), **marker)
    for ax, (x_label, y_label) in ((left, ("false positive rate", "true positive rate (recall)")),
                                   (right, ("recall", "precision"))):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.legend(fontsize=8, loc="lower right" if ax is left else "best")
    left.set_title(f"ROC, {title}", fontsize=10)
    right.set_title(f"precision-recall, {title}", fontsize=10)
    return png(fig)
