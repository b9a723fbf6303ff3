"""The run directory's lifecycle: a finished run is never overwritten, an interrupted one is
resumed only with the config it was started with."""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fidle_runs import atomic
from fidle_runs.errors import UserError

CONFIG_FILE = "config.yaml"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"


def last_checkpoint(run_dir: Path) -> Path | None:
    path = Path(run_dir) / LAST_CHECKPOINT
    return path if path.is_file() else None


def save_config(run_dir: Path, cfg: DictConfig) -> None:
    """Write the composed config; refuse when the directory holds a run with another config."""
    path = Path(run_dir) / CONFIG_FILE
    text = OmegaConf.to_yaml(cfg, resolve=True)
    if path.is_file():
        difference = _first_difference(OmegaConf.to_container(OmegaConf.create(path.read_text())),
                                       OmegaConf.to_container(OmegaConf.create(text)))
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
