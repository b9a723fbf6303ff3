"""Stop training at the first batch end after Slurm's warning signal (see fidle_runs.requeue)."""

from typing import Any

import pytorch_lightning as pl

from fidle_runs.requeue import RequeueRequested, received_signal


class StopOnRequeueSignal(pl.Callback):
    def _check(self, trainer: pl.Trainer) -> None:
        name = received_signal()
        if name is not None:
            raise RequeueRequested(f"{name} received at epoch {trainer.current_epoch + 1}")

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._check(trainer)

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.state.fn == "fit":
            self._check(trainer)
