"""A table checked before anything is fitted on it: each mistake a user can make in a CSV or
its data.* options is one line naming the column (or the count) and the fix."""

import numpy as np
import pandas as pd

from fidle_runs.core.errors import UserError
from fidle_runs.data.tables.encoding import MISSING, is_categorical

TASKS = ("regression", "classification")


def check_columns(frame: pd.DataFrame, features: list[str] | None, targets: list[str],
                  source: str) -> list[str]:
    """The feature columns (None: every column but the targets), each of them and of the
    targets present."""
    columns = list(frame.columns)
    listed = ", ".join(columns)
    if len(columns) == 1 and not set(targets) & set(columns):
        raise UserError(f"{source} has one column ({columns[0][:40]!r}): is it a CSV with that "
                        "separator? give data.sep (e.g. data.sep=';')")
    for name in targets:
        if name not in columns:
            raise UserError(f"{source} has no target column {name!r} (data.target): its "
                            f"columns are {listed}")
    chosen = [c for c in columns if c not in targets] if features is None else list(features)
    for name in chosen:
        if name not in columns:
            raise UserError(f"{source} has no feature column {name!r} (data.features): its "
                            f"columns are {listed}")
        if name in targets:
            raise UserError(f"{name!r} is both a target and a feature: leave it out of "
                            "data.features")
    if not chosen:
        raise UserError(f"{source}: no feature column left beside the target(s)")
    return chosen


def check_targets(frame: pd.DataFrame, targets: list[str], task: str, source: str) -> None:
    if task not in TASKS:
        raise UserError(f"a table's targets are for task=regression or task=classification, "
                        f"not {task}")
    for name in targets:
        column = frame[name]
        empty = column.isna()
        if empty.any():
            raise UserError(f"{source}: target {name!r} is missing in {int(empty.sum())} of "
                            f"{len(column)} rows (first at row {int(np.flatnonzero(empty)[0])}):"
                            " drop those rows")
        if task == "regression" and is_categorical(column):
            raise UserError(f"{source}: the regression target {name!r} is text (e.g. "
                            f"{column.iloc[0]!r}): choose a numeric target, or task="
                            "classification to learn its values as classes")
    if task == "classification":
        if len(targets) != 1:
            raise UserError(f"a classification has one target column, not {len(targets)} "
                            f"({', '.join(targets)}): give data.target one name")
        classes = frame[targets[0]].nunique()
        if classes < 2:
            raise UserError(f"{source}: the classification target {targets[0]!r} has one class "
                            f"only ({frame[targets[0]].iloc[0]!r}): there is nothing to learn")


def check_missing_features(frame: pd.DataFrame, features: list[str], missing: str,
                           source: str) -> None:
    """With missing=error, a feature with empty cells is refused, naming it and its count."""
    if missing not in MISSING:
        raise UserError(f"data.missing={missing!r} is invalid: it must be one of "
                        f"{', '.join(MISSING)}")
    if missing != "error":
        return
    gaps = frame[features].isna().sum()
    gaps = gaps[gaps > 0]
    if len(gaps):
        counts = ", ".join(f"{name} {n}" for name, n in gaps.items())
        raise UserError(f"{source} has missing feature values ({counts} of {len(frame)} rows) "
                        "and data.missing=error: fill them, or set data.missing=median (train "
                        "medians plus an is-missing column)")


def check_rows(n_rows: int, n_train: int, n_fit: int, test_fraction: float,
               val_fraction: float | None, source: str) -> None:
    """Enough rows for the splits: two to train on (a standard deviation), one to test."""
    if n_fit >= 2 and n_rows - n_train >= 1:
        return
    validation = ("" if val_fraction is None
                  else f" and data.val_fraction={val_fraction:g} (validation carved from train)")
    raise UserError(f"{source} has {n_rows} rows: data.test_fraction={test_fraction:g}"
                    f"{validation} leave {n_fit} to train on and {n_rows - n_train} to test, "
                    "at least 2 and 1 are needed: add rows or change the fractions")
