"""Find the runs under any mix of run, sweep and output directories, and read what each left,
saying what is missing or broken instead of failing the whole report. The one run reader of
reports and sweep summaries: result.json of schema 1 or 2, through `read_result`."""

import datetime as dt
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fidle_runs.report.metric import Metric, stage_metric
from fidle_runs.store.result import RESULT_FILE, RunResult, read_result
from fidle_runs.store.run_dir import (
    CONFIG_FILE,
    LOG_FILE,
    checkpoint_path,
    group_id,
    read_saved_config,
)

RUN_MARKERS = (RESULT_FILE, CONFIG_FILE, LOG_FILE)
# Folders inside a run (or a sweep) that never hold runs of their own.
NOT_RUNS = {"checkpoints", "tensorboard", "csv", "data"}


@dataclass
class RunRow:
    """One run as a report shows it. `status` is the run's own (completed, failed, running,
    interrupted, pruned, diverged), or `unreadable` when its result.json is missing or malformed."""

    run_dir: Path
    status: str
    task: str = "?"  # classification, regression, forecasting
    model: str = "?"
    dataset: str = "?"  # data.name: set-24x24-L, mnist, fashion_mnist...
    family: str = "?"  # data.family: gtsrb, mnist...
    source: str = "?"
    scale: float = 1.0  # share of the sets the run trained on (data.scale)
    val_on_test: bool | None = None  # validated on the test set, as FIDLE does (None: unknown)
    primary: Metric | None = None  # what the run is ranked by
    primary_value: float | None = None  # its test value
    # The task's baselines' values of it, by metric name: {test_mae_persistence: 0.09}.
    baselines: dict[str, float | None] = field(default_factory=dict)
    monitor: Metric | None = None  # what the best checkpoint follows
    monitor_best: float | None = None  # its best value
    epochs: int = 0
    max_epochs: int = 0
    duration_s: float = 0.0
    params: int = 0
    world_size: int = 1  # data-parallel processes that trained it
    n_train: int | None = None
    data_mib: float | None = None
    updated: str = ""  # ISO 8601 time of the run's last record
    runs_per_gpu: int | None = None  # runs of its sweep that shared its GPU at most (speed)
    detail: str = ""
    problems: list[str] = field(default_factory=list)
    seed: int | None = None
    n_test: int | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)  # result.json's test metrics
    # Shared by the runs that differ only by their seed (result.json's `group`; for a run
    # recorded before it, computed from its config.yaml; its own directory when unreadable).
    group: str = ""

    @property
    def has_score(self) -> bool:
        """Whether it has a finite primary value: only such a run is ranked or shown scored (a
        diverged or untested run, or a NaN test metric, is not)."""
        return self.primary_value is not None and math.isfinite(self.primary_value)


def walk_outputs(roots: list[Path]) -> Iterator[tuple[Path, set[str], bool]]:
    """(folder, its entries' names, whether it is a run directory) for every folder at or below
    `roots` that may hold runs: run directories are not descended into, nor hidden folders
    (.submitit), runs set aside by rerun=true (replaced-*) and run sub-folders."""
    for root in roots:
        stack = [Path(root)]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            names = {e.name for e in entries}
            is_run = any(marker in names for marker in RUN_MARKERS)
            yield folder, names, is_run
            if not is_run:
                stack.extend(Path(e.path) for e in entries
                             if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
                             and not e.name.startswith("replaced-") and e.name not in NOT_RUNS)


def find_run_dirs(roots: list[Path]) -> list[Path]:
    """Every run directory at or below `roots` (walk_outputs), sorted, each once."""
    found = {folder.resolve() for folder, _, is_run in walk_outputs(roots) if is_run}
    return sorted(found, key=_natural_key)


def _natural_key(path: Path) -> tuple:
    """Sweep job folders in job order (2 before 10)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in path.parts)


def read_run(run_dir: Path) -> RunRow:
    result = read_result(run_dir)
    if result is None:
        why = ("malformed result.json" if (run_dir / RESULT_FILE).exists()
               else "no result.json: the run stopped before it started training")
        return _unreadable(run_dir, why)
    try:
        return _row(run_dir, result)
    except (AttributeError, TypeError, ValueError) as e:
        return _unreadable(run_dir, f"result.json with unexpected content ({e})")


def _unreadable(run_dir: Path, why: str) -> RunRow:
    return RunRow(run_dir, "unreadable", detail=f"{why} (see {LOG_FILE})", problems=[why])


def _row(run_dir: Path, result: RunResult) -> RunRow:
    data = result.data or {}
    primary, monitor = result.primary or {}, result.monitor or {}
    metric = (Metric(primary["name"], primary.get("mode"), bool(primary.get("fraction")))
              if primary.get("name") is not None else None)
    val_on_test = data.get("val_on_test")
    row = RunRow(run_dir, str(result.status), task=str(result.task or "?"),
                 model=str(result.model or "?"), dataset=str(data.get("name") or "?"),
                 family=str(data.get("family") or "?"), source=str(data.get("source") or "?"),
                 scale=float(data.get("scale") or 1.0),
                 val_on_test=None if val_on_test is None else bool(val_on_test),
                 primary=metric, primary_value=_number(primary.get("value"), "primary.value"),
                 baselines={str(name): _number(value, f"primary.baselines.{name}")
                            for name, value in (primary.get("baselines") or {}).items()},
                 monitor=(stage_metric(monitor["name"], monitor.get("mode"), metric)
                          if monitor.get("name") is not None else None),
                 monitor_best=_number(monitor.get("best"), "monitor.best"),
                 epochs=int(result.epochs), max_epochs=int(result.max_epochs),
                 duration_s=sum(_number(v, "duration_s") or 0.0
                                for v in (result.duration_s or {}).values()),
                 params=int(result.params or 0),
                 world_size=int((result.parallel or {}).get("world_size") or 1),
                 n_train=data.get("n_train"),
                 data_mib=_number(data.get("file_mib"), "data.file_mib"),
                 updated=_time(result.updated),
                 runs_per_gpu=(result.speed or {}).get("runs_per_gpu"),
                 seed=result.seed, n_test=data.get("n_test"),
                 metrics={str(name): _number(value, f"metrics.{name}")
                          for name, value in (result.metrics or {}).items()},
                 group=result.group or _group_from_config(run_dir))
    if result.status in ("failed", "interrupted", "diverged"):
        row.detail = result.error or ""
    elif result.status == "pruned":
        where = result.pruned or {}
        row.detail = (f"pruned by its search after epoch {where.get('epoch')} "
                      f"({where.get('metric')} {where.get('value')})")
    elif result.status == "running":
        row.detail = f"{result.epochs}/{result.max_epochs} epochs done"
    if result.status == "completed":
        if not row.has_score:
            name = metric.name if metric else "a primary metric"
            row.problems.append(f"completed without {name}")
        best = checkpoint_path(run_dir, (result.checkpoints or {}).get("best"))
        if best is not None and not best.is_file():
            row.problems.append("best checkpoint deleted")
    # A run that stopped before its first epoch (no data found...) has its reason above.
    trained = result.status == "completed" or bool(result.epochs)
    if trained and not _has_events(run_dir / "tensorboard"):
        row.problems.append("no TensorBoard events")
    return row


def _group_from_config(run_dir: Path) -> str:
    """The seed group of a run recorded before result.json held it, from its config.yaml."""
    try:
        return group_id(read_saved_config(run_dir))
    except (OSError, ValueError, TypeError, AttributeError):
        return f"run:{run_dir}"


def _number(value: object, key: str) -> float | None:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise ValueError(f"{key} is {value!r}, not a number")


def _time(value: object) -> str:
    """An ISO 8601 time as recorded (checked: sweeps compare it with their launch time)."""
    if not value:
        return ""
    dt.datetime.fromisoformat(str(value))
    return str(value)


def _has_events(folder: Path) -> bool:
    try:
        return any(e.name.startswith("events.out.tfevents") for e in os.scandir(folder))
    except OSError:
        return False


def read_runs(roots: list[Path]) -> list[RunRow]:
    return [read_run(run_dir) for run_dir in find_run_dirs(roots)]
