"""FIDLE SYNOP's weather at Lyon-Saint-Exupery, every 3 hours: Meteo-France's
`SYNOP/origine/donnees-synop-essentielles-omm-LYS.csv` under $FIDLE_DATASETS_DIR (';'-separated,
81 columns, missing cells `mq` or empty), cleaned as SYNOP1 does: its 14 columns, rows sorted by
date, gaps interpolated (pandas' linear `interpolate()`, by row; gaps at either end take the
nearest value)."""

from pathlib import Path

import pandas as pd

from fidle_runs.core.errors import UserError
from fidle_runs.data.fidle_files import fidle_file
from fidle_runs.data.series.frame import Series, TimeReading, series_from_frame

FILE = Path("SYNOP") / "origine" / "donnees-synop-essentielles-omm-LYS.csv"
TIME = "date"
SYNOP1_COLUMNS = ["date", "pmer", "tend", "cod_tend", "dd", "ff", "td", "u", "ww", "pres",
                  "rafper", "rr1", "rr3", "tc"]
MISSING_MARK = "mq"  # Meteo-France's "manquant"
TIME_READING = TimeReading(TIME, sort=True, method="linear")  # SYNOP1: sorted, gaps by row


def synop_file(path: str | None, datasets_dir: str | None) -> Path:
    """`data.path` where given, else FIDLE's place under the datasets folder."""
    return fidle_file(path, datasets_dir, FILE, "SYNOP file")


def read_synop(path: Path, features: list[str], missing: str) -> Series:
    """SYNOP1's cleaning of the file at `path`, then its `features` (SYNOP1's columns)."""
    unknown = [name for name in features if name not in SYNOP1_COLUMNS[1:]]
    if unknown:
        raise UserError(f"data.features: {unknown[0]!r} is not one of SYNOP1's columns "
                        f"({', '.join(SYNOP1_COLUMNS[1:])})")
    try:
        header = pd.read_csv(path, sep=";", nrows=0).columns
        absent = [name for name in SYNOP1_COLUMNS if name not in header]
        if absent:
            raise UserError(f"{path} lacks SYNOP1's columns {', '.join(absent)}: it is not "
                            "Meteo-France's SYNOP file")
        frame = pd.read_csv(path, sep=";", usecols=SYNOP1_COLUMNS, na_values=[MISSING_MARK])
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise UserError(f"{path} cannot be read as a ';'-separated CSV "
                        f"({' '.join(str(e).split())})") from None
    return series_from_frame(frame, TIME_READING.column, features, missing, str(path),
                             sort=TIME_READING.sort, method=TIME_READING.method)
