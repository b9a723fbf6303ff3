"""Stop training at the first batch end after Slurm's warning signal (see fidle_runs.requeue).

Data-parallel ranks must stop at the same batch: a rank that stops alone leaves the others
waiting for its gradients. Slurm signals every task, but not at the same instant, so the ranks
agree at each training batch end (a one-number all-reduce) and stop together when any has it.
Validation batches are not checked then: ranks may hold different numbers of them.
"""

from typing import Any

import pytorch_lightning as pl

from fidle_runs.requeue import RequeueRequested, received_signal


class StopOnRequeueSignal(pl.Callback):
    def _check(self, trainer: pl.Trainer) -> None:
        name = received_signal()
        if trainer.world_size > 1:
            if not trainer.strategy.reduce_boolean_decision(name is not None, all=False):
                return
            name = name or "the requeue signal (on another rank)"
        if name is not None:
            raise RequeueRequested(f"{name} received at epoch {trainer.current_epoch + 1}")

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._check(trainer)

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.state.fn == "fit" and trainer.world_size == 1:
            self._check(trainer)
