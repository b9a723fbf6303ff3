"""The float64 scores computed from saved predictions (fidle_runs.tasks.classification_scores and
value_scores) against scikit-learn, an independent implementation, on seeded data of realistic
size: 43 classes like GTSRB, a binary classifier with one logit (and with tied scores), a
regression of 3 values."""

import numpy as np
import pytest
from sklearn import metrics

from fidle_runs.tasks import classification_scores as cs
from fidle_runs.tasks import value_scores as vs

N, C = 2000, 43
TOL = {"rel": 1e-12, "abs": 1e-14}


@pytest.fixture(scope="module")
def multiclass() -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, 43) and imbalanced targets: class 42 neither a target nor ever predicted,
    class 41 predicted a few times but never a target, class 40 a target never predicted."""
    rng = np.random.default_rng(0)
    frequency = rng.uniform(0.2, 1.0, C)
    frequency[[41, 42]] = 0
    y = rng.choice(C, size=N, p=frequency / frequency.sum())
    logits = rng.normal(0, 1.5, (N, C))
    logits[np.arange(N), y] += rng.uniform(1, 7, N)  # mostly right, sometimes not
    logits[:, 40] -= 20
    logits[:, 42] -= 20
    logits[:7, 41] += 30
    return logits, y


@pytest.fixture(scope="module")
def binary() -> tuple[np.ndarray, np.ndarray]:
    """One logit per sample, 20 % positives; rounded to 0.1 so that many scores tie."""
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=N) < 0.2).astype(np.int64)
    logits = np.round(rng.normal(-1.0, 1.2, N) + 2.0 * y, 1)
    return logits, y


# scikit-learn's balanced accuracy warns of class 41, predicted but never a target.
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_multiclass_scores_equal_sklearn(multiclass):
    logits, y = multiclass
    predicted = logits.argmax(axis=1)
    assert 41 in predicted and 41 not in y and 40 in y and 40 not in predicted
    assert 42 not in y and 42 not in predicted
    probabilities = cs.probabilities(logits)
    got = cs.scores(logits, y, n_classes=C)
    expected = {
        "acc": metrics.accuracy_score(y, predicted),
        "balanced_acc": metrics.balanced_accuracy_score(y, predicted),
        "f1_macro": metrics.f1_score(y, predicted, average="macro", zero_division=0),
        "f1_weighted": metrics.f1_score(y, predicted, average="weighted", zero_division=0),
        "precision_macro": metrics.precision_score(y, predicted, average="macro",
                                                   zero_division=0),
        "recall_macro": metrics.recall_score(y, predicted, average="macro", zero_division=0),
        "top5_acc": metrics.top_k_accuracy_score(y, logits, k=5, labels=range(C)),
        "log_loss": metrics.log_loss(y, probabilities, labels=range(C)),
    }
    assert set(got) == {*expected, "loss", "ece"}
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, **TOL), name
    assert got["loss"] == got["log_loss"]
    assert 0.4 < got["acc"] < 0.9 and 0.5 < got["top5_acc"] < 1  # the data is not degenerate
    # The same top-5 from probabilities: softmax keeps the logits' order here.
    assert got["top5_acc"] == metrics.top_k_accuracy_score(y, probabilities, k=5,
                                                           labels=range(C))


def test_macro_averages_run_over_present_labels_only(multiclass):
    """Class 42 (never a target, never predicted) is left out of macro averages, as
    scikit-learn's default labels do; class 41 (predicted, never a target) counts."""
    logits, y = multiclass
    predicted = logits.argmax(axis=1)
    got = cs.scores(logits, y)
    present = sorted(set(y) | set(predicted))
    assert len(present) == C - 1
    for average, function in [("f1_macro", metrics.f1_score),
                              ("precision_macro", metrics.precision_score),
                              ("recall_macro", metrics.recall_score)]:
        union = function(y, predicted, labels=present, average="macro", zero_division=0)
        every = function(y, predicted, labels=range(C), average="macro", zero_division=0)
        assert got[average] == pytest.approx(union, **TOL)
        assert every < union and got[average] != pytest.approx(every, rel=1e-6)


def test_per_class_and_confusion_equal_sklearn(multiclass):
    logits, y = multiclass
    predicted = logits.argmax(axis=1)
    got = cs.per_class(logits, y, n_classes=C)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y, predicted, labels=range(C), zero_division=0)
    np.testing.assert_allclose(got["precision"], precision, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got["recall"], recall, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got["f1"], f1, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(got["support"], support)
    assert got["support"].dtype == np.int64 and got["f1"].dtype == np.float64
    report = metrics.classification_report(y, predicted, labels=range(C), output_dict=True,
                                           zero_division=0)
    assert got["f1"][3] == pytest.approx(report["3"]["f1-score"], **TOL)
    assert got["precision"][41] == 0 and got["recall"][40] == 0
    assert (got["precision"][42], got["recall"][42], got["f1"][42], got["support"][42]) == (
        0, 0, 0, 0)

    matrix = cs.confusion(predicted, y, C)
    assert matrix.dtype == np.int64 and matrix.shape == (C, C)
    np.testing.assert_array_equal(matrix, metrics.confusion_matrix(y, predicted, labels=range(C)))


def test_binary_scores_equal_sklearn_with_tied_scores(binary):
    logits, y = binary
    assert len(np.unique(logits)) < N / 10  # many ties
    predicted = (logits > 0).astype(np.int64)
    p = cs.probabilities(logits)[:, 1]
    got = cs.scores(logits, y)
    expected = {
        "acc": metrics.accuracy_score(y, predicted),
        "balanced_acc": metrics.balanced_accuracy_score(y, predicted),
        "f1": metrics.f1_score(y, predicted),
        "f1_macro": metrics.f1_score(y, predicted, average="macro"),
        "roc_auc": metrics.roc_auc_score(y, logits),
        "average_precision": metrics.average_precision_score(y, logits),
        "log_loss": metrics.log_loss(y, p),
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, **TOL), name
    # Ranking by probabilities gives the same (no logit here is large enough to saturate).
    assert got["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, p), **TOL)
    assert got["average_precision"] == pytest.approx(metrics.average_precision_score(y, p), **TOL)
    assert "top5_acc" not in got and "threshold" not in got
    assert 0.7 < got["roc_auc"] < 0.95


def test_two_column_binary_scores_as_one_logit(binary):
    logits, y = binary
    two = np.stack([np.zeros(N), logits], axis=1)
    one, both = cs.scores(logits, y, threshold=0.3), cs.scores(two, y, n_classes=2, threshold=0.3)
    assert set(one) == set(both) == set(cs.SCORES) - {"top5_acc"}
    for name in one:
        assert both[name] == pytest.approx(one[name], **TOL), name


def test_curves_give_the_scores(binary):
    logits, y = binary
    got = cs.scores(logits, y)
    fpr, tpr, thresholds = cs.roc_curve(logits, y)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert thresholds[0] == np.inf and np.all(np.diff(thresholds[1:]) < 0)
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(got["roc_auc"], **TOL)
    assert metrics.auc(fpr, tpr) == pytest.approx(metrics.roc_auc_score(y, logits), **TOL)

    precision, recall, thresholds = cs.precision_recall_curve(logits, y)
    sk_precision, sk_recall, sk_thresholds = metrics.precision_recall_curve(
        y, cs.probabilities(logits)[:, 1])
    np.testing.assert_allclose(precision, sk_precision, rtol=1e-12)
    np.testing.assert_allclose(recall, sk_recall, rtol=1e-12)
    np.testing.assert_allclose(thresholds, sk_thresholds, rtol=1e-12)
    assert -np.sum(np.diff(recall) * precision[:-1]) == pytest.approx(got["average_precision"],
                                                                       **TOL)


def test_ece_on_a_hand_computed_example():
    """Confidences 0.9 (right), 0.9 (wrong), 0.65 (right), 0.75 (wrong), 1.0 (right): bins
    (13/15, 14/15] accuracy 1/2, (9/15, 10/15] accuracy 1, (11/15, 12/15] accuracy 0, and the
    last bin accuracy 1; ECE = (2 x 0.4 + 0.35 + 0.75 + 0) / 5 = 0.38."""
    p = np.array([[0.1, 0.9], [0.9, 0.1], [0.65, 0.35], [0.25, 0.75]])
    logits = np.r_[np.log(p), [[0.0, 1000.0]]]
    y = np.array([1, 1, 0, 0, 1])
    assert cs.scores(logits, y)["ece"] == pytest.approx(0.38, rel=1e-12)
    diagram = cs.reliability(logits, y)
    assert diagram["edges"].shape == (16,) and diagram["count"].dtype == np.int64
    np.testing.assert_array_equal(np.flatnonzero(diagram["count"]), [9, 11, 13, 14])
    np.testing.assert_array_equal(diagram["count"][[9, 11, 13, 14]], [1, 1, 2, 1])
    np.testing.assert_allclose(diagram["accuracy"][[9, 11, 13, 14]], [1, 0, 0.5, 1])
    np.testing.assert_allclose(diagram["confidence"][[9, 11, 13, 14]], [0.65, 0.75, 0.9, 1.0])
    assert np.isnan(diagram["accuracy"][0]) and np.isnan(diagram["confidence"][0])


def test_reliability_gives_the_scores_ece(multiclass):
    logits, y = multiclass
    diagram = cs.reliability(logits, y)
    assert diagram["count"].sum() == N
    full = diagram["count"] > 0
    ece = np.sum(diagram["count"][full] / N
                 * np.abs(diagram["accuracy"][full] - diagram["confidence"][full]))
    assert ece == pytest.approx(cs.scores(logits, y)["ece"], **TOL)
    assert cs.expected_calibration_error(diagram) == cs.scores(logits, y)["ece"]


def _balanced(p: np.ndarray, y: np.ndarray, threshold: float) -> float:
    return metrics.balanced_accuracy_score(y, (p >= threshold).astype(np.int64))


def test_choose_threshold_on_imbalanced_validation():
    """5 % positives whose logits sit below 0: at 0.5 most positives are missed; the chosen
    threshold is the best of all candidates and carries over to test data."""
    rng = np.random.default_rng(2)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.uniform(size=n) < 0.05).astype(np.int64)
        return rng.normal(-3.0, 1.0, n) + 2.0 * y, y

    (val_logits, val_y), (test_logits, test_y) = draw(N), draw(N)
    threshold = cs.choose_threshold(val_logits, val_y)
    p = cs.probabilities(val_logits)[:, 1]
    assert threshold < 0.5 and threshold in p
    assert _balanced(p, val_y, threshold) > _balanced(p, val_y, 0.5) + 0.2
    # Brute force over every candidate.
    candidates = np.r_[np.unique(p), 0.5]
    called = p[None, :] >= candidates[:, None]
    recalls = (called[:, val_y == 1].mean(axis=1) + (~called[:, val_y == 0]).mean(axis=1)) / 2
    assert _balanced(p, val_y, threshold) == pytest.approx(recalls.max(), **TOL)

    got = cs.scores(test_logits, test_y, threshold=threshold)
    test_p = cs.probabilities(test_logits)[:, 1]
    chosen = (test_p >= threshold).astype(np.int64)
    assert got["threshold"] == threshold
    assert got["balanced_acc_at_threshold"] == pytest.approx(
        metrics.balanced_accuracy_score(test_y, chosen), **TOL)
    assert got["acc_at_threshold"] == pytest.approx(metrics.accuracy_score(test_y, chosen), **TOL)
    assert got["f1_at_threshold"] == pytest.approx(metrics.f1_score(test_y, chosen), **TOL)
    assert got["balanced_acc_at_threshold"] > got["balanced_acc"] + 0.2


def test_choose_threshold_prefers_the_closest_to_half_and_needs_binary():
    p = np.array([0.1, 0.3, 0.7, 0.9])  # 0.5 and 0.7 both separate the classes perfectly
    assert cs.choose_threshold(np.log(p / (1 - p)), np.array([0, 0, 1, 1])) == 0.5
    with pytest.raises(ValueError):
        cs.choose_threshold(np.zeros((4, 3)), np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError):
        cs.choose_threshold(np.zeros(4), np.zeros(4, dtype=np.int64))


def test_baselines(multiclass, binary):
    _, y = multiclass
    counts = np.bincount(y, minlength=C)
    majority = int(counts.argmax())
    got = cs.baseline_scores(y, C, majority)
    constant = np.full(N, majority)
    assert got["majority"]["acc"] == pytest.approx(counts.max() / N, **TOL)
    assert got["majority"]["f1_macro"] == pytest.approx(
        metrics.f1_score(y, constant, average="macro", zero_division=0), **TOL)
    assert got["majority"]["balanced_acc"] == pytest.approx(
        metrics.balanced_accuracy_score(y, constant), **TOL)
    assert got["chance"]["log_loss"] == pytest.approx(np.log(C), **TOL)
    assert got["chance"]["acc"] == 1 / C and got["chance"]["top5_acc"] == 5 / C
    uniform = cs.scores(np.zeros((N, C)), y)
    assert uniform["log_loss"] == pytest.approx(got["chance"]["log_loss"], **TOL)

    _, y = binary
    chance = cs.baseline_scores(y, 2, 0)["chance"]
    uniform = cs.scores(np.zeros(N), y)
    assert chance["roc_auc"] == uniform["roc_auc"] == 0.5
    assert chance["average_precision"] == pytest.approx(y.mean(), **TOL)
    assert uniform["average_precision"] == pytest.approx(y.mean(), **TOL)
    assert chance["log_loss"] == pytest.approx(np.log(2), **TOL)


def test_extreme_logits_give_finite_log_loss():
    one = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    y = np.array([0, 1, 1, 0])
    assert cs.scores(one, y)["log_loss"] == pytest.approx(2000 / 4, rel=1e-12)
    np.testing.assert_array_equal(cs.log_probabilities(one)[:2], [[-1000, 0], [0, -1000]])
    # scikit-learn clips the probabilities at float64's epsilon instead: log(eps) = -36.04.
    clipped = metrics.log_loss(y, cs.probabilities(one)[:, 1])
    assert clipped == pytest.approx(-np.log(np.finfo(np.float64).eps) / 2, rel=1e-6)

    many = np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, -1000.0]])
    got = cs.scores(many, np.array([1, 2]))
    assert got["log_loss"] == pytest.approx((2000 + 1000 + np.log(2)) / 2, rel=1e-12)
    assert np.all(np.isfinite(cs.probabilities(many)))
    np.testing.assert_allclose(cs.probabilities(many).sum(axis=1), 1)
    np.testing.assert_allclose(cs.probabilities(one).sum(axis=1), 1)


def test_classification_per_sample_means_are_the_scores(multiclass, binary):
    for logits, y in (multiclass, binary):
        got = cs.scores(logits, y)
        for name in ("acc", "log_loss", "loss", "top5_acc"):
            if name in got:
                assert cs.per_sample(logits, y, name).mean() == pytest.approx(got[name], **TOL)
        with pytest.raises(KeyError):
            cs.per_sample(logits, y, "f1_macro")
    with pytest.raises(KeyError):
        cs.per_sample(*binary, "top5_acc")


def test_inconsistent_inputs_are_refused(multiclass):
    logits, y = multiclass
    with pytest.raises(ValueError):
        cs.scores(logits, y, n_classes=50)
    with pytest.raises(ValueError):
        cs.scores(logits[:, :40], y)
    with pytest.raises(ValueError):
        cs.scores(logits, y[:-1])


def test_every_score_is_declared(multiclass, binary):
    assert set(cs.scores(*multiclass)) <= set(cs.SCORES)
    assert set(cs.scores(*binary, threshold=0.4)) <= set(cs.SCORES)
    assert all(mode in ("max", "min") for mode, _ in cs.SCORES.values())
    assert set(vs.scores(np.zeros((3, 2)), np.ones((3, 2)), ["a", "b"])) - {
        "mae_a", "mae_b", "rmse_a", "rmse_b", "r2_a", "r2_b"} == set(vs.SCORES)


@pytest.fixture(scope="module")
def values() -> tuple[np.ndarray, np.ndarray]:
    """Three targets of different scales and predictions of different quality."""
    rng = np.random.default_rng(3)
    targets = rng.normal([20.0, 0.5, 1000.0], [9.0, 0.1, 50.0], (N, 3))
    predictions = targets + rng.normal(0, [3.0, 0.09, 80.0], (N, 3))
    return predictions, targets


def test_value_scores_equal_sklearn(values):
    predictions, targets = values
    got = vs.scores(predictions, targets, names=["price", "rate", "pressure"])
    mse = metrics.mean_squared_error(targets, predictions)
    assert got["mae"] == pytest.approx(metrics.mean_absolute_error(targets, predictions), **TOL)
    assert got["mse"] == got["loss"] == pytest.approx(mse, **TOL)
    assert got["rmse"] == pytest.approx(np.sqrt(mse), **TOL)
    assert got["r2"] == pytest.approx(metrics.r2_score(targets, predictions), **TOL)
    raw = metrics.r2_score(targets, predictions, multioutput="raw_values")
    mae = metrics.mean_absolute_error(targets, predictions, multioutput="raw_values")
    rmse = np.sqrt(metrics.mean_squared_error(targets, predictions, multioutput="raw_values"))
    for i, name in enumerate(["price", "rate", "pressure"]):
        assert got[f"r2_{name}"] == pytest.approx(raw[i], **TOL)
        assert got[f"mae_{name}"] == pytest.approx(mae[i], **TOL)
        assert got[f"rmse_{name}"] == pytest.approx(rmse[i], **TOL)
    assert raw[2] < 0 < raw[0]  # the uniform average is not the variance-weighted one
    assert got["r2"] != pytest.approx(
        metrics.r2_score(targets, predictions, multioutput="variance_weighted"), rel=1e-3)
    single = vs.scores(predictions[:, 0], targets[:, 0], names=["price"])
    assert set(single) == set(vs.SCORES)
    assert single["r2"] == pytest.approx(raw[0], **TOL)


def test_r2_of_a_constant_target_as_sklearn():
    targets = np.c_[np.full(10, 3.0), np.arange(10.0), np.full(10, 1.0)]
    predictions = targets + np.c_[np.zeros(10), np.full(10, 0.5), np.full(10, 0.1)]
    got = vs.scores(predictions, targets, names=["same", "moving", "off"])
    assert (got["r2_same"], got["r2_off"]) == (1.0, 0.0)
    assert got["r2"] == pytest.approx(metrics.r2_score(targets, predictions), **TOL)
    assert np.isnan(vs.scores(np.ones(1), np.zeros(1))["r2"])


def test_value_per_sample_means_are_the_scores(values):
    predictions, targets = values
    got = vs.scores(predictions, targets)
    for name in ("mae", "mse", "loss"):
        shares = vs.per_sample(predictions, targets, name)
        assert shares.shape == (N,)
        assert shares.mean() == pytest.approx(got[name], **TOL)
    for name in ("rmse", "r2"):
        with pytest.raises(KeyError):
            vs.per_sample(predictions, targets, name)
    with pytest.raises(ValueError):
        vs.scores(predictions, targets[:, :2])
