"""Local sweeps: a failing run never stops the others, the sweep ends with a summary and a
non-zero exit, and launching it again skips what is done and reruns what failed."""

import datetime as dt
import json
import math

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fidle_runs.config.conf import CONF_DIR
from fidle_runs.launch.job_dirs import sweep_job_dir
from fidle_runs.report.sweep_summary import SweepSummary, format_summary, summarize
from fidle_runs.run.train import train
from fidle_runs.store.result import RunResult, read_result
from fidle_runs.store.run_dir import mark_launched
from tests.conftest import job_dir, run_module


def test_failing_run_does_not_stop_the_sweep_and_relaunch_is_keyed_by_config(tmp_path,
                                                                              shared_data_dir):
    """Relaunched with one value changed (and the others in another order), the sweep trains the
    new value, skips the completed run and retries the failed one; the run of the value no longer
    asked for is neither retrained nor reported."""
    sweep_dir = tmp_path / "sweep"
    common = ["fidle_runs", "-m", "+experiment=gtsrb_cnn", "data.source=synthetic",
              "data.synthetic_fraction=0.05", "trainer.max_epochs=1",
              f"paths.data_dir={shared_data_dir}", f"hydra.sweep.dir={sweep_dir}"]
    first = run_module(*common, "optimizer.lr=-1,0.001,0.002", cwd=tmp_path)
    assert first.returncode == 1
    assert f"sweep {sweep_dir}: 2 completed, 0 skipped, 1 failed, 0 interrupted" in first.stdout
    failed = read_result(job_dir(sweep_dir, "optimizer.lr=-1"))
    completed = read_result(job_dir(sweep_dir, "optimizer.lr=0.001"))
    assert failed.status == "failed" and "optimizer.lr=-1 is invalid" in failed.error
    assert completed.status == "completed" and completed.epochs == 1
    assert "  every job: +experiment=gtsrb_cnn,data.source=synthetic," in first.stdout
    assert "\n  optimizer.lr=-1     failed      cnn_v1 on ?: UserError: optimizer.lr=-1" \
        in first.stdout

    again = run_module(*common, "optimizer.lr=0.005,0.001,-1", cwd=tmp_path)
    assert again.returncode == 1
    assert f"sweep {sweep_dir}: 1 completed, 1 skipped, 1 failed, 0 interrupted" in again.stdout
    assert "lr=0.002" not in again.stdout, "a run of another launch is not reported"
    assert read_result(job_dir(sweep_dir, "optimizer.lr=0.001")).updated == completed.updated
    new = job_dir(sweep_dir, "optimizer.lr=0.005")
    assert read_result(new).status == "completed"
    assert "lr: 0.005" in (new / "config.yaml").read_text()
    assert len([p for p in sweep_dir.iterdir() if p.is_dir()]) == 4


def test_job_folders_are_named_by_what_the_job_is():
    assert sweep_job_dir(["model=cnn_v2", "+experiment=gtsrb_full", "data.size=48"]) == \
        "+experiment=gtsrb_full,data.size=48,model=cnn_v2"
    assert sweep_job_dir(["model=cnn_v1", "rerun=true", "paths.data_dir=/x",
                          "hydra.launcher.n_jobs=2", "hydra/launcher=slurm", "speed.compile=true",
                          "gpu_sharing=true"]) == "model=cnn_v1"
    escaped = sweep_job_dir(["data.h5_file=/data/set.h5", "model=cnn_v1"])
    assert escaped.startswith("data.h5_file=_data_set.h5,model=cnn_v1-") and "/" not in escaped
    assert escaped != sweep_job_dir(["data.h5_file=/data_set.h5", "model=cnn_v1"])
    long = sweep_job_dir([f"x{i}=0.123456789" for i in range(20)])
    assert len(long) == 200 and long != sweep_job_dir([f"x{i}=0.123456788" for i in range(20)])
    assert sweep_job_dir([]) == "defaults"


def test_rerun_sets_the_completed_run_aside(small_run, tmp_path):
    run_dir = tmp_path / "run"
    first = train(small_run("trainer.max_epochs=1", run_dir=run_dir))
    second = train(small_run("trainer.max_epochs=1", "rerun=true", run_dir=run_dir))
    (aside,) = run_dir.glob("replaced-*")
    assert json.loads((aside / "result.json").read_text())["started"] == first.started
    assert (aside / "checkpoints" / "last.ckpt").is_file()
    assert second.status == "completed" and second.started >= first.started
    assert read_result(run_dir).started == second.started


def test_gtsrb_full_is_fidles_grid_of_24_runs():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=gtsrb_full"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.trainer.max_epochs == 16
    assert dict(params) == {"data.size": "24,48", "data.mode": "RGB,RGB-HE,L,L-LHE",
                            "model": "cnn_v1,cnn_v2,cnn_v3"}
    assert math.prod(len(v.split(",")) for v in params.values()) == 24
    assert cfg.data.batch_size == 64


def completed(model: str, dataset: str, value: float, **fields) -> RunResult:
    """A completed classification as training records it (result.json schema 2)."""
    return RunResult(status="completed", task="classification", model=model,
                     primary={"name": "test_acc", "mode": "max", "fraction": True,
                              "value": value},
                     monitor={"name": "val_acc", "mode": "max", "best": value},
                     data={"name": dataset}, metrics={"test_acc": value}, **fields)


def test_summary_reads_every_kind_of_run(tmp_path):
    """The report's run reader, its statuses and `skipped` for a run completed before the
    launch; a broken result.json is unreadable (and fails the sweep)."""
    launched = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    runs = {
        "0": completed("cnn_v1", "set-24x24-L", 0.9, epochs=2, duration_s={"fit": 12.0}),
        "1": RunResult(status="failed", model="cnn_v2", error="ValueError: boom"),
        "2": RunResult(status="running", model="cnn_v3", epochs=1, max_epochs=4),
        "10": completed("cnn_v1", "set-48x48-L", 0.8),
    }
    for name, result in runs.items():
        result.write(tmp_path / name)
    old = json.loads((tmp_path / "10" / "result.json").read_text())
    old["updated"] = "2026-01-01T00:00:00+00:00"
    (tmp_path / "10" / "result.json").write_text(json.dumps(old))
    for name in ("0", "1", "2"):
        data = json.loads((tmp_path / name / "result.json").read_text())
        data["updated"] = "2026-01-03T00:00:00+00:00"
        (tmp_path / name / "result.json").write_text(json.dumps(data))
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "fidle_runs.log").write_text("crashed before writing a result")
    (tmp_path / "4").mkdir()
    (tmp_path / "4" / "result.json").write_text("{truncated")

    for name in ("0", "1", "2", "3", "4", "10"):
        mark_launched(tmp_path / name)
    completed("cnn_v1", "set-24x24-L", 0.7).write(tmp_path / "11")  # not in this launch
    rows = summarize(tmp_path, launched)
    assert [(job, status) for job, status, _ in rows] == [
        ("0", "completed"), ("1", "failed"), ("2", "interrupted"), ("3", "unreadable"),
        ("4", "unreadable"), ("10", "skipped")]
    text = format_summary(tmp_path, rows)
    assert "1 completed, 1 skipped, 1 failed, 1 interrupted, 2 unreadable" in text
    assert "cnn_v2 on ?: ValueError: boom" in text and "1/4 epochs done" in text
    assert "cnn_v1 on set-24x24-L: test_acc 90.00 %, 2 epochs, 12s" in text
    assert "no result.json: the run stopped before it started training" in text
    assert "malformed result.json (see fidle_runs.log)" in text
    summary = SweepSummary()
    with pytest.raises(SystemExit) as exit_:
        summary.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert exit_.value.code == 1


def test_local_parallel_sweep_runs_two_at_once(tmp_path, shared_data_dir):
    sweep_dir = tmp_path / "sweep"
    proc = run_module("fidle_runs", "-m", "+experiment=gtsrb_cnn", "data.source=synthetic",
                      "data.synthetic_fraction=0.05", "trainer.max_epochs=1",
                      "model=cnn_v1,cnn_v3", "hydra/launcher=local_parallel",
                      f"paths.data_dir={shared_data_dir}", f"hydra.sweep.dir={sweep_dir}",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"sweep {sweep_dir}: 2 completed, 0 skipped, 0 failed" in proc.stdout
    a, b = (read_result(job_dir(sweep_dir, f"model={m}")) for m in ("cnn_v1", "cnn_v3"))
    assert (a.model, b.model) == ("cnn_v1", "cnn_v3")
    start_a, end_a, start_b, end_b = (dt.datetime.fromisoformat(t) for t in
                                      (a.started, a.updated, b.started, b.updated))
    assert start_a < end_b and start_b < end_a, "the two runs overlapped in time"


def test_summary_is_printed_even_when_the_launcher_aborts(tmp_path, capsys):
    summary = SweepSummary()
    summary.on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    completed("cnn_v1", "set-24x24-L", 0.5, epochs=1).write(tmp_path / "0")
    RunResult(status="running", model="cnn_v2", epochs=1, max_epochs=3).write(tmp_path / "1")
    for job in ("0", "1"):
        mark_launched(tmp_path / job)
    summary.summary_if_aborted()
    out = capsys.readouterr().out
    assert out.startswith("the launcher stopped before every run returned")
    assert f"sweep {tmp_path}: 1 completed, 0 skipped, 0 failed, 0 interrupted, 1 running" in out
    assert "cnn_v2 on ?: 1/3 epochs done" in out
    summary.ended = True
    summary.summary_if_aborted()
    assert capsys.readouterr().out == "", "nothing more once the sweep has ended normally"
