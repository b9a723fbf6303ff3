"""Reports over a generated tree of runs: classifications on GTSRB (real, synthetic, a share of
synthetic) and on the MNIST family, regressions, failed, running, unreadable runs, one run of
schema 1; the tables, one ranking per task, metric and data, the winners in each metric's
direction, FIDLE's numbers beside ours, and the exports."""

import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import pytest

from fidle_runs.report.fidle_reference import fidle_reference
from fidle_runs.report.report import build_report
from fidle_runs.report.wording import plural, shorten
from fidle_runs.store.result import RunResult, read_result
from tests.conftest import run_module
from tests.report_tree import REGRESSION, write_run, write_tree


@pytest.fixture
def tree(tmp_path, forecast_run, table_run) -> Path:
    return write_tree(tmp_path, forecast_run, table_run)


def cells(line: str) -> list[str]:
    """A text table's row, each matrix cell (`97.00 [96.1, 97.8] n=5=`) as its mean and mark
    (`97.00=`); columns are two or more spaces apart."""
    shown = []
    for cell in re.split(r"\s{2,}", line.strip()):
        group = re.fullmatch(r"(\S+)(?: \[[^]]*\])? n=\d+(?: \(\+\d+ not averaged\))?(\**=?)",
                             cell)
        shown.append(group[1] + group[2] if group else cell)
    return shown


def test_report_finds_every_run_and_ranks_each_task_metric_and_data_apart(tree):
    report = build_report([tree])
    assert len(report.rows) == 18
    assert report.counts() == "18 runs: 14 completed, 1 running, 1 failed, 2 unreadable"
    assert [(m.key.task, m.metric.name, m.key.family, m.key.source, m.key.scale)
            for m in report.matrices] == [
        ("classification", "test_acc", "gtsrb", "real", 1.0),
        ("classification", "test_acc", "gtsrb", "synthetic", 1.0),
        ("classification", "test_acc", "gtsrb", "synthetic", 0.1),
        ("classification", "test_acc", "mnist", "real", 1.0),
        ("forecasting", "test_mae", "series", "synthetic", 0.1),
        ("regression", "test_mae", "tables", "real", 1.0)]
    real, synthetic, tenth, mnist, series, table = report.matrices
    assert real.datasets == ["set-24x24-L", "set-48x48-RGB"]
    assert real.models == ["cnn_v1", "cnn_v2"]
    assert real.best_model("set-24x24-L") == "cnn_v2"
    assert real.winner() == ("set-48x48-RGB", "cnn_v2")
    assert real.cells[("set-24x24-L", "cnn_v1")].value == 0.95, "the schema-1 run is ranked"
    assert synthetic.winner() == ("set-24x24-L", "cnn_v1"), "0.99 on synthetic never wins real"
    assert tenth.winner() == ("set-24x24-L", "cnn_v2")
    assert mnist.datasets == ["fashion_mnist", "mnist"]
    assert mnist.best_model("fashion_mnist") == "mnist_cnn"
    assert mnist.winner() == ("mnist", "mnist_cnn")
    assert (table.metric.mode, table.winner(), table.best_model("diabetes")) == \
        ("min", ("diabetes", "bhpd_dnn"), "bhpd_dnn")
    recorded = read_result(tree / "sweeps" / "diabetes" / "real")
    assert table.cells[("diabetes", "bhpd_dnn")].value == recorded.primary["value"], \
        "a cell shows the config with the best validation MAE (53.6, not the other's 58)"
    assert table.chosen_on_validation == [("diabetes", "bhpd_dnn", 2)]
    assert table.baselines == ["mean", "least_squares"], "the real run's, not the fakes' (none)"
    assert table.baseline_value("diabetes", "least_squares") == \
        recorded.metrics["test_mae_least_squares"]
    assert (series.winner(), series.metric.mode, series.baselines) == (
        ("ladybug", "gru"), "min", ["persistence"])
    assert series.baseline_value("ladybug", "persistence") == read_result(
        tree / "runs" / "ladybug").metrics["test_mae_persistence"]


def test_schema_1_runs_read_as_classifications(tree):
    report = build_report([tree])
    old = next(r for r in report.rows if r.run_dir.name == "0" and r.dataset == "set-24x24-L")
    assert (old.task, old.family, old.primary.name, old.primary.mode, old.primary.fraction,
            old.primary_value) == ("classification", "gtsrb", "test_acc", "max", True, 0.95)
    assert (old.monitor.name, old.monitor.fraction, old.monitor_best) == ("val_acc", True, 0.95)


def test_ties_go_to_the_first_in_table_order(tree):
    report = build_report([tree])
    real = report.matrices[0]
    for cell in real.cells.values():
        cell.group.summary = dataclasses.replace(cell.group.summary, mean=0.9)
    assert real.best_model("set-48x48-RGB") == "cnn_v1"
    assert real.winner() == ("set-24x24-L", "cnn_v1")


def test_text_report_shows_matrices_winners_fidle_and_what_went_wrong(tree):
    text = build_report([tree]).text()
    assert ("ranked apart, never together: test_acc on GTSRB real data (4 cells); test_acc on "
            "GTSRB synthetic data (1 cell); test_acc on GTSRB synthetic, scale 0.1 data (1 cell)"
            "; test_acc on MNIST real data (4 cells); test_mae on SERIES synthetic, scale 0.1 "
            "data (1 cell); test_mae on TABLES real data (2 cells)") in text
    matrix_line = next(line for line in text.splitlines() if line.startswith("set-48x48-RGB")
                       and "**" in line)
    assert cells(matrix_line) == ["set-48x48-RGB", "96.00=", "96.39", "98.50**", "98.54",
                                  "cnn_v2"], "one seed each, no predictions: nothing is separated"
    assert "test_acc %, GTSRB real data (classification): mean [95 % interval] n=seeds" in text
    assert "cnn_v2 on set-48x48-RGB: mean test_acc 98.50 % over 1 seed (98.50)" in text
    assert "cannot be compared (one seed each and no saved test predictions): cnn_v1 on " \
        "set-24x24-L (95.00 %)" in text
    assert "FIDLE's numbers are on the whole real GTSRB; these runs are on synthetic data" in text
    assert "these runs are on synthetic, scale 0.1 data" in text
    assert "ValueError: boom" in text and "5/16 epochs done" in text
    assert "malformed result.json" in text
    assert "no result.json: the run stopped before it started training" in text
    assert "best checkpoint deleted" in text


def test_fidle_columns_only_where_fidle_has_numbers_and_percent_only_for_fractions(tree):
    text = build_report([tree]).text()
    lines = text.splitlines()
    mnist_header = next(line for line in lines if line.startswith("dataset  ")
                        and "mnist_cnn" in line)
    assert mnist_header.split() == ["dataset", "mnist_cnn", "FIDLE", "mnist_cnn", "mnist_dnn",
                                    "FIDLE", "mnist_dnn", "best"]
    assert cells(next(line for line in lines if line.startswith("mnist "))) == \
        ["mnist", "99.00**", "98.68", "97.50=", "97.72", "mnist_cnn"]
    assert cells(next(line for line in lines if line.startswith("fashion_mnist "))) == \
        ["fashion_mnist", "91.00=", "88.00=", "mnist_cnn"], "no FIDLE number for Fashion-MNIST"
    assert ("these runs validated on a split of the training data; FIDLE trained on all of it "
            "and validated on the test set") in text
    assert "test_mae, TABLES real data (regression)" in text
    table_header = next(line for line in lines if line.startswith("dataset ") and "mlp" in line)
    assert table_header.split() == ["dataset", "bhpd_dnn", "mlp", "mean", "least_squares",
                                    "best"], "no FIDLE number for diabetes; the baselines"
    metrics = read_result(tree / "sweeps" / "diabetes" / "real").metrics
    assert cells(next(line for line in lines if line.startswith("diabetes "))) == [
        "diabetes", f"{metrics['test_mae']:.4g}**", "61=", f"{metrics['test_mae_mean']:.4g}",
        f"{metrics['test_mae_least_squares']:.4g}", "bhpd_dnn"]
    assert f"bhpd_dnn on diabetes: mean test_mae {metrics['test_mae']:.4g} over 1 seed (" in text
    tables = text.split("test_mae, TABLES real data")[1].split("Not completed")[0]
    assert "%" not in tables.replace("[95 % interval]", "")
    assert "cells whose model ran with several configs show the one with the best mean val_mae " \
        "(chosen on validation, not on the test set): diabetes bhpd_dnn (2 configs)" in text
    assert "(1 cell)" in text and "(1 cells)" not in text


def test_fidle_regressors_have_their_numbers_beside_ours(tmp_path):
    for n, (model, mae) in enumerate([("bhpd_dnn", 2.31), ("bhpd_dnn2", 2.44), ("mlp", 2.9)]):
        write_run(tmp_path / str(n), "completed", "bhpd", model, value=mae, task=REGRESSION,
                  family="tables", data={"shape": [13]})
    lines = build_report([tmp_path]).text().splitlines()
    assert next(line for line in lines if line.startswith("dataset ")).split() == [
        "dataset", "bhpd_dnn", "FIDLE", "bhpd_dnn", "bhpd_dnn2", "FIDLE", "bhpd_dnn2", "mlp",
        "best"]
    assert cells(next(line for line in lines if line.startswith("bhpd "))) == [
        "bhpd", "2.31**", "2.39", "2.44=", "2.29", "2.9=", "bhpd_dnn"]


def test_a_forecast_matrix_puts_persistence_beside_the_networks(tree):
    """The ladybug run's own test MAE and its persistence baseline, from its result.json."""
    lines = build_report([tree]).text().splitlines()
    metrics = read_result(tree / "runs" / "ladybug").metrics
    header = next(line for line in lines if line.startswith("dataset ") and "gru" in line)
    assert header.split() == ["dataset", "gru", "persistence", "best"], "FIDLE ran no plain GRU"
    assert cells(next(line for line in lines if line.startswith("ladybug ")))[-3:] == [
        f"{metrics['test_mae']:.4g}**", f"{metrics['test_mae_persistence']:.4g}", "gru"]
    assert metrics["test_mae"] < metrics["test_mae_persistence"], "2 epochs beat persistence"


def test_result_json_with_wrong_content_is_unreadable_not_fatal(tree):
    (tree / "sweeps" / "grid" / "14").mkdir()
    (tree / "sweeps" / "grid" / "14" / "result.json").write_text(
        '{"status": "completed", "metrics": {"test_acc": "high"}}')
    (tree / "sweeps" / "grid" / "15").mkdir()
    (tree / "sweeps" / "grid" / "15" / "result.json").write_text('{"status": "completed", '
                                                                 '"metrics": null}')
    (tree / "sweeps" / "grid" / "16").mkdir()
    (tree / "sweeps" / "grid" / "16" / "result.json").write_text(
        '{"schema": 2, "status": "completed", "primary": {"name": "test_mae", "mode": "low"}}')
    report = build_report([tree])
    assert report.counts() == "21 runs: 15 completed, 1 running, 1 failed, 4 unreadable"
    text = report.text()
    assert "result.json with unexpected content (primary.value is 'high', not a number)" in text
    assert "test_mae's mode is 'low', not max or min" in text
    assert "completed without test_acc" in text
    assert report.matrices[0].winner() == ("set-48x48-RGB", "cnn_v2")


def test_exports_hold_the_same_report(tree, tmp_path):
    report = build_report([tree])
    md, runs_csv, groups_csv, js = report.write(tmp_path / "report")
    rows = list(csv.DictReader(io.StringIO(runs_csv.read_text())))
    assert len(rows) == 18
    assert [(r["source"], r["metric"], float(r["value"])) for r in rows[1:4]] == [
        ("synthetic", "test_acc", 0.99), ("synthetic", "test_acc", 0.21),
        ("real", "test_mae", 58.0)], "numbers as numbers, fractions as fractions"
    assert rows[1]["params"] == "1297899" and rows[1]["duration_s"] == "42.0"
    groups = list(csv.DictReader(io.StringIO(groups_csv.read_text())))
    assert len(groups) == sum(len(m.cells) for m in report.matrices) == 13
    assert {g["winner"] for g in groups} == {"True", "False"}
    assert (rows[0]["task"], rows[0]["model"], rows[0]["metric"]) == (
        "forecasting", "gru", "test_mae")
    assert {r["status"] for r in rows} == {"completed", "failed", "running", "unreadable"}
    assert {r["task"] for r in rows} == {"classification", "forecasting", "regression", "?"}
    data = json.loads(js.read_text())
    assert data["matrices"][0]["winner"]["model"] == "cnn_v2"
    assert data["matrices"][0]["values"]["set-24x24-L"] == {"cnn_v1": 0.95, "cnn_v2": 0.97}
    assert data["matrices"][3]["fidle"]["mnist"] == {"mnist_cnn": 0.9868, "mnist_dnn": 0.9772}
    assert data["matrices"][5]["metric"] == {"name": "test_mae", "mode": "min",
                                             "fraction": False}
    table = read_result(tree / "sweeps" / "diabetes" / "real").metrics
    assert data["matrices"][5]["winner"]["value"] == table["test_mae"]
    assert data["matrices"][5]["baselines"] == {
        "mean": {"diabetes": table["test_mae_mean"]},
        "least_squares": {"diabetes": table["test_mae_least_squares"]}}
    persistence = read_result(tree / "runs" / "ladybug").metrics["test_mae_persistence"]
    assert data["matrices"][4]["baselines"] == {"persistence": {"ladybug": persistence}}
    text = md.read_text()
    assert "| set-48x48-RGB | 96.00 n=1= | 96.39 | 98.50 n=1\\*\\* | 98.54 | cnn_v2 |" in text
    assert len(data["matrices"][0]["groups"]) == 4
    assert not list((tmp_path / "report").glob(".*tmp*")), "written atomically"


def test_fidle_reference_is_the_mean_of_its_published_runs():
    assert fidle_reference("set-48x48-RGB", "cnn_v2", "test_acc") == pytest.approx(0.9854)
    assert fidle_reference("set-24x24-L", "cnn_v1", "test_acc") == pytest.approx(0.9591)
    assert fidle_reference("set-32x32-L", "cnn_v1", "test_acc") is None
    assert fidle_reference("mnist", "mnist_dnn", "test_acc") == pytest.approx(0.9772)
    assert fidle_reference("mnist", "mnist_cnn", "test_acc") == pytest.approx(0.9868)
    assert fidle_reference("mnist", "mnist_cnn_same", "test_acc") == pytest.approx(0.9876)
    assert fidle_reference("mnist", "lmnist_mlp", "test_acc") == pytest.approx(0.9777)
    assert fidle_reference("fashion_mnist", "mnist_dnn", "test_acc") is None
    assert fidle_reference("mnist", "mnist_dnn", "test_mae") is None


def test_wording():
    assert [plural(n, "run") for n in (0, 1, 2)] == ["0 runs", "1 run", "2 runs"]
    assert plural(3, "worst class", "worst classes") == "3 worst classes"
    assert shorten("Right-of-way at the next intersection", 22) == "Right-of-way at the…"
    assert shorten("Speed limit (20km/h)", 22) == "Speed limit (20km/h)"
    assert shorten("Vehicles-over-3.5-t-prohibited", 12) == "Vehicles-ov…"


def test_report_command(tree, tmp_path):
    proc = run_module("fidle_runs.report", str(tree), "--out", str(tmp_path / "r"),
                      "--no-html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("18 runs: 14 completed")
    assert (tmp_path / "r" / "report.md").is_file()
    assert not (tmp_path / "r" / "report.html").exists()
    empty = run_module("fidle_runs.report", str(tmp_path / "r"), cwd=tmp_path)
    assert empty.returncode == 2 and "no run found below" in empty.stderr
    missing = run_module("fidle_runs.report", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "not a directory" in missing.stderr


def test_class_labels_say_a_name_once():
    from fidle_runs.report.wording import class_label

    assert class_label(14, "Stop") == "14 Stop"
    assert class_label(7, "7") == "7", "MNIST's digits are their own names"
    assert class_label(9, "Right-of-way at the next intersection", 20) == "9 Right-of-way at…"


def test_tensorboard_events_are_missed_only_in_runs_that_trained(tmp_path):
    """A run that failed before its first epoch has its reason, not a missing-events problem."""
    RunResult(status="failed", model="mnist_dnn", error="UserError: no MNIST found",
              epochs=0).write(tmp_path / "early")
    RunResult(status="failed", model="mnist_dnn", error="RuntimeError: out of memory",
              epochs=3).write(tmp_path / "late")
    rows = {row.run_dir.name: row for row in build_report([tmp_path]).rows}
    assert rows["early"].problems == [] and rows["early"].detail == "UserError: no MNIST found"
    assert rows["late"].problems == ["no TensorBoard events"]
