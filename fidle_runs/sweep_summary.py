"""The one-screen summary that ends a sweep: every run's status (completed, skipped because it
was already completed, failed with its reason, interrupted), and a non-zero exit if any failed.

A Hydra callback: it runs where the sweep was launched, after every job has returned (locally or
on Slurm), and reads only the runs' result.json files. Also a command, for sweeps run as a Slurm
job array (slurm/array.sbatch): `python -m fidle_runs.sweep_summary <sweep dir>`.
"""

import atexit
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fidle_runs.requeue import requested
from fidle_runs.result import RESULT_FILE, RunResult, read_result
from fidle_runs.run_dir import launched_since


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
        if any(status == "failed" for _, status, _ in rows):
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
    """(job folder, status, detail) for every job folder of the sweep, in job order; with the
    time it was `launched`, only the jobs of that launch (a folder of the same sweep directory
    launched before with other values is not part of it). Once the sweep has `finished`, a run
    still marked running was killed: it counts as interrupted."""
    jobs = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0,
                                 p.name))
    if launched is not None:
        jobs = [job for job in jobs if launched_since(job, launched)]
    rows = []
    for job in jobs:
        result = read_result(job)
        if result is None:
            if (job / RESULT_FILE).exists() or (job / "fidle_runs.log").exists():
                status = "failed" if finished else "running"
                rows.append((job.name, status, "no readable result.json: see fidle_runs.log"))
            continue
        rows.append((job.name, _status(result, launched, finished), _detail(result)))
    return rows


def _status(result: RunResult, launched: dt.datetime | None, finished: bool) -> str:
    already_done = (result.status == "completed" and launched is not None and result.updated
                    and dt.datetime.fromisoformat(result.updated) < launched)
    if already_done:
        return "skipped"
    if result.status == "running" and finished:
        return "interrupted"
    return result.status


def _detail(result: RunResult) -> str:
    what = f"{result.model or '?'} on {result.data.get('name', '?')}"
    if result.status == "completed":
        return (f"{what}: {result.primary['name']} {result.primary['value']}, {result.epochs} "
                f"epochs, fit {result.duration_s.get('fit', 0):.0f}s")
    if result.status == "failed":
        return f"{what}: {result.error}"
    return f"{what}: {result.epochs}/{result.max_epochs} epochs done"


def format_summary(sweep_dir: Path, rows: list[tuple[str, str, str]]) -> str:
    """One line per job, named by what sets it apart from the other jobs (the overrides that
    all its job folders share are said once, on the first line)."""
    shown = ("completed", "skipped", "failed", "interrupted")
    if any(status == "running" for _, status, _ in rows):
        shown += ("running",)
    counts = {s: sum(1 for _, status, _ in rows if status == s) for s in shown}
    lines = [f"sweep {sweep_dir}: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    names, shared = distinguishing_names([job for job, _, _ in rows])
    if shared:
        lines.append(f"  every job: {shared}")
    width = max((len(n) for n in names), default=0)
    lines += [f"  {name:<{width}}  {status:<11} {detail}"
              for name, (_, status, detail) in zip(names, rows, strict=True)]
    return "\n".join(lines)


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
    if any(status in ("failed", "interrupted", "running") for _, status, _ in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
