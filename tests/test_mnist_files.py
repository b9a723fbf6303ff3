"""MNIST / Fashion-MNIST files: IDX reading, where they are found, Keras' npz, the download path;
on small files written here in the original layout, and on the real sets when fetched."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from fidle_runs.core.errors import UserError
from fidle_runs.data.mnist import locate
from fidle_runs.data.mnist.classes import CLASSES, FASHION_MNIST_CLASSES, MNIST_CLASSES
from fidle_runs.data.mnist.idx import read_idx, read_split
from fidle_runs.data.mnist.keras_npz import read_keras_npz
from fidle_runs.data.mnist.locate import load_arrays
from tests.real_data import real_data_dir

STEMS = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
FIX = "replace the file, or delete it and set data.download=true"


def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's layout: magic 0x0000 0x08 <ndim>, big-endian uint32 sizes, the bytes."""
    magic = 0x0800 | array.ndim
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.tobytes()


def small_set(seed: int = 0, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "y_train": (np.arange(n_train) % 10).astype(np.uint8),
            "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "y_test": (np.arange(n_test)[::-1] % 10).astype(np.uint8)}


def write_idx_set(folder: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in STEMS.items():
        data = idx_bytes(arrays[key])
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return folder


def assert_same(loaded: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> None:
    assert set(loaded) == set(STEMS)
    for key, array in arrays.items():
        assert np.array_equal(loaded[key], array), key
        assert loaded[key].dtype == (np.uint8 if key.startswith("x_") else np.int64)


# --- IDX files ---

@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    arrays = small_set()
    files = locate.idx_files_in(write_idx_set(tmp_path, arrays, gz=gz))
    assert all(path.name.endswith(".gz") == gz for path in files.values())
    images = read_idx(files["train_images"])
    assert images.dtype == np.uint8 and images.flags.writeable
    assert np.array_equal(images, arrays["x_train"])
    x, y = read_split(files["test_images"], files["test_labels"])
    assert np.array_equal(x, arrays["x_test"]) and y.dtype == np.int64
    assert y.tolist() == arrays["y_test"].tolist()


def test_gzip_is_told_by_its_magic_bytes_not_by_the_name(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    (tmp_path / "zipped").write_bytes(gzip.compress(idx_bytes(labels)))
    (tmp_path / "plain.gz").write_bytes(idx_bytes(labels))
    assert read_idx(tmp_path / "zipped").tolist() == read_idx(tmp_path / "plain.gz").tolist()


def damage(data: bytes, how: str) -> bytes:
    if how == "empty":
        return b""
    if how == "bad magic":
        return struct.pack(">I", 2052) + data[4:]
    if how == "float type":
        return struct.pack(">I", 0x0D03) + data[4:]
    if how == "short header":
        return data[:10]
    if how == "truncated":
        return data[:-100]
    if how == "trailing data":
        return data + b"\0" * 3
    zipped = gzip.compress(data)
    if how == "truncated gzip":
        return zipped[: len(zipped) // 2]
    return zipped[:-8] + b"\xff" * 8  # "corrupt gzip": a wrong CRC and size


@pytest.mark.parametrize(("how", "message"), [
    ("empty", "truncated: 0 bytes, shorter than the IDX magic number"),
    ("bad magic", "bad magic number 2052, expected 2051 (images) or 2049 (labels)"),
    ("float type", "bad magic number 3331"),
    ("short header", "truncated: expected a 16-byte header, got 10 bytes"),
    ("truncated", "truncated: expected 3152 bytes for dims (4, 28, 28), got 3052"),
    ("trailing data", "3155 bytes, expected 3152 for dims (4, 28, 28)"),
    ("truncated gzip", "corrupt or truncated gzip"),
    ("corrupt gzip", "corrupt or truncated gzip"),
])
def test_damaged_files_are_one_line_naming_the_file_and_the_fix(tmp_path, how, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(idx_bytes(small_set()["x_test"][:4]), how))
    with pytest.raises(UserError) as raised:
        read_idx(path)
    text = str(raised.value)
    assert text.startswith(f"{path}: ")
    assert message in text and FIX in text
    assert "\n" not in text


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_idx(tmp_path / "nothing")


def write_pair(folder: Path, images: np.ndarray, labels: np.ndarray) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").write_bytes(idx_bytes(images))
    (folder / "labels").write_bytes(idx_bytes(labels))
    return folder / "images", folder / "labels"


@pytest.mark.parametrize(("images", "labels", "message"), [
    (np.zeros((3, 32, 32), np.uint8), np.zeros(3, np.uint8),
     "images: wrong dims: uint8 images of shape (3, 32, 32), expected uint8 (N, 28, 28)"),
    (np.zeros(3, np.uint8), np.zeros(3, np.uint8), "images: wrong dims"),
    (np.zeros((3, 28, 28), np.uint8), np.zeros((3, 28, 28), np.uint8), "labels: wrong dims"),
    (np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.uint8), "images holds 3 images but "),
    (np.zeros((3, 28, 28), np.uint8), np.array([0, 12, 3], np.uint8),
     "labels: labels span 0..12, expected 0..9"),
])
def test_split_checks(tmp_path, images, labels, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_split(*write_pair(tmp_path, images, labels))


# --- where the files are ---

@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    """Debian's Fashion-MNIST folder out of the way (it may be installed on this machine)."""
    monkeypatch.setattr(locate, "DEBIAN_FASHION_DIR", tmp_path / "no-debian")


def read_from(name: str, raw: Path | None, datasets: Path | None, tmp_path: Path) -> str:
    """The line in which load_arrays says where it read `name` from (no download)."""
    return load_arrays(name, raw and str(raw), datasets and str(datasets), False,
                       tmp_path / "dl")[1]


def test_raw_dir_wins_then_its_torchvision_folder_then_the_datasets_dir(tmp_path):
    raw, datasets = tmp_path / "raw", tmp_path / "datasets"
    torch_cache = write_idx_set(datasets / "torch_cache" / "MNIST" / "raw", small_set(1))
    assert read_from("mnist", None, datasets, tmp_path) == \
        f"MNIST from the IDX files in {torch_cache}"
    below = write_idx_set(raw / "MNIST" / "raw", small_set(2), gz=True)
    assert read_from("mnist", raw, datasets, tmp_path) == f"MNIST from the IDX files in {below}"
    write_idx_set(raw, small_set(3))
    arrays, where = load_arrays("mnist", str(raw), str(datasets), False, tmp_path / "dl")
    assert_same(arrays, small_set(3))
    assert where == f"MNIST from the IDX files in {raw}"


def test_fashion_places_in_order(tmp_path, monkeypatch):
    raw, datasets, debian = tmp_path / "raw", tmp_path / "datasets", tmp_path / "debian"
    monkeypatch.setattr(locate, "DEBIAN_FASHION_DIR", debian)
    with pytest.raises(UserError, match="no Fashion-MNIST found"):
        read_from("fashion_mnist", raw, datasets, tmp_path)
    folders = [debian, datasets / "keras_cache" / "fashion-mnist",
               datasets / "torch_cache" / "FashionMNIST" / "raw", raw / "fashion-mnist",
               raw / "FashionMNIST" / "raw", raw]
    for seed, folder in enumerate(folders):
        write_idx_set(folder, small_set(seed), gz=True)
        assert read_from("fashion_mnist", raw, datasets, tmp_path) == \
            f"Fashion-MNIST from the IDX files in {folder}"
    # A MNIST folder is not Fashion-MNIST.
    with pytest.raises(UserError, match="no MNIST found"):
        read_from("mnist", None, tmp_path / "empty", tmp_path)


def test_an_incomplete_folder_is_passed_over_and_said_so(tmp_path, no_debian):
    raw, datasets = tmp_path / "raw", tmp_path / "datasets"
    write_idx_set(raw, small_set())
    (raw / STEMS["y_test"]).unlink()
    full = write_idx_set(datasets / "torch_cache" / "FashionMNIST" / "raw", small_set(1))
    assert read_from("fashion_mnist", raw, datasets, tmp_path) == \
        f"Fashion-MNIST from the IDX files in {full}"
    with pytest.raises(UserError, match=r"raw \(3 of the 4 IDX files\)"):
        load_arrays("fashion_mnist", str(raw), None, False, tmp_path / "dl")


def test_plain_files_are_preferred_to_their_gz_beside_them(tmp_path):
    write_idx_set(tmp_path, small_set(0), gz=True)
    write_idx_set(tmp_path, small_set(1))
    assert all(not p.name.endswith(".gz") for p in locate.idx_files_in(tmp_path).values())
    arrays, _ = load_arrays("mnist", str(tmp_path), None, False, tmp_path / "dl")
    assert_same(arrays, small_set(1))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def test_keras_npz(tmp_path, no_debian):
    datasets = tmp_path / "datasets"
    npz = write_npz(datasets / "keras_cache" / "mnist.npz", small_set(4))
    with pytest.raises(UserError, match="no Fashion-MNIST found"):
        read_from("fashion_mnist", None, datasets, tmp_path)
    arrays, where = load_arrays("mnist", None, str(datasets), False, tmp_path / "dl")
    assert_same(arrays, small_set(4))
    assert where == f"MNIST from Keras' {npz}"
    # torch_cache comes first; an npz named as data.raw_dir comes before both.
    write_idx_set(datasets / "torch_cache" / "MNIST" / "raw", small_set(5))
    assert_same(load_arrays("mnist", None, str(datasets), False, tmp_path / "dl")[0],
                small_set(5))
    mine = write_npz(tmp_path / "mine" / "digits.npz", small_set(6))
    assert read_from("mnist", mine, datasets, tmp_path) == f"MNIST from Keras' {mine}"
    assert_same(load_arrays("mnist", str(mine), str(datasets), False, tmp_path / "dl")[0],
                small_set(6))


@pytest.mark.parametrize(("content", "message"), [
    ({"x_train": np.zeros((2, 28, 28), np.uint8)}, "lacks y_train, x_test, y_test"),
    ({**small_set(), "x_test": np.zeros((5, 28, 28), np.float32)},
     "x_test: wrong dims: float32 images"),
    (b"not a zip", "is not a readable npz"),
])
def test_bad_npz_is_one_line(tmp_path, content, message):
    path = tmp_path / "mnist.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write_npz(path, content)
    with pytest.raises(UserError, match=message) as raised:
        read_keras_npz(path)
    assert "\n" not in str(raised.value)


def test_nothing_found_names_every_place_and_the_fixes(tmp_path, no_debian):
    raw, datasets = tmp_path / "raw", tmp_path / "datasets"
    raw.mkdir()
    with pytest.raises(UserError) as raised:
        load_arrays("mnist", str(raw), str(datasets), False, tmp_path / "dl")
    text = str(raised.value)
    assert text.startswith("no MNIST found (looked in: ")
    for place in [f"{raw} (0 of the 4 IDX files)", f"{raw}/MNIST/raw (no such folder)",
                  f"{raw}/mnist.npz (no such file)",
                  f"{datasets}/torch_cache/MNIST/raw (no such folder)",
                  f"{datasets}/keras_cache/mnist.npz (no such file)",
                  f"{tmp_path}/dl/MNIST/raw (no such folder)"]:
        assert place in text
    for fix in ["data.raw_dir", "FIDLE_DATASETS_DIR", "data.download=true"]:
        assert fix in text
    assert "\n" not in text


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(UserError, match="'cifar10' is not one of mnist, fashion_mnist"):
        load_arrays("cifar10", None, None, False, tmp_path)


# --- the torchvision download path (no internet here: torchvision's class is replaced) ---

@pytest.fixture
def torchvision_datasets():
    from torchvision import datasets

    return datasets


def test_a_failed_download_is_one_line(tmp_path, monkeypatch, torchvision_datasets, no_debian):
    class Offline:
        def __init__(self, root: str, download: bool) -> None:
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried "
                               "https://ossci-datasets.s3.amazonaws.com/mnist/, got:\n"
                               "<urlopen error [Errno -2] Name or service not known>\n")

    monkeypatch.setattr(torchvision_datasets, "FashionMNIST", Offline)
    with pytest.raises(UserError) as raised:
        load_arrays("fashion_mnist", None, None, True, tmp_path / "dl")
    text = str(raised.value)
    assert text.startswith(f"Fashion-MNIST download with torchvision into {tmp_path / 'dl'} "
                           "failed (Error downloading train-images-idx3-ubyte.gz: Tried https:")
    assert "Name or service not known" in text and "data.raw_dir" in text
    assert "\n" not in text


def test_a_download_is_read_and_found_again(tmp_path, monkeypatch, torchvision_datasets):
    calls = []

    class Downloaded:
        """Leaves what torchvision leaves: the IDX files in <root>/MNIST/raw."""

        def __init__(self, root: str, download: bool) -> None:
            calls.append(download)
            write_idx_set(Path(root) / "MNIST" / "raw", small_set(7))

    monkeypatch.setattr(torchvision_datasets, "MNIST", Downloaded)
    arrays, where = load_arrays("mnist", None, None, True, tmp_path / "dl")
    assert_same(arrays, small_set(7))
    assert where == f"MNIST downloaded by torchvision into {tmp_path / 'dl' / 'MNIST' / 'raw'}"
    arrays, where = load_arrays("mnist", None, None, False, tmp_path / "dl")
    assert where.startswith("MNIST from the IDX files in") and calls == [True]


def test_class_names():
    assert CLASSES["mnist"] == MNIST_CLASSES == ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
    assert CLASSES["fashion_mnist"] == FASHION_MNIST_CLASSES == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
        "Ankle boot")


# --- the real sets (scripts/fetch_test_data.sh) ---

@pytest.fixture(scope="module")
def real_mnist() -> dict[str, np.ndarray]:
    return load_arrays("mnist", str(real_data_dir("mnist")), None, False, Path("unused"))[0]


@pytest.fixture(scope="module")
def real_fashion_mnist() -> dict[str, np.ndarray]:
    return load_arrays("fashion_mnist", str(real_data_dir("fashion_mnist")), None, False,
                       Path("unused"))[0]


def test_real_mnist(real_mnist):
    assert real_mnist["x_train"].shape == (60_000, 28, 28)
    assert real_mnist["x_test"].shape == (10_000, 28, 28)
    assert np.bincount(real_mnist["y_train"]).tolist() == [5923, 6742, 5958, 6131, 5842, 5421,
                                                           5918, 6265, 5851, 5949]
    assert np.bincount(real_mnist["y_test"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958,
                                                          1028, 974, 1009]
    assert round(float(real_mnist["x_train"].mean()), 2) == 33.32  # measured 33.3184
    assert round(float(real_mnist["x_test"].mean()), 2) == 33.79


def test_real_fashion_mnist(real_fashion_mnist):
    assert real_fashion_mnist["x_train"].shape == (60_000, 28, 28)
    assert np.bincount(real_fashion_mnist["y_train"]).tolist() == [6000] * 10
    assert np.bincount(real_fashion_mnist["y_test"]).tolist() == [1000] * 10
    assert round(float(real_fashion_mnist["x_train"].mean()), 2) == 72.94
