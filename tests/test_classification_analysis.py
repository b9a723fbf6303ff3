"""The classification analysis's parts computed from a run's saved test predictions (scores
beside baselines, decision threshold, per-class table, reliability diagram, ROC and
precision-recall curves), on run directories written by hand: seeded logits of 43 classes and of
a binary classifier, checked against scikit-learn; and what a run without saved predictions
gets instead. No network, no torch: the report's end-to-end tests train runs."""

import html
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics

from fidle_runs.report.analysis import classification
from fidle_runs.report.analysis.classification_figures import binary_curves, reliability_diagram
from fidle_runs.report.analysis.scores_table import (
    class_rows,
    class_table,
    score_rows,
    score_text,
    scores_table,
)
from fidle_runs.report.predictions import Predictions
from fidle_runs.store.predictions import SavedPredictions, write_predictions
from fidle_runs.store.result import RunResult
from fidle_runs.tasks import classification_scores as cs

C, N = 43, 1500
NAMES = [f"sign {c}" for c in range(C)]
TOL = {"rel": 1e-12, "abs": 1e-14}
PNG = b"\x89PNG\r\n\x1a\n"


def _text(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities read, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _write_run(run_dir: Path, test: SavedPredictions, metrics_: dict[str, float],
               val: SavedPredictions | None = None, val_on_test: bool = False) -> RunResult:
    write_predictions(run_dir, "test", test)
    if val is not None:
        write_predictions(run_dir, "val", val)
    result = RunResult(status="completed", task="classification", model="toy",
                       metrics=metrics_, data={"val_on_test": val_on_test})
    result.write(run_dir)
    return result


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory) -> tuple[Path, RunResult, np.ndarray, np.ndarray]:
    """43 classes, mostly right: class 42 neither a target nor predicted (left out, as
    scikit-learn's report leaves it), class 41 predicted a few times but never a target."""
    rng = np.random.default_rng(3)
    y = rng.choice(C - 2, size=N)
    logits = rng.normal(0, 1.5, (N, C))
    logits[np.arange(N), y] += rng.uniform(0, 6, N)
    logits[:, 42] -= 30
    logits[:5, 41] += 40
    run_dir = tmp_path_factory.mktemp("multiclass")
    result = _write_run(run_dir, SavedPredictions(logits.astype(np.float32), y),
                        {"test_acc": 0.5, "test_acc_majority": 0.03})
    return run_dir, result, logits.astype(np.float32).astype(np.float64), y


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> tuple[Path, RunResult, np.ndarray, np.ndarray, np.ndarray]:
    """One logit per sample, 30 % positives, its validation predictions saved beside."""
    rng = np.random.default_rng(4)

    def split(n: int) -> SavedPredictions:
        y = (rng.uniform(size=n) < 0.3).astype(np.int64)
        return SavedPredictions((rng.normal(-0.8, 1.3, n) + 1.8 * y)[:, None].astype(np.float32),
                                y)

    test, val = split(N), split(600)
    run_dir = tmp_path_factory.mktemp("binary")
    result = _write_run(run_dir, test, {"test_acc": float(np.mean(
        (test.outputs[:, 0] > 0) == test.targets))}, val)
    return run_dir, result, test.outputs[:, 0].astype(np.float64), test.targets, val.outputs


def test_per_class_rows_equal_sklearns_report_worst_first(multiclass):
    run_dir, result, logits, y = multiclass
    predicted = logits.argmax(axis=1)
    assert 41 in predicted and 41 not in y and 42 not in predicted and 42 not in y
    counts = np.bincount(predicted, minlength=C)
    classes, averages = class_rows(cs.per_class(logits, y, C), counts, NAMES)
    report = metrics.classification_report(y, predicted, output_dict=True, zero_division=0)
    assert [r.class_id for r in classes] != sorted(r.class_id for r in classes)
    assert sorted(r.class_id for r in classes) == list(range(C - 1)), "42 left out, 41 in"
    for row in classes:
        expected = report[str(row.class_id)]
        assert row.label == f"{row.class_id} sign {row.class_id}"
        assert row.precision == pytest.approx(expected["precision"], **TOL)
        assert row.recall == pytest.approx(expected["recall"], **TOL)
        assert row.f1 == pytest.approx(expected["f1-score"], **TOL)
        assert row.support == expected["support"]
    f1 = [r.f1 for r in classes]
    assert f1 == sorted(f1) and f1[0] < f1[-1], "the worst F1 first"
    for row, key in zip(averages, ("macro avg", "weighted avg"), strict=True):
        assert row.label == key.replace("avg", "average") and row.support == N
        assert row.precision == pytest.approx(report[key]["precision"], **TOL)
        assert row.recall == pytest.approx(report[key]["recall"], **TOL)
        assert row.f1 == pytest.approx(report[key]["f1-score"], **TOL)
    scores = cs.scores(logits, y, C)
    assert averages[0].f1 == pytest.approx(scores["f1_macro"], **TOL), "as the scores table"

    header, cells = class_table(classes, averages)
    assert header == ["class", "precision", "recall", "F1", "support"]
    assert [c[0] for c in cells[:10]] == [r.label for r in classes[:10]]
    assert cells[10][0] == "… 27 classes left out …"
    assert [c[0] for c in cells[11:]] == [*(r.label for r in classes[-5:]), "macro average",
                                          "weighted average"]
    page = _text(classification.per_class_html(classification.scored_predictions(
        result, run_dir), NAMES))
    assert "Of the 42 classes, the 10 with the lowest F1 and the 5 with the highest" in page


def test_scores_beside_baselines_recorded_values_first(multiclass):
    run_dir, result, logits, y = multiclass
    scored = classification.scored_predictions(result, run_dir)
    assert isinstance(scored, classification.Scored) and scored.n_classes == C
    rows = {r.name: r for r in score_rows(scored.scores, result.metrics, scored.chance)}
    assert list(rows) == ["acc", "balanced_acc", "f1_macro", "f1_weighted", "precision_macro",
                          "recall_macro", "top5_acc", "log_loss", "ece"]
    assert rows["acc"] == ("acc", 0.5, 0.03, 1 / C, True), "result.json's values first"
    computed = cs.scores(logits, y, C)
    assert rows["log_loss"].value == pytest.approx(computed["log_loss"], **TOL)
    assert not rows["log_loss"].recorded and rows["log_loss"].majority is None
    assert rows["log_loss"].chance == pytest.approx(np.log(C))
    assert rows["top5_acc"].chance == pytest.approx(5 / C)
    assert rows["ece"].chance is None
    cells = {c[0]: c for c in scores_table(list(rows.values()))[1]}
    assert cells["accuracy"] == ["accuracy", "50.00 %", "3.00 %", "2.33 %", "higher"]
    assert cells["log loss (the cross-entropy minimised)"][1:] == [
        f"{computed['log_loss']:.4f} *", "—", f"{np.log(C):.4f}", "lower"]
    page = _text(classification.scores_html(scored, result, NAMES))
    assert "Not in its result.json: computed from the saved predictions" in page
    assert "threshold" not in page, "no threshold for 43 classes"


def test_binary_areas_equal_sklearn_and_threshold_chosen_on_validation(binary):
    run_dir, result, logits, y, val_outputs = binary
    scored = classification.scored_predictions(result, run_dir)
    rows = {r.name: r for r in score_rows(scored.scores, result.metrics, scored.chance)}
    roc_auc, ap = metrics.roc_auc_score(y, logits), metrics.average_precision_score(y, logits)
    assert rows["roc_auc"].value == pytest.approx(roc_auc, **TOL)
    assert rows["average_precision"].value == pytest.approx(ap, **TOL)
    assert rows["roc_auc"].chance == 0.5 and rows["average_precision"].chance == np.mean(y)
    threshold = cs.choose_threshold(val_outputs, np.asarray(
        classification.read_predictions(run_dir, "val").targets))
    assert scored.scores["threshold"] == threshold
    p = cs.probabilities(logits)[:, 1]
    assert scored.scores["acc_at_threshold"] == pytest.approx(
        metrics.accuracy_score(y, p >= threshold), **TOL)
    page = _text(classification.scores_html(scored, result, ["negative", "positive"]))
    assert f"ROC AUC {score_text('roc_auc', roc_auc)} *" in page
    assert f"{score_text('average_precision', ap)} *" in page
    assert (f"A sample is called positive where the network's probability of positive is at "
            f"least {threshold:.4f}, a threshold chosen on the validation set") in page
    assert f"at the threshold {threshold:.4f}" in page
    curves = classification.curves_html(scored, "toy")
    assert curves.count("<img") == 1 and "decision threshold chosen on the validation set" in curves


def test_a_run_validated_on_test_chose_no_threshold(binary, tmp_path):
    _, _, logits, y, _ = binary
    test = SavedPredictions(logits[:, None].astype(np.float32), y)
    result = _write_run(tmp_path, test, {}, val_on_test=True)
    scored = classification.scored_predictions(result, tmp_path)
    assert "threshold" not in scored.scores
    page = _text(classification.scores_html(scored, result, ["neg", "pos"]))
    assert "validated on its test set (data.val_on_test), so no decision threshold was chosen" \
        in page
    assert "at the threshold" not in page and "dot" not in classification.curves_html(scored, "t")


def test_figures_are_png(binary):
    _, _, logits, y, _ = binary
    diagram = cs.reliability(logits, y)
    assert reliability_diagram(diagram, cs.expected_calibration_error(diagram),
                               "toy").startswith(PNG)
    assert binary_curves(cs.roc_curve(logits, y), cs.precision_recall_curve(logits, y),
                         (0.8, 0.6), 0.3, 0.4, "toy").startswith(PNG)


def test_a_run_without_saved_predictions_says_what_is_left_out(tmp_path):
    result = RunResult(status="completed", task="classification", metrics={"test_acc": 0.9})
    result.write(tmp_path)
    scored = classification.scored_predictions(result, tmp_path)
    assert isinstance(scored, str)
    assert classification.saved_sections(scored, NAMES, "toy") == []
    page = _text(classification.scores_html(scored, result, NAMES))
    assert page == ("Not computed: the scores beside the majority-class and chance baselines, "
                    "the per-class precision, recall and F1, the reliability diagram, because "
                    "the run saved no test predictions (runs made before they were saved have "
                    "none).")
    binary = _text(classification.scores_html(scored, result, ["neg", "pos"]))
    assert "the decision threshold and the ROC and precision-recall curves" in binary


def test_the_page_puts_the_new_parts_among_the_old(binary):
    """The whole analysis page of a binary run from its (hand-made) re-evaluation: the scores
    after the first sentence, the figures computed from the saved predictions after the
    per-class accuracy."""
    run_dir, result, logits, y, _ = binary
    y_pred = (logits > 0).astype(np.int64)
    p = Predictions(Path("best.ckpt"), y, y_pred, np.ones(len(y), np.float32),
                    np.array([], np.int64), None, ["negative", "positive"], None)
    page = classification._html(p, result, classification.scored_predictions(result, run_dir),
                                "toy")
    alts = re.findall(r'<img alt="([^"]+)"', page)
    assert alts == ["confusion matrix, toy", "per-class accuracy, toy", "reliability diagram, toy",
                    "ROC and precision-recall curves, toy"]
    text = _text(page)
    assert text.index("accuracy") < text.index("Scores") < text.index("Decision threshold")
    assert "1 positive" in text and "macro average" in text
