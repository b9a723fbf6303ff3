"""Keep result.json current while a run trains: epochs done and fit time so far, so reports of a
sweep in progress (and a resumed run's total fit time) are right even if the job is killed.

It counts the epochs that last.ckpt holds on disk, never one more: a run whose checkpoint could
not be written (a full disk) is not recorded as having trained that epoch, so the relaunch
resumes from the checkpoint that is there."""

import time

import pytorch_lightning as pl

from fidle_runs.store.result import RunResult


class ResultProgress(pl.Callback):
    def __init__(self, result: RunResult, run_dir: str) -> None:
        self.result, self.run_dir = result, run_dir
        self.fit_before = result.duration_s["fit"]
        self.start = time.perf_counter()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Not on_train_start: resumed from a checkpoint with every epoch done (killed while
        # testing), fit ends without starting to train.
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After validation's checkpoint; runs before a checkpoint saved at this hook (with no
        # validation), whose epoch the next epoch's start records.
        self._record(trainer, trainer.current_epoch + 1)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer, trainer.current_epoch)

    def _record(self, trainer: pl.Trainer, trained: int) -> None:
        """Record the epochs last.ckpt holds (`trained`, the epochs done, without one)."""
        # Every rank counts (a requeue decision depends on it); rank 0 alone writes.
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        checkpointer = trainer.checkpoint_callback
        checkpointed = getattr(checkpointer, "last_epochs", None)
        epochs = trained if checkpointed is None else checkpointed
        if epochs <= self.result.epochs:
            return
        self.result.epochs = epochs
        self.result.duration_s["fit"] = round(self.fit_before + self.elapsed(), 3)
        score = checkpointer.best_model_score if checkpointer is not None else None
        if score is not None:
            self.result.monitor["best"] = round(float(score), 6)
        if trainer.is_global_zero:
            self.result.write(self.run_dir)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start
