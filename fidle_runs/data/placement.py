"""Where an in-memory dataset lives while a run trains, and how its batches reach the run's device.

- `device`: every split is copied once into the device's memory (a split shared by two loaders,
  val and test under `data.val_on_test`, once). Tensors cross as the stretch of memory (storage)
  they view, once per storage, and are viewed again the same way on the device: overlapping
  views (a series' windows, fidle_runs.data.series) cost their series, not window x series, and
  views of one tensor (train and val cut from one series) share one copy. Each epoch's order
  is drawn on the host as before (same seed, same batches), copied to the device in one piece,
  and every batch is gathered there (from the views) with an index already on the device: a
  training step costs no host round trip, and scaling and augmentation (`network_input`,
  `augment`) follow on the device.
- `host`: the data stays in host memory. On a GPU each batch is gathered into one of a ring of
  pinned buffers and copied with a non-blocking copy; a buffer is refilled only after its copy
  has completed (a CUDA event recorded after it), so an in-flight copy is never overwritten. On
  a CPU this is the plain index loader (fidle_runs.data.tensor_batches).
- `auto` (`speed.data_on`'s default) takes `device` on a GPU whose free memory holds the data
  with room to spare (FREE_SHARE), else `host`. On a CPU both are the same memory: `host`.

Samples left on disk (a prepared image set larger than memory, fidle_runs.data.images.on_disk)
are read a batch at a time by loader workers (`read_loader`), in the same seeded order: they
take no memory to place, and never go to the device whole (`device` is refused, `auto` is
`host`); on a GPU the workers' batches are pinned for the copy.
"""

import logging
from collections.abc import Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from fidle_runs.core.errors import UserError
from fidle_runs.data.tensor_batches import (
    EpochBatchSampler,
    IndexedTensors,
    batch_loader,
    read_loader,
)

log = logging.getLogger(__name__)

PLACEMENTS = ("auto", "device", "host")
# The share of the GPU's free memory the data may take under `auto`: the rest stays for the
# network, its activations and workspaces, and the other runs sharing the GPU.
FREE_SHARE = 0.5
# Pinned buffers per loader: the one being filled, the one Lightning has prefetched, and the one
# the step is computing on.
PINNED_DEPTH = 3

Pair = tuple[torch.Tensor, torch.Tensor]


def choose_placement(setting: str, device: torch.device, data_bytes: int,
                     free_bytes: int | None) -> str:
    """`device` or `host` for data of `data_bytes` on `device` with `free_bytes` free (None when
    unknown: a CPU)."""
    if setting not in PLACEMENTS:
        raise UserError(f"speed.data_on={setting!r} is invalid: it must be one of "
                        f"{', '.join(PLACEMENTS)}")
    if setting != "auto":
        if setting == "device" and free_bytes is not None and data_bytes > free_bytes:
            raise UserError(f"speed.data_on=device: the data takes {_gib(data_bytes)} but "
                            f"{device} has {_gib(free_bytes)} free: set speed.data_on=host "
                            "(or auto)")
        return setting
    if device.type != "cuda" or free_bytes is None:
        return "host"
    return "device" if data_bytes <= FREE_SHARE * free_bytes else "host"


def free_memory(device: torch.device) -> int | None:
    """Free bytes on a GPU; None elsewhere."""
    if device.type != "cuda":
        return None
    return torch.cuda.mem_get_info(device)[0]


def distinct_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes the tensors take on a device: each stretch of storage they view counted once (val and
    test may be the same tensor, windows of a series overlap)."""
    return sum((stop - start) * dtype.itemsize
               for (_, dtype), (start, stop) in _stretches(tensors).items())


def _stretches(tensors: Iterable[torch.Tensor]) -> dict[tuple, tuple[int, int]]:
    """Per (storage, dtype): the elements [start, stop) of the storage the tensors view (samples
    left on disk view none)."""
    spans: dict[tuple, tuple[int, int]] = {}
    for t in tensors:
        if not isinstance(t, torch.Tensor) or t.numel() == 0:
            continue
        start = t.storage_offset()
        stop = start + 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride(), strict=True))
        key = _storage(t)
        low, high = spans.get(key, (start, stop))
        spans[key] = (min(low, start), max(high, stop))
    return spans


def _storage(t: torch.Tensor) -> tuple:
    return t.untyped_storage().data_ptr(), t.dtype


class Placement:
    """A datamodule's placement: decided on the first loader a trainer asks for, for all splits
    together; device copies kept for the loaders of later stages (test after fit). Decided
    again, copies dropped, for another device or splits that view other memory: views of one
    datamodule that share this object with other tensors in a split (`evaluate` scores each
    split as the test split of a shallow copy) get their own tensors' copies, never a lookup
    of memory this placement did not record."""

    def __init__(self, setting: str = "auto") -> None:
        choose_placement(setting, torch.device("cpu"), 0, None)  # a bad setting fails now
        self.setting = setting
        self.chosen: str | None = None
        self.device: torch.device | None = None
        self.data_bytes = 0
        # Per (storage, dtype): the first element copied and the copy on the device.
        self._copies: dict[tuple, tuple[int, torch.Tensor]] = {}
        self._stretches: dict[tuple, tuple[int, int]] = {}

    def loader(self, splits: dict[str, Pair], split: str, device: torch.device,
               batch_size: int, shuffle: bool, seed: int, rank: int,
               world_size: int) -> Iterable[Pair]:
        """The batches of `split` for this process (`rank` of `world_size`), on `device`."""
        tensors = [t for pair in splits.values() for t in pair]
        stretches = _stretches(tensors)
        if self.chosen is None or self.device != device or stretches != self._stretches:
            self._copies = {}  # released before the free memory is measured
            self.data_bytes = distinct_bytes(tensors)
            self._stretches = stretches
            on_disk = [name for name, (x, _) in splits.items() if not isinstance(x, torch.Tensor)]
            if on_disk and self.setting == "device":
                raise UserError(f"speed.data_on=device: the {', '.join(on_disk)} samples are "
                                "read from disk, the data being larger than memory: set "
                                "speed.data_on=host (or auto)")
            self.chosen = "host" if on_disk else choose_placement(
                self.setting, device, self.data_bytes, free_memory(device))
            self.device = device
            log.debug("data: %s in %s memory%s", _gib(self.data_bytes),
                      device if self.chosen == "device" else "host",
                      f", the {', '.join(on_disk)} samples on disk" if on_disk else "")
        x, y = splits[split]
        batches = EpochBatchSampler(len(x), batch_size, shuffle, seed, rank, world_size,
                                    even=shuffle)
        if not isinstance(x, torch.Tensor):
            return read_loader(x, y, batches, pin_memory=device.type == "cuda")
        if self.chosen == "host" and device.type != "cuda":
            return batch_loader(x, y, batch_size, shuffle, seed, rank, world_size)
        if self.chosen == "device":
            return DataLoader(IndexedTensors(self._on_device(x), self._on_device(y)),
                              batch_size=None, sampler=DeviceIndices(batches, device))
        return PinnedBatches(x, y, batches, device)

    def _on_device(self, t: torch.Tensor) -> torch.Tensor:
        """`t` on the device: the stretch of its storage that the splits view crosses once, and
        `t` is the same view of that copy."""
        if t.numel() == 0:
            return t.to(self.device)
        key = _storage(t)
        if key not in self._copies:
            start, stop = self._stretches[key]
            stretch = torch.empty(0, dtype=t.dtype, device=t.device).set_(
                t.untyped_storage(), start, (stop - start,), (1,))
            self._copies[key] = start, stretch.to(self.device)
        start, copy = self._copies[key]
        # The copy is the host tensor itself where the device is the host (a CPU).
        offset = copy.storage_offset() + t.storage_offset() - start
        return copy.as_strided(t.shape, t.stride(), offset)


class DeviceIndices(Sampler):
    """An EpochBatchSampler's index batches, on `device`: the epoch's order crosses to the
    device in one copy, then each batch is a slice of it."""

    def __init__(self, batches: EpochBatchSampler, device: torch.device) -> None:
        self.batches, self.device = batches, device

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[torch.Tensor]:
        pieces = list(self.batches)
        if not pieces:
            return
        order = torch.cat(pieces).to(self.device)
        yield from order.split([len(p) for p in pieces])


class PinnedBatches:
    """Batches gathered on the host into pinned buffers and copied to a GPU without blocking.
    Lightning finds the sampler (`set_epoch`), the batch sampler and the length as on a
    DataLoader: its checks read `batch_sampler` whenever a loader has a `sampler`.

    The buffers' copy events live as long as the ring: a new epoch waits for the last epoch's
    copies from a buffer before it refills it. `pinned`, `new_event` and `copy` are the
    CUDA-only pieces, replaced in the CPU tests."""

    pinned = True

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batches: EpochBatchSampler,
                 device: torch.device, depth: int = PINNED_DEPTH) -> None:
        self.x, self.y, self.device, self.depth = x, y, device, depth
        self.sampler = self.batch_sampler = batches
        self._buffers: list[Pair] = []
        self._copied: list = [None] * depth

    def new_event(self) -> "torch.cuda.Event":
        return torch.cuda.Event()

    def copy(self, rows: torch.Tensor) -> torch.Tensor:
        """The buffer's rows on the device, copied without blocking the host."""
        return rows.to(self.device, non_blocking=True)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[Pair]:
        if not self._buffers:
            rows = self.sampler.batch_size
            self._buffers = [tuple(torch.empty((rows, *t.shape[1:]), dtype=t.dtype,
                                               pin_memory=self.pinned) for t in (self.x, self.y))
                             for _ in range(self.depth)]
            self._copied = [self.new_event() for _ in range(self.depth)]
        for i, index in enumerate(self.sampler):
            k = i % self.depth
            self._copied[k].synchronize()  # the buffer's previous copy has landed
            batch = []
            for source, buffer in zip((self.x, self.y), self._buffers[k], strict=True):
                rows = buffer[:len(index)]
                torch.index_select(source, 0, index, out=rows)
                batch.append(self.copy(rows))
            self._copied[k].record()
            yield batch[0], batch[1]


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"
