"""Training progress that stays readable in a Slurm .out file: one plain line per epoch (and
a heartbeat line during long epochs) instead of carriage-return bars."""

import sys
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, TQDMProgressBar

from fidle_runs.core.errors import UserError

STYLES = ("auto", "bar", "lines")
# Lightning redraws the bar every `refresh_rate` batches: a small CNN on a GPU takes over 500
# batches a second, and a redraw each costs more than its step's own host work.
BAR_REFRESH_BATCHES = 10


def make_progress_bar(style: str = "auto", heartbeat_s: float = 60.0) -> ProgressBar:
    """`bar` (tqdm), `lines`, or `auto`: a bar on a terminal, lines when stdout is a file."""
    if style not in STYLES:
        raise UserError(f"callbacks.progress.style={style!r} is not one of {', '.join(STYLES)}")
    if style == "bar" or (style == "auto" and sys.stdout.isatty()):
        return TQDMProgressBar(refresh_rate=BAR_REFRESH_BATCHES)
    return EpochLines(heartbeat_s)


class EpochLines(ProgressBar):
    def __init__(self, heartbeat_s: float = 60.0) -> None:
        super().__init__()
        self.heartbeat_s = heartbeat_s
        self._enabled = True
        self._epoch_start = self._last_line = 0.0
        self._images = 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _print(self, text: str) -> None:
        if self._enabled:
            print(text, flush=True)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = self._last_line = time.perf_counter()
        self._images = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        # Data-parallel ranks train on near-equal slices of each global batch: count them all.
        self._images += len(batch[-1]) * trainer.world_size
        now = time.perf_counter()
        if now - self._last_line >= self.heartbeat_s:
            self._last_line = now
            self._print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} "
                        f"batch {batch_idx + 1}/{self.total_train_batches} "
                        f"{self._images / (now - self._epoch_start):.0f} samples/s")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        elapsed = time.perf_counter() - self._epoch_start
        metrics = _format(trainer.callback_metrics, ("train_", "val_"), pl_module)
        self._print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} {metrics} "
                    f"{self._images / max(elapsed, 1e-9):.0f} samples/s {elapsed:.1f}s")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._print(f"test {_format(trainer.callback_metrics, ('test_',), pl_module)}")


def _format(metrics: dict[str, Any], stages: tuple[str, ...],
            module: pl.LightningModule | None = None) -> str:
    """The task's metrics of `stages` (train_loss, train_acc, val_loss, val_acc...) that its
    module shows in a progress line (all of them by default), loss first."""
    shown = getattr(module, "in_progress_line", lambda name: True)
    names = [n for stage in stages for n in sorted(metrics, key=lambda n: (n != f"{stage}loss", n))
             if n.startswith(stage) and shown(n)]
    return " ".join(f"{n} {float(metrics[n]):.4f}" for n in names)
