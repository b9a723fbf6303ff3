"""One GPU per run when a sweep runs several at once on one machine (hydra/launcher=local_parallel).

Each run claims a slot, an flock-ed file in `<sweep dir>/.gpu_slots/`, for as long as it runs:
with as many GPUs as runs at once, every run has a GPU to itself; with fewer, runs share GPUs
only when `gpu_sharing=true` says so (else the run stops with how to fix it). A slot is freed
when its run ends, however it ends (the lock dies with the file descriptor).
"""

import fcntl
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from fidle_runs.errors import UserError

PARALLEL_LAUNCHER = "JoblibLauncher"


@contextmanager
def claimed_gpu(sweep_dir: Path, n_gpus: int, runs_at_once: int, sharing: bool) -> Iterator[int]:
    """Hold a GPU slot and yield its GPU index; every GPU's first slot is taken before any GPU
    is shared."""
    if runs_at_once > n_gpus and not sharing:
        raise UserError(f"hydra.launcher.n_jobs={runs_at_once} runs at once but this machine has "
                        f"{n_gpus} GPU(s): add gpu_sharing=true to let runs share a GPU, or set "
                        f"hydra.launcher.n_jobs={n_gpus}")
    folder = Path(sweep_dir) / ".gpu_slots"
    folder.mkdir(parents=True, exist_ok=True)
    for slot in range(math.ceil(runs_at_once / n_gpus)):
        for gpu in range(n_gpus):
            fd = os.open(folder / f"gpu{gpu}-slot{slot}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield gpu
            finally:
                os.close(fd)
            return
    raise RuntimeError(f"every GPU slot in {folder} is taken: more than {runs_at_once} runs "
                       "share this sweep directory")


@contextmanager
def devices_for_run(cfg: DictConfig) -> Iterator[list[int] | None]:
    """The trainer's `devices` for this run: a claimed GPU under the parallel launcher when the
    run uses GPUs, else None (the trainer config decides)."""
    if not HydraConfig.initialized():
        yield None
        return
    hydra_cfg = HydraConfig.get()
    launcher = hydra_cfg.launcher
    if not str(launcher.get("_target_", "")).endswith(PARALLEL_LAUNCHER):
        yield None
        return
    import torch

    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    n_gpus = torch.cuda.device_count()
    if accelerator not in ("gpu", "cuda", "auto") or n_gpus == 0:
        yield None
        return
    runs_at_once = int(launcher.n_jobs)
    if runs_at_once < 1:  # joblib: -1 is every core
        runs_at_once = max(1, (os.cpu_count() or 1) + 1 + runs_at_once)
    with claimed_gpu(Path(hydra_cfg.sweep.dir), n_gpus, runs_at_once,
                     bool(cfg.get("gpu_sharing", False))) as gpu:
        yield [gpu]
