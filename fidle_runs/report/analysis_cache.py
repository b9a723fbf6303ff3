"""What a best run's analysis computed from its checkpoint, cached in the run directory as one
.npz of arrays, so that the next report reads it without torch. The key is the analysis's
version and the checkpoint's, config.yaml's and the data file's path, size and time: any of them
changed, the analysis is computed again. The run's own files are keyed by their path in the run
directory, so a run moved elsewhere keeps its cache."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fidle_runs.core.atomic import replacing
from fidle_runs.core.errors import UserError
from fidle_runs.run.rebuild import run_checkpoint
from fidle_runs.store.run_dir import CONFIG_FILE, checkpoint_record

CACHE_DIR = Path("report_cache")


def cache_key(run_dir: Path, checkpoint: Path, data: dict[str, Any], version: int) -> str:
    """The key of an analysis of `checkpoint`; UserError where config.yaml or the data file the
    run recorded is gone (nothing to rebuild the run from)."""
    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise UserError(f"it has no {CONFIG_FILE} to rebuild its data and network from")
    data_file = Path(data["file"]) if data.get("file") else None
    if data_file is not None and not data_file.is_file():
        raise UserError(f"its data file {data_file} is gone: prepare it again (run the same "
                        "data config) to see the analysis")
    return json.dumps({"version": version,
                       "checkpoint": _stamp(checkpoint, checkpoint_record(run_dir, checkpoint)),
                       "config": _stamp(config, CONFIG_FILE),
                       "data": data_file and _stamp(data_file, str(data_file.resolve()))})


def _stamp(path: Path, name: str) -> list:
    stat = path.stat()
    return [name, stat.st_size, stat.st_mtime_ns]


def read_arrays(cache: Path, key: str) -> dict[str, np.ndarray] | None:
    """The cached arrays when their key is `key`; None when absent, stale or unreadable."""
    try:
        with np.load(cache) as data:
            if str(data["key"]) != key:
                return None
            return {name: data[name] for name in data.files if name != "key"}
    except (OSError, KeyError, ValueError):
        return None


def write_arrays(cache: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Best effort: a read-only run directory only costs the next report an evaluation."""
    try:
        cache.parent.mkdir(exist_ok=True)
        with replacing(cache) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, key=np.array(key), **arrays)
    except OSError:
        pass


def cached_evaluation(checkpoints: dict[str, Any] | None, data: dict[str, Any], run_dir: Path,
                      cache_file: Path, version: int,
                      evaluate: Callable[[Path], dict[str, np.ndarray]],
                      ) -> tuple[Path, dict[str, np.ndarray], str]:
    """An analysis's arrays of the run's best checkpoint (its last one when the best was
    deleted): read from `run_dir / cache_file` when fresh, else `evaluate(checkpoint)` and
    cached. Returns the checkpoint, the arrays and how they came ("read from cache" or
    "evaluated, cached")."""
    checkpoint = run_checkpoint(checkpoints, run_dir)
    cache = run_dir / cache_file
    key = cache_key(run_dir, checkpoint, data, version)
    arrays = read_arrays(cache, key)
    if arrays is not None:
        return checkpoint, arrays, "read from cache"
    arrays = evaluate(checkpoint)
    write_arrays(cache, key, arrays)
    return checkpoint, arrays, "evaluated, cached"
