"""Any CSV with a time column (read with pandas): its rows are the steps, in the file's order,
which must be time order; missing cells interpolated in time by default. Rows are steps as they
are: a missing hour is not inserted, so a window spans its rows, whatever time they cover."""

from pathlib import Path

import pandas as pd

from fidle_runs.core.errors import UserError
from fidle_runs.data.series.frame import Series, TimeReading, series_from_frame


def read_csv_series(path: Path, time: str, features: list[str] | None, missing: str,
                    sep: str = ",") -> Series:
    """The `features` (None: every column but `time`) of the CSV at `path`."""
    if not path.is_file():
        raise UserError(f"{path} is not a file (data.path): give the CSV to forecast")
    try:
        frame = pd.read_csv(path, sep=sep)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise UserError(f"{path} cannot be read as a CSV ({' '.join(str(e).split())})") from None
    reading = csv_time_reading(time)
    return series_from_frame(frame, time, features, missing, str(path), sort=reading.sort,
                             method=reading.method)


def csv_time_reading(time: str) -> TimeReading:
    """A CSV's steps: its `time` column, in the file's order, gaps interpolated in time."""
    return TimeReading(time, sort=False, method="time")
