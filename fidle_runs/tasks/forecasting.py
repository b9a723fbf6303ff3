"""Forecasting: from a window of past steps, the next `horizon` steps of the series' targets
(FIDLE's LADYB and SYNOP). The network outputs horizon x targets values, compared with the
targets flattened the same way: MSE loss on the z-scored values, as FIDLE compiles it. FIDLE's
networks forecast the values themselves; `change=true` makes them forecast the change from the
last value seen (forecast = persistence + network), which on real weather, whose next hour is
mostly its last, is what beats persistence (result.json's task_options says which).

Logged per stage beside the loss:
- `mae`, `mse`: on the z-scored values (FIDLE's `mae`, the primary metric's scale);
- `mae_<target>`: each target's MAE in the data's own units (degrees, hPa);
- on validation and test, the persistence baseline (every step ahead = the last value seen) on
  the same windows and scaling: `mae_persistence`, `mae_persistence_<target>`; a network that
  does not beat it has learned nothing a forecaster can use;
- on test, with one-step targets that are all the features (so that a forecast can be fed back
  as the next input step, FIDLE's `predict_len`): `mae_step<k>` for k = 1..`steps_ahead`, the
  network's own forecasts iterated k steps, beside `mae_persistence_step<k>`. A window's k-th
  step is the target of the window k-1 steps later in its batch, so each batch scores k-1 fewer
  windows at step k.
"""

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torchmetrics import MeanAbsoluteError, Metric

from fidle_runs.store.predictions import SavedPredictions
from fidle_runs.tasks import value_scores
from fidle_runs.tasks.base import OptimizerFactory, SchedulerFactory
from fidle_runs.tasks.forecast_metrics import TargetMAE
from fidle_runs.tasks.regression import Regression

BASELINE = "persistence"


class Forecasting(Regression):
    """Targets (batch, horizon, targets) or (batch, targets) are flattened per sample. What it
    knows of the data (target names and units, where each target is among the input features)
    comes from the datamodule's `task_arguments`."""

    def __init__(self, net: torch.nn.Module, optimizer: OptimizerFactory, n_outputs: int,
                 scheduler: SchedulerFactory | None = None, model_name: str = "",
                 target_names: Sequence[str] = (), target_std: Sequence[float] = (),
                 persistence_columns: Sequence[int] = (), horizon: int = 1,
                 iterable: bool = False, steps_ahead: int = 1, change: bool = False) -> None:
        self.target_names, self.target_std = list(target_names), [float(s) for s in target_std]
        self.persistence_columns = list(persistence_columns)
        self.horizon = horizon
        if change and not self.persistence_columns:
            raise ValueError("task.module.change=true forecasts the change from the last value "
                             "seen of each target, which needs the targets among the features")
        self.change = change
        # Forecasts can be fed back as inputs: one step ahead, every feature a target, windows
        # one step apart.
        self.steps_ahead = steps_ahead if iterable and horizon == 1 else 1
        super().__init__(net, optimizer, n_outputs, scheduler, model_name, self.target_names)
        self.step_metrics = torch.nn.ModuleDict({
            f"test_{name}_step{k}": MeanAbsoluteError()
            for k in range(1, self.steps_ahead + 1) if self.steps_ahead > 1
            for name in ("mae", f"mae_{BASELINE}")})

    BASELINES = (BASELINE,)

    def scores(self, test: SavedPredictions,
               validation: SavedPredictions | None = None) -> dict[str, float]:
        """value_scores' scores of the z-scored values, and each target's MAE in its own units
        (`mae_<target>`: the z-scored error times the target's standard deviation) over every
        step of the horizon."""
        scores = value_scores.scores(test.outputs, test.targets)
        n_targets = len(self.target_names)
        if n_targets:
            errors = np.abs(test.outputs.astype(np.float64) - test.targets.astype(np.float64))
            per_target = errors.reshape(len(errors), -1, n_targets).mean(axis=(0, 1))
            scores.update({f"mae_{name}": float(mae * std) for name, mae, std in
                           zip(self.target_names, per_target, self.target_std, strict=True)})
        return scores

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The forecast: the network's output, or with `change` the last value seen plus the
        network's output (it learns the change, the persistence baseline is its zero)."""
        out = self.net(x)
        return out + self.persistence(x) if self.change else out

    def options(self) -> dict[str, object]:
        return {"forecast": "change from the last value" if self.change else "values",
                "steps_ahead": self.steps_ahead}

    def _per_target(self, prefix: str) -> dict[str, Metric]:
        n = len(self.target_names)
        return {f"{prefix}_{name}": TargetMAE(column, n, std) for column, (name, std)
                in enumerate(zip(self.target_names, self.target_std, strict=True))}

    def metrics(self) -> dict[str, Metric]:
        return {**super().metrics(), **self._per_target("mae")}

    def baseline_metrics(self) -> dict[str, dict[str, Metric]]:
        if not self.persistence_columns:
            return {}
        return {BASELINE: {f"mae_{BASELINE}": MeanAbsoluteError(),
                           **self._per_target(f"mae_{BASELINE}")}}

    def fit_baselines(self, x: torch.Tensor, y: torch.Tensor,
                      network_input: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Persistence learns nothing (nor do the regression's baselines apply to windows)."""

    def in_progress_line(self, name: str) -> bool:
        """The loss, the z-scored MAE and persistence's, and the last step ahead's: per-target
        values in units are for result.json and the report."""
        last = f"step{self.steps_ahead}"
        return name.split("_", 1)[1] in ("loss", "mae", f"mae_{BASELINE}", f"mae_{last}",
                                         f"mae_{BASELINE}_{last}")

    def baseline(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.persistence(x)

    def persistence(self, x: torch.Tensor) -> torch.Tensor:
        """The last value seen of each target, at every step of the horizon, flattened as the
        targets are."""
        return x[:, -1, self.persistence_columns].repeat(1, self.horizon)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor],
                  batch_idx: int) -> dict[str, torch.Tensor]:
        step = super().test_step(batch, batch_idx)
        if self.steps_ahead > 1:
            self._steps_ahead(*batch)
        return step

    def _steps_ahead(self, x: torch.Tensor, y: torch.Tensor) -> None:
        truth = y.reshape(len(y), -1).to(torch.float32)
        last = self.persistence(x)
        paths = iterated_forecasts(self, x, min(self.steps_ahead, len(x)))
        for k in range(1, paths.shape[1] + 1):
            n = len(x) - (k - 1)
            forecast = paths[:, k - 1].contiguous()
            for name, predicted in (("mae", forecast), (f"mae_{BASELINE}", last)):
                metric = self.step_metrics[f"test_{name}_step{k}"]
                metric.update(predicted[:n], truth[k - 1:])
                self.log(f"test_{name}_step{k}", metric, on_step=False, on_epoch=True,
                         batch_size=n)


def iterated_forecasts(forecaster: Callable[[torch.Tensor], torch.Tensor], window: torch.Tensor,
                       steps: int) -> torch.Tensor:
    """(windows, steps, features) forecasts of a one-step forecaster whose targets are all its
    input features, from `window` (windows, W, F): each step's forecast is fed back as the
    window's next step (FIDLE LADYB1's predict_len). The task's test, the report and
    `python -m fidle_runs.predict` iterate forecasts through this one function."""
    path = []
    for _ in range(steps):
        step = forecaster(window)
        path.append(step)
        window = torch.cat([window[:, 1:], step[:, None, :]], dim=1)
    return torch.stack(path, dim=1)
