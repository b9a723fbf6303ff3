"""Scores of a classifier computed once, in float64 on the CPU, from a run's saved test
predictions: the targets and the network's raw outputs (one logit per sample for a binary
classifier, one logit per class otherwise, as fidle_runs.tasks.classification produces them).
They are exact where the metrics logged during training are float32 running estimates, and they
follow scikit-learn's definitions (the tests compare them with it). Imports only numpy: of
fidle_runs it may import config, store and core (the tasks layer), and needs none of them.
"""

import numpy as np

# Every score this module produces, by name (without a stage prefix): (mode, fraction), mode
# "max" where higher is better, fraction where the value lies in [0, 1] and shows as a percentage.
SCORES: dict[str, tuple[str, bool]] = {
    "acc": ("max", True),
    "balanced_acc": ("max", True),
    "f1_macro": ("max", True),
    "f1_weighted": ("max", True),
    "precision_macro": ("max", True),
    "recall_macro": ("max", True),
    "top5_acc": ("max", True),
    "log_loss": ("min", False),
    "ece": ("min", True),
    # The mean cross-entropy the task minimises: the same value as log_loss.
    "loss": ("min", False),
    # Binary classifiers only.
    "roc_auc": ("max", True),
    "average_precision": ("max", True),
    # The decision threshold chosen on validation: a setting reported beside the scores it gives,
    # not a score to rank runs by (its mode is a placeholder).
    "threshold": ("max", False),
    "acc_at_threshold": ("max", True),
    "balanced_acc_at_threshold": ("max", True),
    "f1": ("max", True),
    "f1_at_threshold": ("max", True),
}

TOP_K = 5
TOP_K_MIN_CLASSES = 10  # top5_acc only where 5 guesses out of the classes say something
ECE_BINS = 15


def _logits(outputs: np.ndarray) -> np.ndarray:
    """Raw outputs as float64 (n, c): c == 1 for a binary classifier's single logit."""
    x = np.asarray(outputs, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"outputs must be (n,), (n, 1) or (n, classes), got shape {x.shape}")
    return x


def _class_count(x: np.ndarray) -> int:
    return 2 if x.shape[1] == 1 else x.shape[1]


def _inputs(outputs: np.ndarray, targets: np.ndarray,
            n_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Checked logits, integer targets and the class count they agree on."""
    x = _logits(outputs)
    classes = _class_count(x)
    if n_classes is not None and n_classes != classes:
        raise ValueError(f"n_classes={n_classes} but the outputs have {classes} classes")
    y = np.asarray(targets).reshape(-1)
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        raise ValueError("targets must be class indices")
    y = y.astype(np.int64)
    if len(y) != len(x):
        raise ValueError(f"{len(x)} outputs but {len(y)} targets")
    if len(y) == 0:
        raise ValueError("no samples to score")
    if y.min() < 0 or y.max() >= classes:
        raise ValueError(f"targets must lie in [0, {classes}), got [{y.min()}, {y.max()}]")
    return x, y, classes


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp of a non-positive number only."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log(sigmoid(x)), finite for any finite x: log-sigmoid(-1000) is -1000."""
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """Float64 (n, C) class probabilities from raw outputs: the softmax of (n, C) logits, or, for
    a binary classifier's one logit (n,) or (n, 1), the columns [1 - p, p] with p its sigmoid
    (1 - p computed as sigmoid(-logit), exact where p is close to 1). Stable for any finite
    logit: the row maximum is subtracted before exponentiating."""
    x = _logits(outputs)
    if x.shape[1] == 1:
        return np.stack([_sigmoid(-x[:, 0]), _sigmoid(x[:, 0])], axis=1)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Float64 (n, C) log-probabilities straight from the logits (log-softmax; for one logit the
    log-sigmoid of -logit and +logit), so that a confident wrong prediction costs a large finite
    log loss rather than log(0) = -inf."""
    x = _logits(outputs)
    if x.shape[1] == 1:
        return np.stack([_log_sigmoid(-x[:, 0]), _log_sigmoid(x[:, 0])], axis=1)
    z = x - x.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """The task's own predictions: logit > 0 for one logit, else the first largest logit."""
    x = _logits(outputs)
    if x.shape[1] == 1:
        return (x[:, 0] > 0).astype(np.int64)
    return x.argmax(axis=1).astype(np.int64)


def _margin(x: np.ndarray) -> np.ndarray:
    """A binary classifier's log-odds of class 1: what ROC and precision-recall curves rank by,
    since it keeps apart the confident samples whose probabilities round to 1.0."""
    if x.shape[1] == 1:
        return x[:, 0]
    if x.shape[1] == 2:
        return x[:, 1] - x[:, 0]
    raise ValueError(f"a binary classifier's outputs have 1 or 2 columns, not {x.shape[1]}")


def confusion(predicted: np.ndarray, targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Int64 (C, C) confusion matrix, rows the true class and columns the predicted one."""
    p = np.asarray(predicted, dtype=np.int64).reshape(-1)
    t = np.asarray(targets, dtype=np.int64).reshape(-1)
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(np.shape(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1, support and predicted counts per class from a confusion matrix."""
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    return {"precision": _ratio(tp, predicted), "recall": _ratio(tp, support),
            "f1": _ratio(2 * tp, support + predicted), "support": support.astype(np.int64),
            "predicted": predicted}


def _label_scores(predicted: np.ndarray, targets: np.ndarray, n_classes: int) -> dict[str, float]:
    """The scores of hard predictions alone. Macro averages run over the classes present in the
    targets or the predictions (scikit-learn's default labels), not over every class the
    network could output: a class absent from both says nothing of these samples."""
    c = _per_class(confusion(predicted, targets, n_classes))
    support = c["support"]
    present = (support > 0) | (c["predicted"] > 0)
    return {
        "acc": float(np.mean(predicted == targets)),
        "balanced_acc": float(c["recall"][support > 0].mean()),
        "f1_macro": float(c["f1"][present].mean()),
        "f1_weighted": float(np.sum(c["f1"] * support) / support.sum()),
        "precision_macro": float(c["precision"][present].mean()),
        "recall_macro": float(c["recall"][present].mean()),
    }


def per_class(outputs: np.ndarray, targets: np.ndarray,
              n_classes: int | None = None) -> dict[str, np.ndarray]:
    """Precision, recall, F1 (float64) and support (int64) of each of the n_classes classes, a
    class never predicted or never present scoring 0: scikit-learn's
    precision_recall_fscore_support(labels=range(n_classes), zero_division=0)."""
    x, y, classes = _inputs(outputs, targets, n_classes)
    c = _per_class(confusion(predicted_classes(x), y, classes))
    return {name: c[name] for name in ("precision", "recall", "f1", "support")}


def _true_class_log_probability(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return log_probabilities(x)[np.arange(len(y)), y]


def _top_k_hits(x: np.ndarray, y: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Whether the true class is among the k largest logits. Equal logits are ordered as
    scikit-learn's top_k_accuracy_score orders them (the higher class index first)."""
    true = x[np.arange(len(y)), y][:, None]
    later = np.arange(x.shape[1])[None, :] > y[:, None]
    rank = (x > true).sum(axis=1) + ((x == true) & later).sum(axis=1)
    return rank < k


def reliability(outputs: np.ndarray, targets: np.ndarray,
                bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """The reliability diagram of the predictions: confidence (the predicted class's
    probability) in `bins` equal-width bins over (0, 1], bin b holding (edges[b], edges[b+1]].
    Per bin the mean confidence and the accuracy (NaN where the bin is empty) and the count.
    A calibrated network's accuracy equals its confidence in every bin."""
    x, y, _ = _inputs(outputs, targets, None)
    predicted = predicted_classes(x)
    confidence = probabilities(x)[np.arange(len(x)), predicted]
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.int64)
    nan = np.full(bins, np.nan)
    correct = (predicted == y).astype(np.float64)
    mean_confidence = np.divide(np.bincount(which, confidence, bins), count, out=nan.copy(),
                                where=count > 0)
    accuracy = np.divide(np.bincount(which, correct, bins), count, out=nan.copy(),
                         where=count > 0)
    return {"edges": edges, "confidence": mean_confidence, "accuracy": accuracy, "count": count}


def expected_calibration_error(diagram: dict[str, np.ndarray]) -> float:
    """ECE from a reliability diagram: the sum over bins of (count / n) * |accuracy - mean
    confidence|, empty bins weighing nothing."""
    count = diagram["count"]
    full = count > 0
    gaps = np.abs(diagram["accuracy"][full] - diagram["confidence"][full])
    return float(np.sum(count[full] / count.sum() * gaps))


def _ranked_counts(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """True and false positives when every sample scoring at least each distinct score (taken
    in decreasing order) is called positive, and the index in the sorted order of the last
    sample of each group of equal scores: tied samples enter together, as in scikit-learn."""
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tps = np.cumsum(y[order] == 1)[last]
    fps = last + 1 - tps
    return tps, fps, order[last]


def _binary_inputs(outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y, classes = _inputs(outputs, targets, None)
    if classes != 2:
        raise ValueError(f"a binary classifier's outputs are needed, got {classes} classes")
    return x, y


def roc_curve(outputs: np.ndarray,
              targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A binary classifier's ROC curve: false and true positive rates from (0, 0) to (1, 1),
    one point per distinct score, and the probability threshold of each point (inf for the
    first, where nothing is called positive). Its trapezoid area is roc_auc. Needs both classes
    in the targets."""
    x, y = _binary_inputs(outputs, targets)
    margin = _margin(x)
    tps, fps, samples = _ranked_counts(margin, y)
    if tps[-1] == 0 or fps[-1] == 0:
        raise ValueError("a ROC curve needs both classes in the targets")
    thresholds = np.r_[np.inf, _sigmoid(margin[samples])]
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]], thresholds


def precision_recall_curve(outputs: np.ndarray,
                           targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A binary classifier's precision-recall curve as scikit-learn returns it: thresholds
    (probabilities) increasing, precision and recall one longer, ending at precision 1 and
    recall 0. Needs a positive sample in the targets."""
    x, y = _binary_inputs(outputs, targets)
    margin = _margin(x)
    tps, fps, samples = _ranked_counts(margin, y)
    if tps[-1] == 0:
        raise ValueError("a precision-recall curve needs a positive sample in the targets")
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], _sigmoid(margin[samples])[::-1]


def _roc_auc(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoid area under the ROC curve, NaN where the targets hold one class only."""
    tps, fps, _ = _ranked_counts(_margin(x), y)
    if tps[-1] == 0 or fps[-1] == 0:
        return float("nan")
    fpr, tpr = np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def _average_precision(x: np.ndarray, y: np.ndarray) -> float:
    """Precision averaged over the recall steps (no interpolation, as scikit-learn's
    average_precision_score), NaN where no target is positive."""
    tps, fps, _ = _ranked_counts(_margin(x), y)
    if tps[-1] == 0:
        return float("nan")
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tps / (tps + fps)))


def choose_threshold(outputs: np.ndarray, targets: np.ndarray) -> float:
    """The probability threshold (predict positive where p >= threshold) that maximises balanced
    accuracy on these outputs, meant to be validation outputs and applied unchanged to test.
    Balanced accuracy (mean of the two recalls) rather than accuracy because with imbalanced
    classes accuracy is maximised by calling everything the majority class, which a threshold
    can do. Candidates: every distinct predicted probability of class 1, and 0.5; among equally
    good thresholds the one closest to 0.5 (then the higher). Needs both classes in the
    targets."""
    x, y = _binary_inputs(outputs, targets)
    p = probabilities(x)[:, 1]
    tps, fps, samples = _ranked_counts(p, y)
    positives, negatives = int(tps[-1]), int(fps[-1])
    if positives == 0 or negatives == 0:
        raise ValueError("choosing a threshold needs both classes in the targets")
    at_half = p >= 0.5
    candidates = np.r_[p[samples], 0.5]
    tps = np.r_[tps, np.sum(at_half & (y == 1))].astype(np.int64)
    fps = np.r_[fps, np.sum(at_half & (y == 0))].astype(np.int64)
    # Balanced accuracy times 2 * positives * negatives, minus a constant: integers, so that
    # equally good thresholds compare equal exactly.
    merit = tps * negatives - fps * positives
    best = np.flatnonzero(merit == merit.max())
    closest = np.lexsort((-candidates[best], np.abs(candidates[best] - 0.5)))[0]
    return float(candidates[best][closest])


def scores(outputs: np.ndarray, targets: np.ndarray, n_classes: int | None = None,
           threshold: float | None = None) -> dict[str, float]:
    """Every score of SCORES that applies to these predictions, as Python floats.

    outputs are the raw network outputs ((n, C) logits, or one logit per sample for a binary
    classifier), targets the class indices (n,), n_classes (the outputs' class count by default)
    a check that both agree. The predicted class is the task's: the first largest logit, or
    logit > 0. top5_acc where n_classes >= 10. A binary classifier (one logit, or two columns)
    adds roc_auc, average_precision (NaN where the targets lack a class they need) and f1 (of
    class 1); given `threshold` (from choose_threshold on validation), also the threshold and
    the accuracy, balanced accuracy and F1 of predicting class 1 where its probability >=
    threshold.
    """
    x, y, classes = _inputs(outputs, targets, n_classes)
    predicted = predicted_classes(x)
    result = _label_scores(predicted, y, classes)
    log_loss = float(-np.mean(_true_class_log_probability(x, y)))
    result.update(log_loss=log_loss, loss=log_loss,
                  ece=expected_calibration_error(reliability(x, y)))
    if classes >= TOP_K_MIN_CLASSES:
        result["top5_acc"] = float(np.mean(_top_k_hits(x, y)))
    if classes == 2:
        result.update(roc_auc=_roc_auc(x, y), average_precision=_average_precision(x, y),
                      f1=float(_per_class(confusion(predicted, y, 2))["f1"][1]))
        if threshold is not None:
            chosen = (probabilities(x)[:, 1] >= threshold).astype(np.int64)
            at = _label_scores(chosen, y, 2)
            result.update(threshold=float(threshold), acc_at_threshold=at["acc"],
                          balanced_acc_at_threshold=at["balanced_acc"],
                          f1_at_threshold=float(_per_class(confusion(chosen, y, 2))["f1"][1]))
    return result


def per_sample(outputs: np.ndarray, targets: np.ndarray, name: str) -> np.ndarray:
    """Each sample's share of a score that is a mean over samples, so that resampling samples
    (a bootstrap) resamples the score: `acc` and `top5_acc` (1.0 where right, else 0.0),
    `log_loss` and `loss` (minus the log-probability of the true class). KeyError for the
    others (F1, ROC AUC... are not means over samples), and for top5_acc under 10 classes."""
    x, y, classes = _inputs(outputs, targets, None)
    if name == "acc":
        return (predicted_classes(x) == y).astype(np.float64)
    if name in ("log_loss", "loss"):
        return -_true_class_log_probability(x, y)
    if name == "top5_acc" and classes >= TOP_K_MIN_CLASSES:
        return _top_k_hits(x, y).astype(np.float64)
    raise KeyError(f"{name!r} is not a per-sample mean of a {classes}-class classifier")


def baseline_scores(targets: np.ndarray, n_classes: int,
                    majority: int) -> dict[str, dict[str, float]]:
    """What a classifier without a network scores on these targets, by baseline name.

    `majority`: every sample given the class `majority` (the most frequent training class); only
    the scores of hard predictions (acc, balanced_acc, f1_macro, f1_weighted, precision_macro,
    recall_macro), a constant having no meaningful probabilities. `chance`: uniform
    probabilities 1/C, scored by expectation where a guess is drawn: accuracy and balanced
    accuracy 1/C, top5_acc 5/C (10 classes or more), log loss log C; for two classes ROC AUC 0.5
    and average precision the positive rate (NaN without positives).
    """
    y = np.asarray(targets, dtype=np.int64).reshape(-1)
    if len(y) == 0:
        raise ValueError("no samples to score")
    if not 0 <= majority < n_classes or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"majority and targets must lie in [0, {n_classes})")
    constant = np.full(len(y), majority, dtype=np.int64)
    chance = {"acc": 1 / n_classes, "balanced_acc": 1 / n_classes,
              "log_loss": float(np.log(n_classes)), "loss": float(np.log(n_classes))}
    if n_classes >= TOP_K_MIN_CLASSES:
        chance["top5_acc"] = TOP_K / n_classes
    if n_classes == 2:
        positives = int(np.sum(y == 1))
        chance.update(roc_auc=0.5 if 0 < positives < len(y) else float("nan"),
                      average_precision=positives / len(y) if positives else float("nan"))
    return {"majority": _label_scores(constant, y, n_classes), "chance": chance}
