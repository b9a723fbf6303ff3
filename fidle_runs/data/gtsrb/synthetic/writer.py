"""A synthetic raw GTSRB written on disk, part of the synthetic GTSRB generator.

Per-class counts, train tracks and test order, the images rendered chunk by chunk in a pool
of spawned workers, and the two on-disk layouts (Kaggle's CSVs and PNG, the official per-class
CSVs and PPM). An image's randomness comes from (seed, split, index) and its track's from
(seed, split, class, track), so the files do not depend on the number of workers.
"""

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.data.gtsrb.synthetic.pictograms import N_CLASSES, meta_ids, pictogram_pyramid
from fidle_runs.data.gtsrb.synthetic.views import render_view
from fidle_runs.data.spawn_pool import spawn_pool

TRAIN_COUNTS: tuple[int, ...] = (
    210, 2220, 2250, 1410, 1980, 1860, 420, 1440, 1410, 1470, 2010, 1320, 2100, 2160, 780, 630,
    420, 1110, 1200, 210, 360, 330, 390, 510, 270, 1500, 600, 240, 540, 270, 450, 780, 240, 689,
    420, 1200, 390, 210, 2070, 300, 360, 240, 240,
)
TEST_COUNTS: tuple[int, ...] = (
    60, 720, 750, 450, 660, 630, 150, 450, 450, 480, 660, 420, 690, 720, 270, 210, 150, 360, 390,
    60, 90, 90, 120, 150, 90, 480, 180, 60, 150, 90, 150, 270, 60, 210, 120, 390, 120, 60, 690,
    90, 90, 60, 90,
)
LAYOUTS = ("kaggle", "official")
TRACK_LENGTH = 30
GEOMETRY_COLUMNS = ("Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")

_CHUNK = 128  # images per task of the worker pool
# Stream ids that keep the random draws of splits, tracks and images apart.
_TRAIN_IMAGE, _TEST_IMAGE, _TRAIN_TRACK, _TEST_TRACK, _TEST_ORDER = range(5)


def class_counts(fraction: float) -> tuple[list[int], list[int]]:
    """Per-class train/test counts for `fraction` of GTSRB's size (1.0: 39,209 / 12,630), every
    class >= 2 train and >= 1 test."""
    if not fraction > 0:
        raise ValueError(f"fraction={fraction} must be > 0")
    return ([max(2, round(n * fraction)) for n in TRAIN_COUNTS],
            [max(1, round(n * fraction)) for n in TEST_COUNTS])


def write_synthetic_gtsrb(root: Path, fraction: float = 1.0, layout: str = "kaggle", seed: int = 0,
                          workers: int | None = None,
                          progress: Callable[[int], None] | None = None) -> None:
    """Write a synthetic raw GTSRB under `root` (created; must be empty or absent) in `layout`.

    kaggle: FIDLE's `GTSRB/origine` (Train.csv, Test.csv, Meta.csv, PNG); official: torchvision's
    root (gtsrb/GTSRB/Training/000NN/GT-000NN.csv, Final_Test/Images, gtsrb/GT-final_test.csv,
    PPM). `progress` is called with the number of images finished, chunk by chunk.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise UserError(f"{root} is not empty: synthetic GTSRB is only written into an empty or "
                        "new folder; delete it or choose another")
    train_counts, test_counts = class_counts(fraction)
    test_labels = np.random.default_rng((seed, _TEST_ORDER)).permutation(
        np.repeat(np.arange(N_CLASSES), test_counts)).tolist()

    train_names, jobs = [], []
    for c, count in enumerate(train_counts):
        for k in range(count):
            track, i = divmod(k, TRACK_LENGTH)
            length = min(TRACK_LENGTH, count - track * TRACK_LENGTH)
            name = _train_name(layout, c, track, i)
            train_names.append(name)
            pos = i / (length - 1) if length > 1 else 1.0
            jobs.append(_Job(str(root / name), c, (seed, _TRAIN_TRACK, c, track),
                             (seed, _TRAIN_IMAGE, len(jobs)), pos))
    test_names = [_test_name(layout, n) for n in range(len(test_labels))]
    jobs += [_Job(str(root / name), c, (seed, _TEST_TRACK, n), (seed, _TEST_IMAGE, n), None)
             for n, (name, c) in enumerate(zip(test_names, test_labels, strict=True))]
    for folder in sorted({Path(job.path).parent for job in jobs}):
        folder.mkdir(parents=True, exist_ok=True)

    geometry = _render_all(jobs, workers or os.cpu_count() or 1, progress)
    n_train = len(train_names)
    train = [(*g, job.class_id) for g, job in zip(geometry[:n_train], jobs[:n_train], strict=True)]
    test = [(*g, c) for g, c in zip(geometry[n_train:], test_labels, strict=True)]
    if layout == "kaggle":
        _write_kaggle(root, train, train_names, test, test_names)
    else:
        _write_official(root, train, train_names, test, test_names)


class _Job(NamedTuple):
    path: str
    class_id: int
    track_key: tuple[int, ...]
    image_key: tuple[int, ...]
    pos: float | None  # place along the track, 0 (far) to 1 (near); None: drawn (test images)


def _train_name(layout: str, c: int, track: int, i: int) -> str:
    if layout == "kaggle":
        return f"Train/{c}/{c:05d}_{track:05d}_{i:05d}.png"
    return f"gtsrb/GTSRB/Training/{c:05d}/{track:05d}_{i:05d}.ppm"


def _test_name(layout: str, n: int) -> str:
    if layout == "kaggle":
        return f"Test/{n:05d}.png"
    return f"gtsrb/GTSRB/Final_Test/Images/{n:05d}.ppm"


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence], delimiter: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_kaggle(root: Path, train: list[tuple], train_names: list[str], test: list[tuple],
                  test_names: list[str]) -> None:
    header = (*GEOMETRY_COLUMNS, "ClassId", "Path")
    _write_csv(root / "Train.csv", header,
               ((*g, name) for g, name in zip(train, train_names, strict=True)), ",")
    _write_csv(root / "Test.csv", header,
               ((*g, name) for g, name in zip(test, test_names, strict=True)), ",")
    (root / "Meta").mkdir()
    for c in range(N_CLASSES):
        pictogram_pyramid(c)[-1].save(root / "Meta" / f"{c}.png")
    _write_csv(root / "Meta.csv", ("Path", "ClassId", "ShapeId", "ColorId", "SignId"),
               ((f"Meta/{c}.png", c, *meta) for c, meta in enumerate(meta_ids())), ",")


def _write_official(root: Path, train: list[tuple], train_names: list[str], test: list[tuple],
                    test_names: list[str]) -> None:
    header = ("Filename", *GEOMETRY_COLUMNS, "ClassId")
    by_class: dict[int, list[tuple]] = {}
    for g, name in zip(train, train_names, strict=True):
        by_class.setdefault(g[-1], []).append((Path(name).name, *g))
    training = root / "gtsrb" / "GTSRB" / "Training"
    for c, rows in by_class.items():
        _write_csv(training / f"{c:05d}" / f"GT-{c:05d}.csv", header, rows, ";")
    rows = [(Path(name).name, *g) for g, name in zip(test, test_names, strict=True)]
    _write_csv(root / "gtsrb" / "GTSRB" / "Final_Test" / "Images" / "GT-final_test.test.csv",
               header[:-1], (r[:-1] for r in rows), ";")
    _write_csv(root / "gtsrb" / "GT-final_test.csv", header, rows, ";")


def _render_all(jobs: list[_Job], workers: int,
                progress: Callable[[int], None] | None) -> list[tuple[int, ...]]:
    """(Width, Height, x1, y1, x2, y2) of every job's image, in job order, once written."""
    chunks = [jobs[k : k + _CHUNK] for k in range(0, len(jobs), _CHUNK)]
    geometry: list[tuple[int, ...]] = []
    with ExitStack() as stack:
        if workers > 1 and len(chunks) > 1:
            pool = stack.enter_context(spawn_pool(min(workers, len(chunks))))
            results = pool.imap(_render_chunk, chunks)
        else:
            results = map(_render_chunk, chunks)
        for rows in results:
            geometry += rows
            if progress is not None:
                progress(len(rows))
    return geometry


def _render_chunk(jobs: list[_Job]) -> list[tuple[int, ...]]:
    rows = []
    for job in jobs:
        image, roi = render_view(job.class_id, job.track_key, job.image_key, job.pos)
        image.save(job.path)
        rows.append((image.width, image.height, *roi))
    return rows

