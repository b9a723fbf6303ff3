"""The tables of a classifier's scores, built from numbers alone (no files, no HTML): each score
of fidle_runs.tasks.classification_scores beside the majority-class and chance baselines, a
binary classifier's scores at its decision threshold beside those at 0.5, and the precision,
recall and F1 of each class. The `*_rows` builders return the values (what the tests compare
with scikit-learn); the `*_table` functions write them as the report's cells."""

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from fidle_runs.report.tables import Table
from fidle_runs.report.wording import class_label
from fidle_runs.tasks.classification_scores import ECE_BINS, SCORES

LABELS = {
    "acc": "accuracy",
    "balanced_acc": "balanced accuracy (mean recall of the classes)",
    "f1_macro": "F1, macro average",
    "f1_weighted": "F1, weighted by support",
    "precision_macro": "precision, macro average",
    "recall_macro": "recall, macro average",
    "top5_acc": "top-5 accuracy",
    "log_loss": "log loss (the cross-entropy minimised)",
    "ece": f"expected calibration error ({ECE_BINS} bins)",
    "roc_auc": "ROC AUC",
    "average_precision": "average precision (area under precision-recall)",
    "f1": "F1 of the positive class",
}
# A score at the chosen threshold, by the score of the network's own decision (logit > 0) it
# replaces.
AT_THRESHOLD = {"acc": "acc_at_threshold", "balanced_acc": "balanced_acc_at_threshold",
                "f1": "f1_at_threshold"}
# Not rows of the scores table: the loss is the log loss again, the threshold's have their own.
NOT_IN_SCORES_TABLE = {"loss", "threshold", *AT_THRESHOLD.values()}
BASELINES = ("majority", "chance")
SHOWN_CLASSES, WORST_SHOWN, BEST_SHOWN = 20, 10, 5  # beyond 20 classes, the 10 worst, 5 best


class ScoreRow(NamedTuple):
    name: str  # as classification_scores names it: `f1_macro`
    value: float
    majority: float | None  # None where not known
    chance: float | None
    recorded: bool  # the value result.json records (else computed from the predictions)


class ThresholdRow(NamedTuple):
    name: str  # the score at the network's own decision: `acc`
    default: float  # at probability 0.5 (logit > 0)
    chosen: float  # at the chosen threshold


class ClassRow(NamedTuple):
    label: str  # `14 Stop`, `macro average`
    class_id: int | None  # None for the averages
    precision: float
    recall: float
    f1: float
    support: int


def number(value: object) -> float | None:
    """`value` as a float where it is a finite number (result.json writes a NaN as null)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _recorded(name: str, computed: Mapping[str, float],
              recorded: Mapping[str, object]) -> tuple[float, bool]:
    """result.json's test_<name> where it is a number, else the computed value."""
    value = number(recorded.get(f"test_{name}"))
    return (computed[name], False) if value is None else (value, True)


def score_rows(computed: Mapping[str, float], recorded: Mapping[str, object],
               chance: Mapping[str, float]) -> list[ScoreRow]:
    """One row per score of `computed` (classification_scores.scores of the saved test
    predictions), in SCORES' order, but the loss (the log loss again) and the threshold's.
    The value is the one result.json's `recorded` metrics hold (test_acc) where they hold a
    number, else the computed one; so are the baselines (test_acc_majority, test_acc_chance),
    chance falling back on `chance` (classification_scores.baseline_scores, which needs only the
    test targets); the majority class is the training set's, which only the run knew."""
    rows = []
    for name in (n for n in SCORES if n in computed and n not in NOT_IN_SCORES_TABLE):
        value, was_recorded = _recorded(name, computed, recorded)
        majority = number(recorded.get(f"test_{name}_majority"))
        fallback = number(chance.get(name))
        chance_value = number(recorded.get(f"test_{name}_chance"))
        rows.append(ScoreRow(name, value, majority,
                             fallback if chance_value is None else chance_value, was_recorded))
    return rows


def threshold_rows(computed: Mapping[str, float],
                   recorded: Mapping[str, object]) -> tuple[float, list[ThresholdRow]] | None:
    """A binary classifier's decision threshold and, for each score it changes, the value at
    the network's own decision (probability 0.5) and at the threshold, recorded values first;
    None where `computed` holds no threshold."""
    if "threshold" not in computed:
        return None
    threshold, _ = _recorded("threshold", computed, recorded)
    rows = [ThresholdRow(name, _recorded(name, computed, recorded)[0],
                         _recorded(at, computed, recorded)[0])
            for name, at in AT_THRESHOLD.items() if name in computed and at in computed]
    return threshold, rows


def class_rows(per_class: Mapping[str, np.ndarray], predicted: np.ndarray,
               class_names: Sequence[str]) -> tuple[list[ClassRow], list[ClassRow]]:
    """The rows of the classes present in the test targets or predictions (`predicted`: how
    many samples each class was predicted for), the lowest F1 first (then by class id), and
    the macro and weighted averages over them, as scikit-learn's classification_report
    computes them: `per_class` is classification_scores.per_class."""
    support = np.asarray(per_class["support"])
    present = np.flatnonzero((support > 0) | (np.asarray(predicted) > 0))
    columns = [np.asarray(per_class[name], dtype=np.float64) for name in
               ("precision", "recall", "f1")]
    order = present[np.lexsort((present, columns[2][present]))]
    classes = [ClassRow(class_label(int(c), class_names[c]), int(c),
                        *(float(x[c]) for x in columns), int(support[c])) for c in order]
    total = int(support.sum())
    weights = support / total
    averages = [ClassRow("macro average", None, *(float(x[present].mean()) for x in columns),
                         total),
                ClassRow("weighted average", None, *(float(np.sum(x * weights)) for x in columns),
                         total)]
    return classes, averages


def shown_classes(classes: list[ClassRow]) -> tuple[list[ClassRow], list[ClassRow]]:
    """All the rows up to SHOWN_CLASSES classes; beyond, the WORST_SHOWN first and the
    BEST_SHOWN last of these rows sorted worst first."""
    if len(classes) <= SHOWN_CLASSES:
        return classes, []
    return classes[:WORST_SHOWN], classes[-BEST_SHOWN:]


def score_text(name: str, value: float | None) -> str:
    """A score as the report writes it: a fraction in % (2 decimals), another to 4 decimals;
    `—` where unknown, `n/a` where it has no value (ROC AUC of one class)."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "n/a"
    fraction = SCORES.get(name, ("max", False))[1]
    return f"{100 * value:.2f} %" if fraction else f"{value:.4f}"


def _better(name: str) -> str:
    return "higher" if SCORES.get(name, ("max", False))[0] == "max" else "lower"


def scores_table(rows: list[ScoreRow]) -> Table:
    """The scores beside the baselines, a value computed from the predictions (not recorded in
    result.json) marked `*`."""
    header = ["score", "this run", "majority class", "chance", "better"]
    return header, [[LABELS.get(r.name, r.name),
                     score_text(r.name, r.value) + ("" if r.recorded else " *"),
                     score_text(r.name, r.majority), score_text(r.name, r.chance),
                     _better(r.name)] for r in rows]


def threshold_table(threshold: float, rows: list[ThresholdRow]) -> Table:
    header = ["score", "at probability 0.5", f"at the threshold {threshold:.4f}", "better"]
    return header, [[LABELS.get(r.name, r.name), score_text(r.name, r.default),
                     score_text(r.name, r.chosen), _better(r.name)] for r in rows]


def _class_cells(row: ClassRow) -> list[str]:
    return [row.label, *(f"{100 * x:.1f} %" for x in (row.precision, row.recall, row.f1)),
            str(row.support)]


def class_table(classes: list[ClassRow], averages: list[ClassRow]) -> Table:
    """The classes (the worst and best only beyond SHOWN_CLASSES, a row saying how many are
    left out between), then the averages."""
    worst, best = shown_classes(classes)
    cells = [_class_cells(r) for r in worst]
    if best:
        left_out = len(classes) - len(worst) - len(best)
        cells.append([f"… {left_out} classes left out …", "", "", "", ""])
        cells += [_class_cells(r) for r in best]
    cells += [_class_cells(r) for r in averages]
    return ["class", "precision", "recall", "F1", "support"], cells
