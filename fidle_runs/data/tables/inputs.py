"""Rows as a user has them (CSV files with a header line, the separator sniffed, columns in any
order, extra columns such as the target ignored) -> the network's inputs, encoded with the
run's kept encoding (the train rows' medians, means, standard deviations and categories)."""

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from fidle_runs.data.inputs import Inputs, read_csv_files


def read_rows(paths: list[Path], encode: Callable[[pd.DataFrame, str], torch.Tensor]) -> Inputs:
    """Every row of every CSV of `paths`, encoded by `encode(frame, source)`."""
    def rows(path: Path, frame: pd.DataFrame) -> Inputs:
        return Inputs(encode(frame, str(path)),
                      [f"{path.name} row {i}" for i in range(1, len(frame) + 1)])

    return read_csv_files(paths, "no CSV given: name one or more CSV files of rows to predict, "
                          "with the run's feature columns and a header line",
                          "CSV files of rows to predict", rows)
