"""A prepared image set too large for memory, read from its H5 file a batch at a time.

`fits_in_memory` decides, against the memory this process may really use (`memory_limit`: the
machine's, its cgroup's, its rlimits': a Slurm job's limit is its cgroup's, not the node's),
whether a split is loaded whole or left on disk as `RowsOnDisk`: a view of some rows of one of
the file's image datasets that subsets and validation splits index like a tensor without
reading anything, and that loader workers read a batch at a time (`read`), each worker with
its own handle on the file (an HDF5 handle must not cross a fork).
"""

import os
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from fidle_runs.core.errors import UserError

PROC_CGROUP = Path("/proc/self/cgroup")
PROC_STATUS = Path("/proc/self/status")
# Loading a split whole holds it twice at the peak: as stored (NHWC), then channels first.
LOAD_PEAK = 2
CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")
CGROUP_V2 = Path("/sys/fs/cgroup")


def memory_limit() -> int:
    """The bytes this process may use: the smallest of the machine's memory, its cgroup's limit
    (and its parents') and its RLIMIT_DATA and RLIMIT_AS, the unlimited ones left out."""
    limits = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), *_cgroup_limits()]
    for which in (resource.RLIMIT_DATA, resource.RLIMIT_AS):
        soft = resource.getrlimit(which)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    return min(limits)


def _cgroup_limits() -> list[int]:
    """The memory limits of this process's cgroup and of the cgroups above it (v1 or v2)."""
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        return []
    limits = []
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if "memory" in controllers.split(","):
            limits += _limits_up(CGROUP_V1_MEMORY, group, "memory.limit_in_bytes")
        elif controllers == "":
            limits += _limits_up(CGROUP_V2, group, "memory.max")
    return limits


def _limits_up(root: Path, group: str, name: str) -> list[int]:
    """The readable numeric `name` files from `root/group` up to `root` ("max" is no limit)."""
    limits = []
    folder = root / group.lstrip("/")
    for place in (folder, *folder.parents):
        try:
            text = (place / name).read_text().strip()
        except OSError:
            text = ""
        if text.isdigit():
            limits.append(int(text))
        if place == root:
            break
    return limits


def fits_in_memory(nbytes: int, share: float) -> bool:
    """Whether `nbytes` of images, loaded whole, leave the process within `share`
    (data.memory_share) of the memory it has left (`memory_limit()` less what it already uses:
    torch and Lightning alone take about a gigabyte). Loading costs twice the images at its peak
    (read as stored, then channels put first); the rest of the share is for the network, its
    batches, the loader workers and the page cache."""
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise UserError(f"data.memory_share={share!r} is invalid: it must be in (0, 1], the "
                        "share of memory a prepared set may take in memory, e.g. 0.5")
    return LOAD_PEAK * nbytes <= share * (memory_limit() - memory_in_use())


def memory_in_use() -> int:
    """This process's memory now: the larger of its private memory (what RLIMIT_DATA counts)
    and its resident memory (what a cgroup counts), 0 where /proc cannot tell."""
    try:
        status = PROC_STATUS.read_text().splitlines()
    except OSError:
        return 0
    sizes = [int(line.split()[1]) * 1024 for line in status
             if line.startswith(("VmData:", "VmRSS:"))]
    return max(sizes, default=0)


class RowsOnDisk:
    """Rows of an H5 dataset of uint8 NHWC images (`key` of the file at `path`), as the NCHW
    uint8 tensor they would be in memory: `shape`, `dtype` and `len` as that tensor's, and
    indexing (integer arrays or tensors, boolean masks, slices) gives the view of those rows
    without reading them. `read` reads some rows; `workers` is how many loader processes read
    its batches (fidle_runs.data.placement)."""

    dtype = torch.uint8

    def __init__(self, path: Path, key: str, workers: int, rows: np.ndarray | None = None) -> None:
        self.path, self.key, self.workers = Path(path), key, workers
        with h5py.File(self.path, "r") as f:
            stored = f[key]
            if stored.ndim != 4 or stored.dtype != np.uint8:
                raise UserError(f"{self.path}[{key}] holds {stored.dtype} of shape "
                                f"{stored.shape}, not uint8 images (N, H, W, C): delete the "
                                "prepared set and run again to rebuild it")
            n, height, width, channels = stored.shape
        self.sample_shape = (channels, height, width)
        self.rows = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        self._file: h5py.File | None = None
        self._pid = 0

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.rows), *self.sample_shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"RowsOnDisk({str(self.path)!r}, {self.key!r}, {len(self)} rows)"

    def __getitem__(self, index: Any) -> "RowsOnDisk":
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        rows = self.rows[index]
        if rows.ndim != 1:
            raise TypeError(f"RowsOnDisk takes index arrays, masks or slices, not {index!r}")
        view = object.__new__(RowsOnDisk)
        view.__dict__.update(self.__getstate__())
        view.rows = rows
        return view

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the open file: a copy in another process opens its own."""
        return {**self.__dict__, "_file": None, "_pid": 0}

    def read(self, index: torch.Tensor) -> torch.Tensor:
        """The rows at `index` (positions in this view), in that order, as one contiguous NCHW
        uint8 tensor: each distinct row read once, in the file's order, a run of consecutive
        rows in one read, then put in order. The reads select their rows in HDF5's dataspaces
        directly: h5py's list indexing, and even its read_direct per run, cost far more per
        row than reading a small image does."""
        positions = self.rows[np.asarray(index, dtype=np.int64)]
        unique, inverse = np.unique(positions, return_inverse=True)
        channels, height, width = self.sample_shape
        block = np.empty((len(unique), height, width, channels), dtype=np.uint8)
        if len(unique):
            dataset = self._dataset().id
            in_file, in_block = dataset.get_space(), h5py.h5s.create_simple(block.shape)
            starts = np.flatnonzero(np.diff(unique, prepend=-2) != 1)
            for start, stop in zip(starts, [*starts[1:], len(unique)], strict=True):
                count = (int(stop - start), height, width, channels)
                in_file.select_hyperslab((int(unique[start]), 0, 0, 0), count)
                in_block.select_hyperslab((int(start), 0, 0, 0), count)
                dataset.read(in_block, in_file, block)
        if len(unique) != len(positions) or (positions[1:] < positions[:-1]).any():
            # Whole rows gathered, then transposed: faster than gathering the transposed rows.
            block = block[inverse.reshape(-1)]
        return torch.from_numpy(np.ascontiguousarray(block.transpose(0, 3, 1, 2)))

    def split(self, size: int) -> Iterator[torch.Tensor]:
        """This view's rows read `size` at a time, in order: the tensors torch.Tensor.split
        would give of the rows in memory (a batched pass over a split, tasks.base.task_outputs
        and the report, reads it this way)."""
        for start in range(0, len(self), size):
            yield self.read(torch.arange(start, min(start + size, len(self))))

    def _dataset(self) -> h5py.Dataset:
        """The dataset, from a handle this process opened (a forked worker opens its own)."""
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file[self.key]


def rows_of(x: torch.Tensor | RowsOnDisk, index: torch.Tensor) -> torch.Tensor:
    """The samples at `index` of a split's x, in memory or on disk."""
    return x.read(index) if isinstance(x, RowsOnDisk) else x[index]
