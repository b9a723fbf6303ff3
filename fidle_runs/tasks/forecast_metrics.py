"""Metrics of forecasts flattened per sample as the forecasting task flattens them: values
(batch, horizon x targets), horizon-major (the targets of step 1, then of step 2...)."""

import torch
from torchmetrics import Metric


class TargetMAE(Metric):
    """The mean absolute error of one target over every step ahead, in the data's own units: the
    z-scored error times the target's standard deviation (degrees, hPa)."""

    full_state_update = False

    def __init__(self, column: int, n_targets: int, std: float) -> None:
        super().__init__()
        self.column, self.n_targets, self.std = column, n_targets, std
        self.add_state("abs_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        column = (preds - target).view(len(preds), -1, self.n_targets)[..., self.column]
        self.abs_sum += column.abs().sum(dtype=torch.float64)
        self.count += column.numel()

    def compute(self) -> torch.Tensor:
        return (self.abs_sum / self.count * self.std).float()
