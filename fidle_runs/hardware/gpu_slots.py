"""One GPU per run when a sweep runs several at once on one machine (hydra/launcher=local_parallel).

Each run claims a slot, an flock-ed file in `<sweep dir>/.gpu_slots/`, for as long as it runs:
with as many GPUs as runs at once, every run has a GPU to itself; with fewer, runs share GPUs
only when `gpu_sharing=true` says so (else the run stops with how to fix it). A slot is freed
when its run ends, however it ends (the lock dies with the file descriptor).

`hydra/launcher=gpu_shared` sizes the runs at once to the machine (`runs_that_fit`): as many
small runs per GPU as its memory holds, at most one per core and as many as host memory
holds, so a grid of small CNNs keeps every GPU busy. Each run sharing a GPU may take at most its
share of the GPU's memory (fidle_runs.hardware.speed), so one run cannot starve its neighbours.
"""

import fcntl
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from fidle_runs.core.errors import UserError

PARALLEL_LAUNCHER = "JoblibLauncher"
GIB = 2**30
# What one small run (a FIDLE CNN on GTSRB, batch 64 to 512) may take at most: on its GPU, CUDA
# context, data (48x48 RGB: 0.35 GiB), network, activations, cuDNN workspaces and compiled
# kernels; on the host, a Python process with torch and Lightning.
RUN_GPU_GIB = 4.0
RUN_HOST_GIB = 3.0


def runs_that_fit(gpu_bytes: list[int], cores: int, host_bytes: int,
                  run_gpu_gib: float = RUN_GPU_GIB, run_host_gib: float = RUN_HOST_GIB) -> int:
    """How many runs to launch at once: on each GPU as many as its memory holds (at least one),
    in all at most one per core and as many as host memory holds; 1 without a GPU."""
    if not gpu_bytes:
        return 1
    on_gpus = sum(max(1, int(size // (run_gpu_gib * GIB))) for size in gpu_bytes)
    return max(1, min(on_gpus, cores, int(host_bytes // (run_host_gib * GIB))))


def runs_at_once_here() -> int:
    """`runs_that_fit` on this machine (the `fidle_gpu_runs` resolver of
    hydra/launcher=gpu_shared). Each job resolves it again, so it depends only on the machine:
    the visible GPUs' total memory, not what is free while runs train."""
    cores = len(os.sched_getaffinity(0))
    host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return runs_that_fit(_gpu_bytes(), cores, host)


# Asked of CUDA itself: it reads CUDA_VISIBLE_DEVICES (indices, GPU-/MIG- UUIDs) and, under MIG,
# reports the slice's memory, where nvidia-smi lists whole GPUs in its own order.
CUDA_MEMORY_PROBE = ("import torch\n"
                     "for i in range(torch.cuda.device_count()):\n"
                     "    print(torch.cuda.get_device_properties(i).total_memory)")


def _gpu_bytes(python: str | None = None) -> list[int]:
    """Memory of each GPU this process may use, as CUDA reports it, asked in a child process so
    that the launching process opens no CUDA context (and imports no torch); none on a machine
    without NVIDIA's driver tools."""
    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run([python or sys.executable, "-c", CUDA_MEMORY_PROBE],
                         capture_output=True, text=True, check=False, timeout=300).stdout
    return [int(line) for line in out.split() if line.strip().isdigit()]


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
    layout = _parallel_gpu_runs(cfg)
    if layout is None:
        yield None
        return
    n_gpus, runs_at_once = layout
    with claimed_gpu(Path(HydraConfig.get().sweep.dir), n_gpus, runs_at_once,
                     bool(cfg.get("gpu_sharing", False))) as gpu:
        yield [gpu]


def runs_sharing_a_gpu(cfg: DictConfig) -> int:
    """At most how many runs of this sweep share a GPU at once (1 outside the parallel
    launcher, or with a GPU per run)."""
    layout = _parallel_gpu_runs(cfg)
    return 1 if layout is None else math.ceil(layout[1] / layout[0])


def _parallel_gpu_runs(cfg: DictConfig) -> tuple[int, int] | None:
    """(GPUs, runs at once) when this run is one of a parallel launcher's runs on GPUs."""
    if not HydraConfig.initialized():
        return None
    launcher = HydraConfig.get().launcher
    if not str(launcher.get("_target_", "")).endswith(PARALLEL_LAUNCHER):
        return None
    import torch

    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    n_gpus = torch.cuda.device_count()
    if accelerator not in ("gpu", "cuda", "auto") or n_gpus == 0:
        return None
    runs_at_once = int(launcher.n_jobs)
    if runs_at_once < 1:  # joblib: -1 is every core
        runs_at_once = max(1, (os.cpu_count() or 1) + 1 + runs_at_once)
    return n_gpus, runs_at_once
