"""The series datamodules: a series (generated or read) becomes windows of `window` steps, each
with the `horizon` steps right after it as targets (FIDLE v2's TimeseriesGenerator; LADYB1's K3
version skips one step between window and target, which we do not follow), cut inside each
part of a chronological split (no window straddles two parts), z-scored with train's statistics.

Every split's x (N, window, features) and y (N, horizon, targets) are float32 views on one
z-scored tensor of the whole series (the targets' own tensor where they are not exactly the
features), so windows cost about the series' memory on the host and on the device
(fidle_runs.data.placement moves each storage once).

What the forecasting task reads: `target_names`, `target_std` (MAE in the data's units = MAE in
z-score x std), and for the persistence baseline `target_columns_in_features`: targets are
features, so the last value seen of each target in a window is `x[:, -1, target_columns_in_
features]` (z-scored like y), the persistence forecast of every step of the horizon.
`scale_inputs` and `unscale_targets` go to z-scores and back with the kept statistics, also
where a checkpoint's state was installed without loading the data.
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.in_memory import InMemoryDataModule, Pair, Splits, check_option
from fidle_runs.data.inputs import InputRequest, Inputs
from fidle_runs.data.series.csv_series import csv_time_reading, read_csv_series
from fidle_runs.data.series.frame import MISSING, Series, TimeReading
from fidle_runs.data.series.inputs import read_history
from fidle_runs.data.series.ladybug import COLUMNS as LADYBUG_COLUMNS
from fidle_runs.data.series.ladybug import DELTA_T, MAX_T, SEED, ladybug_series
from fidle_runs.data.series.scaling import Scaling
from fidle_runs.data.series.split import Parts, chronological_parts
from fidle_runs.data.series.synop import SYNOP1_COLUMNS, TIME_READING, read_synop, synop_file
from fidle_runs.data.series.windows import windows


class SeriesDataModule(InMemoryDataModule):
    """A family member says how to read its series (`read`), its name and, where known before
    reading, its columns (`announced_features`)."""

    family = "series"
    task = "forecasting"
    sample_noun = "windows"
    loads_scaled = True  # data.scale keeps the series' first steps (FIDLE's `scale`)
    per_column = True  # z-score per column (SYNOP2) or one for all values (LADYB1)

    def __init__(self, window: int = 20, horizon: int = 1, stride: int = 1,
                 train_prop: float = 0.8, targets: list[str] | None = None,
                 batch_size: int = 32, val_fraction: float = 0.1, val_on_test: bool = False,
                 scale: float = 1.0) -> None:
        super().__init__(batch_size, val_fraction, val_on_test, 0, scale, 0)
        for key, value in (("window", window), ("horizon", horizon), ("stride", stride)):
            check_option(key, value, isinstance(value, int) and not isinstance(value, bool)
                         and value >= 1, "an integer >= 1")
        check_option("train_prop", train_prop,
                     isinstance(train_prop, int | float) and 0 < train_prop < 1,
                     "in (0, 1), e.g. 0.8")
        self.window, self.horizon, self.stride = window, horizon, stride
        self.train_prop = train_prop
        self.targets = None if targets is None else [str(t) for t in targets]
        self.scaling: Scaling | None = None
        self.parts: Parts | None = None
        self.series: Series | None = None
        self.val_windows: Pair | None = None  # validation's windows (none under val_on_test)
        self._target_names: list[str] | None = None

    # What a member provides.
    def read(self) -> Series:
        raise NotImplementedError

    def announced_features(self) -> list[str] | None:
        """The feature columns as the config says them, before reading (None: unknown)."""
        return None

    # Columns.
    @property
    def feature_names(self) -> list[str]:
        if self.scaling is not None:
            return list(self.scaling.columns)
        announced = self.announced_features()
        if announced is None:
            raise NotImplementedError(f"{type(self).__name__} knows its columns once loaded")
        return announced

    @property
    def target_names(self) -> list[str]:
        if self._target_names is not None:
            return list(self._target_names)
        return list(self.targets) if self.targets is not None else self.feature_names

    @property
    def target_columns_in_features(self) -> list[int]:
        """Where each target is in x's last dimension: persistence = x[:, -1, these]."""
        return [self.feature_names.index(name) for name in self.target_names]

    @property
    def target_std(self) -> torch.Tensor:
        """The standard deviation of each target in its units (float32): an error in z-score
        times this is the error in the data's units."""
        return torch.as_tensor(self._scaling().statistics(self.target_names)[1],
                               dtype=torch.float32)

    # Scaling, with the kept statistics.
    def scale_inputs(self, values: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Windows or steps in the data's units (..., features) -> the z-scores the network
        sees (float32)."""
        return self._scaling().apply_tensor(torch.as_tensor(values))

    def unscale_targets(self, values: torch.Tensor) -> torch.Tensor:
        """Forecasts or targets in z-score (..., targets) -> the data's units (float32)."""
        return self._scaling().invert_tensor(values, self.target_names)

    def _scaling(self) -> Scaling:
        if self.scaling is None:
            raise UserError(f"{self.name}: no z-score statistics yet: load the data (setup) or "
                            "a checkpoint's state (load_state_dict) first")
        return self.scaling

    def kept_state(self) -> dict[str, Any]:
        if self.scaling is None:
            return {}
        return {"scaling": self.scaling.state(), "targets": self.target_names}

    def install_kept_state(self, state: dict[str, Any]) -> None:
        self.scaling = Scaling.from_state(state["scaling"])
        self._target_names = list(state["targets"])

    def time_reading(self) -> TimeReading:
        """How the member reads its steps' time (its series and a prediction's history alike):
        by default no time column, the rows being regular steps."""
        return TimeReading()

    def read_inputs(self, request: InputRequest) -> Inputs:
        """Recent history -> one z-scored window per file, its time read and its gaps filled
        as the training series' were (fidle_runs.data.series.inputs)."""
        return read_history(request.paths, self.feature_names, self.window,
                            getattr(self, "missing", "error"), self.time_reading(),
                            self.scale_inputs)

    # The base's hooks.
    @property
    def n_outputs(self) -> int:
        return self.horizon * len(self.target_names)

    def announced_shape(self) -> tuple[int, int]:
        return (self.window, len(self.feature_names))

    def load(self) -> Splits:
        series = self.read()
        steps = int(len(series) * self.scale)
        time, values = series.time[:steps], series.values[:steps]
        targets = self.targets if self.targets is not None else list(series.columns)
        absent = [name for name in targets if name not in series.columns]
        if absent:
            raise UserError(f"data.targets: {absent[0]!r} is not among the features "
                            f"({', '.join(series.columns)}): targets are features, add it to "
                            "data.features")
        parts = chronological_parts(steps, self.train_prop, self.val_fraction,
                                    self.val_on_test, self.window + self.horizon)
        scaling = Scaling.fit(values[parts.train.start:parts.train.stop], series.columns,
                              self.per_column)
        z = torch.from_numpy(scaling.apply(values).astype(np.float32))
        if targets == series.columns:
            y = z
        else:
            y = z[:, [series.columns.index(name) for name in targets]].contiguous()
        self.series = Series(time, values, list(series.columns))
        self.scaling, self.parts, self._target_names = scaling, parts, targets
        part_windows = {name: windows(z, y, part, self.window, self.horizon, self.stride)
                        for name, part in (("train", parts.train), ("val", parts.val),
                                           ("test", parts.test)) if len(part)}
        self.val_windows = part_windows.get("val")
        return Splits(*part_windows["train"], *part_windows["test"])

    def split_validation(self, splits: Splits) -> tuple[Pair, Pair]:
        """Train's windows (`load` gives those of train's part only), then validation's: the
        windows of its own part, from its first step. (Train's grid of windows every `stride`
        steps would reach validation up to stride - 1 steps late, and a short part not at
        all.)"""
        assert self.val_windows is not None
        self.val_split = f"in time order: the last {self.val_fraction:g} of train's steps"
        return (splits.x_train, splits.y_train), self.val_windows

    def task_arguments(self) -> dict[str, Any]:
        """The forecasting task's: target names and units, the persistence baseline's columns,
        and whether forecasts can be fed back as the next input step (every feature a target,
        in the features' order, windows one step apart)."""
        columns = self.target_columns_in_features
        return {"target_names": self.target_names,
                "target_std": [float(s) for s in self.target_std],
                "persistence_columns": columns, "horizon": self.horizon,
                "iterable": self.stride == 1 and columns == list(range(len(self.feature_names)))}

    def extras(self) -> dict[str, Any]:
        parts = self.parts
        info: dict[str, Any] = {
            "window": self.window, "horizon": self.horizon, "stride": self.stride,
            "train_prop": float(self.train_prop), "features": self.feature_names,
            "targets": self.target_names,
            "persistence": "the last value seen at every step ahead: x[:, -1, "
                           f"{self.target_columns_in_features}]",
            "z_score": "per column" if self.per_column else "one mean and std for all values",
            "scaling": self.scaling.state() if self.scaling else None}
        if parts is not None and self.series is not None:
            named = {"train": parts.train, "val": parts.val, "test": parts.test}
            info["steps"] = {name: len(part) for name, part in named.items()}
            info["periods"] = {name: [self.series.stamp(part.start),
                                      self.series.stamp(part.stop - 1)]
                               for name, part in named.items() if len(part)}
        return info


class LadybugDataModule(SeriesDataModule):
    """FIDLE LADYB1 (v2): the trajectory of seed 16, z-scored with one mean and one standard
    deviation of all train values (numpy's `x_train.mean()`, `x_train.std()`), validated on the
    test set."""

    per_column = False

    def __init__(self, seed: int = SEED, max_t: float = MAX_T, delta_t: float = DELTA_T,
                 window: int = 20, horizon: int = 1, stride: int = 1, train_prop: float = 0.8,
                 targets: list[str] | None = None, batch_size: int = 32,
                 val_fraction: float = 0.1, val_on_test: bool = True, scale: float = 1.0) -> None:
        super().__init__(window, horizon, stride, train_prop, targets, batch_size, val_fraction,
                         val_on_test, scale)
        check_option("delta_t", delta_t, isinstance(delta_t, int | float) and delta_t > 0,
                     "> 0, e.g. 0.02")
        self.seed, self.max_t, self.delta_t = seed, max_t, delta_t

    @property
    def name(self) -> str:
        return "ladybug"

    @property
    def source(self) -> str:
        return "synthetic"

    def announced_features(self) -> list[str]:
        return list(LADYBUG_COLUMNS)

    def read(self) -> Series:
        return ladybug_series(self.seed, self.max_t, self.delta_t)

    def extras(self) -> dict[str, Any]:
        return {"seed": self.seed, "max_t": float(self.max_t), "delta_t": float(self.delta_t),
                **super().extras()}


class SynopDataModule(SeriesDataModule):
    """FIDLE SYNOP2: Lyon-Saint-Exupery's 3-hourly weather as SYNOP1 cleans it, z-scored per
    column with train's statistics."""

    def __init__(self, path: str | None = None, datasets_dir: str | None = None,
                 features: list[str] | None = None, missing: str = "interpolate",
                 window: int = 16, horizon: int = 1, stride: int = 1, train_prop: float = 0.8,
                 targets: list[str] | None = None, batch_size: int = 32,
                 val_fraction: float = 0.1, val_on_test: bool = True, scale: float = 1.0) -> None:
        super().__init__(window, horizon, stride, train_prop, targets, batch_size, val_fraction,
                         val_on_test, scale)
        check_missing(missing)
        self.path, self.datasets_dir, self.missing = path, datasets_dir, missing
        self.features = None if features is None else [str(f) for f in features]
        self.file: Path | None = None

    @property
    def name(self) -> str:
        return "synop-LYS"

    def announced_features(self) -> list[str] | None:
        return self.features

    def read(self) -> Series:
        self.file = synop_file(self.path, self.datasets_dir)
        return read_synop(self.file, self.features or SYNOP1_COLUMNS[1:], self.missing)

    def time_reading(self) -> TimeReading:
        return TIME_READING

    @property
    def data_file(self) -> Path | None:
        return self.file


class CSVSeriesDataModule(SeriesDataModule):
    """Any CSV with a time column: its `features` (None: every other column), `targets`
    (None: the features)."""

    def __init__(self, path: str, time: str, features: list[str] | None = None,
                 missing: str = "interpolate", sep: str = ",", window: int = 24,
                 horizon: int = 1, stride: int = 1, train_prop: float = 0.8,
                 targets: list[str] | None = None, batch_size: int = 32,
                 val_fraction: float = 0.1, val_on_test: bool = False,
                 scale: float = 1.0) -> None:
        super().__init__(window, horizon, stride, train_prop, targets, batch_size, val_fraction,
                         val_on_test, scale)
        check_missing(missing)
        self.path, self.time, self.missing, self.sep = Path(path).expanduser(), time, missing, sep
        self.features = None if features is None else [str(f) for f in features]

    @property
    def name(self) -> str:
        return self.path.stem

    def announced_features(self) -> list[str] | None:
        return self.features

    def read(self) -> Series:
        return read_csv_series(self.path, self.time, self.features, self.missing, self.sep)

    def time_reading(self) -> TimeReading:
        return csv_time_reading(self.time)

    @property
    def data_file(self) -> Path | None:
        return self.path


def check_missing(missing: str) -> None:
    check_option("missing", missing, missing in MISSING, f"one of {', '.join(MISSING)}")
