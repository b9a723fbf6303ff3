"""A prepared image set larger than memory, read from its file (fidle_runs.data.images.on_disk):
its reads equal the images in memory whatever the index, its loaders give the in-memory
loaders' batches in the same order, and a set three times a real memory limit trains under it."""

import json
import os
import pickle
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.images import on_disk
from fidle_runs.data.images.datamodule import ImageSetDataModule
from fidle_runs.data.images.image_set import CHUNK_BYTES
from fidle_runs.data.images.on_disk import (
    RowsOnDisk,
    fits_in_memory,
    memory_in_use,
    memory_limit,
    rows_of,
)
from fidle_runs.data.in_memory import InMemoryDataModule, Splits
from fidle_runs.data.placement import Placement, distinct_bytes
from fidle_runs.data.tensor_batches import images_to_tensor, read_loader
from fidle_runs.tasks.base import task_outputs

CLASSES = ["cat", "dog", "owl"]
REPO = Path(__file__).resolve().parent.parent
# The memory given to the training process of the larger-than-memory test: room for a CPU run
# (torch and Lightning imported, a few batches of 256x256 images per loader worker), a third of
# the set it trains on.
LIMIT = 3 << 29


def write_set(path: Path, n_train: int, n_test: int, size: int, channels: int = 3,
              seed: int = 0, slab: int = 256) -> None:
    """A prepared set in image_set's layout (uint8 NHWC in chunks of whole rows, int64 labels,
    its attributes) of random images, written a slab of rows at a time."""
    rng = np.random.default_rng(seed)
    shape = (size, size, channels)
    rows_per_chunk = max(1, CHUNK_BYTES // int(np.prod(shape)))
    with h5py.File(path, "w") as f:
        for split, n in (("train", n_train), ("test", n_test)):
            x = f.create_dataset(f"x_{split}", (n, *shape), dtype=np.uint8,
                                 chunks=(min(n, rows_per_chunk), *shape))
            for start in range(0, n, slab):
                stop = min(n, start + slab)
                x[start:stop] = rng.integers(0, 256, (stop - start, *shape), dtype=np.uint8)
            f.create_dataset(f"y_{split}", data=np.arange(n, dtype=np.int64) % len(CLASSES))
        f.attrs.update({"class_names": json.dumps(CLASSES), "size": size,
                        "mode": "RGB" if channels == 3 else "L", "format_version": 1,
                        "skipped": "{}"})


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("on_disk") / "set.h5"
    write_set(path, n_train=103, n_test=37, size=6)
    return path


def in_memory(path: Path, split: str = "train") -> torch.Tensor:
    with h5py.File(path, "r") as f:
        return images_to_tensor(f[f"x_{split}"][:])


def test_reads_equal_the_images_in_memory_for_any_index(small_set):
    rows, images = RowsOnDisk(small_set, "x_train", 0), in_memory(small_set)
    assert rows.shape == tuple(images.shape) and len(rows) == 103 and rows.dtype == images.dtype
    shuffled = torch.randperm(103, generator=torch.Generator().manual_seed(1))
    assert torch.equal(rows.read(shuffled), images[shuffled])
    repeated = torch.tensor([5, 5, 0, 102, 5])
    assert torch.equal(rows.read(repeated), images[repeated])
    mask = torch.arange(103) % 3 == 1
    subset = np.array([30, 2, 17, 8])
    view = rows[mask][subset]  # views read nothing; a view of a view is of the same file
    assert view.shape == (4, 3, 6, 6)
    assert torch.equal(view.read(torch.tensor([3, 0, 2, 1])), images[mask][subset][[3, 0, 2, 1]])
    assert torch.equal(torch.cat(list(rows[torch.arange(10, 60)].split(16))), images[10:60])
    assert rows.read(torch.tensor([], dtype=torch.long)).shape == (0, 3, 6, 6)
    batch = rows.read(shuffled[:9])
    assert batch.is_contiguous() and batch.dtype == torch.uint8
    assert torch.equal(rows_of(view, torch.tensor([1])), rows_of(images[mask][subset],
                                                                 torch.tensor([1])))


def test_a_pickled_view_opens_its_own_file(small_set):
    rows = RowsOnDisk(small_set, "x_test", 0)[np.arange(5, 30)]
    rows.read(torch.tensor([0]))  # the handle is open
    copy = pickle.loads(pickle.dumps(rows))
    assert copy._file is None
    assert torch.equal(copy.read(torch.arange(25)), in_memory(small_set, "test")[5:30])


def test_forked_workers_read_the_batches_in_the_sampler_order(small_set):
    rows, images = RowsOnDisk(small_set, "x_train", 2), in_memory(small_set)
    rows.read(torch.tensor([0]))  # opened in the parent before the workers fork
    labels = torch.arange(103) * 10
    splits = {"train": (rows, labels)}
    on_disk_loader = Placement().loader(splits, "train", torch.device("cpu"), 16, True, 7, 0, 1)
    assert on_disk_loader.num_workers == 2 and on_disk_loader.persistent_workers
    for epoch in (0, 1):
        on_disk_loader.sampler.set_epoch(epoch)  # as Lightning does for every epoch
        for x, y in on_disk_loader:
            assert torch.equal(x, images[y // 10])


def batches(loader, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.sampler.set_epoch(epoch)
    return list(loader)


@pytest.mark.parametrize("shuffle", [True, False])
def test_the_loader_gives_the_in_memory_batches_in_the_same_order(small_set, shuffle):
    rows, images = RowsOnDisk(small_set, "x_train", 1), in_memory(small_set)
    labels = torch.arange(103)
    for world_size in (1, 3):
        for rank in range(world_size):
            args = ("train", torch.device("cpu"), 8, shuffle, 11, rank, world_size)
            disk = Placement().loader({"train": (rows, labels)}, *args)
            memory = Placement().loader({"train": (images, labels)}, *args)
            for epoch in (0, 4):
                got, expected = batches(disk, epoch), batches(memory, epoch)
                assert len(got) == len(expected) == len(disk)
                for (x, y), (x_memory, y_memory) in zip(got, expected, strict=True):
                    assert torch.equal(y, y_memory) and torch.equal(x, x_memory)
        if world_size == 1 and shuffle:
            order = torch.cat([y for _, y in batches(disk, 2)])
            assert sorted(order.tolist()) == list(range(103))  # each sample once an epoch
            assert not torch.equal(order, torch.cat([y for _, y in batches(disk, 3)]))


def test_samples_on_disk_are_placed_on_the_host_and_never_on_the_device(small_set):
    rows = RowsOnDisk(small_set, "x_train", 0)
    labels = torch.arange(103)
    splits = {"train": (rows, labels), "test": (rows[np.arange(3)], labels[:3])}
    assert distinct_bytes([rows, labels]) == labels.numel() * 8
    placement = Placement("auto")
    placement.loader(splits, "train", torch.device("cpu"), 8, True, 0, 0, 1)
    assert placement.chosen == "host"
    with pytest.raises(UserError, match=r"speed.data_on=device: the train, test samples are "
                                        r"read from disk"):
        Placement("device").loader(splits, "test", torch.device("cpu"), 8, False, 0, 0, 1)


def test_pinned_on_a_gpu_unpinned_elsewhere(small_set):
    rows = RowsOnDisk(small_set, "x_train", 0)
    sampler = Placement().loader({"train": (rows, torch.arange(103))}, "train",
                                 torch.device("cpu"), 8, True, 0, 0, 1).sampler
    assert not read_loader(rows, torch.arange(103), sampler, pin_memory=False).pin_memory


class DiskSet(InMemoryDataModule):
    """The smallest family on a set left on disk: what InMemoryDataModule does with it."""

    family, task = "on_disk_test", "classification"

    def __init__(self, path: Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = path

    @property
    def name(self) -> str:
        return "on-disk"

    @property
    def n_outputs(self) -> int:
        return len(CLASSES)

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255

    def load(self) -> Splits:
        with h5py.File(self.path, "r") as f:
            y_train, y_test = (torch.from_numpy(f[f"y_{s}"][:]) for s in ("train", "test"))
        return Splits(RowsOnDisk(self.path, "x_train", 0), y_train,
                      RowsOnDisk(self.path, "x_test", 0), y_test)


@pytest.mark.parametrize("val_on_test", [False, True])
def test_scale_and_the_validation_split_cut_views_of_the_file(small_set, val_on_test):
    datamodule = DiskSet(small_set, scale=0.5, val_fraction=0.2, val_on_test=val_on_test)
    datamodule.setup()
    images = {"train": in_memory(small_set), "test": in_memory(small_set, "test")}
    with h5py.File(small_set, "r") as f:
        y_train = torch.from_numpy(f["y_train"][:])
    assert datamodule.dims["in_shape"] == (3, 6, 6)
    described = datamodule.describe()
    assert (described["n_train"] + described["n_val"], described["n_test"]) == (51, 18)
    for split, (x, y) in datamodule.tensors.items():
        assert isinstance(x, RowsOnDisk) and len(x) == len(y)
        source = "test" if split == "test" or (val_on_test and split == "val") else "train"
        stored = images[source][torch.from_numpy(x.rows)]
        assert torch.equal(x.read(torch.arange(len(x))), stored)
        if source == "train":
            assert torch.equal(y, y_train[torch.from_numpy(x.rows)])
    network = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(108, 3))
    x = datamodule.tensors["test"][0]
    outputs = task_outputs(network, datamodule, x, torch.device("cpu"), 7)
    with torch.inference_mode():
        expected = network(datamodule.network_input(x.read(torch.arange(len(x)))))
    assert torch.allclose(outputs, expected)


def test_fits_in_memory_against_the_limit():
    limit = memory_limit()
    assert 0 < limit <= resource.getpagesize() * os.sysconf("SC_PHYS_PAGES")
    used = memory_in_use()
    assert 100 << 20 < used < limit  # torch is imported
    # Half of what is left, held twice while loading: a quarter of it.
    room = (limit - used) // 4
    assert fits_in_memory(room - (64 << 20), 0.5)
    assert not fits_in_memory(room + (64 << 20), 0.5)
    for share in (0, 1.5, -0.1, True, "half"):
        with pytest.raises(UserError, match=r"^data.memory_share=.* is invalid: it must be in "
                                            r"\(0, 1\]"):
            fits_in_memory(1, share)


@pytest.mark.parametrize("which", ["RLIMIT_DATA", "RLIMIT_AS"])
def test_memory_limit_is_a_lower_rlimit(which):
    limit = {"RLIMIT_DATA": 3 << 30, "RLIMIT_AS": 12 << 30}[which]
    code = ("import resource\n"
            f"resource.setrlimit(resource.{which}, ({limit}, resource.getrlimit("
            f"resource.{which})[1]))\n"
            "from fidle_runs.data.images.on_disk import memory_limit\n"
            "print(memory_limit())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == min(limit, memory_limit())


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_memory_limit_reads_the_cgroup_and_the_groups_above_it(version, tmp_path, monkeypatch):
    root = tmp_path / "cgroup"
    name = "memory.limit_in_bytes" if version == "v1" else "memory.max"
    unlimited = "9223372036854771712" if version == "v1" else "max"
    for folder, value in (("", unlimited), ("slurm", str(5 << 30)),
                          ("slurm/job_7", str(2 << 30)), ("slurm/job_7/step_0", unlimited)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_text(value + "\n")
    line = ("4:memory:/slurm/job_7/step_0" if version == "v1" else "0::/slurm/job_7/step_0")
    proc = tmp_path / "proc_cgroup"
    proc.write_text(f"9:pids:/\n{line}\n1:cpu:/\n")
    monkeypatch.setattr(on_disk, "PROC_CGROUP", proc)
    monkeypatch.setattr(on_disk, "CGROUP_V1_MEMORY" if version == "v1" else "CGROUP_V2", root)
    # the other version's root holds nothing here
    monkeypatch.setattr(on_disk, "CGROUP_V2" if version == "v1" else "CGROUP_V1_MEMORY",
                        tmp_path / "none")
    monkeypatch.setattr(on_disk.resource, "getrlimit", lambda _: (-1, -1))
    assert sorted(on_disk._cgroup_limits())[:2] == [2 << 30, 5 << 30]
    assert memory_limit() == 2 << 30


class PreparedSetAt(ImageSetDataModule):
    """The prepared set at `data.file`, served as every image family serves its set."""

    family = "images"

    def __init__(self, file: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.file = Path(file)

    @property
    def name(self) -> str:
        return self.file.stem

    def set_path(self) -> Path:
        return self.file

    def build_set(self, path: Path) -> None:
        raise UserError(f"data.file={path} does not exist: write the set first")


def write_data_config(folder: Path, set_file: Path, size: int) -> Path:
    """A config group `data=prepared_at` for the set, in `folder` (for hydra.searchpath)."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "prepared_at.yaml").write_text(
        f"_target_: tests.test_on_disk.PreparedSetAt\nfile: {set_file}\nsize: {size}\n"
        "mode: RGB\nread_from: auto\nmemory_share: 0.5\nloader_workers: 2\n"
        "batch_size: 128\nval_fraction: 0.1\n")
    return folder


@contextmanager
def memory_cgroup(limit: int) -> Iterator[Path | None]:
    """A new memory cgroup (v1, else v2) limited to `limit` bytes: its cgroup.procs, which a
    process joins by writing its pid there; None where this machine lets us create none (CI
    containers). Removed afterwards."""
    for root, name in ((Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes"),
                       (Path("/sys/fs/cgroup"), "memory.max")):
        group = root / f"fidle_on_disk_test_{os.getpid()}"
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            (group / name).write_text(str(limit))
        except OSError:
            group.rmdir()
            continue
        try:
            yield group / "cgroup.procs"
        finally:
            group.rmdir()
        return
    yield None


@pytest.mark.slow
def test_a_set_three_times_the_memory_limit_trains_to_completion_under_it(tmp_path):
    size, n_test = 256, 1024
    image = size * size * 3
    n_train = -(-3 * LIMIT // image) - n_test
    set_file = tmp_path / "large.h5"
    write_set(set_file, n_train, n_test, size)
    assert (n_train + n_test) * image >= 3 * LIMIT
    conf = write_data_config(tmp_path / "conf", set_file, size)
    args = [sys.executable, "-m", "fidle_runs", f"hydra.searchpath=[file://{conf}]",
            "data=prepared_at", "model=mlp", "model.net.widths=[2]", "trainer.max_epochs=1",
            "callbacks.progress.style=lines", f"paths.output_root={tmp_path}"]
    # Threads as on a small machine: each thread's stack counts in RLIMIT_DATA.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SLURM_")},
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    try:
        with memory_cgroup(LIMIT) as procs:
            def limited() -> None:
                resource.setrlimit(resource.RLIMIT_DATA, (LIMIT, LIMIT))
                if procs is not None:
                    procs.write_text(str(os.getpid()))

            def run(*overrides: str) -> subprocess.CompletedProcess:
                return subprocess.run([*args, *overrides], cwd=tmp_path, env=env,
                                      preexec_fn=limited, capture_output=True, text=True,
                                      timeout=900)

            # The limit is real: the set does not fit in memory under it.
            whole = run("data.read_from=memory", f"hydra.run.dir={tmp_path / 'memory'}")
            assert whole.returncode != 0 and "Unable to allocate" in whole.stderr, \
                whole.stderr[-2000:]
            # data.read_from=auto sees the limit and reads the set from disk.
            done = run(f"hydra.run.dir={tmp_path / 'disk'}")
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads((tmp_path / "disk" / "result.json").read_text())
        assert result["status"] == "completed" and result["data"]["read_from"] == "disk"
        data = result["data"]
        assert data["n_train"] + data["n_val"] == n_train and data["n_test"] == n_test
        print(f"limit {LIMIT / 2**30:.2f} GiB ({'prlimit and cgroup' if procs else 'prlimit'}),"
              f" set {set_file.stat().st_size / 2**30:.2f} GiB:",
              next(line for line in done.stdout.splitlines() if line.startswith("epoch")))
    finally:
        set_file.unlink(missing_ok=True)
