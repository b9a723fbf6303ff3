"""result.json: the machine-readable record of one run, read by reports and sweeps.

Schema (version 1; accuracies are fractions in [0, 1], durations seconds):
  schema            1
  status            "running" | "completed" | "failed" | "interrupted" (Ctrl-C, Slurm's requeue
                    signal: resumable; a killed run stays "running")
  error             one line, when failed or interrupted (else null)
  run_dir           absolute path of the run directory
  model             model name (cnn_v1, ...)
  metrics           {test_acc, test_loss, best_val_acc}  (null until known)
  epochs            epochs completed
  max_epochs        epochs requested
  duration_s        {fit, test}  (fit summed over resumed segments)
  params            trainable parameters
  data              {name, source, size, mode, roi, scale, val_on_test, augment, val_split, shape,
                     n_train, n_val, n_test, file, file_mib}
  seed, overrides   the run's seed and command-line overrides
  checkpoints       {best, last}
  started, updated  ISO 8601 UTC times
  resumed           how many times the run was resumed from last.ckpt
  host, git_rev, versions {python, fidle_runs, torch, pytorch_lightning, ...}
  slurm             {job_id, array_job_id, array_task_id, ...} (empty outside Slurm)
"""

import datetime as dt
import json
import os
import platform
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from fidle_runs import atomic

RESULT_FILE = "result.json"
SCHEMA = 1
SLURM_VARIABLES = {"job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID",
                   "array_task_id": "SLURM_ARRAY_TASK_ID", "job_name": "SLURM_JOB_NAME",
                   "partition": "SLURM_JOB_PARTITION", "nodelist": "SLURM_JOB_NODELIST",
                   "restart_count": "SLURM_RESTART_COUNT"}
VERSIONED_PACKAGES = ("fidle_runs", "torch", "torchvision", "pytorch-lightning", "torchmetrics",
                      "hydra-core", "h5py", "numpy")


@dataclass
class RunResult:
    status: str = "running"
    error: str | None = None
    run_dir: str = ""
    model: str = ""
    metrics: dict[str, float | None] = field(
        default_factory=lambda: {"test_acc": None, "test_loss": None, "best_val_acc": None})
    epochs: int = 0
    max_epochs: int = 0
    duration_s: dict[str, float] = field(default_factory=lambda: {"fit": 0.0, "test": 0.0})
    params: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    overrides: list[str] = field(default_factory=list)
    checkpoints: dict[str, str | None] = field(
        default_factory=lambda: {"best": None, "last": None})
    started: str = ""
    updated: str = ""
    resumed: int = 0
    host: str = field(default_factory=socket.gethostname)
    git_rev: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    slurm: dict[str, str] = field(default_factory=dict)
    schema: int = SCHEMA

    def write(self, run_dir: Path) -> None:
        self.updated = _now()
        atomic.write_json(Path(run_dir) / RESULT_FILE, asdict(self))


def read_result(run_dir: Path) -> RunResult | None:
    """The run's result, or None when it has none (or an unreadable one)."""
    try:
        data = json.loads((Path(run_dir) / RESULT_FILE).read_text())
        known = RunResult.__dataclass_fields__
        return RunResult(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError):
        return None


def new_result(run_dir: Path, model: str, seed: int | None, overrides: list[str],
               max_epochs: int) -> RunResult:
    return RunResult(run_dir=str(Path(run_dir).resolve()), model=model, seed=seed,
                     overrides=overrides, max_epochs=max_epochs, started=_now(),
                     git_rev=git_revision(), versions=package_versions(), slurm=slurm_ids())


def slurm_ids() -> dict[str, str]:
    return {key: os.environ[var] for key, var in SLURM_VARIABLES.items() if var in os.environ}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> str | None:
    """Commit of the fidle_runs checkout (with -dirty when modified), None outside git."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=here,
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
