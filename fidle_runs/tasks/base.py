"""The LightningModule every task shares: a network, a loss, metrics logged per stage as
`<stage>_<metric>` (train_loss, val_acc, test_mae...), and the optimizer and scheduler the config
gives as partials."""

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric, Metric

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]
STAGES = ("train", "val", "test")
# Where a baseline is scored: not while training (it needs no training, and would cost steps).
BASELINE_STAGES = ("val", "test")
# What ReduceLROnPlateau watches: every task logs a validation loss.
SCHEDULER_MONITOR = "val_loss"


class TaskModule(pl.LightningModule):
    """Subclasses say what the network's outputs mean: `loss`, `metrics` and `predictions`."""

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory,
                 scheduler: SchedulerFactory | None = None, model_name: str = "") -> None:
        super().__init__()
        # Only plain values go into checkpoints (loadable with weights_only=True): the network's
        # weights are in the state dict, and the run's config.yaml says how to rebuild the rest.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        # One set per stage, by logged name: train_acc, val_acc, test_acc...
        self.logged_metrics = nn.ModuleDict({f"{stage}_{name}": metric for stage in STAGES
                                             for name, metric in self.metrics().items()})
        # A task's baseline (a prediction made without the network: forecasting's persistence)
        # scored on the same samples, on validation and test: val_mae_persistence...
        self.baseline_logged = nn.ModuleDict({f"{stage}_{name}": metric
                                              for stage in BASELINE_STAGES
                                              for name, metric in self.baseline_metrics().items()})
        # The loss is averaged by a metric too: in data-parallel runs it sums over every rank's
        # samples (each counted once), as the task's metrics do. No NaN check: it reads a value
        # back from the device (a host synchronisation) at every step.
        self.mean_losses = nn.ModuleDict({f"{stage}_loss": MeanMetric(nan_strategy="disable")
                                          for stage in STAGES})

    def metrics(self) -> dict[str, Metric]:
        """Fresh metric objects by name (one set per stage)."""
        raise NotImplementedError

    def baseline_metrics(self) -> dict[str, Metric]:
        """Fresh metric objects by name for the task's baseline; none by default."""
        return {}

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """What the baseline predicts for a batch's inputs, shaped as `predictions` are."""
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """What the module does its own way, as plain values (result.json's task_options)."""
        return {}

    def in_progress_line(self, name: str) -> bool:
        """Whether a logged metric (`val_acc`) shows in the epoch's progress line; result.json
        and the loggers have them all."""
        return True

    def predictions(self, outputs: torch.Tensor) -> torch.Tensor:
        """What the metrics compare with the targets (class ids, values)."""
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        outputs = self(x)
        loss = self.loss(outputs, y)
        # update(), not the metric's forward: only the epoch's value is logged, so computing
        # each batch's own value as well would be wasted work at every step.
        mean_loss = self.mean_losses[f"{stage}_loss"]
        # The batch's mean loss once per sample: a weight would be built from a Python int on
        # the device (a blocking copy), and without the NaN check torchmetrics ignores it.
        mean_loss.update(loss.detach().expand(len(y)))
        self.log(f"{stage}_loss", mean_loss, on_step=False, on_epoch=True, batch_size=len(y))
        predicted = self.predictions(outputs.detach())
        self._update(self.logged_metrics, stage, predicted, y)
        if stage in BASELINE_STAGES and self.baseline_logged:
            self._update(self.baseline_logged, stage, self.baseline(x), y)
        return loss

    def _update(self, metrics: nn.ModuleDict, stage: str, predicted: torch.Tensor,
                y: torch.Tensor) -> None:
        for name, metric in metrics.items():
            if name.startswith(f"{stage}_"):
                metric.update(predicted, y)
                self.log(name, metric, on_step=False, on_epoch=True, batch_size=len(y))

    def epoch_values(self, stage: str) -> dict[str, float]:
        """The stage's epoch metrics as its epoch end logs them (computed from what the epoch
        updated; empty for a stage that did not run). Lightning computes them again from the
        same cached values, so what is logged and what is returned are equal."""
        metrics = {**self.mean_losses, **self.logged_metrics, **self.baseline_logged}
        return {name: float(metric.compute()) for name, metric in metrics.items()
                if name.startswith(f"{stage}_") and metric.update_count}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "epoch",
                                 "monitor": SCHEDULER_MONITOR}}
