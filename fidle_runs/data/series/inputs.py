"""Recent history as a user has it (a CSV of steps, with the run's feature columns and, where the
run has one, its time column; other columns are ignored) -> the window the network reads: the
steps read as the training series' were (the same time column, order and checks, gaps
interpolated in time where the run's data.missing says so: fidle_runs.data.series.frame), the
last `window` of them, z-scored with the run's kept statistics. One window per file: the
forecast starts after its last step."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.inputs import Inputs, read_csv_files
from fidle_runs.data.series.frame import TimeReading, series_from_frame

ROW = "(row)"  # the time of a history without time column: its rows, regular steps


def read_history(paths: list[Path], features: list[str], window: int, missing: str,
                 time: TimeReading, scale: Callable[[np.ndarray], torch.Tensor]) -> Inputs:
    """One z-scored window per CSV of `paths`: its last `window` steps of `features`, read as
    `time` says the run read its own series."""
    columns = features if time.column is None else [time.column, *features]

    def last_window(path: Path, frame: pd.DataFrame) -> Inputs:
        absent = [name for name in columns if name not in frame.columns]
        if absent:
            raise UserError(f"{path} lacks the column(s) {', '.join(map(repr, absent))} the run "
                            f"was trained with ({', '.join(columns)})")
        if len(frame) < window:
            raise UserError(f"{path} holds {len(frame)} steps, shorter than the run's window of "
                            f"{window}: give at least {window} steps of history")
        values = frame[features].apply(pd.to_numeric, errors="coerce").astype("float64")
        _check_gaps(values, missing, path)
        steps = values.assign(**{time.column or ROW: (frame[time.column] if time.column
                                                      else np.arange(len(frame)))})
        series = series_from_frame(steps, time.column or ROW, features, missing, str(path),
                                   sort=time.sort, method=time.method)
        return Inputs(scale(series.values[-window:]).unsqueeze(0),
                      [f"{path.name} (after its last of {len(frame)} steps)"])

    return read_csv_files(paths, f"no history given: name a CSV of the last {window} (or more) "
                          f"steps with the columns {', '.join(columns)}",
                          "a CSV of recent steps to forecast from", last_window)


def _check_gaps(values: pd.DataFrame, missing: str, path: Path) -> None:
    """Gaps (or values that are no numbers) are refused in one line unless the run
    interpolated its own, and a column without any value has nothing to interpolate from."""
    gaps = values.isna().sum()
    if gaps.any() and (missing != "interpolate" or values.isna().all().any()):
        counts = ", ".join(f"{name} {n}" for name, n in gaps.items() if n)
        raise UserError(f"{path} has missing or non-numeric values ({counts}): fill them "
                        "(the run was trained without gaps)")
