"""GTSRB as a LightningDataModule: resolve the raw source, prepare the H5 set once, then serve it
from memory (uint8 tensors, batches by indexing, scaling to [0, 1] on the batch's device)."""

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from fidle_runs.data.augment import random_affine
from fidle_runs.data.gtsrb.enhance import CHANNELS
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
from fidle_runs.data.tensor_batches import batch_loader, images_to_tensor, network_input
from fidle_runs.errors import UserError


class GTSRBDataModule(pl.LightningDataModule):
    def __init__(self, source: str = "auto", raw_dir: str | None = None,
                 datasets_dir: str | None = None, download: bool = False, size: int = 24,
                 mode: str = "L", roi: bool = False, scale: float = 1.0, subset_seed: int = 0,
                 prepared_dir: str = "outputs/data/GTSRB/enhanced",
                 synthetic_dir: str = "outputs/data/GTSRB-synthetic",
                 synthetic_fraction: float = 0.2, synthetic_seed: int = 0,
                 prepare_workers: int | None = None, h5_file: str | None = None,
                 batch_size: int = 64, val_fraction: float = 0.1, val_on_test: bool = False,
                 split_seed: int = 0, augment: bool = False) -> None:
        super().__init__()
        _check("source", source, source in SOURCES, f"one of {', '.join(SOURCES)}")
        _check("mode", mode, mode in CHANNELS, f"one of {', '.join(CHANNELS)}")
        _check("size", size, isinstance(size, int) and size >= 8, "an integer >= 8, e.g. 24 or 48")
        _check("scale", scale, 0 < scale <= 1, "in (0, 1], e.g. 0.2")
        _check("batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 1,
               "an integer >= 1, e.g. 64")
        _check("val_fraction", val_fraction, 0 <= val_fraction < 1, "in [0, 1), e.g. 0.1")
        _check("synthetic_fraction", synthetic_fraction, 0 < synthetic_fraction <= 1,
               "in (0, 1], e.g. 0.2")
        if not val_on_test and val_fraction == 0:
            raise UserError("data.val_fraction=0 leaves no validation set: set data.val_fraction "
                            "> 0 or data.val_on_test=true")
        self.save_hyperparameters(logger=False)
        self.spec = SetSpec(size, mode)
        self.batch_size = batch_size
        self.augment = augment
        self.tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

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

    def setup(self, stage: str | None = None) -> None:
        if self.tensors:
            return
        hp = self.hparams
        if hp.h5_file:
            path = Path(hp.h5_file)
        else:
            src = self.raw_source
            path = self.h5_path(src)
        user_file = bool(hp.h5_file)
        arrays = load_arrays(path, ("x_train", "y_train", "x_test", "y_test", TRACK_KEY),
                             user_file)
        attrs = read_attrs(path, user_file)
        for key in ("y_train", "y_test"):
            check_labels(arrays[key], key, path, user_file)
        self.set_path = path
        self.source_kind = attrs.get("source", "unknown")
        x_train, y_train = _to_tensors(arrays["x_train"], arrays["y_train"])
        x_test, y_test = _to_tensors(arrays["x_test"], arrays["y_test"])
        if tuple(x_train.shape[1:]) != self.shape and not hp.h5_file:
            raise UserError(f"{path} holds images of shape {tuple(x_train.shape[1:])}, expected "
                            f"{self.shape}: delete it to rebuild it")
        if hp.h5_file:
            mode = attrs.get("mode", "RGB" if x_train.shape[1] == 3 else "L")
            self.spec = SetSpec(x_train.shape[2], mode)
        if hp.val_on_test:
            self.val_split = "test set"
            self.tensors["train"], self.tensors["val"] = (x_train, y_train), (x_test, y_test)
        else:
            tracks = arrays.get(TRACK_KEY)
            val = validation_indices(arrays["y_train"], tracks, hp.val_fraction, hp.split_seed)
            self.val_split = "by track"
            if tracks is None or len(val) == 0:
                # No tracks recorded, or too few per class to spare one: split by image.
                val = validation_indices(arrays["y_train"], None, hp.val_fraction, hp.split_seed)
                self.val_split = "random images"
            is_val = torch.zeros(len(y_train), dtype=torch.bool)
            is_val[val] = True
            self.tensors["train"] = (x_train[~is_val], y_train[~is_val])
            self.tensors["val"] = (x_train[is_val], y_train[is_val])
        self.tensors["test"] = (x_test, y_test)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        if self.tensors:
            return tuple(self.tensors["train"][0].shape[1:])
        return (self.spec.channels, self.spec.size, self.spec.size)

    @property
    def n_classes(self) -> int:
        return N_CLASSES

    def describe(self) -> dict[str, Any]:
        """The `data` block of result.json."""
        path = Path(self.set_path)
        return {"name": self.spec.name, "source": self.source_kind, "size": self.spec.size,
                "mode": self.spec.mode, "roi": bool(self.hparams.roi),
                "scale": float(self.hparams.scale), "val_on_test": bool(self.hparams.val_on_test),
                "augment": bool(self.augment), "val_split": self.val_split,
                "shape": list(self.shape),
                "n_train": len(self.tensors["train"][1]),
                "n_val": 0 if self.hparams.val_on_test else len(self.tensors["val"][1]),
                "n_test": len(self.tensors["test"][1]), "file": str(path.resolve()),
                "file_mib": round(path.stat().st_size / 2**20, 2)}

    def train_dataloader(self) -> DataLoader:
        # Batch order follows the run's seed (set by seed_everything before this is called).
        return batch_loader(*self.tensors["train"], self.batch_size, shuffle=True,
                            seed=torch.initial_seed())

    def val_dataloader(self) -> DataLoader:
        return batch_loader(*self.tensors["val"], self.batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return batch_loader(*self.tensors["test"], self.batch_size, shuffle=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        x, y = batch
        x = network_input(x)
        if self.augment and self.trainer is not None and self.trainer.training:
            x = random_affine(x)
        return x, y


def validation_indices(labels: np.ndarray, tracks: np.ndarray | None, fraction: float,
                       seed: int) -> torch.Tensor:
    """Indices of a seeded validation split of about `fraction` of the images.

    GTSRB train images come in tracks of ~30 views of one physical sign: a split by image puts
    near-copies of training images in validation and inflates its accuracy. So when tracks are
    known, whole tracks go to validation, per class (stochastic rounding keeps the expected
    fraction), and every class keeps at least one track for training.
    """
    n = len(labels)
    if tracks is None or (tracks < 0).any():
        generator = torch.Generator().manual_seed(seed)
        return torch.randperm(n, generator=generator)[: max(1, round(n * fraction))]
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        class_tracks = np.unique(tracks[labels == label])
        k = min(len(class_tracks) - 1, int(len(class_tracks) * fraction + rng.random()))
        chosen.append(rng.choice(class_tracks, size=k, replace=False))
    return torch.from_numpy(np.flatnonzero(np.isin(tracks, np.concatenate(chosen))))


def _check(name: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise UserError(f"data.{name}={value!r} is invalid: it must be {expected}")


def _to_tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return images_to_tensor(x), torch.from_numpy(y.astype(np.int64))
