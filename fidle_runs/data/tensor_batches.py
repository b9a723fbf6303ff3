"""Serve batches of an in-memory dataset by tensor indexing: no per-sample __getitem__, no collate.

A DataLoader with `batch_size=None` over a sampler that yields whole index batches: Lightning
sees an ordinary DataLoader (and calls `set_epoch`), each step costs one gather per tensor.
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """NHWC uint8 images -> one contiguous NCHW uint8 tensor (one copy, kept in memory)."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def network_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> the floats in [0, 1] the networks see, in training and in reports."""
    return images.float().div_(255.0)


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
    """Index batches; shuffled with a permutation that depends only on (seed, epoch), so a run
    resumed at epoch k sees the same order as an uninterrupted one."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int = 0) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        yield from order.split(self.batch_size)


def batch_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool,
                 seed: int = 0) -> DataLoader:
    return DataLoader(IndexedTensors(x, y), batch_size=None,
                      sampler=EpochBatchSampler(len(x), batch_size, shuffle, seed))
