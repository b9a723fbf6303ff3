"""The datamodule of every family that trains on a prepared image set (an image folder, CIFAR):
the set is built once from the family's raw data (`build_set`), then served whole from memory
or, when it is larger than the share of memory it may take, read from its file a batch at a
time by loader workers (fidle_runs.data.images.on_disk). Validation is the set's own `val`
split when the raw data has one, else a seeded stratified share of train.

A family says where its set lives (`set_path`, a name that encodes everything that makes the
set) and how to build it (`build_set`, through image_set.prepare_image_set)."""

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.images.enhance import CHANNELS, SetSpec
from fidle_runs.data.images.image_set import UNREADABLE, ImageSetFile
from fidle_runs.data.images.inputs import read_image_files
from fidle_runs.data.images.on_disk import RowsOnDisk, fits_in_memory
from fidle_runs.data.images.uint8_images import UInt8Images
from fidle_runs.data.in_memory import InMemoryDataModule, Pair, Splits, check_option
from fidle_runs.data.inputs import InputRequest, Inputs
from fidle_runs.data.subsets import stratified_split
from fidle_runs.data.tensor_batches import images_to_tensor

log = logging.getLogger(__name__)

READ_FROM = ("auto", "memory", "disk")


class ImageSetDataModule(UInt8Images, InMemoryDataModule):
    task = "classification"
    sample_noun = "images"
    announces_shape = True

    def __init__(self, size: int = 32, mode: str = "RGB",
                 background: tuple[int, int, int] | list[int] = (255, 255, 255),
                 unreadable: str = "skip", prepared_dir: str = "outputs/data/images",
                 prepare_workers: int | None = None, memory_share: float = 0.5,
                 read_from: str = "auto", loader_workers: int = 2, batch_size: int = 64,
                 val_fraction: float = 0.1, val_on_test: bool = False, split_seed: int = 0,
                 scale: float = 1.0, subset_seed: int = 0, augment: bool = False) -> None:
        super().__init__(batch_size, val_fraction, val_on_test, split_seed, scale, subset_seed)
        check_option("size", size, isinstance(size, int) and size >= 1,
                     "an integer number of pixels, e.g. 32")
        check_option("mode", mode, mode in CHANNELS, f"one of {', '.join(CHANNELS)}")
        background = tuple(background)
        check_option("background", list(background), len(background) == 3 and all(
            isinstance(v, int) and 0 <= v <= 255 for v in background),
            "three integers in 0..255 (red, green, blue), e.g. [255,255,255]")
        check_option("unreadable", unreadable, unreadable in UNREADABLE, "skip or refuse")
        check_option("read_from", read_from, read_from in READ_FROM, " | ".join(READ_FROM))
        check_option("memory_share", memory_share,
                     isinstance(memory_share, int | float) and 0 < memory_share <= 1,
                     "in (0, 1], e.g. 0.5")
        check_option("loader_workers", loader_workers,
                     isinstance(loader_workers, int) and loader_workers >= 0,
                     "an integer >= 0, e.g. 2")
        self.spec = SetSpec(size, mode)
        self.background: tuple[int, int, int] = background
        self.unreadable, self.prepared_dir = unreadable, Path(prepared_dir)
        self.prepare_workers, self.memory_share = prepare_workers, memory_share
        self.read_from, self.loader_workers = read_from, loader_workers
        self.augment_images = augment
        self.set_file: ImageSetFile | None = None
        self.read_chosen = ""
        self.own_val: Pair | None = None
        self.kept_classes: list[str] = []

    # What a family provides.
    def set_path(self) -> Path:
        """The prepared set this configuration trains on."""
        raise NotImplementedError

    def build_set(self, path: Path) -> None:
        """Read the family's raw data and write the set at `path` (prepare_image_set)."""
        raise NotImplementedError

    # What every prepared image set shares.
    def check_source(self) -> None:
        """The raw data is found and well formed: naming the set reads it (set_path)."""
        self.set_path()

    def prepare_data(self) -> None:
        path = self.set_path()
        if not path.exists():
            self.build_set(path)

    def load(self) -> Splits:
        self.prepare_data()  # built here where no trainer's prepare_data built it yet
        path = self.set_path()
        f = self.set_file = ImageSetFile(path)
        if f.image_shape != (self.spec.size, self.spec.size, self.spec.channels):
            raise UserError(f"prepared set {path} holds images of shape {f.image_shape}, not "
                            f"{self.spec.name}'s: delete it and run again to rebuild it")
        in_memory = self.read_from == "memory" or (
            self.read_from == "auto" and fits_in_memory(f.image_bytes, self.memory_share))
        self.read_chosen = "memory" if in_memory else "disk"
        log.info("%s: %d classes, %s; %s", self.name, len(f.class_names),
                 _counts_line(f), "in memory" if in_memory else
                 f"read from {path} by {self.loader_workers} loader worker(s) (larger than "
                 f"data.memory_share={self.memory_share:g} of memory)")

        def images(split: str) -> torch.Tensor | RowsOnDisk:
            if in_memory:
                return images_to_tensor(f.images(split))
            return RowsOnDisk(path, f"x_{split}", self.loader_workers)

        def labels(split: str) -> torch.Tensor:
            return torch.from_numpy(f.labels(split).astype(np.int64))

        if "val" in f.splits:
            self.own_val = (images("val"), labels("val"))
        return Splits(images("train"), labels("train"), images("test"), labels("test"))

    def split_validation(self, splits: Splits) -> tuple[Pair, Pair]:
        """The set's own validation images when the raw data has them, else a seeded stratified
        `data.val_fraction` of train."""
        if self.own_val is not None:
            self.val_split = "the data's own val split"
            return (splits.x_train, splits.y_train), self.own_val
        val = stratified_split(splits.y_train.numpy(), self.val_fraction, self.split_seed)
        is_val = torch.zeros(len(splits.y_train), dtype=torch.bool)
        is_val[torch.from_numpy(val)] = True
        self.val_split = "stratified random images"
        return ((splits.x_train[~is_val], splits.y_train[~is_val]),
                (splits.x_train[is_val], splits.y_train[is_val]))

    def announced_shape(self) -> tuple[int, int, int]:
        return (self.spec.channels, self.spec.size, self.spec.size)

    @property
    def n_outputs(self) -> int:
        return self.classifier_outputs(self.class_names or [])

    @property
    def class_names(self) -> list[str] | None:
        if self.set_file:
            return list(self.set_file.class_names)
        return list(self.kept_classes) or None

    def kept_state(self) -> dict[str, Any]:
        """The class names, kept in every checkpoint: a prediction or an export made without
        the data names classes as training did, and a resume on a set whose classes differ is
        refused."""
        return {"class_names": self.class_names or []}

    def install_kept_state(self, state: dict[str, Any]) -> None:
        self.kept_classes = list(state["class_names"])

    def class_pictures(self) -> np.ndarray | None:
        """The first train image of each class (RGB or grey as stored), for reports."""
        if self.set_file is None:
            return None
        labels = self.set_file.labels("train")
        firsts = [int(np.flatnonzero(labels == k)[0]) for k in range(len(self.class_names))]
        return self.set_file.rows("train", firsts)

    def read_inputs(self, request: InputRequest) -> Inputs:
        return read_image_files(request.paths, self.spec, self.background)

    @property
    def data_file(self) -> Path | None:
        return self.set_file.path if self.set_file else None

    def extras(self) -> dict[str, Any]:
        counts = {split: self.class_counts(pair[1]) for split, pair in self.tensors.items()
                  if not (split == "val" and self.val_on_test)}
        train = [n for n in counts["train"].values() if n]
        skipped = self.set_file.skipped if self.set_file else {}
        return {"size": self.spec.size, "mode": self.spec.mode,
                "augment": bool(self.augment_images), "read_from": self.read_chosen,
                "class_counts": counts, "imbalance": round(max(train) / min(train), 3),
                "skipped": {split: len(names) for split, names in skipped.items()},
                "skipped_files": [name for names in skipped.values() for name, _ in names][:20]}

    def class_counts(self, labels: torch.Tensor) -> dict[str, int]:
        """Samples per class name among `labels`."""
        counts = np.bincount(labels.numpy(), minlength=len(self.class_names))
        return {name: int(n) for name, n in zip(self.class_names, counts, strict=True)}


def _counts_line(f: ImageSetFile) -> str:
    """`train 900 (60 to 120 per class, imbalance 2.0), test 200`: what the log says once."""
    parts = []
    for split in f.splits:
        counts = np.bincount(f.labels(split), minlength=len(f.class_names))
        text = f"{split} {counts.sum()}"
        if split == "train":
            text += (f" ({counts.min()} to {counts.max()} per class, imbalance "
                     f"{counts.max() / max(counts.min(), 1):.2f})")
        parts.append(text)
    return ", ".join(parts)
