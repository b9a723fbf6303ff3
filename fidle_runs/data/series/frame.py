"""A series as read from a table: time stamps in order and float64 columns without gaps, checked
so that a bad file is one line naming the column or the rows to fix."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fidle_runs.core.errors import UserError

MISSING = ("interpolate", "error")


@dataclass
class Series:
    """`values[i]` (one float64 per column) was observed at `time[i]`; times strictly increase
    (datetime64 or numbers)."""

    time: np.ndarray
    values: np.ndarray
    columns: list[str]

    def __len__(self) -> int:
        return len(self.time)

    def stamp(self, step: int) -> str:
        """The time of `step` as people read it (dates to the second)."""
        t = self.time[step]
        return np.datetime_as_string(t, unit="s") if self.time.dtype.kind == "M" else f"{t:g}"


@dataclass(frozen=True)
class TimeReading:
    """How a member reads its steps' time, for its training series and a prediction's history
    alike: its time `column` (None: no time column, the rows are regular steps), rows `sort`ed
    by it first or not, gaps interpolated with pandas' `method` ("time": in time, where the time
    column holds dates; "linear": by row)."""

    column: str | None = None
    sort: bool = False
    method: str = "time"


def series_from_frame(frame: pd.DataFrame, time: str, columns: list[str] | None, missing: str,
                      source: str, sort: bool = False, method: str = "time") -> Series:
    """The `columns` (None: every column but `time`) of `frame` in the order of its `time`
    column (sorted first when `sort`), gaps interpolated with pandas' `method` ("time": in time;
    "linear": by row) where `missing` is "interpolate", refused where it is "error"."""
    if missing not in MISSING:
        raise UserError(f"data.missing={missing!r} is invalid: it must be one of "
                        f"{', '.join(MISSING)}")
    available = [str(c) for c in frame.columns]
    if time not in frame.columns:
        raise UserError(f"{source} has no time column {time!r} (data.time): its columns are "
                        f"{', '.join(available)}")
    names = [c for c in available if c != time] if columns is None else [str(c) for c in columns]
    if not names:
        raise UserError(f"{source}: no column to forecast (data.features is empty)")
    for name in names:
        if name not in frame.columns:
            raise UserError(f"{source} has no column {name!r}: its columns are "
                            f"{', '.join(available)}")
        if not pd.api.types.is_numeric_dtype(frame[name]) or frame[name].dtype == bool:
            example = frame[name].dropna().iloc[0] if frame[name].notna().any() else None
            numeric = [c for c in available
                       if c != time and pd.api.types.is_numeric_dtype(frame[c])]
            raise UserError(f"column {name!r} of {source} is not numeric (e.g. {example!r}): "
                            f"choose data.features among {', '.join(numeric) or 'none'}")
    stamps = _time_stamps(frame[time], time, source)
    if sort:
        order = np.argsort(stamps, kind="stable")
        frame, stamps = frame.iloc[order], stamps[order]
    _check_order(stamps, time, source)
    values = frame[names].astype("float64")
    values.index = pd.DatetimeIndex(stamps) if stamps.dtype.kind == "M" else pd.Index(stamps)
    empty = [name for name in names if values[name].isna().all()]
    if empty:
        raise UserError(f"column {empty[0]!r} of {source} is empty (all missing): drop it from "
                        "data.features")
    gaps = values.isna().sum()
    if gaps.any():
        if missing == "error":
            counts = ", ".join(f"{name} {n} of {len(values)} rows" for name, n in gaps.items()
                               if n)
            raise UserError(f"{source} has missing values ({counts}) and data.missing=error: "
                            "fill them, or set data.missing=interpolate")
        # Gaps at either end take the nearest value: nothing to interpolate from.
        values = values.interpolate(method=method if stamps.dtype.kind == "M" else "index",
                                    limit_direction="both")
    return Series(stamps, values.to_numpy(), names)


def _time_stamps(column: pd.Series, name: str, source: str) -> np.ndarray:
    """Numbers as they are, anything else parsed as dates (offsets converted to UTC)."""
    if column.isna().any():
        raise UserError(f"{source}: time column {name!r} has {int(column.isna().sum())} empty "
                        f"cells (first at row {int(np.flatnonzero(column.isna())[0])})")
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype="float64")
    parsed = pd.to_datetime(column, errors="coerce", utc=True)
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna())[0])
        raise UserError(f"{source}: time column {name!r} holds {column.iloc[row]!r} (row {row}), "
                        "not a date")
    return parsed.dt.tz_localize(None).to_numpy()


def _check_order(stamps: np.ndarray, name: str, source: str) -> None:
    steps = np.diff(stamps)
    zero = steps == np.zeros((), steps.dtype)
    if zero.any():
        row = int(np.flatnonzero(zero)[0]) + 1
        raise UserError(f"{source}: time stamps repeat in {name!r} ({int(zero.sum())} duplicates, "
                        f"first {stamps[row]} at row {row}): keep one row per time stamp")
    backwards = steps < np.zeros((), steps.dtype)
    if backwards.any():
        row = int(np.flatnonzero(backwards)[0]) + 1
        raise UserError(f"{source}: {name!r} is not in time order ({stamps[row]} at row {row} "
                        f"comes after {stamps[row - 1]}): sort the file by time")
