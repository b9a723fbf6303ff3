"""A CSV as pandas reads it, with the separator sniffed when not given; a file that is not a
readable CSV is one line naming it."""

from pathlib import Path

import pandas as pd

from fidle_runs.core.errors import UserError

SNIFFED_BYTES = 65536


def read_table(path: Path, sep: str | None = None) -> pd.DataFrame:
    """`path`'s rows under its header line; `sep` None: sniffed by pandas (Python's
    csv.Sniffer), e.g. `;` for the UCI wine files."""
    if not path.is_file():
        raise UserError(f"no CSV file at {path} (data.path)")
    with path.open("rb") as f:
        head = f.read(SNIFFED_BYTES)
    if b"\0" in head:
        raise UserError(f"{path} is not a CSV (it holds binary bytes): give data.path a text "
                        "file of comma- or semicolon-separated values with a header line")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # A cut at the end of the sniffed bytes may split a character: only earlier bytes count.
        if e.start < len(head) - 4:
            raise UserError(f"{path} is not UTF-8 text (byte {e.start}): save it as UTF-8 "
                            "CSV") from None
    try:
        frame = (pd.read_csv(path, sep=None, engine="python") if sep is None
                 else pd.read_csv(path, sep=sep))
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty: it needs a header line and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} cannot be read as a CSV ({first}): check it, or give its "
                        "separator with data.sep") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise UserError(f"{path} has a header but no rows")
    return frame
