"""The series family's data (fidle_runs.data.series): FIDLE LADYB1's trajectory, SYNOP's file, any
CSV; chronological parts, windows as views, the z-score kept with the run, bad input in one line.

No SYNOP file exists here: its loader is tested on a small file the test writes in the exact
layout of Meteo-France's donnees-synop-essentielles-omm-LYS.csv (';'-separated, a `date` column
with UTC offsets, more columns than SYNOP1 keeps, `mq` for a missing value, rows out of order)."""

import math
import random
import re

import numpy as np
import pandas as pd
import pytest
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.in_memory import InMemoryDataModule, Splits, validation_indices
from fidle_runs.data.inputs import InputRequest
from fidle_runs.data.kept_state import check_plain, first_difference
from fidle_runs.data.series.datamodule import (
    CSVSeriesDataModule,
    LadybugDataModule,
    SynopDataModule,
)
from fidle_runs.data.series.synop import FILE, SYNOP1_COLUMNS
from fidle_runs.run.assemble import build_datamodule
from tests.conftest import compose_train
from tests.real_data import real_weather_csv


@pytest.fixture(scope="module")
def ladybug() -> LadybugDataModule:
    datamodule = LadybugDataModule()
    datamodule.setup("fit")
    return datamodule


def _fidle_ladybug(t: float) -> tuple[float, float]:
    """LADYB1's ladybug_move, written out again from the notebook's formula."""
    random.seed(16)
    ax1, ax2, ax3, ax4, kx1, kx2, kx3, kx4 = (random.gauss(0.0, 1.0) for _ in range(8))
    ay1, ay2, ay3, ay4, ky1, ky2, ky3, ky4 = (random.gauss(0.0, 1.0) for _ in range(8))
    x = (ax1 * math.sin(t * (kx1 + 20)) + ax2 * math.cos(t * (kx2 + 10))
         + ax3 * math.sin(t * (kx3 + 5)) + ax4 * math.cos(t * (kx4 + 5)))
    y = (ay1 * math.cos(t * (ky1 + 20)) + ay2 * math.sin(t * (ky2 + 10))
         + ay3 * math.cos(t * (ky3 + 5)) + ay4 * math.sin(t * (ky4 + 5)))
    return x, y


def test_ladybug_is_fidle_ladyb1s_trajectory(ladybug):
    series = ladybug.series
    assert series.values.shape == (50_000, 2) and series.columns == ["x", "y"]
    for step in (0, 1, 2, 777, 49_999):
        assert series.time[step] == pytest.approx(step * 0.02, abs=1e-9)
        np.testing.assert_allclose(series.values[step], _fidle_ladybug(step * 0.02), rtol=1e-9,
                                   atol=1e-12)
    # z-score: one mean and one std of all 80,000 train values (numpy's x_train.mean(), .std()).
    train = series.values[:40_000]
    kept = ladybug.kept_state()["scaling"]
    assert kept["mean"] == [pytest.approx(train.mean(), rel=1e-12)] * 2
    assert kept["std"] == [pytest.approx(train.std(), rel=1e-12)] * 2


def test_ladybug_parts_and_windows_are_fidle_v2s(ladybug):
    info = ladybug.describe()
    assert info["steps"] == {"train": 40_000, "val": 0, "test": 10_000}
    assert (info["n_train"], info["n_test"]) == (40_000 - 20, 10_000 - 20)
    assert info["val_split"] == "test set"
    assert all(v is t for v, t in zip(ladybug.tensors["val"], ladybug.tensors["test"],
                                      strict=True))
    assert len(ladybug.train_dataloader()) == 1250  # FIDLE v2: 1,250 steps per epoch
    x, y = ladybug.tensors["train"]
    assert x.shape == (39_980, 20, 2) and y.shape == (39_980, 1, 2)
    assert x.dtype == y.dtype == torch.float32
    assert ladybug.dims == {"in_shape": (20, 2), "n_outputs": 2}
    z = torch.from_numpy(((ladybug.series.values - ladybug.scaling.mean[0])
                          / ladybug.scaling.std[0]).astype(np.float32))
    for i in (0, 1, 12_345, 39_979):
        assert torch.equal(x[i], z[i:i + 20]) and torch.equal(y[i, 0], z[i + 20])
    x_test, y_test = ladybug.tensors["test"]
    assert torch.equal(x_test[0], z[40_000:40_020]) and torch.equal(y_test[-1, 0], z[-1])
    batch_x, batch_y = next(iter(ladybug.train_dataloader()))
    assert batch_x.shape == (32, 20, 2) and batch_y.shape == (32, 1, 2)


def test_scale_keeps_the_series_first_steps():
    """FIDLE's `scale` (K3: 0.2): the first fifth of the trajectory, then its own 80 / 20."""
    datamodule = LadybugDataModule(scale=0.2)
    datamodule.setup("fit")
    assert len(datamodule.series) == 10_000 and datamodule.series.time[-1] == pytest.approx(199.98)
    assert datamodule.describe()["steps"] == {"train": 8_000, "val": 0, "test": 2_000}


def test_windows_are_views_on_one_tensor(ladybug):
    tensors = [t for pair in ladybug.tensors.values() for t in pair]
    storages = {t.untyped_storage().data_ptr() for t in tensors}
    assert len(storages) == 1
    assert tensors[0].untyped_storage().nbytes() == 50_000 * 2 * 4
    assert all(not t.is_contiguous() for t in tensors[::2]), "x overlaps: never a copy"


def _start_steps(x: torch.Tensor, n_features: int) -> np.ndarray:
    """The series step each window of view `x` starts at."""
    return (x.storage_offset() + np.arange(len(x)) * x.stride(0)) // n_features


@pytest.mark.parametrize(("window", "horizon", "stride"), [(20, 1, 1), (7, 3, 2), (5, 2, 4)])
def test_parts_are_in_time_order_and_no_window_straddles_two(window, horizon, stride):
    datamodule = LadybugDataModule(max_t=20.0, window=window, horizon=horizon, stride=stride,
                                   val_on_test=False, val_fraction=0.25)
    datamodule.setup("fit")
    parts = datamodule.parts
    assert (parts.train, parts.val, parts.test) == (range(0, 600), range(600, 800),
                                                    range(800, 1000))
    time = datamodule.series.time
    for split, part in (("train", parts.train), ("val", parts.val), ("test", parts.test)):
        x, y = datamodule.tensors[split]
        starts = _start_steps(x, 2)
        assert len(x) == (len(part) - window - horizon) // stride + 1
        assert starts[0] == part.start and (np.diff(starts) == stride).all()
        assert starts[-1] + window + horizon <= part.stop, "targets stay inside the part"
        assert torch.equal(y[:, -1], datamodule.tensors[split][0].new_tensor(
            datamodule.scaling.apply(datamodule.series.values)[starts + window + horizon - 1]))
    assert time[parts.train].max() < time[parts.val].min() < time[parts.test].min()
    assert datamodule.val_split == "in time order: the last 0.25 of train's steps"


def test_validation_windows_start_at_its_first_step_whatever_the_stride():
    # 100 steps: train 0-71, validation 72-79 (one window of 5 and its target), test 80-99.
    # Train's grid of stride 5 would start a window at 75, too late for validation to hold one.
    datamodule = LadybugDataModule(max_t=2.0, window=5, horizon=1, stride=5, val_on_test=False,
                                   val_fraction=0.1)
    datamodule.setup("fit")
    assert (datamodule.parts.train, datamodule.parts.val) == (range(0, 72), range(72, 80))
    x, y = datamodule.tensors["val"]
    assert len(x) == 1 and _start_steps(x, 2).tolist() == [72]
    z = datamodule.scaling.apply(datamodule.series.values)
    assert torch.equal(x[0], torch.from_numpy(z[72:77]).float())
    assert torch.equal(y[0], torch.from_numpy(z[77:78]).float())
    assert _start_steps(datamodule.tensors["train"][0], 2).tolist() == list(range(0, 67, 5))


def test_the_default_validation_split_is_todays_random_one():
    """GTSRB's and MNIST's split, now the base's overridable hook, is what it was."""

    class Plain(InMemoryDataModule):
        name, n_outputs = "plain", 3

        def load(self) -> Splits:
            generator = torch.Generator().manual_seed(1)
            return Splits(torch.rand(200, 4, generator=generator), torch.arange(200) % 3,
                          torch.rand(20, 4, generator=generator), torch.arange(20) % 3)

    datamodule = Plain(val_fraction=0.2, split_seed=5)
    datamodule.setup("fit")
    splits = datamodule.load()
    is_val = torch.zeros(200, dtype=torch.bool)
    is_val[validation_indices(splits.y_train.numpy(), None, 0.2, 5)] = True
    assert torch.equal(datamodule.tensors["train"][0], splits.x_train[~is_val])
    assert torch.equal(datamodule.tensors["val"][1], splits.y_train[is_val])
    assert datamodule.val_split == "random samples" and datamodule.state_dict() == {}


def test_the_kept_z_score_scales_without_the_training_data(ladybug, tmp_path):
    state = ladybug.state_dict()
    assert state == {"scaling": {"columns": ["x", "y"], "mean": ladybug.scaling.mean,
                                 "std": ladybug.scaling.std}, "targets": ["x", "y"]}
    torch.save({"LadybugDataModule": state}, tmp_path / "state.pt")
    kept = torch.load(tmp_path / "state.pt", weights_only=True)["LadybugDataModule"]
    fresh = LadybugDataModule(seed=99)  # nothing loaded: installs what the checkpoint kept
    fresh.load_state_dict(kept)
    raw = torch.from_numpy(ladybug.series.values[40_000:40_020])
    x_test = ladybug.tensors["test"][0]
    assert torch.allclose(fresh.scale_inputs(raw), x_test[0], atol=1e-6)
    assert torch.allclose(fresh.unscale_targets(ladybug.tensors["test"][1][0]),
                          raw.new_tensor(ladybug.series.values[40_020]).float(), atol=1e-5)
    assert torch.allclose(fresh.target_std, torch.tensor([0.9381057] * 2))
    assert fresh.target_names == ["x", "y"] and fresh.target_columns_in_features == [0, 1]
    ladybug.load_state_dict(kept)  # the same data: accepted
    with pytest.raises(UserError, match=r"no z-score statistics yet"):
        LadybugDataModule().scale_inputs(raw)


def test_a_kept_state_is_plain_and_compared_to_the_last_bits_that_matter():
    with pytest.raises(TypeError, match=r"kept state.scaling.mean is a Tensor"):
        check_plain({"scaling": {"mean": torch.zeros(2)}})
    kept = {"scaling": {"columns": ["a"], "mean": [1.0], "std": [2.0]}}
    assert first_difference(kept, {"scaling": {"columns": ["a"], "mean": [1.0 + 1e-13],
                                               "std": [2.0]}}) is None
    assert first_difference(kept, {"scaling": {"columns": ["b"], "mean": [1.0], "std": [2.0]}}
                            ) == "scaling.columns[0]: 'a' != 'b'"


def test_a_resumed_run_whose_data_changed_is_refused(ladybug):
    other = LadybugDataModule(seed=17)
    other.setup("fit")
    with pytest.raises(UserError, match=r"^the checkpoint was trained on other ladybug data "
                                        r"than data.\* gives now \(kept scaling.mean\[0\]: "):
        other.load_state_dict(ladybug.state_dict())


def test_a_lightning_checkpoint_keeps_the_scaling_and_loads_weights_only(tmp_path):
    import pytorch_lightning as pl

    class Last(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(40, 2)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x.flatten(1)), y.flatten(1))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    def trainer(epochs: int) -> pl.Trainer:
        return pl.Trainer(max_epochs=epochs, limit_train_batches=2, limit_val_batches=0,
                          logger=False, enable_progress_bar=False, enable_model_summary=False,
                          enable_checkpointing=False, accelerator="cpu",
                          default_root_dir=tmp_path)

    datamodule = LadybugDataModule(max_t=20.0)
    fit = trainer(1)
    fit.fit(Last(), datamodule=datamodule)
    path = tmp_path / "last.ckpt"
    fit.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["LadybugDataModule"] == datamodule.state_dict()
    trainer(2).fit(Last(), datamodule=LadybugDataModule(max_t=20.0), ckpt_path=path)  # resumes
    with pytest.raises(UserError, match="trained on other ladybug data"):
        trainer(2).fit(Last(), datamodule=LadybugDataModule(max_t=20.0, seed=3), ckpt_path=path)


def test_real_hourly_weather_is_interpolated_split_in_time_and_scaled_on_train():
    path = real_weather_csv()
    datamodule = CSVSeriesDataModule(path=str(path), time="time_hour",
                                     features=["temp", "dewp", "humid", "pressure"])
    datamodule.setup("fit")
    raw = pd.read_csv(path)
    assert len(raw) == len(datamodule.series) == 8703 and raw["pressure"].isna().sum() == 935
    values = datamodule.series.values
    assert not np.isnan(values).any()
    # 18:00 lacks a pressure; 16:00 has 1011.4 and 19:00 1010.8: interpolated in time, not by row
    assert raw["time_hour"][11] == "2013-01-01T18:00:00Z" and np.isnan(raw["pressure"][11])
    assert values[11, 3] == pytest.approx(1011.4 + 2 / 3 * (1010.8 - 1011.4))
    parts = datamodule.parts
    assert (len(parts.train), len(parts.val), len(parts.test)) == (6266, 696, 1741)
    info = datamodule.describe()
    assert (info["n_train"], info["n_val"], info["n_test"]) == (6266 - 24, 696 - 24, 1741 - 24)
    assert info["periods"]["train"][0] == "2013-01-01T06:00:00"
    assert info["periods"]["train"][1] < info["periods"]["val"][0] < info["periods"]["test"][0]
    z = datamodule.scaling.apply(values)
    np.testing.assert_allclose(z[parts.train].mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(z[parts.train].std(axis=0), 1, atol=1e-9)
    assert np.abs(z[parts.test].mean(axis=0)).max() > 0.1, "test is not scaled on itself"
    assert torch.allclose(datamodule.target_std,
                          torch.tensor(values[parts.train].std(axis=0), dtype=torch.float32))
    assert datamodule.target_names == ["temp", "dewp", "humid", "pressure"]


def _write_synop(path, rows=40, gaps=True) -> pd.DataFrame:
    """A SYNOP file in Meteo-France's layout: ';'-separated, dates with offsets, extra columns
    (numer_sta, per, ...), `mq` where a value is missing, rows out of time order."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2010-01-01", periods=rows, freq="3h", tz="UTC")
    frame = pd.DataFrame({"numer_sta": 7481, "date": dates.strftime("%Y-%m-%dT%H:%M:%S+00:00")})
    for i, name in enumerate(SYNOP1_COLUMNS[1:]):
        frame[name] = np.round(rng.normal(10 * i, 1 + i, rows), 1)
    frame["per"] = -10  # constant, which SYNOP1 drops
    frame["nom"] = "LYON-ST EXUPERY"
    written = frame.astype({"tc": object})
    if gaps:
        written.loc[5, "tc"] = "mq"
        written.loc[9, "pmer"] = np.nan
    written.iloc[::-1].to_csv(path, sep=";", index=False)  # newest first
    return frame


def test_a_historys_gaps_are_filled_in_time_as_training_fills_them(tmp_path):
    # Hourly steps with a missing hour, as training series have them: rows are steps, gaps
    # (missing cells) interpolated in time.
    rng = np.random.default_rng(4)
    hours = np.delete(np.arange(80), [30, 31, 32])
    frame = pd.DataFrame({"when": pd.Timestamp("2024-01-01") + pd.to_timedelta(hours, "h"),
                          "temp": 10 + rng.normal(size=len(hours)).cumsum(),
                          "wind": rng.uniform(0, 5, len(hours))})
    frame.to_csv(tmp_path / "weather.csv", index=False)
    datamodule = CSVSeriesDataModule(path=str(tmp_path / "weather.csv"), time="when", window=5)
    datamodule.setup("fit")
    # The last 5 steps of a history: 10:00, 11:00, 12:00 (no temp), 16:00 (after 4 missing
    # hours) and 17:00; other columns come and go in any order.
    history = pd.DataFrame({"note": list("abcdef"),
                            "when": pd.to_datetime(["2024-03-01 09:00", "2024-03-01 10:00",
                                                    "2024-03-01 11:00", "2024-03-01 12:00",
                                                    "2024-03-01 16:00", "2024-03-01 17:00"]),
                            "wind": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                            "temp": [7.0, 8.0, 9.0, np.nan, 13.0, 14.0]})
    history.to_csv(tmp_path / "recent.csv", index=False)
    inputs = datamodule.read_inputs(InputRequest([tmp_path / "recent.csv"]))
    # In time: 12:00 is a fifth of the way from 11:00's 9 to 16:00's 13 (by row: 11).
    steps = np.array([[8.0, 2.0], [9.0, 3.0], [9.8, 4.0], [13.0, 5.0], [14.0, 6.0]])
    mean, std = datamodule.scaling.statistics()
    np.testing.assert_allclose(inputs.x[0].numpy(), (steps - mean) / std, rtol=1e-6)
    assert inputs.labels == ["recent.csv (after its last of 6 steps)"]
    # Without the time column the gap cannot be placed in time: one line.
    history.drop(columns=["when"]).to_csv(tmp_path / "untimed.csv", index=False)
    with pytest.raises(UserError, match=r"untimed.csv lacks the column\(s\) 'when' the run was "
                                         r"trained with \(when, temp, wind\)"):
        datamodule.read_inputs(InputRequest([tmp_path / "untimed.csv"]))
    history.iloc[::-1].to_csv(tmp_path / "backwards.csv", index=False)
    with pytest.raises(UserError, match=r"'when' is not in time order"):
        datamodule.read_inputs(InputRequest([tmp_path / "backwards.csv"]))


def test_synop_is_read_as_synop1_cleans_it(tmp_path):
    datasets = tmp_path / "datasets"
    (datasets / FILE).parent.mkdir(parents=True)
    frame = _write_synop(datasets / FILE)
    datamodule = SynopDataModule(datasets_dir=str(datasets), window=4)
    datamodule.setup("fit")
    series = datamodule.series
    assert series.columns == SYNOP1_COLUMNS[1:] and len(series.columns) == 13
    assert (np.diff(series.time) > np.timedelta64(0)).all(), "sorted by date"
    tc = SYNOP1_COLUMNS.index("tc") - 1
    assert series.values[5, tc] == pytest.approx((frame["tc"][4] + frame["tc"][6]) / 2)
    np.testing.assert_allclose(series.values[:5, tc], frame["tc"][:5])
    assert datamodule.dims == {"in_shape": (4, 13), "n_outputs": 13}
    assert datamodule.describe()["file"] == str((datasets / FILE).resolve())


def _bad_csv(tmp_path, **columns) -> str:
    frame = pd.DataFrame({"t": np.arange(60), "a": np.sin(np.arange(60)), "b": np.arange(60.0),
                          **columns})
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _times(stamps):
    return {"t": stamps}


@pytest.mark.parametrize(("make", "options", "message"), [
    (lambda p: _bad_csv(p), {"window": 60},
     "the series has 60 steps, fewer than one window and its horizon (61 steps)"),
    (lambda p: _bad_csv(p), {"window": 20},
     "the series' 60 steps are too short for its parts (test 12, validation 5 steps; each needs "
     "one window and its horizon, 21 steps)"),
    (lambda p: _bad_csv(p, **_times([*range(30), 29, *range(31, 60)])), {},
     "time stamps repeat in 't' (1 duplicates, first 29.0 at row 30)"),
    (lambda p: _bad_csv(p, **_times([*range(30), 40, *range(31, 60)])), {},
     "'t' is not in time order (31.0 at row 31 comes after 40.0): sort the file by time"),
    (lambda p: _bad_csv(p), {"features": ["a", "pressure"]},
     "has no column 'pressure': its columns are t, a, b"),
    (lambda p: _bad_csv(p, c=["x"] * 60), {"features": ["a", "c"]},
     "column 'c' of {path} is not numeric (e.g. 'x'): choose data.features among a, b"),
    (lambda p: _bad_csv(p, c=np.nan), {},
     "column 'c' of {path} is empty (all missing): drop it from data.features"),
    (lambda p: _bad_csv(p), {"horizon": 0},
     "data.horizon=0 is invalid: it must be an integer >= 1"),
    (lambda p: _bad_csv(p), {"horizon": -2},
     "data.horizon=-2 is invalid: it must be an integer >= 1"),
    (lambda p: _bad_csv(p, c=[np.nan, *range(57), np.nan, np.nan]), {"missing": "error"},
     "{path} has missing values (c 3 of 60 rows) and data.missing=error"),
    (lambda p: _bad_csv(p), {"targets": ["z"]},
     "data.targets: 'z' is not among the features (a, b)"),
    (lambda p: _bad_csv(p), {"time": "when"},
     "{path} has no time column 'when' (data.time): its columns are t, a, b"),
    (lambda p: _bad_csv(p, c=7.0), {},
     "column 'c' is constant over the train steps: it cannot be z-scored"),
    (lambda p: str(p / "absent.csv"), {}, "{path} is not a file (data.path)"),
])
def test_bad_input_is_one_line_naming_the_culprit(tmp_path, make, options, message):
    path = make(tmp_path)
    options = {"features": None, "window": 3, **options}
    with pytest.raises(UserError, match=re.escape(message.format(path=path))) as failure:
        CSVSeriesDataModule(path=path, time=options.pop("time", "t"), **options).setup("fit")
    assert "\n" not in str(failure.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if "absent" in path else
                                                          ["bad.csv"]), "nothing written"


def test_a_missing_synop_file_says_where_it_looked(tmp_path, monkeypatch):
    expected = tmp_path / FILE
    with pytest.raises(UserError, match=f"^no SYNOP file at {re.escape(str(expected))}: get "):
        SynopDataModule(datasets_dir=str(tmp_path)).setup("fit")
    monkeypatch.delenv("FIDLE_DATASETS_DIR", raising=False)
    with pytest.raises(UserError, match=r"set FIDLE_DATASETS_DIR .* or data.path to the CSV"):
        SynopDataModule().setup("fit")
    absent = re.escape(str(tmp_path / "x.csv"))
    with pytest.raises(UserError, match=f"no SYNOP file at {absent}"):
        SynopDataModule(path=str(tmp_path / "x.csv")).setup("fit")


@pytest.mark.parametrize("data", ["ladybug", "synop", "csv_series"])
def test_the_data_configs_compose_and_build(data, tmp_path):
    overrides = [f"data={data}", "task=forecasting"]
    if data == "synop":
        _write_synop(tmp_path / "synop.csv")
        overrides += [f"data.path={tmp_path / 'synop.csv'}", "data.window=4"]
    if data == "csv_series":
        overrides += [f"data.path={_bad_csv(tmp_path)}", "data.time=t", "data.window=3"]
    cfg = compose_train(overrides)
    assert cfg.data.batch_size == 32
    datamodule = build_datamodule(cfg)
    if data != "csv_series":  # its columns are known once read
        announced = datamodule.dims
    datamodule.setup("fit")
    assert datamodule.family == "series" and datamodule.task == "forecasting"
    if data != "csv_series":
        assert datamodule.dims == announced
    expected = {"ladybug": (20, 2), "synop": (4, 12), "csv_series": (3, 2)}[data]  # SYNOP2: 12
    assert datamodule.dims["in_shape"] == expected
    with pytest.raises(UserError, match="data ladybug has forecasting targets"):
        build_datamodule(compose_train(["data=ladybug"]))
