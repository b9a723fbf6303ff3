"""Stop training at the first batch end after Slurm's warning signal
(see fidle_runs.launch.requeue).

Data-parallel ranks must stop at the same batch: a rank that stops alone leaves the others
waiting for its gradients. Slurm signals every task, but not at the same instant, so the ranks
agree every AGREE_EVERY training batches and at an epoch's last (every rank counts the same
batches) and stop together
when any has it. They agree through a gloo (CPU) process group of their own: a one-number
all-reduce of a CPU tensor, which never waits for the GPU's queued work as reading back a GPU
tensor would, but is a round trip between the hosts: at every batch it would cost each step
that much. Every 20 batches the stop comes at most 19 batches late, seconds inside Slurm's
180 s warning. Validation batches are not checked then: ranks may hold different numbers of
them.
"""

from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist

from fidle_runs.launch.requeue import RequeueRequested, received_signal

AGREE_EVERY = 20


class StopOnRequeueSignal(pl.Callback):
    def __init__(self) -> None:
        self._ranks: Any = None  # the ranks' CPU process group, in data-parallel runs

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size > 1 and self._ranks is None:
            self._ranks = dist.new_group(backend="gloo")  # every rank calls this, in order

    def _check(self, trainer: pl.Trainer, batch_idx: int = 0) -> None:
        name = received_signal()
        if self._ranks is not None:
            if (batch_idx + 1) % AGREE_EVERY and batch_idx + 1 != trainer.num_training_batches:
                return  # not an agreement point: every AGREE_EVERY batches, and the epoch's last
            flag = torch.tensor([int(name is not None)])
            dist.all_reduce(flag, group=self._ranks)
            if not flag.item():
                return
            name = name or "the requeue signal (on another rank)"
        if name is not None:
            raise RequeueRequested(f"{name} received at epoch {trainer.current_epoch + 1}")

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._check(trainer, args[-1])

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.state.fn == "fit" and trainer.world_size == 1:
            self._check(trainer)
