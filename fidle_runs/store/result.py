"""result.json: the machine-readable record of one run, read by reports and sweeps.

Schema (version 2; durations in seconds):
  schema            2
  status            "running" | "completed" | "failed" | "interrupted" (Ctrl-C, Slurm's requeue
                    signal: resumable; a killed run stays "running") | "pruned" (stopped by its
                    search's pruner: finished, not tested) | "diverged" (its training or
                    validation loss stopped being finite: stopped at once, finished, not
                    tested, never ranked; fidle_runs.callbacks.divergence)
  error             one line, when failed, interrupted or diverged (else null)
  run_dir           absolute path of the run directory where it was written (a moved,
                    copied or set-aside run keeps it: readers use the directory they
                    find result.json in)
  task              classification | regression | forecasting (conf/task)
  model             model name (cnn_v1, mnist_dnn, ...)
  primary           {name, mode, fraction, value, baselines}: what the run is ranked by
                    (test_acc, max, a fraction shown as %), its value once tested, and the same
                    metric of the task's baselines on the same test samples, by name
                    ({test_mae_persistence: 0.09}, {test_acc_majority: 0.06}); older files
                    hold one as `baseline` and `baseline_value`
  monitor           {name, mode, best}: what the best checkpoint follows, and its best value
  metrics           the test metrics under the task's names ({test_acc, test_loss}, ...): the
                    task's scores, computed in float64 from the saved test predictions
                    (predictions/test.npz, fidle_runs.store.predictions), beside what the test
                    logged (the baselines, forecasts iterated steps ahead)
  epochs            epochs completed
  max_epochs        epochs requested
  duration_s        {fit, test}  (fit summed over resumed segments)
  params            trainable parameters
  parallel          {world_size, num_nodes, devices_per_node, device, batch_per_device,
                     global_batch}: data-parallel processes (1 for one device) and the batch
                     each step averages over (global_batch = batch_per_device x world_size)
  data              {name, family, source, scale, val_on_test, val_split, shape, n_outputs,
                     n_train, n_val, n_test, file, file_mib} + the family's own keys (GTSRB:
                     size, mode, roi, augment)
  seed, overrides   the run's seed and command-line overrides
  checkpoints       {best, last}: relative to the run directory (checkpoints/last.ckpt);
                    older files hold absolute paths, read by name in the run's
                    checkpoints/ (fidle_runs.store.run_dir.checkpoint_path)
  started, updated  ISO 8601 UTC times
  resumed           how many times the run was resumed from last.ckpt
  host, git_rev, versions {python, fidle_runs, torch, pytorch_lightning, ...}
  slurm             {job_id, array_job_id, array_task_id, ...} (empty outside Slurm)
  speed             how the run went fast (fidle_runs.hardware.speed): {device, data_on,
                    channels_last, precision, compile, compile_s, compiled, runs_per_gpu};
                    absent in older files
  pruned            {epoch, metric, value}: the epoch after which a search's pruner stopped the
                    run and its monitor's value then; null for a run that was not pruned
  diverged          {epoch, step, metric, value}: where the loss stopped being finite (the
                    epoch counted from 1, the training steps done, the loss's name, its value:
                    null, named in `nonfinite`); null for a run that did not diverge. Its
                    checkpoints are all from before that value: the best one is never from
                    weights that diverged
  nonfinite         {path: "nan" | "inf" | "-inf"}: the values that were not finite numbers,
                    written as null (`metrics.test_loss`, `diverged.value`); absent when there
                    were none. Every JSON file the project writes follows this convention
                    (fidle_runs.core.strict_json); older files may hold bare NaN / Infinity, which
                    read_result still reads
  task_options      what the task's module does its own way (forecasting: `forecast`, the
                    absolute next values or their change from the last value seen, and
                    `steps_ahead`); empty for the other tasks and in older files
  evaluation        what `python -m fidle_runs.evaluate` measured after training, by checkpoint
                    and split: {best: {checkpoint, epoch, evaluated, device, data_changes,
                    splits: {train: {train_acc, ...}, val: {...}, test: {...}}}, last: {...}};
                    absent until then, never written by training (fidle_runs.evaluate.record)
  weights           where a pretrained network's starting weights came from
                    (model=pretrained: {arch, weights_name | factory, file, sha256, head,
                    input: {channels, size, mean, std}}); absent for networks trained from
                    scratch and in older files
  init_from         the run of the user's whose best weights this one started from
                    (model.init_from): {run, checkpoint (relative to run), sha256, copied (how
                    many tensors matched by name and shape), kept_initialised (the others'
                    names)}; null for a run started from its initialisation
  finetune          a pretrained network's schedule (model.finetune): {freeze_epochs,
                    backbone_lr_mult, train_bn, phases: [{epochs: [first, last], trainable}],
                    groups: {head, backbone} learning rates}; absent for other networks
  group             the runs that differ only by their seed share it (a hash of the config
                    without the seed and what says where or how it was launched:
                    fidle_runs.store.run_dir.group_id); absent in older files

Schema 1 (before tasks) is read as a classification: primary test_acc, monitor val_acc with
metrics.best_val_acc as its best.
"""

import datetime as dt
import json
import os
import platform
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from fidle_runs.core import atomic

RESULT_FILE = "result.json"
SCHEMA = 2
# A run in one of these states is done: launched again it trains nothing (rerun=true does).
FINISHED = ("completed", "pruned", "diverged")
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
    task: str = ""
    model: str = ""
    primary: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(
        ("name", "mode", "fraction", "value")))
    monitor: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(
        ("name", "mode", "best")))
    metrics: dict[str, float | None] = field(default_factory=dict)
    epochs: int = 0
    max_epochs: int = 0
    duration_s: dict[str, float] = field(default_factory=lambda: {"fit": 0.0, "test": 0.0})
    params: int = 0
    parallel: dict[str, Any] = field(default_factory=lambda: {"world_size": 1})
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
    speed: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    pruned: dict[str, Any] | None = None
    diverged: dict[str, Any] | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    group: str | None = None  # store.run_dir.group_id: shared by runs that differ by seed only
    weights: dict[str, Any] | None = None
    finetune: dict[str, Any] | None = None
    init_from: dict[str, Any] | None = None
    schema: int = SCHEMA

    def write(self, run_dir: Path) -> None:
        self.updated = _now()
        atomic.write_json(Path(run_dir) / RESULT_FILE, asdict(self))


def read_result(run_dir: Path) -> RunResult | None:
    """The run's result (schema 1 read as schema 2), or None when it has none (or an
    unreadable one)."""
    try:
        data = json.loads((Path(run_dir) / RESULT_FILE).read_text())
        if data.get("schema", 1) == 1:
            data = _from_schema_1(data)
        _one_baseline_to_baselines(data.get("primary"))
        known = RunResult.__dataclass_fields__
        return RunResult(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _from_schema_1(data: dict[str, Any]) -> dict[str, Any]:
    """Runs recorded before tasks: GTSRB classifications ranked by test accuracy."""
    metrics = dict(data.get("metrics") or {})
    best = metrics.pop("best_val_acc", None)
    data.update(schema=SCHEMA, task="classification", metrics=metrics,
                primary={"name": "test_acc", "mode": "max", "fraction": True,
                         "value": metrics.get("test_acc")},
                monitor={"name": "val_acc", "mode": "max", "best": best})
    data["data"] = {"family": "gtsrb", **(data.get("data") or {})}
    return data


def _one_baseline_to_baselines(primary: Any) -> None:
    """Runs recorded with one baseline (`baseline`, `baseline_value`), read as `baselines`."""
    if isinstance(primary, dict) and "baselines" not in primary:
        name, value = primary.pop("baseline", None), primary.pop("baseline_value", None)
        primary["baselines"] = {name: value} if name else {}


def new_result(run_dir: Path, model: str, seed: int | None, overrides: list[str],
               max_epochs: int, task: Mapping[str, Any]) -> RunResult:
    """A running run's first record; `task` is its conf/task group (name, monitor, primary)."""
    primary, monitor = task["primary"], task["monitor"]
    return RunResult(run_dir=str(Path(run_dir).resolve()), task=str(task["name"]), model=model,
                     primary={"name": primary["name"], "mode": primary["mode"],
                              "fraction": bool(primary["fraction"]), "value": None,
                              "baselines": dict.fromkeys(primary.get("baselines") or [])},
                     monitor={"name": monitor["name"], "mode": monitor["mode"], "best": None},
                     seed=seed, overrides=overrides, max_epochs=max_epochs, started=_now(),
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
