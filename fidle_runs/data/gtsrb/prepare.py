"""GTSRB1 done right: raw images -> enhanced H5 sets, streamed, parallel, uint8, reusable.

Each image is decoded once and resized once per size for every requested set; chunks of images
flow through a process pool and are written straight into the H5 datasets, so memory stays
bounded whatever the size of the raw set. Files appear under their final name only when complete.
"""

import datetime as dt
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import h5py
import numpy as np

from fidle_runs import __version__
from fidle_runs.core import atomic
from fidle_runs.core.errors import UserError
from fidle_runs.core.progress import Progress
from fidle_runs.core.storage import DATA_CACHE_FIX, storage_refusals
from fidle_runs.data.gtsrb.h5 import (
    FORMAT_VERSION,
    TRACK_KEY,
    SetSpec,
    read_attrs,
    set_filename,
)
from fidle_runs.data.gtsrb.raw import RawGTSRB, RawSplit
from fidle_runs.data.images.decode import load_rgb
from fidle_runs.data.images.enhance import apply_mode, resize
from fidle_runs.data.spawn_pool import spawn_pool
from fidle_runs.data.subsets import subset_indices

log = logging.getLogger(__name__)
CHUNK = 256




def expected_attrs(raw: RawGTSRB, source: str, spec: SetSpec, roi: bool, scale: float,
                   subset_seed: int) -> dict:
    return {"source": source, "raw_root": str(raw.root.resolve()), "layout": raw.layout,
            "size": spec.size, "mode": spec.mode, "roi": roi, "scale": float(scale),
            "seed": subset_seed, "format_version": FORMAT_VERSION}


def prepare_sets(raw: RawGTSRB, source: str, specs: list[SetSpec], out_dir: Path,
                 roi: bool = False, scale: float = 1.0, subset_seed: int = 0,
                 workers: int | None = None) -> dict[SetSpec, Path]:
    """Build the missing sets among `specs` in `out_dir`; reuse those already built alike."""
    out_dir = Path(out_dir)
    paths = {s: out_dir / set_filename(s, roi, scale, subset_seed) for s in specs}
    wanted = {s: expected_attrs(raw, source, s, roi, scale, subset_seed) for s in specs}

    def missing() -> list[SetSpec]:
        return [s for s in specs if not _reusable(paths[s], wanted[s])]

    if not missing():
        return paths
    with atomic.exclusive_lock(out_dir / ".prepare.lock"):
        # Holding the lock, we own every write of these sets: what is there was left by a kill.
        atomic.remove_temporaries(out_dir, "set-*.h5")
        todo = missing()
        if todo:
            with storage_refusals(paths[todo[0]], "the prepared set(s) " + ", ".join(
                    s.name for s in todo), DATA_CACHE_FIX, _set_bytes(raw, todo, scale)):
                _build(raw, todo, {s: paths[s] for s in todo}, wanted, roi, scale, subset_seed,
                       workers or os.cpu_count() or 1)
    return paths


def _set_bytes(raw: RawGTSRB, specs: list[SetSpec], scale: float) -> int:
    """About the bytes of the uint8 sets (train and test images; the meta pictograms are few)."""
    images = scale * (len(raw.train) + len(raw.test))
    return int(sum(images * s.size * s.size * s.channels for s in specs))


def _reusable(path: Path, wanted: dict) -> bool:
    if not path.exists():
        return False
    attrs = read_attrs(path)
    different = {k: (attrs.get(k), v) for k, v in wanted.items() if attrs.get(k) != v}
    if different:
        key, (have, want) = next(iter(different.items()))
        raise UserError(f"{path} was built with {key}={have!r}, this run needs {want!r}: move or "
                        "delete it, or point data.prepared_dir elsewhere")
    return True


def _build(raw: RawGTSRB, specs: list[SetSpec], paths: dict[SetSpec, Path], wanted: dict,
           roi: bool, scale: float, subset_seed: int, workers: int) -> None:
    splits = {
        "train": _take(raw.train, subset_indices(len(raw.train), scale, subset_seed)),
        "test": _take(raw.test, subset_indices(len(raw.test), scale, subset_seed + 1)),
        "meta": raw.meta if raw.meta is not None else _first_of_each_class(raw.train),
    }
    names = ", ".join(s.name for s in specs)
    log.info("preparing %s from %s (%s layout, %d train / %d test images, %d workers)", names,
             raw.root, raw.layout, len(splits["train"]), len(splits["test"]), workers)
    with ExitStack() as stack:
        files: dict[SetSpec, h5py.File] = {}
        # Entered last to first, so that the sets take their names in the order of `specs`;
        # each file is closed before its temporary is renamed or removed.
        for spec in reversed(specs):
            files[spec] = h5py.File(stack.enter_context(atomic.replacing(paths[spec])), "w")
            stack.callback(_close, files[spec])
        with spawn_pool(workers) as pool:
            for split, data in splits.items():
                # FIDLE: meta pictograms always in RGB, whole image.
                split_specs = [SetSpec(s.size, "RGB") for s in specs] if split == "meta" else specs
                use_roi = roi and split != "meta"
                for spec, split_spec in zip(specs, split_specs, strict=True):
                    f = files[spec]
                    n, size, ch = len(data), split_spec.size, split_spec.channels
                    f.create_dataset(f"x_{split}", (n, size, size, ch), dtype=np.uint8)
                    f.create_dataset(f"y_{split}", data=data.labels.astype(np.int64))
                    if split == "train":
                        f.create_dataset(TRACK_KEY, data=data.tracks.astype(np.int64))
                progress = Progress(len(data), f"prepare {split}")
                distinct = tuple(dict.fromkeys(split_specs))
                for start, arrays in pool.imap(_process_chunk, _chunks(data, distinct, use_roi)):
                    for spec, split_spec in zip(specs, split_specs, strict=True):
                        block = arrays[split_spec]
                        files[spec][f"x_{split}"][start : start + len(block)] = block
                    progress.update(len(arrays[split_specs[0]]))
                progress.close()
        for spec, f in files.items():
            f.attrs.update(wanted[spec])
            f.attrs.update({"n_train": len(splits["train"]), "n_test": len(splits["test"]),
                            "package_version": __version__,
                            "created": dt.datetime.now(dt.timezone.utc).isoformat()})
            f.close()
    for spec in specs:
        log.info("wrote %s (%.1f MiB)", paths[spec], paths[spec].stat().st_size / 2**20)


def _close(file: h5py.File) -> None:
    if file.id.valid:
        file.close()


def _take(split: RawSplit, idx: np.ndarray) -> RawSplit:
    return RawSplit([split.paths[i] for i in idx], split.labels[idx], split.rois[idx],
                    split.tracks[idx])


def _first_of_each_class(split: RawSplit) -> RawSplit:
    """Stand-in pictograms where the layout ships none (official): one train image per class."""
    classes, first = np.unique(split.labels, return_index=True)
    return _take(split, first[np.argsort(classes)])


def _chunks(split: RawSplit, specs: tuple[SetSpec, ...], use_roi: bool) -> Iterator[tuple]:
    for start in range(0, len(split), CHUNK):
        end = min(start + CHUNK, len(split))
        rois = split.rois[start:end] if use_roi else None
        yield start, split.paths[start:end], rois, specs


def _process_chunk(job: tuple) -> tuple[int, dict[SetSpec, np.ndarray]]:
    start, paths, rois, specs = job
    sizes = sorted({s.size for s in specs})
    out: dict[SetSpec, list[np.ndarray]] = {s: [] for s in specs}
    for i, path in enumerate(paths):
        image = load_rgb(path)
        roi = rois[i] if rois is not None else None
        for size in sizes:
            resized = resize(image, size, roi)
            for spec in specs:
                if spec.size == size:
                    out[spec].append(apply_mode(resized, spec.mode))
    return start, {s: np.stack(v) for s, v in out.items()}
