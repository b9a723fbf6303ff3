"""Where a FIDLE dataset's file is: `data.path` where given, else its place under the datasets
folder (`$FIDLE_DATASETS_DIR`, or `data.datasets_dir`); one line naming where it looked and how
to get the file when it is not there (never a silent switch to other data). The tables' CSVs
(BHPD, Wine) and SYNOP's file are found here."""

import os
from pathlib import Path

from fidle_runs.core.errors import UserError


def fidle_file(path: str | None, datasets_dir: str | None, relative: Path, what: str) -> Path:
    """The CSV of `what` ("Boston housing (BHPD) CSV", "SYNOP file"): `path`, or `relative`
    under the datasets folder."""
    if path:
        candidate = Path(path).expanduser()
        if candidate.is_file():
            return candidate
        raise UserError(f"no {what} at {candidate} (data.path)")
    root = datasets_dir or os.environ.get("FIDLE_DATASETS_DIR")
    if not root:
        raise UserError(f"no {what}: set FIDLE_DATASETS_DIR (or data.datasets_dir) to the "
                        f"folder holding {relative}, or data.path to the CSV")
    candidate = Path(root).expanduser() / relative
    if not candidate.is_file():
        raise UserError(f"no {what} at {candidate}: get FIDLE's datasets there, or set "
                        "data.path to the CSV")
    return candidate
