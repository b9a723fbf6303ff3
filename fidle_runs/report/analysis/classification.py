"""A classifier's best run: its checkpoint re-evaluated on its test set (checked against
result.json), the confusion matrix, the accuracy per class, the most confused class pairs with
the classes' pictures, and its most confident mistakes (images, or texts with the accuracy by
text length), named with the dataset's own classes."""

import html
from pathlib import Path

import numpy as np

from fidle_runs.report.analysis.classification_figures import (
    accuracy_by_length,
    class_accuracy_bars,
    confusion_heatmap,
    mistakes_grid,
    picture,
    worst_classes,
)
from fidle_runs.report.analysis.confusion import confusion_matrix, most_confused, per_class_accuracy
from fidle_runs.report.html_blocks import data_uri, figure, table
from fidle_runs.report.predictions import Predictions, run_predictions
from fidle_runs.report.wording import class_label, plural, shorten
from fidle_runs.store.result import RunResult

RECORDED_TOLERANCE = 5e-4  # between the re-evaluated and the recorded test accuracy
SHOWN_TEXTS = 10  # mistaken texts listed, the most confident first
TEXT_WIDTH = 400  # characters of each listed text


def analyse(result: RunResult, run_dir: Path, title: str) -> tuple[str, str]:
    """The analysis's HTML, and `60 test samples read from cache` (or evaluated)."""
    predictions = run_predictions(result, run_dir)
    how = "read from cache" if predictions.from_cache else "evaluated, cached"
    done = f"{len(predictions.y_true)} test samples {how}"
    # The task's primary metric is the test accuracy the recomputed predictions must match.
    return _html(predictions, (result.primary or {}).get("value"), title), done


def _html(p: Predictions, recorded: float | None, title: str) -> str:
    e = html.escape
    n = max(len(p.class_names), int(p.y_true.max()) + 1, int(p.y_pred.max()) + 1)
    names = [*p.class_names, *(str(c) for c in range(len(p.class_names), n))]
    counts = confusion_matrix(p.y_true, p.y_pred, n)
    sentence = (f"<p>Checkpoint <code>{e(p.checkpoint.name)}</code> on {len(p.y_true)} test "
                f"samples: accuracy {100 * p.accuracy:.2f} %")
    if recorded is not None and abs(recorded - p.accuracy) > RECORDED_TOLERANCE:
        sentence += (f" — <b>differs from the {100 * recorded:.2f} % its result.json records</b>"
                     " (checkpoint or test set changed since)")
    parts = [sentence + ".</p>"]
    parts.append(figure(confusion_heatmap(counts, names, f"confusion matrix, {title}"),
                        f"confusion matrix, {title}", "Share of each true class predicted as "
                        "each class (power scale: small confusions stay visible)."))
    accuracy = per_class_accuracy(counts)
    worst = len(worst_classes(accuracy, p.accuracy))
    parts.append(figure(class_accuracy_bars(accuracy, p.accuracy, names,
                                            f"test accuracy per class, {title}"),
                        f"per-class accuracy, {title}",
                        f"The {plural(worst, 'worst class', 'worst classes')} (below the overall "
                        "accuracy) in red." if worst else "Test accuracy of each class."))
    pairs = most_confused(counts)
    if pairs:
        header = ["true class", "predicted as", "samples", "share of the true class"]
        rows = [[_class_cell(p.class_pictures, names, pair.true),
                 _class_cell(p.class_pictures, names, pair.predicted), str(pair.count),
                 f"{100 * pair.share:.1f} %"] for pair in pairs]
        parts.append("<h3>Most confused class pairs</h3>" + table((header, rows), raw=True))
    if len(p.mistakes) and p.mistake_images is not None:
        parts.append(figure(
            mistakes_grid(p.mistake_images, p.y_true[p.mistakes], p.y_pred[p.mistakes],
                          p.confidence[p.mistakes], names,
                          f"the {plural(len(p.mistakes), 'most confident mistake')}, {title}"),
            f"misclassified test images, {title}",
            "Test images the model got wrong with the highest confidence: true → predicted "
            "(confidence), predicted class."))
    if p.mistake_texts:
        parts.append(_mistaken_texts(p, names))
    if p.lengths is not None and len(p.lengths) == len(p.y_true):
        parts.append(figure(accuracy_by_length(p.lengths, p.y_true == p.y_pred,
                                               f"test accuracy by text length, {title}"),
                            f"accuracy by text length, {title}",
                            "Test accuracy of the texts of each length (in tokens, before "
                            "padding or cutting), each bar about as many texts; the dashed line "
                            "is the accuracy over all texts."))
    return "\n".join(parts)


def _mistaken_texts(p: Predictions, names: list[str]) -> str:
    """The most confidently mistaken test texts, escaped (a review may hold any markup)."""
    shown = p.mistakes[:SHOWN_TEXTS]
    header = ["true class", "predicted (confidence)", "tokens", "text"]
    rows = [[class_label(int(p.y_true[i]), names[int(p.y_true[i])]),
             f"{class_label(int(p.y_pred[i]), names[int(p.y_pred[i])])} "
             f"({100 * float(p.confidence[i]):.1f} %)",
             "" if p.lengths is None else str(int(p.lengths[i])),
             shorten(text, TEXT_WIDTH)] for i, text in zip(shown, p.mistake_texts, strict=False)]
    return (f"<h3>The {plural(len(rows), 'most confident mistake')}</h3><p>Test texts the model "
            "got wrong with the highest confidence, as the data holds them (cut at "
            f"{TEXT_WIDTH} characters).</p>" + table((header, rows)))


def _class_cell(pictures: np.ndarray | None, names: list[str], class_id: int) -> str:
    """The class's picture (where the dataset has one) beside its id and name."""
    name = html.escape(class_label(class_id, names[class_id]))
    if pictures is None or class_id >= len(pictures):
        return name
    return (f"<img alt=\"picture of class {class_id}\" width=\"40\" height=\"40\" "
            f"style=\"vertical-align: middle\" src=\"{data_uri(picture(pictures[class_id]))}\">"
            f" {name}")
