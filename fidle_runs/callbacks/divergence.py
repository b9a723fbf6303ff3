"""Stop a run whose loss stopped being a finite number: once a training loss is NaN or
infinite, the weights are too, and every epoch after it (and the test) would be time spent on
numbers that mean nothing.

The training loss is the one each training step returns (the task module's), checked each
batch; the validation loss is the task's epoch value, checked when validation ends, before the
checkpoint callbacks of that hook (Lightning runs them last), so no checkpoint is saved from
weights that gave a non-finite loss. The run stops with `Diverged`, which fidle_runs.run.train
records as the run's end (result.json status `diverged`).

Reading a GPU's loss back to the host at every step would make each step wait for the one
before it: there, each step's loss is copied to host memory without waiting, and read once the
copy is done (a step or two later); every copy still pending is read before validation and at
the epoch's end, so a checkpoint never follows a non-finite loss unseen. In data-parallel runs
only the epoch's losses are checked (synchronised over the processes, so every process makes
the same decision): a process that stopped alone would leave the others waiting for it.

`stop=false` (callbacks.divergence.stop) checks nothing: the run trains through to its end.
"""

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch

from fidle_runs.tasks.base import STAGES

TRAIN, VALIDATION, _ = STAGES  # the stages whose losses are checked


class Diverged(Exception):
    """The run's loss stopped being finite: `where` is {epoch, step, metric, value} (the epoch
    counted from 1, the training steps done when the value was seen), the message the line a
    user reads."""

    def __init__(self, message: str, where: dict[str, Any]) -> None:
        super().__init__(message)
        self.where = where


@dataclass
class _PendingLoss:
    """A training step's loss on its way to host memory."""

    epoch: int
    step: int
    host: torch.Tensor
    copied: torch.cuda.Event


class StopOnDivergence(pl.Callback):
    def __init__(self, stop: bool = True) -> None:
        self.stop = stop
        self._pending: deque[_PendingLoss] = deque()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not self.stop or trainer.world_size > 1 or not isinstance(loss, torch.Tensor):
            return
        epoch, step = trainer.current_epoch + 1, trainer.global_step
        loss = loss.detach()
        if not loss.is_cuda:
            self._check(trainer, pl_module, TRAIN, float(loss), epoch, step)
            return
        host = torch.empty((), dtype=loss.dtype, pin_memory=True)
        host.copy_(loss, non_blocking=True)
        copied = torch.cuda.Event()
        copied.record()
        self._pending.append(_PendingLoss(epoch, step, host, copied))
        self._read_copied(trainer, pl_module, wait=False)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.stop and not trainer.sanity_checking:
            self._read_copied(trainer, pl_module, wait=True)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.stop and not trainer.sanity_checking:
            self._check_epoch(trainer, pl_module, (TRAIN, VALIDATION))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.stop:
            self._read_copied(trainer, pl_module, wait=True)
            self._check_epoch(trainer, pl_module, (TRAIN,))

    def _read_copied(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     wait: bool) -> None:
        """Check the pending losses whose copy is done (all of them, waiting, with `wait`)."""
        while self._pending and (wait or self._pending[0].copied.query()):
            pending = self._pending.popleft()
            pending.copied.synchronize()
            self._check(trainer, pl_module, TRAIN, float(pending.host), pending.epoch,
                        pending.step)

    def _check_epoch(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     stages: tuple[str, ...]) -> None:
        """Check the epoch's losses of `stages` as the task logs them (its epoch values)."""
        if not hasattr(pl_module, "epoch_values"):
            return
        for stage in stages:
            value = pl_module.epoch_values(stage).get(loss_name(pl_module, stage))
            if value is not None:
                self._check(trainer, pl_module, stage, value, trainer.current_epoch + 1,
                            trainer.global_step)

    def _check(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str,
               value: float, epoch: int, step: int) -> None:
        if math.isfinite(value):
            return
        self._pending.clear()
        metric = loss_name(pl_module, stage)
        where = {"epoch": epoch, "step": step, "metric": metric, "value": value}
        raise Diverged(f"diverged at epoch {epoch}, step {step}: {metric} is {value}; "
                       f"{_what_to_try(trainer)}", where)


def loss_name(pl_module: pl.LightningModule, stage: str) -> str:
    """The task's name of a stage's loss (`train_loss`): the one of its module's losses that
    the stage logs."""
    names = [name for name in getattr(pl_module, "mean_losses", {})
             if name.startswith(f"{stage}_")]
    return names[0] if names else f"{stage} loss"


def _what_to_try(trainer: pl.Trainer) -> str:
    """A lower learning rate (saying the one used) and, where gradients are not clipped yet,
    clipping them."""
    rates = sorted({group["lr"] for optimizer in trainer.optimizers
                    for group in optimizer.param_groups if "lr" in group})
    now = f" (now {', '.join(f'{lr:g}' for lr in rates)})" if rates else ""
    clip = (" or trainer.gradient_clip_val=1.0" if trainer.gradient_clip_val is None else
            f" or a smaller trainer.gradient_clip_val (now {trainer.gradient_clip_val:g})")
    return (f"try a lower optimizer.lr{now}{clip}; callbacks.divergence.stop=false trains "
            "through it")
