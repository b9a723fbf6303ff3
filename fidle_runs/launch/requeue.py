"""Slurm time limits and preemption: stop on the warning signal, requeue, resume.

Slurm sends SIGUSR1 some time before the time limit (`#SBATCH --signal=USR1@180`, which every
launcher preset and sbatch script of ours asks for). The handler only records it. Training stops
at the next batch end (`callbacks.stop_on_requeue` raises `RequeueRequested`), dropping the partial
epoch: last.ckpt holds the last completed one, so at most one epoch is lost and no epoch is
logged twice (a resumed TensorBoard writer purges the dropped steps). The run is recorded as
interrupted, then `scontrol requeue` puts the job back in the queue with the same job id; the
requeued job runs the same command, finds the same run directory (named after that id, or
`<sweep>/<job.num>` under the submitit launcher) and resumes from last.ckpt.

In a data-parallel run every rank stops at the same batch and rank 0 alone asks for the requeue.

This module is the only owner of requeue: Lightning's SLURMEnvironment gets auto_requeue=False,
and submitit's own handler listens on SIGUSR2, which our presets and scripts never send (its
`checkpoint` would only resubmit, and with max_num_timeout=0 it marks a timed-out job failed).
"""

import logging
import os
import signal
import subprocess
import threading
from typing import Any

from fidle_runs.hardware.data_parallel import is_lead_process

log = logging.getLogger(__name__)

# Must match the `--signal=<name>@<seconds>` given to sbatch.
SIGNAL_ENV = "FIDLE_REQUEUE_SIGNAL"


class RequeueRequested(BaseException):
    """Raised inside training when the requeue signal has arrived. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way records it as a failure."""


_received: list[int] = []


def requeue_signal() -> signal.Signals:
    name = os.environ.get(SIGNAL_ENV, "USR1").upper().removeprefix("SIG")
    try:
        return signal.Signals[f"SIG{name}"]
    except KeyError:
        raise SystemExit(f"fidle_runs: error: {SIGNAL_ENV}={name} is not a signal name; use e.g. "
                         "USR1 (and the same name in #SBATCH --signal)") from None


def install_handler() -> None:
    """Record the requeue signal instead of dying from it (SIGUSR1's default action)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(requeue_signal(), _record)


def _record(signum: int, frame: Any) -> None:
    _received.append(signum)  # no logging, no I/O: this runs between two bytecodes


def requested() -> bool:
    return bool(_received)


def received_signal() -> str | None:
    """The name of the requeue signal once it has arrived (SIGUSR1), else None."""
    return signal.Signals(_received[0]).name if _received else None


def requeue_loops(epochs_before: int, epochs_now: int) -> bool:
    """True when a job that was already requeued got the warning signal again without completing
    an epoch: requeueing it once more would loop forever without progress."""
    restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    return restarts >= 1 and epochs_now <= epochs_before


def slurm_job() -> str | None:
    """The id `scontrol requeue` needs: `<array job>_<task>` for an array task, else the job id."""
    env = os.environ
    if "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env:
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID")


def requeue_and_exit(reason: str) -> None:
    """Put this Slurm job back in the queue and end the process (Slurm kills it anyway); outside
    Slurm just stop, resumable by running the same command again."""
    job = slurm_job()
    if job is None:
        raise SystemExit(f"fidle_runs: stopped ({reason}); run the same command again to resume")
    if not is_lead_process():
        raise SystemExit(0)  # rank 0 requeues the job, which ends every rank
    # Said before asking: Slurm ends this process as soon as the job is requeued.
    log.warning("%s: requeueing Slurm job %s; it will resume from last.ckpt", reason, job)
    done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise SystemExit(f"fidle_runs: error: scontrol requeue {job} failed "
                         f"({done.stderr.strip()}): resubmit the same job to resume")
    raise SystemExit(0)
