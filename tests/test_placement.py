"""Where the data lives while training (fidle_runs.data.placement): the decision with injected
memory sizes, and the device path on a CPU 'device'; the pinned path where a GPU is present."""

import os
from typing import ClassVar

import pytest
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.placement import (
    FREE_SHARE,
    PINNED_DEPTH,
    DeviceIndices,
    PinnedBatches,
    Placement,
    choose_placement,
    distinct_bytes,
)
from fidle_runs.data.tensor_batches import EpochBatchSampler, batch_loader

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")
GIB = 2**30
# GTSRB's 51,839 images at 48x48 RGB as uint8: what the grid's largest sets take.
GTSRB_48_RGB = 51_839 * 3 * 48 * 48


@pytest.mark.parametrize(("setting", "device", "data", "free", "chosen"), [
    ("auto", CUDA, GTSRB_48_RGB, 79 * GIB, "device"),  # an idle H100
    ("auto", CUDA, GTSRB_48_RGB, GTSRB_48_RGB, "host"),  # fits, but leaves nothing to train
    ("auto", CUDA, int(FREE_SHARE * 8 * GIB), 8 * GIB, "device"),  # exactly the share
    ("auto", CUDA, int(FREE_SHARE * 8 * GIB) + 1, 8 * GIB, "host"),
    ("auto", CPU, GTSRB_48_RGB, None, "host"),  # a CPU run keeps its loader
    ("host", CUDA, GTSRB_48_RGB, 79 * GIB, "host"),
    ("device", CUDA, 3 * GIB, 4 * GIB, "device"),  # forced beyond the auto share
    ("device", CPU, GTSRB_48_RGB, None, "device"),
])
def test_placement_follows_the_data_size_and_the_free_memory(setting, device, data, free,
                                                              chosen):
    assert choose_placement(setting, device, data, free) == chosen


def test_impossible_placements_are_one_line_naming_the_key():
    with pytest.raises(UserError, match=r"speed.data_on='gpu' is invalid: .*auto, device, host"):
        Placement("gpu")
    with pytest.raises(UserError, match=r"takes 5.00 GiB but cuda:0 has 4.00 GiB free: set "
                                        r"speed.data_on=host"):
        choose_placement("device", CUDA, 5 * GIB, 4 * GIB)


def test_shared_splits_are_counted_and_copied_once():
    x, y = torch.zeros(10, 3, 4, 4, dtype=torch.uint8), torch.zeros(10, dtype=torch.int64)
    assert distinct_bytes([x, y, x, y]) == 10 * 48 + 10 * 8
    placement = Placement("device")
    splits = {"train": (x[:6], y[:6]), "val": (x, y), "test": (x, y)}
    for split in ("train", "val", "test"):
        placement.loader(splits, split, CPU, 4, False, 0, 0, 1)
    assert placement.chosen == "device" and placement.data_bytes == 10 * 48 + 10 * 8
    assert len(placement._copies) == 2  # train's views are views of val's and test's copy


def test_overlapping_windows_cross_as_their_series_and_are_viewed_again():
    """Windows of a series (views that overlap) cost the series on the device, not window x
    series; the device batches are the windows the host holds."""
    series = torch.arange(100 * 3, dtype=torch.float32).reshape(100, 3)
    part = series[10:]  # the stretch the splits view starts past the storage's start
    x = part.unfold(0, 8, 1).transpose(1, 2)[:-1]  # (82, 8, 3): windows of 8 steps
    y = part[8:].unsqueeze(1)  # (82, 1, 3): the step after each window
    assert distinct_bytes([x, y, x[40:], y[40:]]) == 90 * 3 * 4 < x.numel() * 4
    placement = Placement("device")
    splits = {"train": (x[:40], y[:40]), "val": (x[40:], y[40:]), "test": (x[40:], y[40:])}
    loaders = {s: placement.loader(splits, s, CPU, 16, False, 0, 0, 1) for s in splits}
    assert placement.data_bytes == 90 * 3 * 4 and len(placement._copies) == 1
    for split, loader in loaders.items():
        got = list(loader)
        expected = list(batch_loader(*splits[split], 16, shuffle=False))
        assert len(got) == len(expected) > 0
        for (gx, gy), (ex, ey) in zip(got, expected, strict=True):
            assert torch.equal(gx, ex) and torch.equal(gy, ey)
    device_x = placement._on_device(splits["val"][0])
    assert device_x.untyped_storage().data_ptr() == series.untyped_storage().data_ptr()
    assert torch.equal(device_x, splits["val"][0])


@pytest.mark.parametrize(("shuffle", "rank", "world_size"), [(True, 0, 1), (False, 0, 1),
                                                             (True, 1, 2)])
def test_device_batches_are_the_host_loaders_batches(shuffle, rank, world_size):
    """Same seed, same epoch: the same batches, in the same order, whatever the placement."""
    x = torch.arange(103 * 2, dtype=torch.uint8).reshape(103, 2)
    y = torch.arange(103)
    placement = Placement("device")
    device = placement.loader({"train": (x, y)}, "train", CPU, 16, shuffle, 7, rank,
                              world_size)
    host = batch_loader(x, y, 16, shuffle, 7, rank, world_size)
    for epoch in (0, 3):
        device.sampler.set_epoch(epoch)
        host.sampler.set_epoch(epoch)
        got, expected = list(device), list(host)
        assert len(got) == len(device) == len(expected)
        for (gx, gy), (ex, ey) in zip(got, expected, strict=True):
            assert torch.equal(gx, ex) and torch.equal(gy, ey)


def test_device_indices_cross_once_per_epoch(monkeypatch):
    """The epoch's order is copied to the device in one piece, then sliced."""
    copies = []
    original = torch.Tensor.to

    def counting_to(self, *args, **kwargs):
        copies.append(len(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", counting_to)
    indices = DeviceIndices(EpochBatchSampler(50, 8, shuffle=True, seed=1), CPU)
    batches = list(indices)
    assert [len(b) for b in batches] == [8] * 6 + [2] and copies == [50]


def test_a_datamodule_without_trainer_serves_host_batches(tmp_path):
    from fidle_runs.data.in_memory import InMemoryDataModule

    dm = InMemoryDataModule(batch_size=4)
    dm.tensors = {"train": (torch.zeros(10, 1, 2, 2, dtype=torch.uint8),
                            torch.zeros(10, dtype=torch.int64))}
    loader = dm.train_dataloader()
    assert dm.placement.chosen == "host" and len(list(loader)) == 3


# FIDLE_REQUIRE_GPU=1 (scripts/gpu_check.sh on a lent GPU) makes a missing GPU a failure.
needs_gpu = pytest.mark.skipif(
    not torch.cuda.is_available() and os.environ.get("FIDLE_REQUIRE_GPU") != "1",
    reason="needs a GPU (FIDLE_REQUIRE_GPU=1 makes this a failure)")


@needs_gpu
def test_gpu_batches_come_without_host_sync_and_pinned_ones_intact():
    """On a GPU: device batches are gathered with no host synchronisation, and pinned batches
    equal the host gather even when the ring of buffers wraps while copies are in flight."""
    x = torch.randint(0, 255, (1000, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(1000)
    splits = {"train": (x, y)}
    device = Placement("device").loader(splits, "train", CUDA, 64, True, 0, 0, 1)
    iterator = iter(device)
    next(iterator)  # the epoch's order crosses once, here
    torch.cuda.set_sync_debug_mode("error")
    try:
        gathered = [b for b in iterator]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(b[0].is_cuda for b in gathered)
    pinned = Placement("host").loader(splits, "train", CUDA, 64, True, 0, 0, 1)
    host = batch_loader(x, y, 64, True, 0)
    for (px, py), (hx, hy) in zip(list(pinned), list(host), strict=True):
        assert torch.equal(px.cpu(), hx) and torch.equal(py.cpu(), hy)


class _FakeEvent:
    """A CUDA event's part in the ring, counted: record after a copy, synchronize before reuse."""

    def __init__(self) -> None:
        self.recorded = self.waited = 0

    def record(self) -> None:
        self.recorded += 1

    def synchronize(self) -> None:
        self.waited += 1


class _CpuRing(PinnedBatches):
    """The pinned ring with its CUDA pieces replaced: plain buffers, counted events, and a
    copy that is a copy (a CPU tensor's `.to(cpu)` is the buffer itself)."""

    pinned = False
    rings: ClassVar[list["_CpuRing"]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _CpuRing.rings.append(self)

    def new_event(self) -> _FakeEvent:
        return _FakeEvent()

    def copy(self, rows: torch.Tensor) -> torch.Tensor:
        return rows.clone()


def test_pinned_ring_trains_through_lightning_as_the_plain_loader_does(small_run, tmp_path,
                                                                       monkeypatch):
    """A real run whose every loader is the pinned ring (its copy a plain gather on the CPU):
    Lightning accepts it, and the network trains on the plain loader's batches, epoch by epoch.
    (Metrics are not compared: a DataLoader draws from the global RNG at each epoch's start,
    the ring does not, so dropout differs.)"""
    from fidle_runs.data import placement
    from fidle_runs.run.train import train
    from fidle_runs.tasks.base import TaskModule

    seen: list[tuple[int, int, int]] = []
    step = TaskModule.training_step

    def recording_step(self, batch, batch_idx):
        seen.append((len(batch[1]), int(batch[0].double().sum()), int(batch[1].sum())))
        return step(self, batch, batch_idx)

    monkeypatch.setattr(TaskModule, "training_step", recording_step)
    # A dense network and no test stage: what is tested is the loader, not the model.
    fast = ("model=mlp", "test=false")
    assert train(small_run(*fast, run_dir=tmp_path / "plain")).status == "completed"
    plain, seen[:] = list(seen), []

    def ring(x, y, batch_size, shuffle, seed, rank, world_size):
        batches = EpochBatchSampler(len(x), batch_size, shuffle, seed, rank, world_size,
                                    even=shuffle)
        return _CpuRing(x, y, batches, CPU)

    monkeypatch.setattr(placement, "batch_loader", ring)
    _CpuRing.rings.clear()
    assert train(small_run(*fast, run_dir=tmp_path / "ring")).status == "completed"
    assert seen == plain and len(plain) > 10, "the same batches in the same order"
    train_ring = max(_CpuRing.rings, key=len)
    events = train_ring._copied
    assert len(events) == PINNED_DEPTH, "one event per buffer, kept across epochs"
    assert sum(e.recorded for e in events) == 2 * len(train_ring), "every batch of both epochs"
    assert sum(e.waited for e in events) == 2 * len(train_ring)


@needs_gpu
def test_gpu_windows_cross_once_as_their_series():
    """On a GPU: a series' overlapping windows take the series' memory there, the device views
    are the host windows, and device and pinned batches are the host's."""
    series = torch.randn(10_000, 4)
    x = series.unfold(0, 32, 1).transpose(1, 2)[:-1]
    y = series[32:].unsqueeze(1)
    splits = {"train": (x[:8000], y[:8000]), "val": (x[8000:], y[8000:])}
    before = torch.cuda.memory_allocated(CUDA)
    placement = Placement("device")
    loaders = {s: placement.loader(splits, s, CUDA, 64, False, 0, 0, 1) for s in splits}
    assert torch.cuda.memory_allocated(CUDA) - before <= series.nbytes + 2**20
    assert torch.equal(placement._on_device(splits["val"][0]).cpu(), splits["val"][0])
    for split, loader in loaders.items():
        pinned = PinnedBatches(*splits[split], EpochBatchSampler(len(splits[split][0]), 64,
                                                                 False), CUDA)
        host = batch_loader(*splits[split], 64, shuffle=False)
        for (dx, dy), (px, py), (hx, hy) in zip(loader, pinned, host, strict=True):
            assert torch.equal(dx.cpu(), hx) and torch.equal(dy.cpu(), hy)
            assert torch.equal(px.cpu(), hx) and torch.equal(py.cpu(), hy)
