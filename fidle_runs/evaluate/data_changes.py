"""What differs between the data a run was trained on and the data its directory's config reads
now: a file written since the run started, another file, other sample counts, other kept
preprocessing. An evaluation on changed data is named as such, never silently passed off as the
run's own."""

import datetime as dt
from pathlib import Path
from typing import Any

COUNTS = ("n_train", "n_val", "n_test")
# result.json's times are to the second: a file written in the run's last second is no change.
RECORD_PRECISION = dt.timedelta(seconds=1)


def data_changes(recorded: dict[str, Any], now: dict[str, Any], finished: str,
                 kept_difference: str | None) -> list[str]:
    """One sentence per change, none when the data is the run's. `recorded` and `now` are
    result.json's `data` block at training and the datamodule's `describe()` today; `finished`
    the time of the run's last record (result.json's `updated`): a run prepares its data file
    after it starts (GTSRB's H5, a text cache), so only a later write is a change."""
    changes = []
    file_then, file_now = recorded.get("file"), now.get("file")
    if file_then and file_now and Path(file_then).resolve() != Path(file_now).resolve():
        changes.append(f"the data is read from {file_now}, the run was trained on {file_then}")
    if file_now and finished:
        modified = dt.datetime.fromtimestamp(Path(file_now).stat().st_mtime, dt.timezone.utc)
        if modified > _parse(finished) + RECORD_PRECISION:
            changes.append(f"the data file {file_now} was modified at {modified:%Y-%m-%d %H:%M} "
                           f"UTC, after the run's training ended ({finished})")
    for key in COUNTS:
        if recorded.get(key) is not None and recorded.get(key) != now.get(key):
            changes.append(f"{key} is {now.get(key)} now, {recorded.get(key)} at training")
    if kept_difference:
        changes.append("the preprocessing computed from the data now differs from the one the "
                       f"checkpoint kept ({kept_difference})")
    return changes


def _parse(stamp: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
