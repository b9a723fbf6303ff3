"""A table's targets as the task learns them: regression values as float32 in their own units
(FIDLE leaves BHPD's prices and Wine's grades unscaled); a classification target's values as
class ids, the classes being its distinct values in sorted order (numbers by value, text
alphabetically), their names kept for the report."""

import numpy as np
import pandas as pd
import torch


def class_names(column: pd.Series) -> list[str]:
    values = sorted(column.dropna().unique().tolist())
    return [str(v) for v in values]


def regression_targets(frame: pd.DataFrame, targets: list[str]) -> torch.Tensor:
    """(rows, targets) float32."""
    return torch.from_numpy(frame[targets].to_numpy(dtype=np.float32, copy=True))


def class_ids(column: pd.Series, names: list[str]) -> torch.Tensor:
    """(rows,) int64: each value's index among `names` (the values as strings)."""
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[str(v)] for v in column.tolist()], dtype=torch.int64)
