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


def temporary_path(path: Path, keep_suffix: bool = False) -> Path:
    """A sibling of `path` that is unique to this process (same filesystem, so rename is atomic).
    With `keep_suffix`, it ends in `path`'s suffix, for writers that go by it."""
    if keep_suffix:
        return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def replacing(path: Path, fsync: bool = False, keep_suffix: bool = False,
              subfolder: str = "") -> Iterator[Path]:
    """Yields a temporary path (`temporary_path`) for the caller to write a file or a folder at;
    on normal exit that replaces `path` in one rename, so that `path` is only ever seen whole
    (the old one or the new one). On an exception, or a failed rename, the temporary is removed
    and `path` left as it was.

    `fsync`: the file's content is flushed to the disk before the rename, so that a crash of
    the machine, not only of the process, leaves the old or the new file. `subfolder`: the
    temporary is a folder of which only this entry becomes `path` (an archive unpacked whole,
    one folder of it kept); the rest is removed with the temporary."""
    tmp = temporary_path(path, keep_suffix)
    try:
        yield tmp
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp / subfolder, path)
    finally:
        _remove(tmp)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """A temporary file or folder, if there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_temporaries(folder: Path, name: str = "*") -> list[Path]:
    """Remove what interrupted writes left in `folder` (temporary files or folders of targets
    matching `name`). Only for a caller that owns those targets now (holds their lock, or owns
    the run directory): another process's write in progress would be destroyed."""
    found = sorted(Path(folder).glob(f".{name}.tmp-*")) if Path(folder).is_dir() else []
    for path in found:
        _remove(path)
    return found


def write_text(path: Path, text: str) -> None:
    """`text` as `path`'s whole content (UTF-8), on the disk before it takes the name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, fsync=True) as tmp:
        tmp.write_text(text, encoding="utf-8")


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
