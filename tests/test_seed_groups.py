"""Seed groups in the report, end to end on real data: runs that differ only by seed form one
group whose mean, standard deviation and interval are those of their saved predictions; the same
config under another name is tied with it, a clearly worse one is not; a binary classifier's
areas are scikit-learn's on its saved predictions."""

import csv
import io
import json
import shutil

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from fidle_runs.core.errors import UserError
from fidle_runs.report.report import build_report
from fidle_runs.store.predictions import read_predictions
from fidle_runs.store.result import read_result
from tests.conftest import _trained
from tests.real_data import real_bhpd_csv

SEEDS = range(5)


@pytest.fixture(scope="module")
def bhpd_groups(tmp_path_factory):
    """Real Boston housing, FIDLE's BHPD1 network for 15 epochs (of batch 32, not FIDLE's 10, to
    take a third of the steps): seeds 0-4; the same config named `bhpd_again` with seeds 5-9;
    and one epoch only (`bhpd_one_epoch`), seeds 0-4."""
    root = tmp_path_factory.mktemp("bhpd")
    base = ["+experiment=bhpd_dnn", f"data.path={real_bhpd_csv()}", "data.batch_size=32"]
    for name, epochs, seeds in (("bhpd_dnn", 15, SEEDS), ("bhpd_again", 15, range(5, 10)),
                                ("bhpd_one_epoch", 1, SEEDS)):
        for seed in seeds:
            _trained([*base, f"model.name={name}", f"trainer.max_epochs={epochs}",
                      f"seed={seed}"], root / f"{name}-{seed}")
    return root


def test_a_group_is_the_mean_and_interval_of_its_seeds_saved_predictions(bhpd_groups):
    report = build_report([bhpd_groups])
    (matrix,) = report.matrices
    cell = matrix.cells[("bhpd", "bhpd_dnn")]
    runs = sorted(bhpd_groups.glob("bhpd_dnn-*"))
    maes = []
    for run in runs:
        saved = read_predictions(run, "test")
        maes.append(float(np.mean(np.abs(saved.outputs.astype(np.float64) - saved.targets))))
        assert read_result(run).metrics["test_mae"] == pytest.approx(maes[-1], rel=1e-12)
    summary = cell.group.summary
    assert summary.n == 5 and cell.runs == 5 and sorted(cell.group.seeds) == list(SEEDS)
    assert summary.mean == pytest.approx(np.mean(maes), rel=1e-12)
    assert summary.sd == pytest.approx(np.std(maes, ddof=1), rel=1e-12)
    low, high = stats.t.interval(0.95, 4, loc=np.mean(maes), scale=stats.sem(maes))
    assert (cell.group.interval.low, cell.group.interval.high) == (
        pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    # The median seed is the one analysed, never the best.
    assert read_result(cell.run_dir).metrics["test_mae"] == pytest.approx(np.median(maes))
    assert matrix.paired, "every run saved predictions of the same 102 test rows"


def test_the_same_config_under_another_name_is_tied_and_a_worse_one_is_not(bhpd_groups):
    report = build_report([bhpd_groups])
    (matrix,) = report.matrices
    winner = matrix.winner()
    assert winner[1] in ("bhpd_dnn", "bhpd_again")
    twin = "bhpd_again" if winner[1] == "bhpd_dnn" else "bhpd_dnn"
    assert matrix.cells[("bhpd", twin)].tied
    worse = matrix.cells[("bhpd", "bhpd_one_epoch")]
    assert not worse.tied and worse.versus_winner.p_better > 0.99
    assert worse.adjusted_p < 0.05
    text = report.text()
    assert "cannot be told apart from it" in text and f"{twin} on bhpd" in text
    assert "worse than it" in text and "bhpd_one_epoch on bhpd" in text


def test_groups_csv_and_runs_csv_hold_numbers(bhpd_groups, tmp_path):
    report = build_report([bhpd_groups])
    report.write(tmp_path)
    groups = list(csv.DictReader(io.StringIO((tmp_path / "groups.csv").read_text())))
    assert len(groups) == 3
    by_model = {g["model"]: g for g in groups}
    cell = report.matrices[0].cells[("bhpd", "bhpd_dnn")]
    assert float(by_model["bhpd_dnn"]["mean"]) == pytest.approx(cell.value, rel=1e-12)
    assert int(by_model["bhpd_dnn"]["n"]) == 5 and by_model["bhpd_dnn"]["seeds"] == "0;1;2;3;4"
    assert [float(v) for v in by_model["bhpd_dnn"]["values"].split(";")] == pytest.approx(
        list(cell.group.summary.values))
    runs = list(csv.DictReader(io.StringIO((tmp_path / "runs.csv").read_text())))
    assert len(runs) == 15 and all(float(r["value"]) > 0 for r in runs)
    assert all(r["params"].isdigit() and int(r["params"]) == 4_673 for r in runs)
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert len(on_disk["matrices"][0]["groups"]) == 3


def test_a_binary_classifier_scores_its_saved_predictions_as_scikit_learn_does(text_run):
    result = read_result(text_run)
    test, val = read_predictions(text_run, "test"), read_predictions(text_run, "val")
    assert test.outputs.shape == (len(test.targets), 1) and val is not None
    probability = 1 / (1 + np.exp(-test.outputs[:, 0].astype(np.float64)))
    assert result.metrics["test_roc_auc"] == pytest.approx(
        roc_auc_score(test.targets, probability), abs=1e-12)
    assert result.metrics["test_average_precision"] == pytest.approx(
        average_precision_score(test.targets, probability), abs=1e-12)
    assert 0 < result.metrics["test_threshold"] < 1, "chosen on the validation texts"
    assert result.metrics["test_roc_auc_chance"] == 0.5


def test_runs_rank_by_another_metric_recorded_or_computed_from_their_predictions(bhpd_groups,
                                                                                  text_run,
                                                                                  tmp_path):
    report = build_report([bhpd_groups], "test_rmse")
    (matrix,) = report.matrices
    assert (matrix.metric.name, matrix.metric.mode) == ("test_rmse", "min") and matrix.paired
    cell = matrix.cells[("bhpd", "bhpd_dnn")]
    rmses = [read_result(run).metrics["test_rmse"] for run in sorted(
        bhpd_groups.glob("bhpd_dnn-*"))]
    assert cell.value == pytest.approx(np.mean(rmses), rel=1e-12)
    # A metric the run did not record (made before it existed) comes from its predictions.
    run = tmp_path / "text"
    shutil.copytree(text_run, run)
    recorded = json.loads((run / "result.json").read_text())
    del recorded["metrics"]["test_f1_macro"]
    (run / "result.json").write_text(json.dumps(recorded))
    (row,) = build_report([run], "test_f1_macro").rows
    saved = read_predictions(run, "test")
    assert row.primary.name == "test_f1_macro" and row.primary.fraction
    assert row.primary_value == pytest.approx(
        f1_score(saved.targets, (saved.outputs[:, 0] > 0).astype(int), average="macro"),
        abs=1e-12)
    with pytest.raises(UserError, match="--metric test_r3: no task of these runs scores it"):
        build_report([run], "test_r3")
