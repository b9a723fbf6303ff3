"""Checkpoints written under a temporary name and renamed: a job killed mid-save (time limit,
preemption, Ctrl-C) leaves the previous last.ckpt intact instead of a truncated one.

Written straight to the file with torch.save: Lightning's own save serializes into memory, copies
the bytes and writes them through fsspec, a slower save (README, Runs), and a run saves one or two
checkpoints every epoch, which on a GPU is short for a small CNN.

A save the disk refuses (full, over quota, read-only) leaves no temporary file and stops the run
with one line saying where and how much room a checkpoint needs (fidle_runs.core.storage)."""

import errno
import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from fidle_runs.core.atomic import replacing
from fidle_runs.core.storage import free_bytes, storage_refusals

RESUME_FIX = ("free space there or give the run another place (hydra.run.dir, paths.output_root), "
              "then launch the same command again: it resumes from its last intact checkpoint")


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        needs = tensor_bytes(checkpoint)
        with storage_refusals(target, "a checkpoint", RESUME_FIX, needs):
            target.parent.mkdir(parents=True, exist_ok=True)
            # An open file of ours, closed as the error leaves (before the temporary is
            # removed): the error's traceback keeps torch's own file object alive, and with it
            # the unlinked file's blocks.
            with replacing(target) as tmp, open(tmp, "wb") as f:
                try:
                    torch.save(checkpoint, f)
                except RuntimeError as e:
                    _raise_refused_write(e, tmp, needs)


def _raise_refused_write(e: RuntimeError, tmp: Path, needs: int) -> None:
    """torch's zip writer reports a write the disk refused as a position mismatch (`unexpected
    pos 39142656 vs 39142544`), without its errno: raise it as the OSError it was (no room left
    for the checkpoint: full; room but refused: over a quota). Anything else is re-raised."""
    free = free_bytes(tmp)
    if free is not None and free < needs:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp)) from e
    if "unexpected pos" in str(e):
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(tmp)) from e
    raise e


def tensor_bytes(state: Any) -> int:
    """Bytes of the tensors in a (nested) checkpoint state: about its size on disk."""
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(tensor_bytes(v) for v in state.values())
    if isinstance(state, list | tuple):
        return sum(tensor_bytes(v) for v in state)
    return 0
