"""How a "not found" error names each place a dataset was looked for in, so that every family
words it alike: `<path> (no such file)`, `<path> (no such folder)`, or for a folder that is
there, what it lacks."""

from pathlib import Path


def what_is_at(path: Path, is_file: bool, folder_lacks: str) -> str:
    """`path` and why it held no data: a file looked for (`is_file`) is not there; a folder is
    not there, or lacks `folder_lacks` ("3 of the 4 IDX files")."""
    if is_file:
        return f"{path} (no such file)"
    if not path.is_dir():
        return f"{path} (no such folder)"
    return f"{path} ({folder_lacks})"
