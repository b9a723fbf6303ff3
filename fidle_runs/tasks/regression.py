"""Regression of one or more values: mean squared error as the loss, as FIDLE's BHPD and Wine
notebooks compile it; logs `<stage>_loss`, `<stage>_mae`, `<stage>_mse` and `<stage>_r2`, in
the targets' own units (FIDLE leaves them unscaled).

Beside the network, on validation and test, two baselines fitted on the training samples: the
train mean of each target (`mae_mean`...: what a network must beat to have learned anything),
and least squares on the same inputs with an intercept (`mae_least_squares`...: whether it beats
a linear model). Least squares is fitted where the inputs are at most LEAST_SQUARES_FEATURES
values (tables, not images).
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric, R2Score

from fidle_runs.store.predictions import SavedPredictions
from fidle_runs.tasks import value_scores
from fidle_runs.tasks.base import OptimizerFactory, SchedulerFactory, StepOutputs, TaskModule

MEAN, LEAST_SQUARES = "mean", "least_squares"
LEAST_SQUARES_FEATURES = 4096


class Regression(TaskModule):
    SCORES = value_scores.SCORES
    BASELINES = (MEAN, LEAST_SQUARES)

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, n_outputs: int,
                 scheduler: SchedulerFactory | None = None, model_name: str = "",
                 target_names: list[str] | None = None) -> None:
        self.n_outputs = n_outputs
        self.target_names = list(target_names or [])
        super().__init__(net, optimizer, scheduler, model_name)
        # Fitted by fit_baselines, moved with the module, never in checkpoints.
        self.register_buffer("train_mean", None, persistent=False)
        self.register_buffer("least_squares_weights", None, persistent=False)

    @staticmethod
    def _value_metrics(suffix: str = "") -> dict[str, Metric]:
        return {f"mae{suffix}": MeanAbsoluteError(), f"mse{suffix}": MeanSquaredError(),
                f"r2{suffix}": R2Score()}

    def metrics(self) -> dict[str, Metric]:
        return self._value_metrics()

    def baseline_metrics(self) -> dict[str, dict[str, Metric]]:
        return {name: self._value_metrics(f"_{name}") for name in (MEAN, LEAST_SQUARES)}

    def in_progress_line(self, name: str) -> bool:
        """The loss, MAE and R²: MSE and the baselines are in result.json and the report."""
        return name.split("_", 1)[1] in ("loss", "mae", "r2")

    def fit_baselines(self, x: torch.Tensor, y: torch.Tensor,
                      network_input: Callable[[torch.Tensor], torch.Tensor]) -> None:
        targets = y.reshape(len(y), -1).double()
        self.train_mean = targets.mean(dim=0).float()
        if x[0].numel() > LEAST_SQUARES_FEATURES:
            return
        inputs = network_input(x).reshape(len(x), -1).double().cpu()
        design = torch.cat([inputs, torch.ones(len(inputs), 1, dtype=torch.float64)], dim=1)
        # gelsd: the minimum-norm solution where columns are collinear (one-hot categories
        # beside the intercept).
        solution = torch.linalg.lstsq(design, targets.cpu(), driver="gelsd").solution
        self.least_squares_weights = solution.float().to(self.train_mean.device)

    def baseline(self, name: str, x: torch.Tensor) -> torch.Tensor | None:
        if name == MEAN:
            return None if self.train_mean is None else self.train_mean.expand(len(x), -1)
        weights = self.least_squares_weights
        if weights is None:
            return None
        inputs = x.reshape(len(x), -1).to(weights.dtype)
        return inputs @ weights[:-1] + weights[-1]

    def scores(self, test: SavedPredictions,
               validation: SavedPredictions | None = None) -> dict[str, float]:
        """value_scores' scores over every target, and each target's where there are several
        (`mae_<target>`...), in the targets' units."""
        return value_scores.scores(test.outputs, test.targets, self.target_names or None)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs, targets)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> StepOutputs:
        # One row of values per sample, however the data shapes its targets.
        x, y = batch
        return super()._step((x, y.reshape(len(y), -1).to(torch.float32)), stage)
