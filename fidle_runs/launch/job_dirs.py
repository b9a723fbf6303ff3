"""Where a launch puts runs: a run directory's name (stable across a Slurm requeue) and a
sweep job's folder, named after what the job is."""

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from fidle_runs.launch.requeue import slurm_job
from fidle_runs.store.run_dir import NOT_PART_OF_THE_RUN

MAX_JOB_DIR = 200  # of the 255 bytes a file name may have


def run_name() -> str:
    """A run directory name unique among runs started together, and stable across a Slurm requeue.

    Under Slurm: `slurm-<job>` or `slurm-<array job>_<task>` (the ids survive a requeue).
    Elsewhere: a timestamp plus a random suffix, so runs started in the same second differ.
    """
    job = slurm_job()
    if job is not None:
        return f"slurm-{job}"
    return f"{dt.datetime.now():%Y-%m-%d_%H-%M-%S}_{secrets.token_hex(3)}"


def sweep_job_dir(overrides: Sequence[str]) -> str:
    """A sweep job's folder, named after what the job is: its overrides, sorted, without those
    that only say how or where to launch (`rerun`, `paths.*`). A sweep launched again with other
    values trains them in new folders and finds its earlier jobs by name, whatever their order.
    Names that would be too long or need escaping get a hash of the overrides instead of a
    tail."""
    kept = sorted(o for o in overrides if not _launch_only(o.split("=", 1)[0].lstrip("+~")))
    name = ",".join(kept) or "defaults"
    safe = re.sub(r"[^A-Za-z0-9._=,+-]", "_", name)
    if safe == name and len(name) <= MAX_JOB_DIR:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{safe[:MAX_JOB_DIR - 11]}-{digest}"


def _launch_only(key: str) -> bool:
    """`rerun`, `speed.compile`, `paths.data_dir`, `hydra.launcher.n_jobs`, `hydra/launcher`..."""
    return re.split(r"[./]", key)[0] in (*NOT_PART_OF_THE_RUN, "paths", "hydra")


def job_run_dir(ret: Any) -> Path | None:
    """Where a launched job's run is: the output folder of the Hydra job it returned; None when
    it returned none (the caller falls back on the folder its overrides name)."""
    hydra_cfg = getattr(ret, "hydra_cfg", None)
    output_dir = (OmegaConf.select(hydra_cfg, "hydra.runtime.output_dir", default=None)
                  if hydra_cfg is not None else None)
    return Path(output_dir) if output_dir else None
