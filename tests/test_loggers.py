"""What each logger shows of a run, read back with the logger's own reader, all offline: the
HParams table of TensorBoard, an MLflow file store (what `mlflow ui` shows), W&B offline run
folders (what `wandb sync` uploads)."""

import json
import struct
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fidle_runs.callbacks.stop_on_requeue import StopOnRequeueSignal
from fidle_runs.core.errors import UserError
from fidle_runs.loggers.run_record import run_hyperparameters
from fidle_runs.loggers.tracking import MLFLOW_RUN_ID, WANDB_RUN_ID, _experiment_id
from fidle_runs.run.train import train
from fidle_runs.store.result import RunResult
from tests.conftest import compose_train, tensorboard_scalars

HPARAMS_SESSION = "_hparams_/session_start_info"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


def test_tensorboard_hparams_hold_the_run_and_its_final_metrics(small_run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    run_dir = tmp_path / "run"
    result = train(small_run("trainer.max_epochs=1", run_dir=run_dir))
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    session = metadata.parse_session_start_info_plugin_data(content[HPARAMS_SESSION])
    hparams = {k: v.string_value or v.number_value for k, v in session.hparams.items()}
    assert hparams["model"] == "cnn_v1" and hparams["task"] == "classification"
    assert hparams["data"] == "set-24x24-L" and hparams["data.mode"] == "L"
    assert hparams["data.batch_size"] == 64 and hparams["optimizer.lr"] == 0.001
    assert hparams["optimizer"] == "Adam" and hparams["scheduler"] == "none"
    assert hparams["trainer.max_epochs"] == 1 and "data.prepared_dir" not in hparams
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    assert {m.name.tag for m in experiment.metric_infos} == {
        *result.metrics, "best_val_acc"}, "the scores and the baselines too"
    assert {"test_f1_macro", "test_acc_majority", "test_log_loss_chance"} <= set(result.metrics)
    assert tensorboard_scalars(run_dir, "test_f1_macro")[-1][1] == pytest.approx(
        result.metrics["test_f1_macro"], abs=1e-6), "a score of the predictions is a scalar"
    # The table's metric columns are the last values of these scalars.
    assert tensorboard_scalars(run_dir, "best_val_acc")[-1][1] == pytest.approx(
        result.monitor["best"], abs=1e-6)
    assert tensorboard_scalars(run_dir, "test_acc")[-1][1] == pytest.approx(
        result.metrics["test_acc"], abs=1e-6)
    assert "model: cnn_v1" in (run_dir / "tensorboard" / "hparams.yaml").read_text()


def test_mlflow_file_store_holds_the_run_as_mlflow_ui_shows_it(small_run, tmp_path):
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    result = train(small_run("logger=mlflow", run_dir=run_dir))
    client = MlflowClient(tracking_uri=f"file:{tmp_path / 'mlruns'}")
    (run,) = client.search_runs([client.get_experiment_by_name("fidle_runs").experiment_id])
    assert run.info.run_id == (run_dir / MLFLOW_RUN_ID).read_text()
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    params = run.data.params
    assert (params["model"], params["data.batch_size"], params["optimizer"]) == \
        ("cnn_v1", "64", "Adam")
    assert run.data.metrics["test_acc"] == pytest.approx(result.metrics["test_acc"], abs=1e-6)
    assert run.data.metrics["best_val_acc"] == result.monitor["best"]
    val_acc = client.get_metric_history(run.info.run_id, "val_acc")
    assert len(val_acc) == 2 and val_acc[0].step < val_acc[1].step, "one value per epoch"
    assert max(m.value for m in val_acc) == pytest.approx(result.monitor["best"], abs=1e-6)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"config.yaml",
                                                                       "result.json"}
    recorded = json.loads(Path(client.download_artifacts(
        run.info.run_id, "result.json", str(tmp_path))).read_text())
    assert recorded["status"] == "completed" and recorded["metrics"] == result.metrics


def test_wandb_offline_run_holds_config_and_summary_for_wandb_sync(small_run, tmp_path):
    run_dir = tmp_path / "run"
    result = train(small_run("logger=wandb", "trainer.max_epochs=1", run_dir=run_dir))
    run_id = (run_dir / WANDB_RUN_ID).read_text()
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    assert folder.name.endswith(f"-{run_id}")
    run = finished_wandb_run(folder / f"run-{run_id}.wandb")
    assert (run["name"], run["project"], run["exit_code"]) == ("run", "fidle_runs", 0)
    assert run["config"]["model"] == "cnn_v1" and run["config"]["data.batch_size"] == 64
    assert run["summary"]["test_acc"] == pytest.approx(result.metrics["test_acc"], abs=1e-6)
    assert run["summary"]["best_val_acc"] == result.monitor["best"]


def test_resumed_run_continues_its_tracked_runs_and_records_once(small_run, tmp_path,
                                                                 monkeypatch):
    """A first attempt crashes before its first checkpoint, a second after it, and the third
    completes the run: the first attempt's tracked runs are discarded, the third continues the
    second's."""
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    cfg = small_run("logger=[mlflow,wandb]", run_dir=run_dir)
    ids = []
    for epoch in (0, 1):
        with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="crash"):
            patch.setattr(StopOnRequeueSignal, "on_train_batch_end", _crash_at(epoch, batch=1))
            train(cfg)
        ids.append(((run_dir / MLFLOW_RUN_ID).read_text(), (run_dir / WANDB_RUN_ID).read_text()))
    result = train(cfg)
    assert result.status == "completed" and result.resumed == 1 and result.epochs == 2
    mlflow_id, wandb_id = ids[1]
    assert ids[0] != ids[1], "an attempt without checkpoint is not continued"
    assert (run_dir / MLFLOW_RUN_ID).read_text() == mlflow_id
    assert (run_dir / WANDB_RUN_ID).read_text() == wandb_id

    client = MlflowClient(tracking_uri=f"file:{tmp_path / 'mlruns'}")
    (run,) = client.search_runs([client.get_experiment_by_name("fidle_runs").experiment_id])
    assert run.info.run_id == mlflow_id and run.info.status == "FINISHED"
    assert client.get_run(ids[0][0]).info.lifecycle_stage == "deleted"
    assert len(client.get_metric_history(mlflow_id, "val_acc")) == 2, "one value per epoch"

    folders = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert [f.name.rsplit("-", 1)[1] for f in folders] == [wandb_id, wandb_id]
    first, last = (finished_wandb_run(f / f"run-{wandb_id}.wandb") for f in folders)
    assert (first["exit_code"], last["exit_code"]) == (1, 0)
    assert last["summary"]["test_acc"] == pytest.approx(result.metrics["test_acc"], abs=1e-6)

    assert _hparams_records(run_dir / "tensorboard") == 1


@pytest.mark.parametrize("package", ["mlflow", "wandb"])
def test_missing_package_is_one_line_before_anything_runs(package, small_run, tmp_path,
                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, package, None)  # `import <package>` now fails
    run_dir = tmp_path / "run"
    with pytest.raises(UserError) as error:
        train(small_run(f"logger={package}", run_dir=run_dir))
    assert str(error.value) == (f"logger={package} needs the {package} package: "
                                f"pip install 'fidle_runs[{package}]'")
    assert not run_dir.exists()


def test_hyperparameters_are_flat_and_named_as_overrides():
    cfg = compose_train(["+experiment=mnist_dnn", "model=mlp", "model.net.widths=[256,64]",
                         "scheduler=cosine", "optimizer=sgd", "seed=3", "paths.run_dir=/tmp/x"])
    params = run_hyperparameters(cfg, RunResult(data={"name": "mnist"}))
    assert params["model"] == "mlp" and params["model.net.widths"] == "[256, 64]"
    assert params["model.net.dropout"] == 0.0 and params["data"] == "mnist"
    assert params["optimizer"] == "SGD" and params["optimizer.momentum"] == 0.9
    assert params["scheduler"] == "CosineAnnealingLR"
    assert params["scheduler.T_max"] == cfg.trainer.max_epochs == params["trainer.max_epochs"]
    assert params["seed"] == 3
    assert not [k for k in params if k.endswith(("_dir", "_target_", "_partial_", ".name"))]
    assert all(v is None or isinstance(v, str | int | float | bool) for v in params.values())


def test_mlflow_experiment_created_meanwhile_by_another_run_is_used(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"file:{tmp_path}")
    created = client.create_experiment("fidle_runs")
    look_up, calls = client.get_experiment_by_name, []

    def too_early(name: str) -> Any:  # the other run creates it just after this first look-up
        calls.append(name)
        return None if len(calls) == 1 else look_up(name)

    monkeypatch.setattr(client, "get_experiment_by_name", too_early)
    assert _experiment_id(client, "fidle_runs", None) == created


def _crash_at(epoch: int, batch: int):
    def crash(self: StopOnRequeueSignal, trainer: Any, *args: Any) -> None:
        if trainer.current_epoch == epoch and args[-1] == batch:
            raise RuntimeError("crash")

    return crash


def _hparams_records(log_dir: Path) -> int:
    """HParams session records in all the event files of a TensorBoard folder."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return sum(value.tag == HPARAMS_SESSION
               for path in log_dir.glob("events.out.tfevents.*")
               for event in EventFileLoader(str(path)).Load()
               for value in event.summary.value)


def finished_wandb_run(path: Path, timeout: float = 30) -> dict[str, Any]:
    """`wandb_run` once the file holds the run's record and its exit: W&B's service process
    writes the file on its own schedule, and may still be writing when finish() returns."""
    deadline = time.monotonic() + timeout
    while True:
        run = wandb_run(path)
        if ("name" in run and run["exit_code"] is not None) or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def wandb_run(path: Path) -> dict[str, Any]:
    """Name, project, config, summary and exit code of a W&B offline run file (`run-<id>.wandb`,
    protobuf records in LevelDB's log format after a 7-byte W&B header), as `wandb sync` reads
    it: this wandb version writes no JSON files for offline runs."""
    from wandb.proto import wandb_internal_pb2

    run: dict[str, Any] = {"config": {}, "summary": {}, "exit_code": None}
    for record in _log_records(path.read_bytes()):
        message = wandb_internal_pb2.Record.FromString(record)
        kind = message.WhichOneof("record_type")
        if kind == "run":
            run.update(name=message.run.display_name, project=message.run.project)
            updates = message.run.config.update
        elif kind == "config":
            updates = message.config.update
        elif kind == "summary":
            updates = message.summary.update
        else:
            if kind == "exit":
                run["exit_code"] = message.exit.exit_code
            continue
        target = run["summary" if kind == "summary" else "config"]
        for item in updates:
            target[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return run


def _log_records(data: bytes, block: int = 32768) -> list[bytes]:
    """The records of a LevelDB log: chunks (4-byte checksum, 2-byte length, 1-byte type: full,
    first, middle, last) that never straddle a block; a block's tail too short for a chunk
    header is padding."""
    assert data[:4] == b":W&B"
    records, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (length, kind) == (0, 0):
            pos += left
            continue
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            records.append(pending)
            pending = b""
    return records
