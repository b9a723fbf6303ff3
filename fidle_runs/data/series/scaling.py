"""The z-score a series is trained with: means and standard deviations of the train steps only,
kept with the run (fidle_runs.data.kept_state) so that evaluation and later predictions scale
inputs as training did, and forecasts go back to the data's own units."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fidle_runs.core.errors import UserError


@dataclass(frozen=True)
class Scaling:
    """`(value - mean) / std`, per column (one mean and std per column: FIDLE LADYB1's global
    statistics are one value repeated)."""

    columns: list[str]
    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, values: np.ndarray, columns: list[str], per_column: bool) -> "Scaling":
        """The statistics of `values` (steps, columns): per column (SYNOP2), or one mean and
        one standard deviation of all values (LADYB1: numpy's `x_train.mean()`, `.std()`)."""
        if per_column:
            mean, std = values.mean(axis=0), values.std(axis=0)
        else:
            mean = np.full(values.shape[1], values.mean())
            std = np.full(values.shape[1], values.std())
        constant = [name for name, s in zip(columns, std, strict=True) if not s > 0]
        if constant:
            raise UserError(f"column {constant[0]!r} is constant over the train steps: it cannot "
                            "be z-scored; drop it from data.features")
        return cls(list(columns), [float(m) for m in mean], [float(s) for s in std])

    def state(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Scaling":
        return cls(list(state["columns"]), list(state["mean"]), list(state["std"]))

    def statistics(self, columns: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Means and standard deviations of `columns` (None: all), float64."""
        index = [self.columns.index(c) for c in columns] if columns is not None else slice(None)
        return np.asarray(self.mean)[index], np.asarray(self.std)[index]

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Values in the data's units (..., columns) -> z-scores."""
        mean, std = self.statistics()
        return (values - mean) / std

    def apply_tensor(self, values: torch.Tensor, columns: list[str] | None = None
                     ) -> torch.Tensor:
        """(..., columns) in the data's units -> float32 z-scores, on the tensor's device."""
        mean, std = (torch.as_tensor(a, device=values.device) for a in self.statistics(columns))
        return ((values.double() - mean) / std).float()

    def invert_tensor(self, values: torch.Tensor, columns: list[str] | None = None
                      ) -> torch.Tensor:
        """(..., columns) z-scores -> the data's units, float32."""
        mean, std = (torch.as_tensor(a, device=values.device) for a in self.statistics(columns))
        return (values.double() * std + mean).float()
