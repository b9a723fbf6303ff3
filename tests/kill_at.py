"""`python tests/kill_at.py <point> <overrides>`: `python -m fidle_runs <overrides>`, SIGKILLed
with all its processes at a chosen point of the run (tests/test_kill_points.py).

Start it in a process group of its own (start_new_session=True): the kill takes the data
preparation workers too, as `kill -9` of a job step does.
"""

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from fidle_runs.callbacks.stop_on_requeue import StopOnRequeueSignal
from fidle_runs.core import atomic, progress


def kill() -> None:
    os.killpg(0, signal.SIGKILL)


def _during_loop(desc: str) -> None:
    """Kill once a third of the images of the loop named `desc` are done."""
    update = progress.Progress.update

    def update_then_kill(self: progress.Progress, n: int) -> None:
        update(self, n)
        if self.desc.startswith(desc) and self.done >= self.total / 3:
            kill()

    progress.Progress.update = update_then_kill


def _at_train_batch(epoch: int, batch: int) -> None:
    def check(self: StopOnRequeueSignal, trainer: Any, *args: Any) -> None:
        if trainer.current_epoch == epoch and args[-1] == batch:
            kill()

    StopOnRequeueSignal.on_train_batch_end = check


def _at_epoch_start(epoch: int) -> None:
    def check(self: StopOnRequeueSignal, trainer: Any, *args: Any) -> None:
        if trainer.current_epoch == epoch:
            kill()

    StopOnRequeueSignal.on_train_epoch_start = check


def _before_last_checkpoint(epoch: int) -> None:
    """After the epoch's best checkpoint (if it improved), before its last.ckpt."""
    from fidle_runs.callbacks.run_checkpoint import RunCheckpoint

    save_last = RunCheckpoint._save_last_checkpoint

    def check(self: RunCheckpoint, trainer: Any, candidates: Any) -> None:
        if trainer.current_epoch == epoch:
            kill()
        save_last(self, trainer, candidates)

    RunCheckpoint._save_last_checkpoint = check


def _after_last_checkpoint(epoch: int) -> None:
    """Right after the epoch's last.ckpt is on disk, before its training metrics are logged."""
    from fidle_runs.callbacks.run_checkpoint import RunCheckpoint

    save_last = RunCheckpoint._save_last_checkpoint

    def check(self: RunCheckpoint, trainer: Any, candidates: Any) -> None:
        save_last(self, trainer, candidates)
        if trainer.current_epoch == epoch:
            kill()

    RunCheckpoint._save_last_checkpoint = check


def _during_validation(epoch: int) -> None:
    def check(self: StopOnRequeueSignal, trainer: Any, *args: Any) -> None:
        if trainer.state.fn == "fit" and trainer.current_epoch == epoch:
            kill()

    StopOnRequeueSignal.on_validation_batch_end = check


def _during_test() -> None:
    StopOnRequeueSignal.on_test_batch_end = lambda self, trainer, *args: kill()


def _writing_completed_result() -> None:
    """Half of the completed result.json written to its temporary name, then killed."""
    write_text = atomic.write_text

    def write_half_then_kill(path: Path, text: str) -> None:
        if path.name == "result.json" and json.loads(text)["status"] == "completed":
            atomic.temporary_path(path).write_text(text[: len(text) // 2])
            kill()
        write_text(path, text)

    atomic.write_text = write_half_then_kill


POINTS = {
    "data generation": lambda: _during_loop("generate"),
    "data preparation": lambda: _during_loop("prepare train"),
    "before the first checkpoint": lambda: _at_train_batch(0, 3),
    "mid-epoch": lambda: _at_train_batch(1, 3),
    "between epochs": lambda: _at_epoch_start(2),
    "between best and last checkpoint": lambda: _before_last_checkpoint(1),
    "right after a checkpoint": lambda: _after_last_checkpoint(1),
    "during validation": lambda: _during_validation(1),
    "during test": _during_test,
    "while writing result.json": _writing_completed_result,
}


if __name__ == "__main__":
    POINTS[sys.argv[1]]()
    sys.argv = ["fidle_runs", *sys.argv[2:]]
    from fidle_runs.__main__ import main
    from fidle_runs.launch.requeue import install_handler

    install_handler()
    main()
