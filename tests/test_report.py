"""Reports over a generated tree of runs: completed (real and synthetic), failed, running,
unreadable; the tables, the winner, FIDLE's numbers beside ours, and the exports."""

import csv
import io
import json
from pathlib import Path

import pytest

from fidle_runs.report.fidle_reference import fidle_test_acc
from fidle_runs.report.report import build_report
from tests.conftest import run_module
from tests.report_tree import write_tree


@pytest.fixture
def tree(tmp_path) -> Path:
    return write_tree(tmp_path)


def test_report_finds_every_run_and_ranks_each_source_apart(tree):
    report = build_report([tree])
    assert len(report.rows) == 9
    assert report.counts() == "9 runs: 5 completed, 1 running, 1 failed, 2 unreadable"
    real, synthetic = report.matrices
    assert (real.source, synthetic.source) == ("real", "synthetic")
    assert real.datasets == ["set-24x24-L", "set-48x48-RGB"]
    assert real.models == ["cnn_v1", "cnn_v2"]
    assert real.best_model("set-24x24-L") == "cnn_v2"
    assert real.winner() == ("set-48x48-RGB", "cnn_v2")
    assert synthetic.winner() == ("set-24x24-L", "cnn_v1"), "0.99 on synthetic never wins real"


def test_text_report_shows_matrix_winner_fidle_and_what_went_wrong(tree):
    text = build_report([tree]).text()
    assert "runs on different data (source or scale) are ranked separately" in text
    matrix_line = next(line for line in text.splitlines() if line.startswith("set-48x48-RGB")
                       and "**" in line)
    assert matrix_line.split() == ["set-48x48-RGB", "96.00", "96.39", "98.50**", "98.54",
                                   "cnn_v2"]
    assert "cnn_v2 on set-48x48-RGB: test accuracy 98.50 %" in text
    assert "FIDLE's numbers are on the whole real GTSRB; these runs are on synthetic data" in text
    assert "ValueError: boom" in text and "5/16 epochs done" in text
    assert "malformed result.json" in text
    assert "no result.json: the run stopped before it started training" in text
    assert "best checkpoint deleted" in text


def test_result_json_with_wrong_content_is_unreadable_not_fatal(tree):
    (tree / "sweeps" / "grid" / "14").mkdir()
    (tree / "sweeps" / "grid" / "14" / "result.json").write_text(
        '{"status": "completed", "metrics": {"test_acc": "high"}}')
    (tree / "sweeps" / "grid" / "15").mkdir()
    (tree / "sweeps" / "grid" / "15" / "result.json").write_text('{"status": "completed", '
                                                                 '"metrics": null}')
    report = build_report([tree])
    assert report.counts() == "11 runs: 6 completed, 1 running, 1 failed, 3 unreadable"
    text = report.text()
    assert "result.json with unexpected content (metrics.test_acc is 'high', not a number)" in text
    assert report.matrices[0].winner() == ("set-48x48-RGB", "cnn_v2")


def test_exports_hold_the_same_report(tree, tmp_path):
    report = build_report([tree])
    md, runs_csv, js = report.write(tmp_path / "report")
    rows = list(csv.DictReader(io.StringIO(runs_csv.read_text())))
    assert len(rows) == 9
    assert [(r["source"], r["test acc %"]) for r in rows[:2]] == [("synthetic", "99.00"),
                                                                  ("real", "95.00")]
    assert {r["status"] for r in rows} == {"completed", "failed", "running", "unreadable"}
    data = json.loads(js.read_text())
    assert data["matrices"][0]["winner"]["model"] == "cnn_v2"
    assert data["matrices"][0]["test_acc"]["set-24x24-L"] == {"cnn_v1": 0.95, "cnn_v2": 0.97}
    text = md.read_text()
    assert "| set-48x48-RGB | 96.00 | 96.39 | 98.50\\*\\* | 98.54 | cnn_v2 |" in text
    assert not list((tmp_path / "report").glob(".*tmp*")), "written atomically"


def test_fidle_reference_is_the_mean_of_its_two_runs():
    assert fidle_test_acc("set-48x48-RGB", "cnn_v2") == 98.54
    assert fidle_test_acc("set-24x24-L", "cnn_v1") == 95.91
    assert fidle_test_acc("set-32x32-L", "cnn_v1") is None


def test_report_command(tree, tmp_path):
    proc = run_module("fidle_runs.report", str(tree), "--out", str(tmp_path / "r"),
                      "--no-html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("9 runs: 5 completed")
    assert (tmp_path / "r" / "report.md").is_file()
    assert not (tmp_path / "r" / "report.html").exists()
    empty = run_module("fidle_runs.report", str(tmp_path / "r"), cwd=tmp_path)
    assert empty.returncode == 2 and "no run found below" in empty.stderr
    missing = run_module("fidle_runs.report", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "not a directory" in missing.stderr
