"""A folder of a user's images as a classification set: scanned (fidle_runs.data.image_folder.
scan), split (its own val/ and test/, else test carved out, stratified and seeded), prepared
once into the shared uint8 image set at `data.size` in `data.mode` under a name that hashes the
files and settings (fingerprint), then served by the shared ImageSetDataModule (which keeps the
class names in every checkpoint, so that a prediction names classes without the folder)."""

import json
from pathlib import Path
from typing import Any

from fidle_runs.data.image_folder.fingerprint import set_facts
from fidle_runs.data.image_folder.scan import FolderScan, scan_folder
from fidle_runs.data.image_folder.split import split_items
from fidle_runs.data.images.datamodule import ImageSetDataModule
from fidle_runs.data.images.image_set import prepare_image_set, set_file_name
from fidle_runs.data.in_memory import check_option

# Files not images named in result.json (the log names as many; all are counted).
NAMED_IN_RESULT = 20


class ImageFolderDataModule(ImageSetDataModule):
    """`raw_dir`: the folder; `name`: the dataset's name in reports (None: the folder's);
    `test_fraction`, `test_seed`: the share of each class tested, and its draw, where the folder
    has no test/. The other keywords are ImageSetDataModule's."""

    family = "image_folder"

    def __init__(self, raw_dir: str, name: str | None = None, test_fraction: float = 0.2,
                 test_seed: int = 0, **common: Any) -> None:
        super().__init__(**common)
        check_option("test_fraction", test_fraction, isinstance(test_fraction, int | float)
                     and 0 < test_fraction < 1, "in (0, 1), e.g. 0.2")
        check_option("test_seed", test_seed, isinstance(test_seed, int), "an integer, e.g. 0")
        self.raw_dir, self.dataset = raw_dir, name
        self.test_fraction, self.test_seed = test_fraction, test_seed
        self.scan: FolderScan | None = None

    @property
    def name(self) -> str:
        return self.dataset or Path(str(self.raw_dir)).expanduser().resolve().name

    def folder_scan(self) -> FolderScan:
        """The folder as listed once by this datamodule."""
        if self.scan is None:
            self.scan = scan_folder(self.raw_dir, self.unreadable)
        return self.scan

    def set_path(self) -> Path:
        scan = self.folder_scan()
        facts = set_facts(scan, self._settings(scan))
        return self.prepared_dir.expanduser() / set_file_name(self.name, self.spec, facts)

    def _settings(self, scan: FolderScan) -> dict[str, Any]:
        carved = {} if "test" in scan.splits else {"test_fraction": float(self.test_fraction),
                                                    "test_seed": self.test_seed}
        return {"background": list(self.background), "unreadable": self.unreadable, **carved}

    def build_set(self, path: Path) -> None:
        scan = self.folder_scan()
        splits, test_split = split_items(scan, self.test_fraction, self.test_seed)
        attrs = {"raw_root": str(scan.root.resolve()), "layout": scan.layout,
                 "test_split": test_split, "not_images": json.dumps(scan.not_images)}
        prepare_image_set(path, splits, self.spec, scan.class_names, attrs,
                          self.prepare_workers, self.background, self.unreadable)

    def extras(self) -> dict[str, Any]:
        out = super().extras()
        if self.set_file is None:
            return out
        attrs = self.set_file.attrs
        not_images = json.loads(attrs["not_images"])
        return {**out, "origin": attrs["raw_root"], "layout": attrs["layout"],
                "test_split": attrs["test_split"], "not_images": len(not_images),
                "not_image_files": not_images[:NAMED_IN_RESULT]}

