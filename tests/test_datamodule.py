import h5py
import numpy as np
import pytest
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.augment import random_affine
from fidle_runs.data.gtsrb.datamodule import GTSRBDataModule
from fidle_runs.data.in_memory import InMemoryDataModule, Splits, validation_indices
from fidle_runs.data.tensor_batches import EpochBatchSampler, batch_loader


@pytest.fixture(scope="module")
def datamodule(tmp_path_factory, raw_kaggle):
    data_dir = tmp_path_factory.mktemp("dm")
    dm = GTSRBDataModule(source="real", raw_dir=str(raw_kaggle), size=24, mode="RGB",
                         prepared_dir=str(data_dir / "enhanced"), prepare_workers=2,
                         batch_size=32, val_fraction=0.2)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_shapes_sizes_and_description(datamodule):
    x, y = datamodule.tensors["train"]
    assert datamodule.dims == {"in_shape": (3, 24, 24), "n_outputs": 43}
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    info = datamodule.describe()
    assert info["n_train"] + info["n_val"] == 782 and info["n_test"] == 251
    assert info["n_val"] > 0  # whole tracks only: small sets have few to spare
    assert info["val_split"] == "by track" and info["source"] == "real"


def test_validation_takes_whole_tracks_and_leaves_every_class_in_training():
    labels = np.repeat(np.arange(10), 120)  # 10 classes x 4 tracks of 30
    tracks = np.repeat(np.arange(40), 30)
    val = validation_indices(labels, tracks, 0.25, seed=0)
    is_val = np.zeros(len(tracks), dtype=bool)
    is_val[val.numpy()] = True
    assert not set(tracks[is_val]) & set(tracks[~is_val])
    assert set(labels[~is_val]) == set(range(10))
    assert 0.15 < is_val.mean() < 0.35
    assert torch.equal(val, validation_indices(labels, tracks, 0.25, seed=0))
    assert not torch.equal(val, validation_indices(labels, tracks, 0.25, seed=1))
    one_track = validation_indices(np.zeros(30, int), np.zeros(30, int), 0.5, seed=0)
    assert len(one_track) == 0, "a class's only track stays in training"


def test_unknown_tracks_fall_back_to_a_random_split():
    val = validation_indices(np.zeros(1000, int), None, 0.1, seed=0)
    assert len(val) == 100 and len(set(val.tolist())) == 100


@pytest.mark.parametrize("groups", [None, np.repeat(np.arange(20), 10)])
def test_training_rows_are_exactly_the_samples_validation_leaves(groups):
    """What a family fits its preprocessing on (training_rows) is what setup trains on."""

    class Numbered(InMemoryDataModule):
        name, n_outputs = "numbered", 2

        def load(self) -> Splits:
            x = torch.arange(200.0)[:, None]  # each sample its own number
            return Splits(x, torch.arange(200) % 2, x[:10], torch.arange(10) % 2, groups)

    data = Numbered(val_fraction=0.3, split_seed=3)
    data.setup("fit")
    rows = data.training_rows(np.arange(200) % 2, groups)
    assert data.tensors["train"][0][:, 0].long().tolist() == rows.tolist()
    assert sorted(data.tensors["val"][0][:, 0].long().tolist()) == sorted(
        set(range(200)) - set(rows.tolist()))
    assert data.val_split == ("random samples" if groups is None else "by group")
    on_test = Numbered(val_on_test=True)
    assert on_test.training_rows(np.arange(200) % 2).tolist() == list(range(200))


def test_batches_come_whole_from_tensor_indexing(datamodule):
    loader = datamodule.train_dataloader()
    batches = list(loader)
    n = len(datamodule.tensors["train"][1])
    assert len(batches) == len(loader) == -(-n // 32)
    assert batches[0][0].shape == (32, 3, 24, 24) and batches[0][0].dtype == torch.uint8
    assert sum(len(b[1]) for b in batches) == n
    x, _ = datamodule.on_after_batch_transfer(batches[0], 0)
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1


def test_shuffle_depends_on_seed_and_epoch_only():
    def order(seed: int, epoch: int) -> list[int]:
        sampler = EpochBatchSampler(100, 10, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return torch.cat(list(sampler)).tolist()

    assert order(0, 3) == order(0, 3)
    assert order(0, 3) != order(0, 4) and order(0, 3) != order(1, 3)
    assert sorted(order(0, 3)) == list(range(100))
    loader = batch_loader(torch.arange(10), torch.arange(10), 4, shuffle=False)
    assert [b[0].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize("n", [103, 128, 129, 64])
def test_data_parallel_ranks_share_each_global_batch_of_one_process(n):
    """Two ranks with batch 16 see, slice by slice, the batches of one process with batch 32."""
    def batches(rank: int, world_size: int, batch: int) -> list[list[int]]:
        sampler = EpochBatchSampler(n, batch, shuffle=True, seed=7, rank=rank,
                                    world_size=world_size, even=True)
        sampler.set_epoch(2)
        out = [b.tolist() for b in sampler]
        assert len(out) == len(sampler)
        return out

    single = batches(0, 1, 32)
    ranks = [batches(r, 2, 16) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]), "every rank takes the same number of steps"
    for step, (a, b) in enumerate(zip(*ranks, strict=True)):
        assert a + b == single[step] and abs(len(a) - len(b)) <= 1
    seen = sum(len(b) for r in ranks for b in r)
    assert n - seen == (n % 32 if n % 32 < 2 else 0), "only a last batch of 1 sample is dropped"


@pytest.mark.parametrize("n", [1001, 10, 3])
def test_data_parallel_evaluation_counts_every_sample_once(n):
    pieces = [EpochBatchSampler(n, 8, shuffle=False, rank=r, world_size=4) for r in range(4)]
    indices = [i for sampler in pieces for batch in sampler for i in batch.tolist()]
    assert sorted(indices) == list(range(n))
    assert [len(list(s)) for s in pieces] == [len(s) for s in pieces]


def test_augmentation_moves_pixels_but_keeps_shape_and_range():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 24, 24)
    out = random_affine(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert (out - x).abs().mean() > 0.05
    identity = random_affine(x, rotation_deg=0, shift=0, zoom=0, shear=0)
    assert torch.allclose(identity, x, atol=1e-5)


def test_reads_fidle_float_sets_as_they_are(tmp_path):
    """FIDLE's own enhanced files: float64 in [0, 1], no attributes, no tracks."""
    path = tmp_path / "set-24x24-L.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for split, n in (("train", 300), ("test", 50), ("meta", 43)):
            channels = 3 if split == "meta" else 1
            f[f"x_{split}"] = rng.random((n, 24, 24, channels))
            f[f"y_{split}"] = rng.integers(0, 43, n)
    dm = GTSRBDataModule(h5_file=str(path), val_fraction=0.1)
    dm.prepare_data()
    dm.setup("fit")
    x, _ = dm.tensors["train"]
    assert x.dtype == torch.uint8 and x.shape[1:] == (1, 24, 24)
    info = dm.describe()
    assert info["source"] == "unknown" and info["val_split"] == "random images"
    assert (info["n_train"], info["n_val"], info["n_test"]) == (270, 30, 50)
    with h5py.File(path) as f:
        expected = np.rint(f["x_test"][:5, :, :, 0] * 255)
    np.testing.assert_array_equal(dm.tensors["test"][0][:5, 0].numpy(), expected)


def _write_set(path, n_train=300, labels=None):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for split, n in (("train", n_train), ("test", 50), ("meta", 43)):
            f[f"x_{split}"] = rng.integers(0, 255, (n, 24, 24, 3 if split == "meta" else 1),
                                           dtype=np.uint8)
            f[f"y_{split}"] = rng.integers(0, 43, n)
        if labels is not None:
            f["y_train"][: len(labels)] = labels


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: _write_set(p, labels=[43]), r"1 label\(s\) in y_train outside 0..42 \(e.g. 43\)"),
    (lambda p: _write_set(p, labels=[-1, 7, 99]), r"2 label\(s\) in y_train outside 0..42"),
    (lambda p: _write_set(p, n_train=0), "it holds 0 train and 50 test images"),
    (lambda p: p.mkdir(), "is a directory, not an H5 file"),
])
def test_a_users_own_h5_that_cannot_train_is_refused_before_training(tmp_path, make, message):
    """Labels out of range used to fail mid-training in the loss (IndexError); the user's own
    file is theirs to fix: no advice to delete it and rebuild."""
    path = tmp_path / "set.h5"
    make(path)
    dm = GTSRBDataModule(h5_file=str(path))
    with pytest.raises(UserError, match=message) as failure:
        dm.setup("fit")
    if path.is_file():
        assert "fix or replace it, or drop data.h5_file" in str(failure.value)
        assert "rebuild" not in str(failure.value)
