"""What makes a folder's prepared set, as a short hash in the set's file name: the folder, its
files (names, sizes, modification times), the image settings and how test is chosen. A set whose
name matches was built from these very files alike and is reused as is; any change to a file, a
setting or the set format gives another name, hence a new preparation."""

import hashlib
import json
from typing import Any

from fidle_runs.data.image_folder.scan import FolderScan
from fidle_runs.data.images.enhance import SetSpec
from fidle_runs.data.images.image_set import FORMAT_VERSION

DIGITS = 10


def set_digest(scan: FolderScan, spec: SetSpec, settings: dict[str, Any]) -> str:
    """The first DIGITS hex digits of the hash of everything that makes the set; `settings`:
    the data.* options preparation applies (background, unreadable, test carving)."""
    files = {split: [_stamp(scan, name) for name in split_files.files]
             for split, split_files in scan.splits.items()}
    facts = {"format": FORMAT_VERSION, "root": str(scan.root.resolve()), "layout": scan.layout,
             "classes": scan.class_names, "files": files, "not_images": scan.not_images,
             "size": spec.size, "mode": spec.mode, **settings}
    text = json.dumps(facts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:DIGITS]


def _stamp(scan: FolderScan, name: str) -> tuple[str, int, int]:
    stat = (scan.root / name).stat()
    return name, stat.st_size, stat.st_mtime_ns
