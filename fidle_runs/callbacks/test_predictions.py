"""Save a run's test predictions and score them: each test batch's outputs and targets are
collected, every process's put back in the test set's order (so a data-parallel run saves and
scores exactly the test set's samples, each once, as one process would), then the lead process
writes them to `predictions/test.npz` and the task scores them in float64 (`scores`): those are
the test metrics result.json records. A task that chooses something on validation (a binary
classifier's decision threshold) gets the validation set's predictions too, from the same
weights, saved as `predictions/val.npz`."""

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist

from fidle_runs.data.tensor_batches import EpochBatchSampler
from fidle_runs.store.predictions import SavedPredictions, write_predictions
from fidle_runs.tasks.base import task_outputs


class SaveTestPredictions(pl.Callback):
    """After the test, `scores` holds the task's test scores by name without stage (`acc`) on
    the lead process, None elsewhere. Without `run_dir` (evaluate) it scores and saves nothing."""

    def __init__(self, run_dir: Path | None = None) -> None:
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.scores: dict[str, float] | None = None
        self._batches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._batches, self.scores = [], None

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs,
                          batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._batches.append((outputs["outputs"].float().cpu(), outputs["targets"].cpu()))

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        outputs = torch.cat([o for o, _ in self._batches])
        targets = torch.cat([t for _, t in self._batches])
        self._batches = []
        datamodule = trainer.datamodule
        if trainer.world_size > 1:
            outputs, targets = _in_test_order(outputs, targets, len(datamodule.tensors["test"][1]),
                                              datamodule.batch_size, trainer.world_size)
        if not trainer.is_global_zero:
            return
        test = SavedPredictions(outputs.numpy(), targets.numpy())
        validation = None
        # Never the test set itself (data.val_on_test), nor an empty validation set.
        if pl_module.scored_on_validation and not getattr(datamodule, "val_on_test", False) \
                and len(datamodule.tensors.get("val", ((), ()))[1]):
            validation = split_predictions(pl_module, datamodule, "val")
        if self.run_dir is not None:
            write_predictions(self.run_dir, "test", test)
            if validation is not None:
                write_predictions(self.run_dir, "val", validation)
        self.scores = pl_module.scores(test, validation)


def _in_test_order(outputs: torch.Tensor, targets: torch.Tensor, n: int, batch_size: int,
                   world_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every process's outputs and targets (on each process), in the test set's order: process
    r scored the slices EpochBatchSampler gives rank r, in that order."""
    gathered: list = [None] * world_size
    dist.all_gather_object(gathered, (outputs, targets))
    order = torch.cat([torch.cat(list(EpochBatchSampler(n, batch_size, False, 0, rank, world_size)))
                       for rank in range(world_size)])
    if len(order) != n or sum(len(t) for _, t in gathered) != n:
        raise RuntimeError(f"the test set has {n} samples, but the processes scored "
                           f"{sum(len(t) for _, t in gathered)}")
    placed_outputs = torch.empty((n, *outputs.shape[1:]), dtype=outputs.dtype)
    placed_targets = torch.empty((n, *targets.shape[1:]), dtype=targets.dtype)
    placed_outputs[order] = torch.cat([o for o, _ in gathered])
    placed_targets[order] = torch.cat([t for _, t in gathered])
    return placed_outputs, placed_targets


def split_predictions(task: pl.LightningModule, datamodule, split: str) -> SavedPredictions:
    """The task's outputs on a whole split of the datamodule's tensors, computed in this
    process with the task's current weights, in eval mode (task_outputs: as the test batches
    were), with the targets as the task compares them."""
    x, y = datamodule.tensors[split]
    was_training = task.training
    task.eval()
    try:
        outputs = task_outputs(task, datamodule, x, task.device, datamodule.batch_size)
    finally:
        task.train(was_training)
    return SavedPredictions(outputs.numpy(), np.asarray(y.cpu().numpy()))
