"""A prepared image set served from memory and from its file (fidle_runs.data.images.on_disk),
side by side in one process: images/s of an epoch's loading alone, and of an epoch's training
of a small CNN (FIDLE's MNIST2 network, mnist_cnn, in a plain loop: network_input, forward,
loss, backward, Adam).

    .venv/bin/python scripts/benchmark_on_disk.py [--images 5000] [--size 64] [--batch 128]
        [--workers 2] [--repeats 3] [--set PATH] [--device cpu|cuda]

Without --set it writes a set of random images in image_set's layout (uint8 NHWC in chunks of
whole rows) to a temporary folder. Both sides take their loaders from data.placement as a run
does (same seeded shuffle, the memory side gathered in memory, the disk side read by
--workers forked workers) and alternate epoch by epoch after one warm-up epoch each (the disk
side's workers start there); each line gives each side's median images/s and the median of
the epoch-by-epoch ratios disk/memory. The file is read through the operating system's page
cache: right after it is written, or where it fits in the cache, the disk side reads memory;
a set larger than memory reads the storage, at the storage's speed.
"""

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import h5py
import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fidle_runs.data.images.image_set import CHUNK_BYTES  # noqa: E402
from fidle_runs.data.images.on_disk import RowsOnDisk  # noqa: E402
from fidle_runs.data.placement import Placement  # noqa: E402
from fidle_runs.data.tensor_batches import images_to_tensor, network_input  # noqa: E402
from fidle_runs.models.cnn import mnist_cnn  # noqa: E402

CLASSES = 10


def write_set(path: Path, n: int, size: int, slab: int = 512) -> None:
    """`n` random RGB images of `size` and their classes as x_train/y_train, in image_set's
    layout."""
    rng = np.random.default_rng(0)
    shape = (size, size, 3)
    with h5py.File(path, "w") as f:
        x = f.create_dataset("x_train", (n, *shape), dtype=np.uint8,
                             chunks=(max(1, min(n, CHUNK_BYTES // int(np.prod(shape)))), *shape))
        for start in range(0, n, slab):
            stop = min(n, start + slab)
            x[start:stop] = rng.integers(0, 256, (stop - start, *shape), dtype=np.uint8)
        f.create_dataset("y_train", data=rng.integers(0, CLASSES, n, dtype=np.int64))


def loading_epoch(loader: Iterable, device: torch.device) -> int:
    """Every batch of the epoch on `device`; the images served."""
    served = 0
    for x, _ in loader:
        served += len(x.to(device, non_blocking=True))
    return served


def training_epoch(loader: Iterable, device: torch.device, net: torch.nn.Module,
                   optimizer: torch.optim.Optimizer) -> int:
    """One epoch of plain training on the loader's batches; the images trained on."""
    trained = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = torch.nn.functional.cross_entropy(net(network_input(x)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        trained += len(x)
    return trained


def side_by_side(epoch: dict[str, Callable[[int], int]], repeats: int,
                 device: torch.device) -> dict[str, list[float]]:
    """images/s of each side's epochs, alternating sides, after a warm-up epoch of each."""
    rates: dict[str, list[float]] = {side: [] for side in epoch}
    for k in range(repeats + 1):
        for side, run in epoch.items():
            start = time.perf_counter()
            images = run(k)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if k:
                rates[side].append(images / (time.perf_counter() - start))
    return rates


def line(what: str, rates: dict[str, list[float]]) -> str:
    ratios = [d / m for d, m in zip(rates["disk"], rates["memory"], strict=True)]
    return (f"{what:<9} memory {statistics.median(rates['memory']):8.0f} images/s   disk "
            f"{statistics.median(rates['disk']):8.0f} images/s   disk/memory "
            f"{statistics.median(ratios):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", type=Path, default=None, help="a prepared set to read")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.set
        if path is None:
            path = Path(tmp) / "set.h5"
            write_set(path, args.images, args.size)
        with h5py.File(path, "r") as f:
            images, labels = images_to_tensor(f["x_train"][:]), torch.from_numpy(f["y_train"][:])
        on_disk = RowsOnDisk(path, "x_train", args.workers)
        loaders = {side: Placement("host").loader({"train": (x, labels)}, "train", device,
                                                  args.batch, True, 0, 0, 1)
                   for side, x in (("memory", images), ("disk", on_disk))}
        print(f"set: {len(labels)} images {tuple(images.shape[1:])} "
              f"({path.stat().st_size / 2**20:.1f} MiB), batch {args.batch}, "
              f"{args.workers} loader workers, {device}, torch threads "
              f"{torch.get_num_threads()}")

        def epoch_of(side: str, work: Callable[[Iterable], int]) -> Callable[[int], int]:
            def run(k: int) -> int:
                loaders[side].sampler.set_epoch(k)
                return work(loaders[side])
            return run

        loading = side_by_side({side: epoch_of(side, lambda lo: loading_epoch(lo, device))
                                for side in loaders}, args.repeats, device)
        print(line("loading", loading))
        torch.manual_seed(0)
        net = mnist_cnn(tuple(images.shape[1:]), CLASSES).to(device)
        nets = {side: copy.deepcopy(net) for side in loaders}
        optimizers = {side: torch.optim.Adam(nets[side].parameters()) for side in loaders}
        training = side_by_side(
            {side: epoch_of(side, lambda lo, s=side: training_epoch(lo, device, nets[s],
                                                                     optimizers[s]))
             for side in loaders}, args.repeats, device)
        print(line("training", training) + "   (mnist_cnn)")


if __name__ == "__main__":
    main()
