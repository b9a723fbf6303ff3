"""CIFAR-10 and CIFAR-100 (`data=cifar10`, `data=cifar100`): found in any of their four original
layouts (fidle_runs.data.cifar.layouts), prepared once at the configured size and mode into the
shared image set, then served by the image datamodule like every image family."""

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

from fidle_runs.data.cifar.layouts import DATASETS, Found, find
from fidle_runs.data.cifar.read import LABEL_KINDS, read_cifar
from fidle_runs.data.images.datamodule import ImageSetDataModule
from fidle_runs.data.images.image_set import SplitItems, prepare_image_set, set_file_name
from fidle_runs.data.in_memory import check_option

log = logging.getLogger(__name__)


class CifarDataModule(ImageSetDataModule):
    family = "cifar"

    def __init__(self, dataset: str = "cifar10", labels: str | None = None,
                 raw_dir: str | None = None, search_dirs: list[str | None] | None = None,
                 **options: Any) -> None:
        """`dataset` cifar10 | cifar100; `labels` CIFAR-100's fine (100) or coarse (20)
        classes; where to look (`raw_dir`, else each of `search_dirs`); `options`: those of
        ImageSetDataModule (size, mode, batch_size...)."""
        super().__init__(**options)
        check_option("dataset", dataset, dataset in DATASETS, f"one of {', '.join(DATASETS)}")
        if dataset == "cifar10":
            check_option("labels", labels, labels is None,
                         "left out: cifar10 has one set of labels (fine|coarse is cifar100's)")
        else:
            labels = labels or "fine"
            check_option("labels", labels, labels in LABEL_KINDS, " | ".join(LABEL_KINDS))
        self.dataset, self.labels = dataset, labels
        self.raw_dir, self.search_dirs = raw_dir, list(search_dirs or [])

    @property
    def name(self) -> str:
        coarse = "-coarse" if self.labels == "coarse" else ""
        return f"{self.dataset}{coarse}-{self.spec.size}x{self.spec.size}-{self.spec.mode}"

    @cached_property
    def found(self) -> Found:
        """The raw files, looked for once."""
        return find(self.dataset, self.raw_dir, self.search_dirs)

    def set_path(self) -> Path:
        """Named by the raw files found (paths, sizes, times), their layout and the labels
        kind (image_set.set_file_name): other files or labels make another set."""
        found = self.found
        facts = {"files": found.signature(), "layout": found.layout.kind,
                 "archive": found.in_archive, "labels": self.labels}
        dataset = f"{self.dataset}{'-coarse' if self.labels == 'coarse' else ''}"
        return self.prepared_dir / set_file_name(dataset, self.spec, facts)

    def build_set(self, path: Path) -> None:
        found = self.found
        log.info("reading %s", found.describe())
        data = read_cifar(found, self.labels or "fine")
        splits = {split: SplitItems(list(part.images), part.labels, part.names)
                  for split, part in (("train", data.train), ("test", data.test))}
        prepare_image_set(path, splits, self.spec, data.class_names,
                          {"origin": found.describe(), "labels": self.labels or ""},
                          self.prepare_workers, self.background, self.unreadable)

    def extras(self) -> dict[str, Any]:
        origin = self.set_file.attrs.get("origin", "") if self.set_file else ""
        return {**super().extras(), "origin": origin,
                **({"labels": self.labels} if self.labels else {})}
