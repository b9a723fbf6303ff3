"""Rows as a user has them (CSV files with a header line, the separator sniffed, columns in any
order, extra columns such as the target ignored) -> the network's inputs, encoded with the
run's kept encoding (the train rows' medians, means, standard deviations and categories)."""

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.inputs import Inputs
from fidle_runs.data.tables.read import read_table


def read_rows(paths: list[Path], encode: Callable[[pd.DataFrame, str], torch.Tensor]) -> Inputs:
    """Every row of every CSV of `paths`, encoded by `encode(frame, source)`."""
    if not paths:
        raise UserError("no CSV given: name one or more CSV files of rows to predict, with the "
                        "run's feature columns and a header line")
    parts, labels = [], []
    for path in map(Path, paths):
        if not path.is_file():
            raise UserError(f"{path}: no such file; give CSV files of rows to predict")
        frame = read_table(path)
        parts.append(encode(frame, str(path)))
        labels += [f"{path.name} row {i}" for i in range(1, len(frame) + 1)]
    return Inputs(torch.cat(parts), labels)
