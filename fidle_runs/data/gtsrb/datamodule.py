"""GTSRB as FIDLE prepares it: resolve the raw source, prepare the enhanced H5 set once
(GTSRB1), then serve it from memory (uint8 images, scaled to [0, 1] on the batch's device)."""

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.gtsrb.classes import CLASS_NAMES
from fidle_runs.data.gtsrb.h5 import (
    N_CLASSES,
    TRACK_KEY,
    SetSpec,
    check_labels,
    load_arrays,
    read_attrs,
    set_filename,
)
from fidle_runs.data.gtsrb.prepare import prepare_sets
from fidle_runs.data.gtsrb.source import SOURCES, RawSource, materialize, source_for
from fidle_runs.data.images.enhance import CHANNELS
from fidle_runs.data.images.inputs import read_image_files
from fidle_runs.data.images.uint8_images import UInt8Images
from fidle_runs.data.in_memory import InMemoryDataModule, Splits, check_option
from fidle_runs.data.inputs import InputRequest, Inputs
from fidle_runs.data.tensor_batches import images_to_tensor


class GTSRBDataModule(UInt8Images, InMemoryDataModule):
    family = "gtsrb"
    task = "classification"
    loads_scaled = True  # the prepared H5 is the scaled subset (one file per scale)
    sample_noun, group_noun = "images", "track"

    def __init__(self, source: str = "auto", raw_dir: str | None = None,
                 datasets_dir: str | None = None, download: bool = False, size: int = 24,
                 mode: str = "L", roi: bool = False, scale: float = 1.0, subset_seed: int = 0,
                 prepared_dir: str = "outputs/data/GTSRB/enhanced",
                 synthetic_dir: str = "outputs/data/GTSRB-synthetic",
                 synthetic_fraction: float = 0.2, synthetic_seed: int = 0,
                 prepare_workers: int | None = None, h5_file: str | None = None,
                 batch_size: int = 64, val_fraction: float = 0.1, val_on_test: bool = False,
                 split_seed: int = 0, augment: bool = False) -> None:
        super().__init__(batch_size, val_fraction, val_on_test, split_seed, scale, subset_seed)
        check_option("source", source, source in SOURCES, f"one of {', '.join(SOURCES)}")
        check_option("mode", mode, mode in CHANNELS, f"one of {', '.join(CHANNELS)}")
        check_option("size", size, isinstance(size, int) and size >= 8,
                     "an integer >= 8, e.g. 24 or 48")
        check_option("synthetic_fraction", synthetic_fraction, 0 < synthetic_fraction <= 1,
                     "in (0, 1], e.g. 0.2")
        self.save_hyperparameters(logger=False)
        self.spec = SetSpec(size, mode)
        self.augment_images = augment
        self.set_path: Path | None = None
        self.source_kind = "unknown"

    @cached_property
    def raw_source(self) -> RawSource:
        """Resolved once (resolution may warn loudly about synthetic data)."""
        return source_for(self.hparams)

    def h5_path(self, src: RawSource) -> Path:
        hp = self.hparams
        return (Path(hp.prepared_dir) / src.prepared_folder /
                set_filename(self.spec, hp.roi, hp.scale, hp.subset_seed))

    def prepare_data(self) -> None:
        hp = self.hparams
        if hp.h5_file:
            return
        src = self.raw_source
        raw = materialize(src, hp.prepare_workers)
        out_dir = self.h5_path(src).parent
        prepare_sets(raw, src.kind, [self.spec], out_dir, hp.roi, hp.scale, hp.subset_seed,
                     hp.prepare_workers)

    def load(self) -> Splits:
        hp = self.hparams
        user_file = bool(hp.h5_file)
        path = Path(hp.h5_file) if user_file else self.h5_path(self.raw_source)
        arrays = load_arrays(path, ("x_train", "y_train", "x_test", "y_test", TRACK_KEY),
                             user_file)
        attrs = read_attrs(path, user_file)
        for key in ("y_train", "y_test"):
            check_labels(arrays[key], key, path, user_file)
        self.set_path = path
        self.source_kind = attrs.get("source", "unknown")
        x_train, x_test = images_to_tensor(arrays["x_train"]), images_to_tensor(arrays["x_test"])
        expected = self.announced_shape()
        if user_file:
            mode = attrs.get("mode", "RGB" if x_train.shape[1] == 3 else "L")
            self.spec = SetSpec(x_train.shape[2], mode)
        elif tuple(x_train.shape[1:]) != expected:
            raise UserError(f"{path} holds images of shape {tuple(x_train.shape[1:])}, expected "
                            f"{expected}: delete it to rebuild it")
        return Splits(x_train, _labels(arrays["y_train"]), x_test, _labels(arrays["y_test"]),
                      arrays.get(TRACK_KEY))

    @property
    def name(self) -> str:
        return self.spec.name

    def announced_shape(self) -> tuple[int, int, int]:
        return (self.spec.channels, self.spec.size, self.spec.size)

    @property
    def announces_shape(self) -> bool:
        """A set given as data.h5_file has the size it was made with, known once read."""
        return not self.hparams.h5_file

    @property
    def source(self) -> str:
        return self.source_kind

    @property
    def n_outputs(self) -> int:
        return N_CLASSES

    @property
    def class_names(self) -> list[str]:
        return list(CLASS_NAMES)

    def class_pictures(self) -> np.ndarray | None:
        """GTSRB's 43 pictograms (the set's x_meta, RGB)."""
        if self.set_path is None:
            return None
        return load_arrays(self.set_path, ("x_meta",), bool(self.hparams.h5_file))["x_meta"]

    def read_inputs(self, request: InputRequest) -> Inputs:
        """Sign images, whole: a run prepared with `roi=true` was trained on images cropped to
        the sign's annotated box, so give it images cropped to the sign."""
        return read_image_files(request.paths, self.spec)

    @property
    def data_file(self) -> Path | None:
        return self.set_path

    def extras(self) -> dict[str, Any]:
        return {"size": self.spec.size, "mode": self.spec.mode, "roi": bool(self.hparams.roi),
                "augment": bool(self.augment_images)}


def _labels(y: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(y.astype(np.int64))
