"""What makes a folder's prepared set, for the hash in the set's file name
(image_set.set_file_name): the folder, its files (names, sizes, modification times), its
classes and layout, and the settings preparation applies."""

from typing import Any

from fidle_runs.data.image_folder.scan import FolderScan


def set_facts(scan: FolderScan, settings: dict[str, Any]) -> dict[str, Any]:
    """`settings`: the data.* options preparation applies (background, unreadable, test
    carving)."""
    files = {split: [_stamp(scan, name) for name in split_files.files]
             for split, split_files in scan.splits.items()}
    return {"root": str(scan.root.resolve()), "layout": scan.layout, "classes": scan.class_names,
            "files": files, "not_images": scan.not_images, **settings}


def _stamp(scan: FolderScan, name: str) -> tuple[str, int, int]:
    stat = (scan.root / name).stat()
    return name, stat.st_size, stat.st_mtime_ns
