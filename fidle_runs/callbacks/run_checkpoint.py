"""Lightning's ModelCheckpoint, made to keep a run resumable whatever moment it is killed at, and
its files named as the log counts epochs (best-epoch004 after the 4th epoch, not Lightning's 3).

Three differences, each a way Lightning 2.6's own callback loses work:
- last.ckpt is written at the end of every epoch. Lightning writes it only in a step where it
  also saved a top-k checkpoint, so after a plateau last.ckpt lags behind and a resume retrains
  several epochs.
- A best checkpoint that a better one replaces is deleted only once last.ckpt (whose state names
  the new best) is on disk: at any kill point, the best checkpoint last.ckpt names exists.
- Paths in the restored state follow the run directory: a run moved or copied elsewhere resumes
  with its best checkpoint known (Lightning keeps only `best_model_path`, still pointing to the
  old place, when the checkpoint folder has changed).
"""

import os
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import Tensor


class RunCheckpoint(ModelCheckpoint):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "save_last": True})
        self._replaced: list[str] = []
        self._last_saved_step = -1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missing(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missing(trainer)

    def _save_last_if_missing(self, trainer: pl.Trainer) -> None:
        fitting = trainer.state.fn == "fit" and not trainer.sanity_checking
        if fitting and not trainer.fast_dev_run and self._last_saved_step != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_last_checkpoint(self, trainer: pl.Trainer,
                              monitor_candidates: dict[str, Tensor]) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._last_saved_step = trainer.global_step
        replaced, self._replaced = self._replaced, []
        for path in replaced:
            super()._remove_checkpoint(trainer, path)

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
