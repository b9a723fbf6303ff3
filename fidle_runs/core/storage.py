"""A write that the disk refuses (full, over quota, read-only, not ours) as one line naming the
place, what was being written, how much room it needs and the fix, instead of a traceback.

Only storage refusals are turned into a UserError: other OSErrors (a bug, a vanished file) keep
their traceback.
"""

import errno
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fidle_runs.core.errors import UserError

FULL = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
MIB = 2**20
DATA_CACHE_FIX = ("free space there or put the data cache on a disk with room "
                  "(paths.data_dir=...), then launch again")


def free_bytes(path: Path) -> int | None:
    """Free bytes on the filesystem of `path` (its nearest existing folder); None if unknown."""
    place = existing_ancestor(Path(path))
    try:
        return shutil.disk_usage(place).free
    except OSError:
        return None


def existing_ancestor(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def refusal(e: OSError, path: Path, what: str, needs: int | None, fix: str) -> UserError | None:
    """The one-line error for a write of `what` to `path` that the storage refused, or None when
    `e` is not such a refusal. `needs`: bytes the write needs, when known."""
    code = _errno(e)
    if code in FULL:
        free = free_bytes(path)
        have = f", {free / MIB:.1f} MiB free" if free is not None else ""
        need = f" needs about {needs / MIB:.1f} MiB" if needs else " needs more room"
        kind = "over its quota" if code == errno.EDQUOT else "full"
        return UserError(f"the disk of {existing_ancestor(Path(path).parent)} is {kind}: writing "
                         f"{what} ({path}){need}{have}; {fix}")
    if code in NOT_WRITABLE:
        return UserError(f"{existing_ancestor(Path(path).parent)} cannot be written "
                         f"({os.strerror(code)}) while writing {what} ({path}); {fix}")
    return None


def _errno(e: OSError) -> int | None:
    """The error number, also of h5py's errors, which carry it only in their message
    (`... errno = 28, error message = 'No space left on device' ...`)."""
    if e.errno is not None:
        return e.errno
    found = re.search(r"errno = (\d+)", str(e))
    return int(found.group(1)) if found else None


@contextmanager
def storage_refusals(path: Path, what: str, fix: str, needs: int | None = None) -> Iterator[None]:
    """Turn a storage refusal inside the block into `refusal`'s UserError."""
    try:
        yield
    except OSError as e:
        error = refusal(e, path, what, needs, fix)
        if error is None:
            raise
        raise error from None
