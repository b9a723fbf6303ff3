import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from fidle_runs import __version__
from fidle_runs.core.errors import UserError
from fidle_runs.data.gtsrb.h5 import SetSpec, load_arrays, read_attrs
from fidle_runs.data.gtsrb.prepare import prepare_sets
from fidle_runs.data.gtsrb.raw import read_raw_gtsrb
from fidle_runs.data.gtsrb.synthetic import class_counts
from fidle_runs.data.subsets import subset_indices

FIDLE_SETS = [SetSpec(s, m) for s in (24, 48) for m in ("RGB", "RGB-HE", "L", "L-LHE")]


@pytest.fixture(scope="module")
def kaggle_sets(raw_kaggle, tmp_path_factory):
    out = tmp_path_factory.mktemp("enhanced")
    raw = read_raw_gtsrb(raw_kaggle)
    return raw, prepare_sets(raw, "synthetic", FIDLE_SETS, out, workers=2)


def test_reads_kaggle_layout(raw_kaggle):
    raw = read_raw_gtsrb(raw_kaggle.parent.parent)  # the GTSRB root finds origine/ itself
    train, test = class_counts(0.02)
    assert raw.layout == "kaggle"
    assert (len(raw.train), len(raw.test), len(raw.meta)) == (sum(train), sum(test), 43)
    assert np.bincount(raw.train.labels, minlength=43).tolist() == train
    assert raw.meta.labels.tolist() == list(range(43))
    assert (raw.train.rois[:, 2] > raw.train.rois[:, 0]).all()


def test_reads_official_layout(raw_official):
    raw = read_raw_gtsrb(raw_official)
    train, test = class_counts(0.01)
    assert raw.layout == "official" and raw.meta is None
    assert (len(raw.train), len(raw.test)) == (sum(train), sum(test))
    assert np.bincount(raw.test.labels, minlength=43).tolist() == test
    assert all(p.suffix == ".ppm" for p in raw.train.paths[:20])


def test_reads_the_original_archive_names(raw_official, tmp_path):
    """The original archives say Final_Training/Images where torchvision says Training."""
    root = tmp_path / "GTSRB"
    shutil.copytree(raw_official / "gtsrb" / "GTSRB", root)
    (root / "Final_Training").mkdir()
    (root / "Training").rename(root / "Final_Training" / "Images")
    shutil.copy(raw_official / "gtsrb" / "GT-final_test.csv", tmp_path / "GT-final_test.csv")
    raw = read_raw_gtsrb(tmp_path)
    assert len(raw.train) == sum(class_counts(0.01)[0])


def test_fidle_sets_have_fidle_keys_shapes_and_uint8(kaggle_sets):
    raw, paths = kaggle_sets
    assert sorted(p.name for p in paths.values()) == sorted(f"{s.name}.h5" for s in FIDLE_SETS)
    for spec, path in paths.items():
        with h5py.File(path) as f:
            channels = 3 if spec.mode.startswith("RGB") else 1
            assert f["x_train"].shape == (len(raw.train), spec.size, spec.size, channels)
            assert f["x_test"].shape == (len(raw.test), spec.size, spec.size, channels)
            assert f["x_meta"].shape == (43, spec.size, spec.size, 3)  # meta always RGB
            assert f["x_train"].dtype == np.uint8 and f["y_train"].dtype == np.int64
            assert f["y_meta"][:].tolist() == list(range(43))
            np.testing.assert_array_equal(f["y_train"][:], raw.train.labels)
        attrs = read_attrs(path)
        assert attrs["source"] == "synthetic" and attrs["size"] == spec.size
        assert attrs["mode"] == spec.mode and attrs["roi"] == 0 and attrs["scale"] == 1.0
        assert attrs["seed"] == 0 and attrs["package_version"] == __version__
        assert attrs["raw_root"] == str(raw.root.resolve())


def test_equalised_modes_use_the_whole_value_range(kaggle_sets):
    _, paths = kaggle_sets
    x = {s.mode: load_arrays(paths[s])["x_test"][:50].astype(float) for s in FIDLE_SETS
         if s.size == 24}
    for mode in ("RGB-HE", "L-LHE"):
        per_image_max = x[mode].reshape(50, -1).max(1)
        per_image_min = x[mode].reshape(50, -1).min(1)
        assert np.median(per_image_max) >= 250 and np.median(per_image_min) <= 5
    # Equalisation spreads values: wider per-image spread than the plain modes.
    assert x["L-LHE"].reshape(50, -1).std(1).mean() > x["L"].reshape(50, -1).std(1).mean()
    assert x["RGB-HE"].reshape(50, -1).std(1).mean() > x["RGB"].reshape(50, -1).std(1).mean()


def test_grayscale_is_luminance_of_rgb(kaggle_sets):
    _, paths = kaggle_sets
    rgb = load_arrays(paths[SetSpec(24, "RGB")])["x_train"][:20].astype(float) / 255
    gray = load_arrays(paths[SetSpec(24, "L")])["x_train"][:20, :, :, 0].astype(float) / 255
    luminance = rgb @ np.array([0.2125, 0.7154, 0.0721])
    assert np.abs(luminance - gray).max() < 2.5 / 255


def test_a_set_built_alike_is_reused(kaggle_sets, raw_kaggle):
    raw, paths = kaggle_sets
    path = paths[SetSpec(24, "L")]
    before = path.stat().st_mtime_ns
    again = prepare_sets(raw, "synthetic", [SetSpec(24, "L")], path.parent, workers=2)
    assert again[SetSpec(24, "L")] == path and path.stat().st_mtime_ns == before


def test_scale_roi_and_seed_give_their_own_files(raw_kaggle, tmp_path):
    raw = read_raw_gtsrb(raw_kaggle)
    spec = SetSpec(24, "RGB")
    a = prepare_sets(raw, "synthetic", [spec], tmp_path, scale=0.2, subset_seed=1, workers=1)[spec]
    b = prepare_sets(raw, "synthetic", [spec], tmp_path, scale=0.2, subset_seed=2, workers=1)[spec]
    c = prepare_sets(raw, "synthetic", [spec], tmp_path, roi=True, workers=1)[spec]
    assert a.name == "set-24x24-RGB-scale0.2-seed1.h5" and c.name == "set-24x24-RGB-roi.h5"
    ya, yb = load_arrays(a)["y_train"], load_arrays(b)["y_train"]
    assert len(ya) == len(yb) == int(len(raw.train) * 0.2)
    assert not np.array_equal(load_arrays(a)["x_train"], load_arrays(b)["x_train"])
    assert read_attrs(c)["roi"] == 1
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file left behind"


def test_subset_is_seeded_and_sized_like_fidle():
    a, b = subset_indices(39_209, 0.2, 0), subset_indices(39_209, 0.2, 0)
    assert len(a) == 7_841 and np.array_equal(a, b) and (np.diff(a) > 0).all()
    assert not np.array_equal(a, subset_indices(39_209, 0.2, 1))
    with pytest.raises(UserError, match=re.escape("data.scale=0")):
        subset_indices(10, 0, 0)


def test_workers_do_not_change_the_result(raw_official, tmp_path):
    raw = read_raw_gtsrb(raw_official)
    spec = SetSpec(24, "L-LHE")
    one = prepare_sets(raw, "synthetic", [spec], tmp_path / "one", workers=1)[spec]
    two = prepare_sets(raw, "synthetic", [spec], tmp_path / "two", workers=2)[spec]
    for key in ("x_train", "x_test", "x_meta"):
        np.testing.assert_array_equal(load_arrays(one)[key], load_arrays(two)[key])
    arrays, attrs = load_arrays(one), read_attrs(one)
    assert attrs["layout"] == "official" and attrs["mode"] == "L-LHE"
    assert arrays["x_train"].shape == (len(raw.train), 24, 24, 1)
    assert arrays["x_train"].dtype == np.uint8 and arrays["y_test"].dtype == np.int64
    # The official layout ships no pictograms: one train image per class stands in, in RGB.
    assert arrays["x_meta"].shape == (43, 24, 24, 3)
    assert arrays["y_meta"].tolist() == list(range(43))


def test_csv_pointing_at_a_missing_image_is_refused(raw_kaggle, tmp_path):
    root = tmp_path / "origine"
    shutil.copytree(raw_kaggle, root)
    victim = sorted((root / "Train" / "5").iterdir())[0]
    victim.unlink()
    with pytest.raises(UserError, match=re.escape(f"missing, first {victim}")):
        read_raw_gtsrb(root)


def test_corrupt_image_is_named(raw_kaggle, tmp_path):
    root = tmp_path / "origine"
    shutil.copytree(raw_kaggle, root)
    victim = sorted((root / "Test").iterdir())[3]
    victim.write_bytes(b"not a png")
    raw = read_raw_gtsrb(root)
    with pytest.raises(UserError, match=re.escape(f"cannot decode image {victim}")):
        prepare_sets(raw, "synthetic", [SetSpec(24, "L")], tmp_path / "out", workers=1)
    assert not list((tmp_path / "out").glob("*.h5")), "no half-written set"


def test_missing_folder_and_missing_column_are_refused(raw_kaggle, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_raw_gtsrb(tmp_path / "nowhere")
    with pytest.raises(UserError, match="no raw GTSRB"):
        read_raw_gtsrb(tmp_path)
    root = tmp_path / "origine"
    shutil.copytree(raw_kaggle, root)
    text = (root / "Test.csv").read_text().replace("ClassId", "Class")
    (root / "Test.csv").write_text(text)
    with pytest.raises(UserError, match="lacks column"):
        read_raw_gtsrb(root)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing_key", "wrong_shape"])
def test_damaged_h5_is_a_clear_error(kaggle_sets, tmp_path, damage):
    _, paths = kaggle_sets
    path = tmp_path / "set.h5"
    shutil.copy(paths[SetSpec(24, "L")], path)
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        path.write_bytes(b"\0" * 4096)
    elif damage == "missing_key":
        with h5py.File(path, "a") as f:
            del f["y_test"]
    else:
        with h5py.File(path, "a") as f:
            del f["y_train"]
            f["y_train"] = np.zeros(3, dtype=np.int64)
    expected = {"truncate": "corrupt or truncated", "garbage": "corrupt or truncated",
                "missing_key": "lacks key", "wrong_shape": "wrong shapes"}[damage]
    with pytest.raises(UserError, match=expected):
        load_arrays(Path(path))
