"""The prepared image set every image family but GTSRB trains on: one H5 file per (source, size,
mode...) with uint8 NHWC images (`x_train`, `x_test`, optional `x_val`), int64 class ids
(`y_*`) and attributes saying how it was made (`class_names`, `size`, `mode`, `skipped`...).

Built once: under a lock in its folder, decoded and enhanced by a pool of workers (the shared
decode -> resize -> mode of fidle_runs.data.images), written at a temporary name renamed when
complete. Images that cannot be decoded are skipped and named, or refused. Rows are stored in
chunks of whole images, so that a set larger than memory can be read a few rows at a time
(fidle_runs.data.images.on_disk).
"""

import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from fidle_runs import __version__
from fidle_runs.core import atomic
from fidle_runs.core.errors import UserError
from fidle_runs.core.progress import Progress
from fidle_runs.core.storage import DATA_CACHE_FIX, storage_refusals
from fidle_runs.data.images.decode import UndecodableImage, load_rgb
from fidle_runs.data.images.enhance import SetSpec, apply_mode, resize
from fidle_runs.data.spawn_pool import spawn_pool

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
UNREADABLE = ("skip", "refuse")
# Images decoded per pool task, and the bytes a stored chunk of rows aims at.
TASK_IMAGES = 128
CHUNK_BYTES = 1 << 16
# Hex digits of the hash in a set's file name (set_file_name).
DIGEST_DIGITS = 12
# How many skipped files the log names before it says "and N more".
NAMED_IN_LOG = 10


def set_file_name(dataset: str, spec: SetSpec, facts: dict[str, Any]) -> str:
    """`<dataset>-<set-SxS-MODE>-<digest>.h5`: the digest hashes `facts` (what a family says
    makes its set: the raw files, as names, sizes and times, and the settings preparation
    applies) with the size, mode and this file format, so that a set whose name matches was
    built from these very files alike, and any change gives another name, hence a new set."""
    made = {**facts, "size": spec.size, "mode": spec.mode, "format": FORMAT_VERSION}
    text = json.dumps(made, sort_keys=True, separators=(",", ":"), default=str)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset)
    return f"{safe}-{spec.name}-{hashlib.sha256(text.encode()).hexdigest()[:DIGEST_DIGITS]}.h5"


@dataclass
class SplitItems:
    """One split's samples before preparation: image files (Paths, decoded with
    `decode.load_rgb`) or decoded RGB uint8 arrays (H, W, 3), their class ids, and how each is
    named in messages (a path relative to the raw root, `data_batch_1[17]`)."""

    items: list
    labels: np.ndarray
    names: list[str]

    def __post_init__(self) -> None:
        if not len(self.items) == len(self.labels) == len(self.names):
            raise ValueError("items, labels and names must have the same length")


def prepare_image_set(path: Path, splits: dict[str, SplitItems], spec: SetSpec,
                      class_names: list[str], attrs: dict[str, Any], workers: int | None,
                      background: tuple[int, int, int] = (255, 255, 255),
                      unreadable: str = "skip") -> None:
    """Build `path` from `splits` unless it exists (the caller's file name says everything that
    makes the set, so an existing file is this set). Concurrent jobs wait for the first."""
    path = Path(path)
    if unreadable not in UNREADABLE:
        raise UserError(f"data.unreadable={unreadable!r} is invalid: it must be skip or refuse")
    unknown = set(splits) - set(SPLITS)
    if unknown or "train" not in splits or "test" not in splits:
        raise ValueError(f"splits must be train, test and optionally val, not {sorted(splits)}")
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.exclusive_lock(path.parent / ".prepare.lock"):
        if path.exists():
            return
        atomic.remove_temporaries(path.parent, f"{path.name}*")
        needs = sum(len(s.labels) for s in splits.values()) * spec.size ** 2 * spec.channels
        with storage_refusals(path, f"the prepared set {path.name}", DATA_CACHE_FIX, needs), \
                atomic.replacing(path) as tmp:
            _build(tmp, splits, spec, class_names, attrs, workers or os.cpu_count() or 1,
                   tuple(int(v) for v in background), unreadable)
    log.info("wrote %s (%.1f MiB)", path, path.stat().st_size / 2**20)


def _build(tmp: Path, splits: dict[str, SplitItems], spec: SetSpec, class_names: list[str],
           attrs: dict[str, Any], workers: int, background: tuple[int, int, int],
           unreadable: str) -> None:
    log.info("preparing %s: %s, %d workers", spec.name, ", ".join(
        f"{len(s.labels)} {name}" for name, s in splits.items()), workers)
    skipped: dict[str, list[list[str]]] = {}
    with h5py.File(tmp, "w") as f, spawn_pool(workers) as pool:
        for split in (s for s in SPLITS if s in splits):
            skipped[split] = _write_split(f, split, splits[split], spec, background, pool)
            if skipped[split] and unreadable == "refuse":
                name, reason = skipped[split][0]
                raise UserError(f"{len(skipped[split])} {split} image(s) cannot be decoded, "
                                f"e.g. {name} ({reason}): remove or replace them, or set "
                                "data.unreadable=skip to train without them")
            _log_skipped(split, skipped[split])
        _check_classes(f, class_names)
        f.attrs.update({**attrs, "class_names": json.dumps(class_names), "size": spec.size,
                        "mode": spec.mode, "format_version": FORMAT_VERSION,
                        "skipped": json.dumps(skipped), "package_version": __version__,
                        "created": dt.datetime.now(dt.timezone.utc).isoformat()})


def _write_split(f: h5py.File, split: str, data: SplitItems, spec: SetSpec,
                 background: tuple[int, int, int], pool: Any) -> list[list[str]]:
    """Decode, enhance and store one split's images in their order, dropping the unreadable
    ones; returns those as [name, reason]."""
    shape = (spec.size, spec.size, spec.channels)
    rows_per_chunk = max(1, min(len(data.labels), CHUNK_BYTES // int(np.prod(shape))))
    x = f.create_dataset(f"x_{split}", (len(data.labels), *shape), dtype=np.uint8,
                         maxshape=(None, *shape), chunks=(rows_per_chunk, *shape))
    kept_labels, skipped, written = [], [], 0
    progress = Progress(len(data.labels), f"prepare {split}")
    for start, images, failures in pool.imap(_prepare_task, _tasks(data, spec, background)):
        good = [i for i, image in enumerate(images) if image is not None]
        skipped += [[data.names[start + i], failures[i]] for i in failures]
        if good:
            x[written : written + len(good)] = np.stack([images[i] for i in good])
            kept_labels += [data.labels[start + i] for i in good]
            written += len(good)
        progress.update(len(images))
    progress.close()
    x.resize(written, axis=0)
    f.create_dataset(f"y_{split}", data=np.asarray(kept_labels, dtype=np.int64))
    return skipped


def _tasks(data: SplitItems, spec: SetSpec, background: tuple[int, int, int]) -> Iterator[tuple]:
    for start in range(0, len(data.items), TASK_IMAGES):
        yield start, data.items[start : start + TASK_IMAGES], spec, background


def _prepare_task(task: tuple) -> tuple[int, list[np.ndarray | None], dict[int, str]]:
    """In a pool worker: each item decoded (when a file), resized and put in the set's mode;
    None and the reason for one that cannot be decoded."""
    start, items, spec, background = task
    images: list[np.ndarray | None] = []
    failures: dict[int, str] = {}
    for i, item in enumerate(items):
        try:
            rgb = item if isinstance(item, np.ndarray) else load_rgb(item, background=background)
        except UndecodableImage as e:
            images.append(None)
            failures[i] = e.reason
            continue
        images.append(apply_mode(resize(rgb, spec.size), spec.mode))
    return start, images, failures


def _log_skipped(split: str, skipped: list[list[str]]) -> None:
    if not skipped:
        return
    names = ", ".join(name for name, _ in skipped[:NAMED_IN_LOG])
    more = f" and {len(skipped) - NAMED_IN_LOG} more" if len(skipped) > NAMED_IN_LOG else ""
    log.warning("skipped %d %s image(s) that cannot be decoded: %s%s", len(skipped), split,
                names, more)


def _check_classes(f: h5py.File, class_names: list[str]) -> None:
    """Every class keeps a train image once the unreadable ones are gone."""
    counts = np.bincount(f["y_train"][:], minlength=len(class_names))
    empty = [name for name, n in zip(class_names, counts, strict=True) if n == 0]
    if empty:
        raise UserError(f"class {empty[0]!r} has no readable train image: add images to it or "
                        "remove its folder")


class ImageSetFile:
    """A prepared set as read: its attributes, classes, splits and their labels; images whole
    (`images`) or their byte count, for the choice between memory and disk."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            with h5py.File(self.path, "r") as f:
                self.attrs = {k: plain_attribute(v) for k, v in f.attrs.items()}
                self.splits = tuple(s for s in SPLITS if f"x_{s}" in f and f"y_{s}" in f)
                self._labels = {s: f[f"y_{s}"][:] for s in self.splits}
                self.image_shape = tuple(f["x_train"].shape[1:]) if "x_train" in f else ()
        except OSError as e:
            raise UserError(f"prepared set {self.path} is corrupt or truncated ({e}): delete "
                            "it and run again to rebuild it") from None
        if "train" not in self.splits or "test" not in self.splits or "class_names" not in \
                self.attrs:
            raise UserError(f"prepared set {self.path} is not an image set of this version: "
                            "delete it and run again to rebuild it")
        self.class_names: list[str] = json.loads(self.attrs["class_names"])
        self.skipped: dict[str, list[list[str]]] = json.loads(self.attrs.get("skipped", "{}"))

    def labels(self, split: str) -> np.ndarray:
        return self._labels[split]

    def images(self, split: str) -> np.ndarray:
        """All of a split's images, uint8 NHWC, in memory."""
        with h5py.File(self.path, "r") as f:
            return f[f"x_{split}"][:]

    def rows(self, split: str, indices: list[int]) -> np.ndarray:
        """A few of a split's images (uint8 NHWC), in the order of `indices`."""
        order = np.argsort(indices)
        with h5py.File(self.path, "r") as f:
            sorted_rows = f[f"x_{split}"][np.asarray(indices)[order]]
        out = np.empty_like(sorted_rows)
        out[order] = sorted_rows
        return out

    @property
    def image_bytes(self) -> int:
        """The bytes of every split's images once in memory."""
        return sum(len(self._labels[s]) for s in self.splits) * int(np.prod(self.image_shape))


def plain_attribute(value: Any) -> Any:
    """An HDF5 attribute as plain Python (bytes decoded, numpy scalars unwrapped)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
