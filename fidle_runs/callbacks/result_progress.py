"""Keep result.json current while a run trains: epochs done and fit time so far, so reports of a
sweep in progress (and a resumed run's total fit time) are right even if the job is killed."""

import time

import pytorch_lightning as pl

from fidle_runs.result import RunResult


class ResultProgress(pl.Callback):
    def __init__(self, result: RunResult, run_dir: str) -> None:
        self.result, self.run_dir = result, run_dir
        self.fit_before = result.duration_s["fit"]
        self.start = time.perf_counter()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Not on_train_start: resumed from a checkpoint with every epoch done (killed while
        # testing), fit ends without starting to train.
        self.start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs before ModelCheckpoint saves this epoch, so last.ckpt never gets ahead of us.
        self.on_train_epoch_end(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Every rank counts (a requeue decision depends on it); rank 0 alone writes.
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self.result.epochs = trainer.current_epoch + 1
        self.result.duration_s["fit"] = round(self.fit_before + self.elapsed(), 3)
        checkpointer = trainer.checkpoint_callback  # runs after us: its best lags an epoch
        score = checkpointer.best_model_score if checkpointer is not None else None
        if score is not None:
            self.result.monitor["best"] = round(float(score), 6)
        if trainer.is_global_zero:
            self.result.write(self.run_dir)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start
