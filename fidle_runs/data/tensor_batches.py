"""Serve batches of an in-memory dataset by tensor indexing: no per-sample __getitem__, no collate.

A DataLoader with `batch_size=None` over a sampler that yields whole index batches: Lightning
sees an ordinary DataLoader (and calls `set_epoch`), each step costs one gather per tensor.
Samples stored on disk (fidle_runs.data.images.on_disk) are served the same way, each batch
read by a loader worker (`read_loader`).
"""

import multiprocessing
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """NHWC uint8 images -> one contiguous NCHW uint8 tensor (one copy, kept in memory)."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def network_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> the floats in [0, 1] the networks see, in training and in reports."""
    return images.float().div_(255.0)


def example_images(shape: tuple[int, ...], n: int, generator: torch.Generator) -> torch.Tensor:
    """`n` made-up uint8 images of `shape` (C, H, W), any value 0..255."""
    return torch.randint(0, 256, (n, *shape), generator=generator, dtype=torch.uint8)


class IndexedTensors(Dataset):
    """`dataset[index_tensor]` -> the rows of every tensor at those indices."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        if len({len(t) for t in tensors}) != 1:
            raise ValueError("tensors must have the same length")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t[index] for t in self.tensors)


class EpochBatchSampler(Sampler):
    """Index batches of one process; shuffled with a permutation that depends only on
    (seed, epoch), so a run resumed at epoch k sees the same order as an uninterrupted one.

    Data-parallel (`world_size` > 1): the epoch's order is cut into global batches of
    `batch_size * world_size` and rank r takes the r-th of `world_size` near-equal slices of each.
    Together the ranks see the global batches one process with the global batch size would see,
    in the same order, each sample once. Training (`even=True`) needs every rank to take the same
    number of steps: a last global batch too small to give each rank a sample (fewer than
    `world_size` samples, a different few each epoch) is dropped. Evaluation keeps every sample,
    so a rank may get one batch fewer than another.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0,
                 world_size: int = 1, even: bool = False) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size, self.even = rank, world_size, even
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.global_batch)
        # tensor_split gives the first `rest % world_size` slices one sample more.
        slice_size = rest // self.world_size + (self.rank < rest % self.world_size)
        keeps_rest = rest >= self.world_size if self.even else slice_size > 0
        return full + int(keeps_rest)

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        for count, global_batch in enumerate(order.split(self.global_batch)):
            if count == len(self) and len(global_batch) < self.global_batch:
                return
            piece = global_batch.tensor_split(self.world_size)[self.rank]
            if len(piece):
                yield piece


def batch_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> DataLoader:
    """Batches of (x, y) for one process of `world_size`; shuffled ones (training) give every
    rank the same number of batches."""
    sampler = EpochBatchSampler(len(x), batch_size, shuffle, seed, rank, world_size, even=shuffle)
    return DataLoader(IndexedTensors(x, y), batch_size=None, sampler=sampler)


class StoredRows(Protocol):
    """Samples left where they are stored, read a batch at a time by `workers` processes."""

    workers: int

    def __len__(self) -> int: ...

    def read(self, index: torch.Tensor) -> torch.Tensor: ...


class ReadBatches(Dataset):
    """`dataset[index_tensor]` -> the stored samples at those indices, read, and their targets."""

    def __init__(self, x: StoredRows, y: torch.Tensor) -> None:
        if len(x) != len(y):
            raise ValueError("samples and targets must have the same length")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x.read(index), self.y[index]


def read_loader(x: StoredRows, y: torch.Tensor, batches: EpochBatchSampler,
                pin_memory: bool) -> DataLoader:
    """Batches of stored samples in the sampler's order, read by `x.workers` worker processes
    (none: in this process), each at most `prefetch_factor` (2) batches ahead: the memory taken
    is that of a few batches per worker, whatever the data's size. Workers are forked where the
    platform can: a run may have changed the process-wide start method (the spawn pools of data
    preparation, joblib's loky), and a forked worker starts at once and shares its parent's
    memory."""
    workers = x.workers
    context = None
    if workers > 0:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return DataLoader(ReadBatches(x, y), batch_size=None, sampler=batches, num_workers=workers,
                      persistent_workers=workers > 0, pin_memory=pin_memory,
                      multiprocessing_context=context)
