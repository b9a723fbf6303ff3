"""Write files so that a reader never sees half of one (temporary name, then rename), and build
shared caches once when several jobs start together."""

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fidle_runs.core import strict_json


def temporary_path(path: Path) -> Path:
    """A sibling of `path` that is unique to this process (same filesystem, so rename is atomic)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def remove_temporaries(folder: Path, name: str = "*") -> list[Path]:
    """Remove what interrupted writes left in `folder` (temporary files or folders of targets
    matching `name`). Only for a caller that owns those targets now (holds their lock, or owns
    the run directory): another process's write in progress would be destroyed."""
    found = sorted(Path(folder).glob(f".{name}.tmp-*")) if Path(folder).is_dir() else []
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return found


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    """`data` as strict JSON (fidle_runs.core.strict_json: a non-finite float is written as null and
    named in the top-level `nonfinite` map), so that any JSON reader takes the file."""
    write_text(path, strict_json.dumps(data) + "\n")


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created): concurrent jobs build a shared cache once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
