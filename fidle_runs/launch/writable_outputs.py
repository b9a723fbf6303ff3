"""Check, before Hydra creates it, that the run's (or sweep's) directory can be written: a
read-only or quota-full `$WORK`, or a typo in paths.output_root, then ends in one line naming the
folder and the settings that choose it, not in a traceback from Hydra's mkdir.

A Hydra callback (conf/hydra/default.yaml): it runs in the launching process, without torch.
"""

import errno
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fidle_runs.core.storage import existing_ancestor


class CheckOutputsWritable(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable(Path(config.hydra.run.dir), "run", "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        check_writable(Path(config.hydra.sweep.dir), "sweep", "hydra.sweep.dir")


def check_writable(folder: Path, what: str, setting: str) -> None:
    """Create a folder where `folder` will be created, then remove it (nothing is left: a
    launch that stops later for another reason has made no directory), or exit with one line
    saying why."""
    place = existing_ancestor(folder)
    probe = place / f".fidle_runs-write-check-{os.getpid()}"
    try:
        if not place.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(place))
        probe.mkdir()
        probe.rmdir()
    except OSError as e:
        raise SystemExit(f"fidle_runs: error: the {what} directory {folder} cannot be written "
                         f"({e.strerror}, at {place}): choose a writable place with "
                         f"paths.output_root=... (every run) or {setting}=... (this {what})"
                         ) from None
