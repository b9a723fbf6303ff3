"""Regression of one or more values: mean squared error as the loss, as FIDLE's BHPD and Wine
notebooks compile it; logs `<stage>_loss`, `<stage>_mae` and `<stage>_mse`."""

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric

from fidle_runs.tasks.base import OptimizerFactory, SchedulerFactory, TaskModule


class Regression(TaskModule):
    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, n_outputs: int,
                 scheduler: SchedulerFactory | None = None, model_name: str = "") -> None:
        self.n_outputs = n_outputs
        super().__init__(net, optimizer, scheduler, model_name)

    def metrics(self) -> dict[str, Metric]:
        return {"mae": MeanAbsoluteError(), "mse": MeanSquaredError()}

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs, targets)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        # One row of values per sample, however the data shapes its targets.
        x, y = batch
        return super()._step((x, y.reshape(len(y), -1).to(torch.float32)), stage)
