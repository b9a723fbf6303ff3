"""The one-screen summary that ends a sweep: every run's status as reports say it (completed,
failed or diverged with its reason, interrupted, running, unreadable), plus skipped (completed
before this launch), and a non-zero exit if any failed or is unreadable (a diverged run is a
result of its hyper-parameters, as a pruned one is, not a failure of the sweep). The runs of a
search (its journal in the sweep directory) say which trial each is and the best value so far
after it; the best trial closes the summary.

A Hydra callback: it runs where the sweep was launched, after every job has returned (locally or
on Slurm), and reads the runs with the report's run reader (result.json only, no torch). Also a
command, for sweeps run as a Slurm job array (slurm/array.sbatch):
`python -m fidle_runs.sweep_summary <sweep dir>`.
"""

import atexit
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fidle_runs.launch.requeue import requested
from fidle_runs.report.run_index import RunRow, find_run_dirs, read_run
from fidle_runs.report.studies import Study, read_studies
from fidle_runs.report.tables import best_trial_line
from fidle_runs.store.run_dir import launched_since

FAILURES = ("failed", "unreadable")


class SweepSummary(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        self.sweep_dir = Path(config.hydra.sweep.dir)
        self.ended = False
        # A launcher that raises (the Slurm one, when Slurm kills a job: cancelled, out of
        # memory, node failure) skips on_multirun_end; the summary is still owed.
        atexit.register(self.summary_if_aborted)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.ended = True
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = summarize(sweep_dir, getattr(self, "start", None))
        print(format_summary(sweep_dir, rows), flush=True)
        if any(status in FAILURES for _, status, _ in rows):
            sys.exit(1)

    def summary_if_aborted(self) -> None:
        if self.ended or requested() or not self.sweep_dir.is_dir():
            return  # requested(): the job was requeued and will print the summary when done
        rows = summarize(self.sweep_dir, self.start, finished=False)
        print("the launcher stopped before every run returned (its error is above); runs still "
              "running may go on (Slurm jobs do):\n" + format_summary(self.sweep_dir, rows),
              flush=True)


def summarize(sweep_dir: Path, launched: dt.datetime | None,
              finished: bool = True) -> list[tuple[str, str, str]]:
    """(job folder, status, detail) for every run of the sweep, in job order; with the time it
    was `launched`, only the jobs of that launch (a folder of the same sweep directory launched
    before with other values is not part of it). Once the sweep has `finished`, a run still
    marked running was killed: it counts as interrupted."""
    root = Path(sweep_dir).resolve()
    studies = read_studies([root])
    rows = []
    for run_dir in find_run_dirs([root]):
        if launched is not None and not launched_since(run_dir, launched):
            continue
        run = read_run(run_dir)
        rows.append((str(run_dir.relative_to(root)), _status(run, launched, finished),
                     _trial(studies, run_dir) + _detail(run)))
    return rows


def _trial(studies: list[Study], run_dir: Path) -> str:
    """`trial 4 of 20 (val_acc 97.80 %), best so far val_acc 97.91 %: ` for a search's run (its
    objective's value when it completed), else nothing."""
    for study in studies:
        trial = study.trial_of(run_dir)
        if trial is None:
            continue
        best = study.best_so_far()[study.trials.index(trial)]
        total = study.n_trials or len(study.trials)
        metric = study.objective
        own = (f" ({metric.name} {metric.with_unit(trial.value)})"
               if trial.state == "complete" and trial.value is not None else "")
        so_far = (f"best so far {metric.name} {metric.with_unit(best)}" if best is not None
                  else "none completed so far")
        return f"trial {trial.number + 1} of {total}{own}, {so_far}: "
    return ""


def search_lines(sweep_dir: Path) -> list[str]:
    """The best trial of each search in the sweep directory, with its notes (its test value,
    the warning of a search that chose on its test set)."""
    lines = []
    for study in read_studies([Path(sweep_dir).resolve()]):
        best = study.best
        lines.append(f"search {study.name}, {study.counts()}; best " +
                     (best_trial_line(study, best) if best else "none: no trial completed"))
        lines += [f"  {note}" for note in study.notes()]
    return lines


def _status(run: RunRow, launched: dt.datetime | None, finished: bool) -> str:
    already_done = (run.status == "completed" and launched is not None and run.updated
                    and dt.datetime.fromisoformat(run.updated) < launched)
    if already_done:
        return "skipped"
    if run.status == "running" and finished:
        return "interrupted"
    return run.status


def _detail(run: RunRow) -> str:
    if run.status == "unreadable":
        return run.detail
    what = f"{run.model} on {run.dataset}"
    if run.status != "completed":
        return f"{what}: {run.detail}"
    score = (f"{run.primary.name} {run.primary.with_unit(run.primary_value)}"
             if run.primary and run.has_score else "no primary metric")
    processes = f", {run.world_size} processes" if run.world_size > 1 else ""
    shared = f", GPU shared by {run.runs_per_gpu} runs" if (run.runs_per_gpu or 1) > 1 else ""
    return f"{what}: {score}, {run.epochs} epochs, {run.duration_s:.0f}s{processes}{shared}"


def format_summary(sweep_dir: Path, rows: list[tuple[str, str, str]]) -> str:
    """One line per job, named by what sets it apart from the other jobs (the overrides that
    all its job folders share are said once, on the first line)."""
    statuses = [status for _, status, _ in rows]
    shown = ("completed", "skipped", "failed", "interrupted",
             *(s for s in ("pruned", "diverged", "running", "unreadable") if s in statuses))
    counts = {s: statuses.count(s) for s in shown}
    lines = [f"sweep {sweep_dir}: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    names, shared = distinguishing_names([job for job, _, _ in rows])
    if shared:
        lines.append(f"  every job: {shared}")
    width = max((len(n) for n in names), default=0)
    lines += [f"  {name:<{width}}  {status:<11} {detail}"
              for name, (_, status, detail) in zip(names, rows, strict=True)]
    return "\n".join([*lines, *search_lines(sweep_dir)])


def distinguishing_names(folders: list[str]) -> tuple[list[str], str]:
    """The job folder names (comma-separated overrides) without the overrides they all share,
    and those shared overrides."""
    parts = [folder.split(",") for folder in folders]
    if len(parts) < 2:
        return folders, ""
    shared = [p for p in parts[0] if all(p in other for other in parts[1:])]
    names = [",".join(p for p in part if p not in shared) or "(defaults)" for part in parts]
    return names, ",".join(shared)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        raise SystemExit("usage: python -m fidle_runs.sweep_summary <sweep directory>")
    rows = summarize(Path(args[0]), None, finished=False)
    print(format_summary(Path(args[0]), rows))
    if any(status in (*FAILURES, "interrupted", "running") for _, status, _ in rows):
        sys.exit(1)
