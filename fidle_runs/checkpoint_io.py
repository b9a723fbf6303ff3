"""Checkpoints written under a temporary name and renamed: a job killed mid-save (time limit,
preemption, Ctrl-C) leaves the previous last.ckpt intact instead of a truncated one."""

import os
from pathlib import Path
from typing import Any

from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from fidle_runs.atomic import temporary_path


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:
        target = Path(path)
        tmp = temporary_path(target)
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
