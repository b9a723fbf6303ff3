"""Where users keep MNIST and Fashion-MNIST, and loading them from the first place that has them
(FIDLE MNIST1/2 load them with keras.datasets, LMNIST1/2 with torchvision.datasets).

Places, in order: `raw_dir` (the 4 IDX files in it, in torchvision's `MNIST/raw` or
`FashionMNIST/raw` below it, in Keras' `fashion-mnist/` below it, or Keras' `mnist.npz`);
under `$FIDLE_DATASETS_DIR`, `torch_cache/MNIST/raw` or `torch_cache/FashionMNIST/raw`, then
`keras_cache/mnist.npz` or `keras_cache/fashion-mnist/`; Debian's dataset-fashion-mnist package;
last, an earlier torchvision download into `download_dir`.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.data.looked_in import what_is_at
from fidle_runs.data.mnist.idx import read_split
from fidle_runs.data.mnist.keras_npz import read_keras_npz

NAMES = ("mnist", "fashion_mnist")
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
# torchvision's dataset classes, also the folders they download into (<root>/<class>/raw).
TORCH_CLASSES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
KERAS_NPZ = "mnist.npz"  # Keras has no npz for Fashion-MNIST: it caches the 4 IDX .gz files
KERAS_FASHION_FOLDER = "fashion-mnist"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class Place:
    """A folder that may hold the 4 IDX files (kind "idx") or a Keras npz file (kind "npz")."""

    path: Path
    kind: str


def places(name: str, raw_dir: str | None, datasets_dir: str | None) -> list[Place]:
    """Every place looked in for dataset `name`, in order of precedence."""
    if name not in NAMES:
        raise UserError(f"dataset {name!r} is not one of {', '.join(NAMES)}")
    torch_raw = Path(TORCH_CLASSES[name]) / "raw"
    found: list[Place] = []
    if raw_dir:
        raw = Path(raw_dir).expanduser()
        found += [Place(raw, "idx"), Place(raw / torch_raw, "idx")]
        if name == "mnist":
            found.append(Place(raw if raw.suffix == ".npz" else raw / KERAS_NPZ, "npz"))
        else:
            found.append(Place(raw / KERAS_FASHION_FOLDER, "idx"))
    if datasets_dir:
        root = Path(datasets_dir).expanduser()
        found.append(Place(root / "torch_cache" / torch_raw, "idx"))
        if name == "mnist":
            found.append(Place(root / "keras_cache" / KERAS_NPZ, "npz"))
        else:
            found.append(Place(root / "keras_cache" / KERAS_FASHION_FOLDER, "idx"))
    if name == "fashion_mnist":
        found.append(Place(DEBIAN_FASHION_DIR, "idx"))
    return found


def idx_files_in(folder: Path) -> dict[str, Path] | None:
    """The 4 IDX files of `folder`, each plain or gzipped (plain preferred), or None."""
    files = {}
    for key, stem in IDX_FILES.items():
        candidates = [folder / stem, folder / f"{stem}.gz"]
        present = [path for path in candidates if path.is_file()]
        if not present:
            return None
        files[key] = present[0]
    return files


def load_arrays(name: str, raw_dir: str | None, datasets_dir: str | None, download: bool,
                download_dir: Path) -> tuple[dict[str, np.ndarray], str]:
    """x_train, y_train, x_test, y_test (uint8 (N, 28, 28) images, int64 labels) from the first
    place that has them, downloading with torchvision when none has and `download` is true;
    also says in one line where they came from."""
    found = places(name, raw_dir, datasets_dir)
    title = TITLES[name]
    downloaded = Place(Path(download_dir) / TORCH_CLASSES[name] / "raw", "idx")
    looked = [*found, downloaded]
    for place in looked:
        if place.kind == "npz" and place.path.is_file():
            return read_keras_npz(place.path), f"{title} from Keras' {place.path}"
        if place.kind == "idx" and (files := idx_files_in(place.path)):
            return _read_idx_files(files), f"{title} from the IDX files in {place.path}"
    if not download:
        where = "; ".join(what_is_at(place.path, place.kind == "npz", _idx_count(place.path))
                          for place in looked)
        raise UserError(f"no {title} found (looked in: {where}): set data.raw_dir to a folder "
                        "with the 4 IDX files" + (" or mnist.npz" if name == "mnist" else "")
                        + ", or FIDLE_DATASETS_DIR (see its torch_cache/ and keras_cache/), or "
                        "data.download=true where the internet is reachable")
    _download(name, Path(download_dir))
    files = idx_files_in(downloaded.path)
    if files is None:
        raise UserError(f"the {title} download left no 4 IDX files in {downloaded.path}: "
                        "delete that folder and run again")
    return _read_idx_files(files), f"{title} downloaded by torchvision into {downloaded.path}"


def _read_idx_files(files: dict[str, Path]) -> dict[str, np.ndarray]:
    out = {}
    for split in ("train", "test"):
        out[f"x_{split}"], out[f"y_{split}"] = read_split(files[f"{split}_images"],
                                                          files[f"{split}_labels"])
    return out


def _idx_count(folder: Path) -> str:
    have = [stem for stem in IDX_FILES.values()
            if (folder / stem).is_file() or (folder / f"{stem}.gz").is_file()]
    return f"{len(have)} of the 4 IDX files"


def _download(name: str, root: Path) -> None:
    """torchvision's download (needs the internet): the 4 IDX files into root/<class>/raw."""
    from torchvision import datasets

    try:
        getattr(datasets, TORCH_CLASSES[name])(root=str(root), download=True)
    except (OSError, RuntimeError) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise UserError(f"{TITLES[name]} download with torchvision into {root} failed ({why}): "
                        "without internet, copy the 4 IDX files into a folder and set "
                        "data.raw_dir to it") from None
