"""Preparing a folder of JPEG files (data=image_folder) with one worker process and with several,
side by side in one run: images/s of the whole preparation a first run does (scan, file hash,
worker start, decode, resize, mode, H5 write), and the ratio.

    .venv/bin/python scripts/benchmark_image_prepare.py [--images 10000] [--size 32]
        [--mode RGB] [--pixels 28] [--workers N] [--repeats 1]

The folder is written once to a temporary directory in the ImageFolder layout (10 class
folders): real Fashion-MNIST train images (fetched by scripts/fetch_test_data.sh) as RGB JPEG,
resized to --pixels when it is not their 28, or seeded generated pictures where they are absent.
Each repeat prepares it once with 1 worker and once with --workers (default: every core), each
time into a new folder, alternating; a line per side gives its median images/s, and the last the
median of the repeats' ratios. The JPEG files are read through the page cache (just written).
The first line gives the machine's load average and a control: how much faster --workers
processes run a plain CPU loop than one, the most workers can gain where other work shares the
cores.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The preparation's workers are spawned: each imports this file again, so the heavy imports of
# the run (the datamodule, torch) stay inside the functions that only the parent runs.
CLASSES = 10


def source_images(n: int, pixels: int) -> tuple[np.ndarray, np.ndarray, str]:
    """`n` grey uint8 images of `pixels` square, their classes, and where they come from."""
    from fidle_runs.data.mnist.idx import read_split
    from tests.real_data import cache_dir

    folder = cache_dir() / "fashion_mnist"
    images_file, labels_file = (folder / "train-images-idx3-ubyte.gz",
                                folder / "train-labels-idx1-ubyte.gz")
    if images_file.is_file() and labels_file.is_file():
        x, y = read_split(images_file, labels_file)
        reps = -(-n // len(y))
        x, y, origin = np.tile(x, (reps, 1, 1))[:n], np.tile(y, reps)[:n], "real Fashion-MNIST"
    else:
        rng = np.random.default_rng(0)
        y = rng.integers(0, CLASSES, n)
        grid = np.linspace(0, 1, 28)
        waves = np.sin(np.outer(grid, y + 1)[:, None, :] * np.pi * grid[None, :, None] * 4)
        x = ((waves.transpose(2, 0, 1) + 1) * 100 + rng.integers(0, 55, (n, 28, 28))
             ).astype(np.uint8)
        origin = "generated"
    if pixels != 28:
        x = np.stack([np.asarray(Image.fromarray(im).resize((pixels, pixels), Image.BICUBIC))
                      for im in x])
    return x, y, origin


def write_folder(root: Path, x: np.ndarray, y: np.ndarray) -> None:
    for k in range(CLASSES):
        (root / f"class{k}").mkdir(parents=True)
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        Image.fromarray(image).convert("RGB").save(root / f"class{label}" / f"{i:05d}.jpg",
                                                   quality=90)


def busy(n: int) -> int:
    """A plain CPU loop (in a pool worker)."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def cpu_headroom(workers: int, tasks: int = 16, n: int = 1_000_000) -> float:
    """How many times faster `workers` processes run `tasks` CPU loops than one process."""
    from fidle_runs.data.spawn_pool import spawn_pool

    seconds = {}
    for count in (1, workers):
        with spawn_pool(count) as pool:
            pool.map(abs, range(count))  # started
            start = time.perf_counter()
            pool.map(busy, [n] * tasks, chunksize=1)
            seconds[count] = time.perf_counter() - start
    return seconds[1] / seconds[workers]


def prepare_once(raw: Path, out: Path, workers: int, size: int, mode: str) -> float:
    """Seconds a first run spends preparing `raw` with `workers` processes."""
    from fidle_runs.data.image_folder.datamodule import ImageFolderDataModule

    datamodule = ImageFolderDataModule(raw_dir=str(raw), size=size, mode=mode,
                                       prepared_dir=str(out), prepare_workers=workers)
    start = time.perf_counter()
    datamodule.prepare_data()
    elapsed = time.perf_counter() - start
    if not datamodule.set_path().is_file():
        raise SystemExit(f"no set prepared in {out}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--mode", default="RGB")
    parser.add_argument("--pixels", type=int, default=28, help="side of the JPEG files")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.workers < 2:
        parser.error("--workers must be >= 2: it is compared with 1 worker")
    x, y, origin = source_images(args.images, args.pixels)
    sides = {1: [], args.workers: []}
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        raw = Path(tmp) / "raw"
        start = time.perf_counter()
        write_folder(raw, x, y)
        print(f"wrote {args.images} JPEG files ({origin}, {args.pixels}x{args.pixels}, "
              f"{CLASSES} classes) in {time.perf_counter() - start:.1f} s; {os.cpu_count()} "
              f"cores, load average {os.getloadavg()[0]:.1f}; preparing "
              f"set-{args.size}x{args.size}-{args.mode}")
        print(f"control: {args.workers} processes run a CPU loop "
              f"{cpu_headroom(args.workers):.2f}x as fast as 1")
        for repeat in range(args.repeats):
            for workers in sides:
                seconds = prepare_once(raw, Path(tmp) / f"out-{repeat}-{workers}", workers,
                                       args.size, args.mode)
                sides[workers].append(args.images / seconds)
    for workers, rates in sides.items():
        print(f"prepare {args.images} JPEG: {workers} worker(s) "
              f"{statistics.median(rates):,.0f} images/s "
              f"({args.images / statistics.median(rates):.1f} s)")
    ratios = [many / one for one, many in zip(sides[1], sides[args.workers], strict=True)]
    print(f"prepare {args.images} JPEG: {args.workers} workers / 1 worker = "
          f"{statistics.median(ratios):.2f}x images/s")


if __name__ == "__main__":
    main()
