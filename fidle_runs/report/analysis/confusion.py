"""What a classifier gets wrong: confusion matrix, per-class accuracy, most confused pairs."""

from typing import NamedTuple

import numpy as np


class ConfusedPair(NamedTuple):
    true: int
    predicted: int
    count: int
    share: float  # of the true class's test images


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    flat = np.asarray(y_true, dtype=np.int64) * n_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(counts: np.ndarray) -> np.ndarray:
    """Recall of each class; NaN for a class without test images."""
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(counts) / totals, np.nan)


def most_confused(counts: np.ndarray, k: int = 10) -> list[ConfusedPair]:
    """The `k` largest off-diagonal counts, largest first (ties: lower true, then predicted id)."""
    off = counts.copy()
    np.fill_diagonal(off, 0)
    order = np.lexsort((np.arange(off.size) % off.shape[1], np.arange(off.size) // off.shape[1],
                        -off.ravel()))
    totals = counts.sum(axis=1)
    pairs = []
    for flat in order[:k]:
        true, predicted = divmod(int(flat), off.shape[1])
        if off[true, predicted] == 0:
            break
        pairs.append(ConfusedPair(true, predicted, int(off[true, predicted]),
                                  float(off[true, predicted] / totals[true])))
    return pairs
