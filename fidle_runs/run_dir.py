"""The run directory's lifecycle: a finished run is never overwritten (rerun=true sets it aside),
an interrupted one is resumed only with the config it was started with."""

import datetime as dt
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fidle_runs import atomic
from fidle_runs.errors import UserError

CONFIG_FILE = "config.yaml"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
# Top-level keys that say how to launch, not what the run is.
NOT_PART_OF_THE_RUN = ("rerun", "gpu_sharing")
LOG_FILE = "fidle_runs.log"  # hydra.job.name + .log, written by Hydra's job logging


def last_checkpoint(run_dir: Path) -> Path | None:
    path = Path(run_dir) / LAST_CHECKPOINT
    return path if path.is_file() else None


def save_config(run_dir: Path, cfg: DictConfig) -> None:
    """Write the composed config; refuse when the directory holds a run with another config."""
    path = Path(run_dir) / CONFIG_FILE
    text = OmegaConf.to_yaml(cfg, resolve=True)
    if path.is_file():
        before = OmegaConf.to_container(OmegaConf.create(path.read_text()))
        now = OmegaConf.to_container(OmegaConf.create(text))
        for key in NOT_PART_OF_THE_RUN:
            before.pop(key, None)
            now.pop(key, None)
        difference = _first_difference(before, now)
        if difference is not None:
            key, before, now = difference
            raise UserError(f"{run_dir} holds a run started with {key}={before!r}, not {now!r}: "
                            "resume it with its own config or choose another hydra.run.dir")
        return
    atomic.write_text(path, text)


def _first_difference(a: Any, b: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            found = _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found is not None:
                return found
        return None
    return None if a == b else (prefix.rstrip("."), a, b)


def set_aside(run_dir: Path) -> Path:
    """Move a finished run's files into `<run_dir>/replaced-<time>/` so the directory can hold a
    fresh run (rerun=true) without destroying the old one. The open log file stays in place."""
    aside = Path(run_dir) / f"replaced-{dt.datetime.now():%Y-%m-%d_%H-%M-%S-%f}"
    aside.mkdir()
    for entry in Path(run_dir).iterdir():
        if entry != aside and entry.name != LOG_FILE and not entry.name.startswith("replaced-"):
            entry.rename(aside / entry.name)
    return aside
