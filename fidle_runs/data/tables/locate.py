"""Where FIDLE's table files are: `data.path` where given, else their place under the datasets
folder (`$FIDLE_DATASETS_DIR`, or `data.datasets_dir`); one line naming where it looked and how
to get the file when it is not there (never a silent switch to other data)."""

import os
from pathlib import Path

from fidle_runs.errors import UserError


def fidle_table_file(path: str | None, datasets_dir: str | None, relative: Path,
                     what: str) -> Path:
    """The CSV of `what` (BHPD's Boston housing): `path`, or `relative` under the datasets
    folder."""
    get = (f"get FIDLE's datasets (the folder holding {relative}) or set data.path to the "
           f"{what} CSV")
    if path:
        candidate = Path(path).expanduser()
        if candidate.is_file():
            return candidate
        raise UserError(f"no {what} CSV at {candidate} (data.path)")
    root = datasets_dir or os.environ.get("FIDLE_DATASETS_DIR")
    if not root:
        raise UserError(f"no {what} CSV: FIDLE_DATASETS_DIR (or data.datasets_dir) is not set; "
                        f"{get}")
    candidate = Path(root).expanduser() / relative
    if not candidate.is_file():
        raise UserError(f"no {what} CSV at {candidate}: {get}")
    return candidate
