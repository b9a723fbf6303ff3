"""The LightningModule every task shares: a network, a loss, metrics logged per stage as
`<stage>_<metric>` (train_loss, val_acc, test_mae...), and the optimizer and scheduler the config
gives as partials. A task also declares the scores it computes in float64 from a split's saved
predictions (`scores`, `SCORES`: their names and directions, written here once), which are the
test metrics result.json records."""

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric, Metric

from fidle_runs.store.predictions import SavedPredictions

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]
STAGES = ("train", "val", "test")
# Where a baseline is scored: not while training (it needs no training, and would cost steps).
BASELINE_STAGES = ("val", "test")
# What ReduceLROnPlateau watches: every task logs a validation loss.
SCHEDULER_MONITOR = "val_loss"


class StepOutputs(NamedTuple):
    loss: torch.Tensor
    outputs: torch.Tensor  # the network's, detached
    targets: torch.Tensor  # as the loss and metrics compare them


class TaskModule(pl.LightningModule):
    """Subclasses say what the network's outputs mean: `loss`, `metrics` and `predictions`,
    and what is scored from saved predictions: `SCORES` and `scores`."""

    # Each score `scores` can give, by name without its stage (`acc`, `f1_macro`), as (mode,
    # fraction): "max" when higher is better, and whether values are fractions shown as %.
    SCORES: ClassVar[dict[str, tuple[str, bool]]] = {}
    # The baselines scored beside the network (`majority`): a score `acc` of baseline `b` is
    # `acc_b`, the primary metric's are result.json's `primary.baselines`.
    BASELINES: tuple[str, ...] = ()
    # For a network whose parameters come in named groups (`net.parameter_groups()`): each
    # group's learning rate as a multiple of the optimizer's (1 where absent), and the callback
    # that schedules the groups (a pretrained backbone's fine-tuning), which the module adds to
    # the trainer's; both set where the run is assembled (fidle_runs.run.assemble).
    group_lr_mults: Mapping[str, float] = MappingProxyType({})
    group_schedule: pl.Callback | None = None

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
        # A task's baselines (predictions made without the network: persistence, the train
        # mean, the majority class), each scored on the same samples, on validation and test:
        # by baseline, val_mae_persistence, test_acc_majority...
        self.baseline_logged = nn.ModuleDict({
            baseline: nn.ModuleDict({f"{stage}_{name}": metric for stage in BASELINE_STAGES
                                     for name, metric in self.baseline_metrics()[baseline].items()
                                     })
            for baseline in self.baseline_metrics()})
        # The loss is averaged by a metric too: in data-parallel runs it sums over every rank's
        # samples (each counted once), as the task's metrics do. No NaN check: it reads a value
        # back from the device (a host synchronisation) at every step.
        self.mean_losses = nn.ModuleDict({f"{stage}_loss": MeanMetric(nan_strategy="disable")
                                          for stage in STAGES})

    def metrics(self) -> dict[str, Metric]:
        """Fresh metric objects by name (one set per stage)."""
        raise NotImplementedError

    def baseline_metrics(self) -> dict[str, dict[str, Metric]]:
        """By baseline name (`persistence`), fresh metric objects by name (`mae_persistence`,
        logged as `val_mae_persistence`...); none by default."""
        return {}

    def fit_baselines(self, x: torch.Tensor, y: torch.Tensor,
                      network_input: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Learn what the baselines need from the training samples (`x` as the data stores
        them, `network_input` turns them into what the network and `baseline` see); nothing by
        default. Called where a run is assembled, so a resumed or rebuilt run fits them again
        from the same data (they are not in checkpoints)."""

    def baseline(self, name: str, x: torch.Tensor) -> torch.Tensor | None:
        """What baseline `name` predicts for a batch's network inputs, shaped as `predictions`
        are; None where it could not be fitted (it is then not scored)."""
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

    @property
    def scored_on_validation(self) -> bool:
        """Whether `scores` also needs the validation set's predictions (a binary classifier's
        decision threshold is chosen there, never on the test set)."""
        return False

    def scores(self, test: SavedPredictions,
               validation: SavedPredictions | None = None) -> dict[str, float]:
        """The test scores by name without stage (`acc`), in float64 from every test sample's
        outputs and targets; `validation` where `scored_on_validation`."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> StepOutputs:
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
        if stage in BASELINE_STAGES:
            for name, metrics in self.baseline_logged.items():
                baseline = self.baseline(name, x)
                if baseline is not None:
                    self._update(metrics, stage, baseline, y)
        return StepOutputs(loss, outputs.detach(), y)

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
        metrics = {**self.mean_losses, **self.logged_metrics,
                   **{name: metric for baseline in self.baseline_logged.values()
                      for name, metric in baseline.items()}}
        return {name: float(metric.compute()) for name, metric in metrics.items()
                if name.startswith(f"{stage}_") and metric.update_count}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        return self._step(batch, "train").loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor],
                  batch_idx: int) -> dict[str, torch.Tensor]:
        """The batch's outputs and targets, for the callback that saves the test predictions."""
        step = self._step(batch, "test")
        return {"outputs": step.outputs, "targets": step.targets}

    def configure_callbacks(self) -> list[pl.Callback]:
        """`group_schedule`, added to the trainer's callbacks when it is not among them yet
        (test, after fit, runs on the same trainer)."""
        schedule = self.group_schedule
        if schedule is None or schedule in self.trainer.callbacks:
            return []
        return [schedule]

    def configure_optimizers(self) -> Any:
        """The configured optimizer over the network's parameters: one group, or, for a network
        that names groups of its own (`parameter_groups()`: a pretrained backbone and its
        head), one group each, made from the first step, at the optimizer's learning rate times
        its `group_lr_mults`; the scheduler then scales every group alike."""
        named = getattr(self.net, "parameter_groups", None)
        if named is None:
            optimizer = self.optimizer_factory(params=self.parameters())
        else:
            optimizer = self.optimizer_factory(params=[
                {"name": name, "params": params} for name, params in named().items()])
            for group in optimizer.param_groups:
                group["lr"] *= self.group_lr_mults.get(group["name"], 1.0)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "epoch",
                                 "monitor": SCHEDULER_MONITOR}}


def task_outputs(task: nn.Module, datamodule: Any, x: torch.Tensor, device: torch.device,
                 batch: int) -> torch.Tensor:
    """The task's outputs (logits, values, z-scored forecasts) for samples `x` as the data stores
    them, `batch` at a time on `device`, each batch through the family's `network_input` as in
    training; on the host, float32. The task's mode (eval, train) is the caller's."""
    task.to(device)
    with torch.inference_mode():
        return torch.cat([task(datamodule.network_input(part.to(device))).float().cpu()
                          for part in x.split(batch)])
