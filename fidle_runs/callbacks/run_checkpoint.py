"""Lightning's ModelCheckpoint, made to keep a run resumable whatever moment it is killed at, and
its files named as the log counts epochs (best-epoch004 after the 4th epoch, not Lightning's 3).

Five differences, each a way Lightning 2.6's own callback loses work or misleads:
- last.ckpt is written at the end of every epoch. Lightning writes it only in a step where it
  also saved a top-k checkpoint, so after a plateau last.ckpt lags behind and a resume retrains
  several epochs.
- A best checkpoint that a better one replaces is deleted only once last.ckpt (whose state names
  the new best) is on disk: at any kill point, the best checkpoint last.ckpt names exists.
- Paths in the restored state follow the run directory: a run moved or copied elsewhere resumes
  with its best checkpoint known (Lightning keeps only `best_model_path`, still pointing to the
  old place, when the checkpoint folder has changed).
- last.ckpt carries the metrics its epoch logs at its end (validation's, then training's, at one
  step). Lightning saves the checkpoint in the epoch-end hooks but logs the training epoch's
  metrics only after them, and a run resumed from it counts the epoch as done: killed in between,
  the epoch's training metrics were never logged. The resumed run drops whatever
  the killed attempt logged from that step on (`epoch_end_step`, its loggers' purge step) and
  logs the carried metrics there once more, so each epoch's metrics are logged exactly once.
- A monitored value that is not finite (a run whose loss diverged and went on,
  callbacks.divergence.stop=false) is no score: Lightning keeps such a checkpoint as the best
  (scored as the worst value) while it has no other, and the run would be tested on it. Here it
  is never a best checkpoint.
"""

import os
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import Tensor

from fidle_runs.loggers.purge import drops_purged_steps

EPOCH_END_LOG = "epoch_end_log"


class RunCheckpoint(ModelCheckpoint):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "save_last": True})
        self._replaced: list[str] = []
        self._last_saved_step = -1
        # Epochs that the last.ckpt on disk holds (what result.json may claim).
        self.last_epochs = 0
        self._epoch_end_log: dict[str, Any] | None = None
        self._validated: tuple[int, dict[str, float]] = (-1, {})
        self._to_log_again: dict[str, Any] | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._should_save_on_train_epoch_end(trainer):
            self._keep_epoch_end_log(trainer, pl_module)
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missing(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Validation's metrics are reset once it ends: kept now for the checkpoint that follows.
        if self._fitting(trainer) and hasattr(pl_module, "epoch_values"):
            self._validated = (trainer.current_epoch, pl_module.epoch_values("val"))
        if not self._should_save_on_train_epoch_end(trainer):
            self._keep_epoch_end_log(trainer, pl_module)
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missing(trainer)

    def check_monitor_top_k(self, trainer: pl.Trainer, current: Tensor | None = None) -> bool:
        if current is not None and not bool(torch.isfinite(current)):
            return False
        return super().check_monitor_top_k(trainer, current)

    def _fitting(self, trainer: pl.Trainer) -> bool:
        return (trainer.state.fn == "fit" and not trainer.sanity_checking
                and not trainer.fast_dev_run)

    def _save_last_if_missing(self, trainer: pl.Trainer) -> None:
        if self._fitting(trainer) and self._last_saved_step != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_last_checkpoint(self, trainer: pl.Trainer,
                              monitor_candidates: dict[str, Tensor]) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._last_saved_step = trainer.global_step
        self.last_epochs = trainer.current_epoch + 1
        replaced, self._replaced = self._replaced, []
        for path in replaced:
            super()._remove_checkpoint(trainer, path)

    def _keep_epoch_end_log(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """What this epoch logs at its end, validation's then training's, to carry in last.ckpt.
        Every rank computes it (the metrics sync across data-parallel ranks)."""
        if not self._fitting(trainer) or not hasattr(pl_module, "epoch_values"):
            return
        epoch, validation = self._validated
        rows = [validation if epoch == trainer.current_epoch else {},
                pl_module.epoch_values("train")]
        self._epoch_end_log = {"step": trainer.global_step - 1, "epoch": trainer.current_epoch,
                               "rows": [row for row in rows if row]}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), EPOCH_END_LOG: self._epoch_end_log}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_again(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_again(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_again(trainer)

    def _log_again(self, trainer: pl.Trainer) -> None:
        """Log the restored checkpoint's epoch-end metrics at their step, once, to the loggers
        that dropped that step (see `epoch_end_step`); the others kept what they had."""
        record, self._to_log_again = self._to_log_again, None
        if record is None:
            return
        for logger in filter(drops_purged_steps, trainer.loggers):
            for row in record["rows"]:
                logger.log_metrics({**row, "epoch": record["epoch"]}, step=record["step"])
            logger.save()

    def _remove_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        self._replaced.append(filepath)

    def format_checkpoint_name(self, metrics: dict[str, Tensor], filename: str | None = None,
                               ver: int | None = None, prefix: str | None = None) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        return super().format_checkpoint_name(metrics, filename, ver, prefix)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_in = state_dict.get("dirpath")
        if saved_in and self.dirpath and saved_in != self.dirpath:
            state_dict = relocated_state(state_dict, saved_in, self.dirpath)
        super().load_state_dict(state_dict)
        self._to_log_again = state_dict.get(EPOCH_END_LOG)


def epoch_end_step(checkpoint: dict[str, Any]) -> int:
    """The step from which a run resumed from `checkpoint` (a loaded last.ckpt) logs anew: that
    of its epoch-end metrics when it carries them, else the step after it."""
    for state in (checkpoint.get("callbacks") or {}).values():
        if isinstance(state, dict) and state.get(EPOCH_END_LOG):
            return int(state[EPOCH_END_LOG]["step"])
    return int(checkpoint["global_step"])


def relocated_state(state: dict[str, Any], old_dir: str, new_dir: str) -> dict[str, Any]:
    """The callback state with every checkpoint path under `old_dir` moved under `new_dir`."""

    def move(path: Any) -> Any:
        if isinstance(path, str) and path.startswith(old_dir + os.sep):
            return new_dir + path[len(old_dir):]
        return path

    moved = {key: move(value) for key, value in state.items()}
    moved["dirpath"] = new_dir
    if isinstance(state.get("best_k_models"), dict):
        moved["best_k_models"] = {move(k): v for k, v in state["best_k_models"].items()}
    return moved
