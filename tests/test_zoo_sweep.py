"""One sweep across the zoo's families, as users launch it: a GTSRB CNN, an MNIST DNN (real
MNIST, found where FIDLE users keep it), the LADYB1 forecaster and FIDLE's BHPD1 and BHPD2
regressors (real Boston housing, found where FIDLE keeps it), then one report over it, in which
each family is ranked in its own matrix and its best run analysed by its task."""

import pytest

from fidle_runs.report.report import build_report
from fidle_runs.store.result import read_result
from tests.conftest import run_module
from tests.real_data import real_bhpd_csv, real_data_dir


@pytest.mark.slow  # five runs and the report's analyses: about a minute
def test_a_sweep_mixing_gtsrb_mnist_a_forecast_and_bhpd_gives_one_report(tmp_path):
    datasets = tmp_path / "datasets"
    (datasets / "torch_cache" / "MNIST").mkdir(parents=True)
    (datasets / "torch_cache" / "MNIST" / "raw").symlink_to(real_data_dir("mnist"))
    (datasets / "BHPD" / "origine").mkdir(parents=True)
    (datasets / "BHPD" / "origine" / "BostonHousing.csv").symlink_to(real_bhpd_csv())
    sweep_dir = tmp_path / "sweep"
    # A tenth of each set: a twentieth of Boston housing (25 rows) leaves its `chas` column
    # constant over the train rows, which a z-score refuses.
    launched = run_module(
        "fidle_runs", "-m", "+experiment=gtsrb_cnn,mnist_dnn,ladybug_gru,bhpd_dnn,bhpd_dnn2",
        "data.scale=0.1", "trainer.max_epochs=1", f"paths.data_dir={tmp_path / 'data'}",
        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, env={"FIDLE_DATASETS_DIR": str(datasets)})
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert f"sweep {sweep_dir}: 5 completed" in launched.stdout
    report = build_report([sweep_dir])
    assert [(m.key.task, m.key.family, m.metric.name) for m in report.matrices] == [
        ("classification", "gtsrb", "test_acc"), ("classification", "mnist", "test_acc"),
        ("forecasting", "series", "test_mae"), ("regression", "tables", "test_mae")]
    assert report.matrices[2].baselines == ["persistence"]
    assert report.matrices[1].baselines == ["majority", "chance"]
    regression = report.matrices[3]
    maes = {r.model: r.primary["value"] for r in map(read_result, sweep_dir.iterdir())
            if r is not None and r.task == "regression"}
    assert regression.baselines == ["mean", "least_squares"]
    winner = min(maes, key=maes.get)
    assert regression.winner() == ("bhpd", winner), f"the lowest MAE wins: {maes}"
    reported = run_module("fidle_runs.report", str(sweep_dir), "--out", str(tmp_path / "r"),
                          cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr[-3000:]
    page = (tmp_path / "r" / "report.html").read_text()
    for figure in ("confusion matrix, cnn_v1 on set-24x24-L", "confusion matrix, mnist_dnn on "
                   "mnist", "test forecasts, ladybug_gru on ladybug", "MAE by step ahead, "
                   "ladybug_gru on ladybug", f"predicted vs true, {winner} on bhpd"):
        assert figure in page, figure
