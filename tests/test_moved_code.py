"""A run made before fidle_runs' top level was regrouped into packages keeps working: its saved
config.yaml names the old paths (`fidle_runs.checkpoint_io.AtomicCheckpointIO`), read through the
table of moved modules (fidle_runs.store.moved_code). tests/fixtures/run_before_regroup/ is such
a run, made by the pinned commit of scripts/make_run_before_regroup.sh (which regenerates it):
resumed, skipped when complete, evaluated, predicted, exported and reported by today's code."""

import importlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fidle_runs.evaluate.__main__ import main as evaluate
from fidle_runs.export.__main__ import main as export
from fidle_runs.predict.__main__ import main as predict
from fidle_runs.report.run_index import read_run as report_row
from fidle_runs.run.rebuild import load_run
from fidle_runs.run.train import train
from fidle_runs.store.moved_code import MOVED_MODULES, current_path
from fidle_runs.store.result import read_result
from fidle_runs.store.run_dir import read_saved_config
from tests.conftest import compose_train

FIXTURE = Path(__file__).parent / "fixtures" / "run_before_regroup"
# The command the fixture was made with (scripts/make_run_before_regroup.sh).
COMMAND = ["+experiment=diabetes_dnn", "trainer.max_epochs=2", "seed=0",
           "callbacks.progress.style=lines"]
OLD_PLUGIN = "fidle_runs.checkpoint_io.AtomicCheckpointIO"


@pytest.fixture
def old_run(tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    return run


def relaunch(run: Path, tmp_path: Path):
    return train(compose_train([*COMMAND, f"paths.run_dir={run}",
                                f"paths.output_root={tmp_path}"]))


def test_the_fixture_names_old_paths_read_as_the_current_ones(old_run):
    assert f"_target_: {OLD_PLUGIN}" in (old_run / "config.yaml").read_text()
    plugin = read_saved_config(old_run).trainer.plugins[0]._target_
    assert plugin == "fidle_runs.store.checkpoint_io.AtomicCheckpointIO"
    assert current_path("fidle_runs.tasks.regression.Regression") == (
        "fidle_runs.tasks.regression.Regression"), "what did not move stays"
    for new in MOVED_MODULES.values():
        importlib.import_module(new)


def test_a_completed_run_made_before_is_skipped(old_run, tmp_path):
    recorded = (old_run / "result.json").read_text()
    result = relaunch(old_run, tmp_path)
    assert result.status == "completed"
    assert (old_run / "result.json").read_text() == recorded, "nothing trained or rewritten"


def test_an_interrupted_run_made_before_resumes(old_run, tmp_path):
    recorded = json.loads((old_run / "result.json").read_text())
    (old_run / "result.json").write_text(json.dumps({**recorded, "status": "interrupted"}))
    result = relaunch(old_run, tmp_path)
    assert result.status == "completed" and result.resumed == 1 and result.epochs == 2
    assert result.metrics["test_mae"] == pytest.approx(recorded["metrics"]["test_mae"], rel=1e-5)


def test_evaluate_predict_export_and_report_use_a_run_made_before(old_run, tmp_path, capsys):
    recorded = read_result(old_run)
    evaluate([str(old_run), "--splits", "test"])
    tested = read_result(old_run).evaluation["best"]["splits"]["test"]
    assert tested["test_mae"] == pytest.approx(recorded.metrics["test_mae"], rel=1e-5)

    _, run = load_run(old_run, load_data=True)
    datamodule = run.datamodule
    rows = datamodule.raw_features.loc[datamodule.test_rows[:5]]
    rows.to_csv(tmp_path / "patients.csv", index=False)
    with torch.inference_mode():
        expected = run.task(datamodule.tensors["test"][0][:5])[:, 0].numpy()
    capsys.readouterr()
    predict([str(old_run), str(tmp_path / "patients.csv"), "--json"])
    records = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose([r["predictions"]["progression"] for r in records], expected,
                               rtol=1e-5, atol=1e-4)

    export([str(old_run), "--format", "torchscript", "--out", str(tmp_path / "model.ts")])
    assert (tmp_path / "model.ts").is_file()
    row = report_row(old_run)
    assert row.status == "completed" and not row.problems
