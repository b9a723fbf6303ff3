"""What each logger shows of a run, read back with the logger's own reader: the HParams table
of TensorBoard."""

import pytest

from fidle_runs.loggers.run_record import run_hyperparameters
from fidle_runs.result import RunResult
from fidle_runs.train import train
from tests.conftest import compose_train, tensorboard_scalars

HPARAMS_SESSION = "_hparams_/session_start_info"


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
    assert {m.name.tag for m in experiment.metric_infos} == {"test_acc", "test_loss",
                                                             "best_val_acc"}
    # The table's metric columns are the last values of these scalars.
    assert tensorboard_scalars(run_dir, "best_val_acc")[-1][1] == pytest.approx(
        result.monitor["best"], abs=1e-6)
    assert tensorboard_scalars(run_dir, "test_acc")[-1][1] == pytest.approx(
        result.metrics["test_acc"], abs=1e-6)
    assert "model: cnn_v1" in (run_dir / "tensorboard" / "hparams.yaml").read_text()


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
