"""Checkpoints written under a temporary name and renamed: a job killed mid-save (time limit,
preemption, Ctrl-C) leaves the previous last.ckpt intact instead of a truncated one.

Written straight to the file with torch.save: Lightning's own save serializes into memory, copies
the bytes and writes them through fsspec, 0.075 s for cnn_v1's 58 MB checkpoint (24x24 L) where
this takes 0.048 s (median of 10, idle 2-core machine); a run writes one or two checkpoints every
epoch, and on a GPU an epoch of a small CNN takes about a second."""

import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from fidle_runs.atomic import temporary_path


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(target)
        try:
            torch.save(checkpoint, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
