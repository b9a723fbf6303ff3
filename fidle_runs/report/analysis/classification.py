"""A classifier's best run: its checkpoint re-evaluated on its test set (checked against
result.json), the confusion matrix, the accuracy per class, the most confused class pairs with
the classes' pictures, and its most confident mistakes (images, or texts with the accuracy by
text length), named with the dataset's own classes. From the test predictions the run saved
(predictions/test.npz; older runs have none, and the page says what that leaves out): every
score beside the majority-class and chance baselines, a binary classifier's decision threshold
chosen on validation, precision, recall and F1 per class, the reliability diagram and, for two
classes, the ROC and precision-recall curves."""

import html
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fidle_runs.report.analysis.classification_figures import (
    accuracy_by_length,
    binary_curves,
    class_accuracy_bars,
    confusion_heatmap,
    mistakes_grid,
    picture,
    reliability_diagram,
    worst_classes,
)
from fidle_runs.report.analysis.confusion import confusion_matrix, most_confused, per_class_accuracy
from fidle_runs.report.analysis.scores_table import (
    BEST_SHOWN,
    SHOWN_CLASSES,
    WORST_SHOWN,
    class_rows,
    class_table,
    number,
    score_rows,
    scores_table,
    threshold_rows,
    threshold_table,
)
from fidle_runs.report.html_blocks import data_uri, figure, table
from fidle_runs.report.predictions import Predictions, run_predictions
from fidle_runs.report.wording import class_label, plural, shorten
from fidle_runs.store.predictions import SavedPredictions, read_predictions
from fidle_runs.store.result import RunResult
from fidle_runs.tasks import classification_scores

RECORDED_TOLERANCE = 5e-4  # between the re-evaluated and the recorded test accuracy
SHOWN_TEXTS = 10  # mistaken texts listed, the most confident first
TEXT_WIDTH = 400  # characters of each listed text


class Scored(NamedTuple):
    """A run's saved test predictions and what the report computes from them."""
    test: SavedPredictions
    n_classes: int
    scores: dict[str, float]  # classification_scores.scores, at the threshold where there is one
    chance: dict[str, float]  # the chance baseline's scores on these targets
    threshold_note: str  # a binary classifier's: where its threshold comes from, or why none


def analyse(result: RunResult, run_dir: Path, title: str) -> tuple[str, str]:
    """The analysis's HTML, and `60 test samples read from cache` (or evaluated)."""
    predictions = run_predictions(result, run_dir)
    how = "read from cache" if predictions.from_cache else "evaluated, cached"
    done = f"{len(predictions.y_true)} test samples {how}"
    return _html(predictions, result, scored_predictions(result, run_dir), title), done


def _html(p: Predictions, result: RunResult, scored: Scored | str, title: str) -> str:
    e = html.escape
    n = max(len(p.class_names), int(p.y_true.max()) + 1, int(p.y_pred.max()) + 1,
            scored.n_classes if isinstance(scored, Scored) else 0)
    names = [*p.class_names, *(str(c) for c in range(len(p.class_names), n))]
    counts = confusion_matrix(p.y_true, p.y_pred, n)
    # The task's primary metric is the test accuracy the recomputed predictions must match.
    recorded = (result.primary or {}).get("value")
    sentence = (f"<p>Checkpoint <code>{e(p.checkpoint.name)}</code> on {len(p.y_true)} test "
                f"samples: accuracy {100 * p.accuracy:.2f} %")
    if recorded is not None and abs(recorded - p.accuracy) > RECORDED_TOLERANCE:
        sentence += (f" — <b>differs from the {100 * recorded:.2f} % its result.json records</b>"
                     " (checkpoint or test set changed since)")
    parts = [sentence + ".</p>", scores_html(scored, result, names)]
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
    parts += saved_sections(scored, names, title)
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


def scored_predictions(result: RunResult, run_dir: Path) -> Scored | str:
    """The run's saved test predictions scored, or the sentence saying why there are none."""
    test = read_predictions(run_dir, "test")
    if test is None or not len(test.targets):
        return "the run saved no test predictions (runs made before they were saved have none)"
    outputs = np.asarray(test.outputs)
    n_classes = outputs.shape[1] if outputs.ndim == 2 and outputs.shape[1] > 1 else 2
    threshold, note = (None, "") if n_classes > 2 else _threshold(result, run_dir)
    try:
        scores = classification_scores.scores(outputs, test.targets, n_classes, threshold)
        chance = classification_scores.baseline_scores(test.targets, n_classes, 0)["chance"]
    except ValueError as error:
        return f"the test predictions it saved cannot be scored ({error})"
    return Scored(test, n_classes, scores, chance, note)


def _threshold(result: RunResult, run_dir: Path) -> tuple[float | None, str]:
    """A binary classifier's decision threshold (result.json's, else chosen again on its saved
    validation predictions, as the task does) and where it comes from, or None and why."""
    if (result.data or {}).get("val_on_test"):
        return None, ("The run validated on its test set (data.val_on_test), so no decision "
                      "threshold was chosen: one chosen on the test samples would flatter the "
                      "scores at it.")
    chosen = ("chosen on the validation set (where it maximises the balanced accuracy), "
              "never on the test set")
    recorded = number((result.metrics or {}).get("test_threshold"))
    if recorded is not None:
        return recorded, chosen
    validation = read_predictions(run_dir, "val")
    if validation is None:
        return None, "No decision threshold: the run saved no validation predictions."
    try:
        return classification_scores.choose_threshold(validation.outputs,
                                                      validation.targets), chosen
    except ValueError as error:
        return None, f"No decision threshold could be chosen on the validation set: {error}."


def scores_html(scored: Scored | str, result: RunResult, names: list[str]) -> str:
    """The scores beside the baselines and a binary classifier's threshold; without saved
    predictions, the one sentence saying what they leave out."""
    if isinstance(scored, str):
        left_out = ("the scores beside the majority-class and chance baselines, the per-class "
                    "precision, recall and F1, the reliability diagram"
                    + (", the decision threshold and the ROC and precision-recall curves"
                       if len(names) == 2 else ""))
        return f"<p>Not computed: {left_out}, because {html.escape(scored)}.</p>"
    rows = score_rows(scored.scores, result.metrics or {}, scored.chance)
    parts = ["<h3>Scores</h3>",
             f"<p>On the {len(scored.test.targets)} test samples whose predictions the run saved, "
             "beside two classifiers without a network: the majority class (every sample given "
             "the most frequent training class) and chance (uniform probabilities, scored by "
             "the expected value of a random guess).</p>",
             table(scores_table(rows))]
    if not all(r.recorded for r in rows):
        parts.append("<p>* Not in its result.json: computed from the saved predictions.</p>")
    if scored.n_classes == 2:
        parts.append(_threshold_html(scored, result, names[1]))
    return "\n".join(parts)


def _threshold_html(scored: Scored, result: RunResult, positive: str) -> str:
    found = threshold_rows(scored.scores, result.metrics or {})
    if found is None:
        return f"<p>{html.escape(scored.threshold_note)}</p>"
    threshold, rows = found
    positive = html.escape(positive)
    return (f"<h3>Decision threshold</h3><p>A sample is called {positive} where the network's "
            f"probability of {positive} is at least {threshold:.4f}, a threshold "
            f"{html.escape(scored.threshold_note)}, rather than 0.5 (the network's own "
            "decision):</p>" + table(threshold_table(threshold, rows)))


def saved_sections(scored: Scored | str, names: list[str], title: str) -> list[str]:
    """The per-class table, the reliability diagram and a binary classifier's curves; none
    without saved predictions (scores_html said so)."""
    if isinstance(scored, str):
        return []
    parts = [per_class_html(scored, names), reliability_html(scored, title)]
    if scored.n_classes == 2:
        parts.append(curves_html(scored, title))
    return parts


def per_class_html(scored: Scored, names: list[str]) -> str:
    """Precision, recall and F1 of each class, the worst first, and their averages."""
    test = scored.test
    predicted = classification_scores.predicted_classes(test.outputs)
    classes, averages = class_rows(
        classification_scores.per_class(test.outputs, test.targets, scored.n_classes),
        np.bincount(predicted, minlength=scored.n_classes), names)
    shown = ("The classes sorted by F1, the worst first" if len(classes) <= SHOWN_CLASSES else
             f"Of the {len(classes)} classes, the {WORST_SHOWN} with the lowest F1 and the "
             f"{BEST_SHOWN} with the highest")
    return ("<h3>Precision, recall and F1 per class</h3>"
            f"<p>{shown}, then the macro average (each class alike) and the average weighted by "
            "each class's test samples (support).</p>" + table(class_table(classes, averages)))


def reliability_html(scored: Scored, title: str) -> str:
    diagram = classification_scores.reliability(scored.test.outputs, scored.test.targets)
    ece = classification_scores.expected_calibration_error(diagram)
    return figure(reliability_diagram(diagram, ece, f"reliability, {title}"),
                  f"reliability diagram, {title}",
                  "Test accuracy of the samples in each confidence bin against their mean "
                  "confidence: a calibrated network's bars reach the dashed diagonal. Below, "
                  "each bin's samples; the ECE is the gap weighted by them.")


def curves_html(scored: Scored, title: str) -> str:
    """The ROC and precision-recall curves, with the chosen threshold's point."""
    test = scored.test
    if len(np.unique(test.targets)) < 2:
        return "<p>No ROC or precision-recall curve: the test targets hold one class only.</p>"
    threshold = scored.scores.get("threshold")
    png = binary_curves(
        classification_scores.roc_curve(test.outputs, test.targets),
        classification_scores.precision_recall_curve(test.outputs, test.targets),
        (scored.scores["roc_auc"], scored.scores["average_precision"]),
        float(np.mean(np.asarray(test.targets) == 1)), threshold, title)
    marked = ("; the dot is the decision threshold chosen on the validation set"
              if threshold is not None else "")
    return figure(png, f"ROC and precision-recall curves, {title}",
                  "True against false positive rates, and precision against recall, as the "
                  "probability above which a sample is called positive falls; dashed, chance"
                  f"{marked}.")


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
