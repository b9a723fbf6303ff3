"""Recent history as a user has it (a CSV of steps in time order, oldest first, with the run's
feature columns; other columns such as the time are ignored) -> the window the network reads:
the last `window` steps, gaps interpolated where the run's data.missing says so, z-scored with
the run's kept statistics. One window per file: the forecast starts after its last step."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fidle_runs.data.inputs import Inputs
from fidle_runs.data.tables.read import read_table
from fidle_runs.errors import UserError


def read_history(paths: list[Path], features: list[str], window: int, missing: str,
                 scale: Callable[[np.ndarray], torch.Tensor]) -> Inputs:
    if not paths:
        raise UserError(f"no history given: name a CSV of the last {window} (or more) steps "
                        f"with the columns {', '.join(features)}")
    windows, labels = [], []
    for path in map(Path, paths):
        if not path.is_file():
            raise UserError(f"{path}: no such file; give a CSV of recent steps to forecast from")
        frame = read_table(path)
        absent = [name for name in features if name not in frame.columns]
        if absent:
            raise UserError(f"{path} lacks the column(s) {', '.join(map(repr, absent))} the run "
                            f"was trained with ({', '.join(features)})")
        if len(frame) < window:
            raise UserError(f"{path} holds {len(frame)} steps, shorter than the run's window of "
                            f"{window}: give at least {window} steps of history")
        values = frame[features].apply(pd.to_numeric, errors="coerce").astype("float64")
        values = _filled(values, missing, path)
        windows.append(scale(values.to_numpy()[-window:]))
        labels.append(f"{path.name} (after its last of {len(frame)} steps)")
    return Inputs(torch.stack(windows), labels)


def _filled(values: pd.DataFrame, missing: str, path: Path) -> pd.DataFrame:
    """Gaps (or values that are no numbers) interpolated by row where the run interpolated its
    own, else refused in one line."""
    gaps = values.isna().sum()
    if not gaps.any():
        return values
    if missing != "interpolate" or values.isna().all().any():
        counts = ", ".join(f"{name} {n}" for name, n in gaps.items() if n)
        raise UserError(f"{path} has missing or non-numeric values ({counts}): fill them "
                        "(the run was trained without gaps)")
    return values.interpolate(method="linear", limit_direction="both")
