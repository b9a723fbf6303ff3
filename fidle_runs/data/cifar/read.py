"""Reading a found CIFAR layout into arrays: RGB uint8 images (N, 32, 32, 3), int64 labels and
the class names, the same from every layout.

A pickled batch is a dict with `data`, a uint8 array of one row per image (the 1,024 red, then
green, then blue values of a 32x32 image, row by row) and its labels (`labels`, or CIFAR-100's
`fine_labels` and `coarse_labels`); a binary batch is a run of records, each the label byte(s)
(CIFAR-100: coarse then fine) then the same 3,072 pixel bytes. Damaged files are named in one
line; pickles are loaded by fidle_runs.data.cifar.unpickle, which runs no code.
"""

import pickle
import tarfile
import zlib
from dataclasses import dataclass

import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.data.cifar.layouts import CIFAR_PAGE, Found
from fidle_runs.data.cifar.unpickle import RefusedGlobal, load_cifar_pickle

SIDE = 32
PIXELS = 3 * SIDE * SIDE
LABEL_KINDS = ("fine", "coarse")  # CIFAR-100's 100 classes and their 20 superclasses
REPLACE = f"replace it with the original file ({CIFAR_PAGE})"


@dataclass
class Split:
    """One split as read: images, labels, and each image's name in messages
    (`data_batch_1[17]`)."""

    images: np.ndarray
    labels: np.ndarray
    names: list[str]


@dataclass
class CifarData:
    train: Split
    test: Split
    class_names: list[str]


def read_cifar(found: Found, labels: str = "fine") -> CifarData:
    """Every image and label of `found`; `labels` picks CIFAR-100's fine or coarse classes
    (CIFAR-10 has one set, read as "fine")."""
    layout = found.layout
    contents = _contents(found)
    class_names = _class_names(found, contents, labels)
    read_batch = _python_batch if layout.kind == "python" else _binary_batch
    splits = {}
    for split, files in (("train", layout.train), ("test", layout.test)):
        parts = [(name, *read_batch(found, name, contents.pop(name), labels)) for name in files]
        for name, _, y in parts:
            _check_labels(found, name, y, class_names)
        splits[split] = Split(np.concatenate([images for _, images, _ in parts]),
                              np.concatenate([y for _, _, y in parts]),
                              [f"{name}[{i}]" for name, _, y in parts for i in range(len(y))])
    return CifarData(splits["train"], splits["test"], class_names)


def _contents(found: Found) -> dict[str, bytes]:
    """Each file of the layout, read from its folder or its archive."""
    layout = found.layout
    if not found.in_archive:
        contents = {}
        for name in layout.files:
            try:
                contents[name] = (found.path / name).read_bytes()
            except OSError as e:
                raise UserError(f"cannot read {found.where(name)} ({e.strerror or e}): check "
                                "its permissions") from None
        return contents
    wanted = {f"{layout.folder}/{name}": name for name in layout.files}
    contents = {}
    try:
        with tarfile.open(found.path) as tar:
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                stream = tar.extractfile(member) if name and member.isfile() else None
                if stream is not None:
                    contents[name] = stream.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise UserError(f"cannot read the archive {found.path} ({_why(e)}): it is truncated or "
                        f"damaged; download it again from {CIFAR_PAGE}") from None
    missing = [f"{layout.folder}/{name}" for name in layout.files if name not in contents]
    if missing:
        raise UserError(f"the archive {found.path} lacks {', '.join(missing)}: it is not the "
                        f"original {layout.archive}; download it again from {CIFAR_PAGE}")
    return contents


def _class_names(found: Found, contents: dict[str, bytes], labels: str) -> list[str]:
    layout = found.layout
    if layout.kind == "binary":
        name = "batches.meta.txt" if layout.dataset == "cifar10" else f"{labels}_label_names.txt"
        names = [line.strip() for line in contents[name].decode("latin1").splitlines()]
        names = [n for n in names if n]
    else:
        name = layout.meta[0]
        key = "label_names" if layout.dataset == "cifar10" else f"{labels}_label_names"
        value = _unpickled_dict(found, name, contents[name]).get(key)
        names = [_text(n) for n in value] if isinstance(value, list | tuple) else []
    if not names:
        raise UserError(f"{found.where(name)} names no classes: {REPLACE}")
    return names


def _python_batch(found: Found, name: str, raw: bytes,
                  labels: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickled_dict(found, name, raw)
    key = "labels" if found.layout.dataset == "cifar10" else f"{labels}_labels"
    data, y = batch.get("data"), batch.get(key)
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == PIXELS):
        raise UserError(f"{found.where(name)} is not a CIFAR batch (its 'data' is not a uint8 "
                        f"array of rows of {PIXELS} values): {REPLACE}")
    if not isinstance(y, list | tuple | np.ndarray) or len(y) != len(data):
        raise UserError(f"{found.where(name)} is not a CIFAR batch (its {key!r} does not give "
                        f"one label for each of its {len(data)} images): {REPLACE}")
    return _channels_last(data), np.asarray(y, dtype=np.int64)


def _binary_batch(found: Found, name: str, raw: bytes,
                  labels: str) -> tuple[np.ndarray, np.ndarray]:
    label_bytes = 1 if found.layout.dataset == "cifar10" else 2
    record = label_bytes + PIXELS
    if not raw or len(raw) % record:
        raise UserError(f"{found.where(name)} is truncated or no CIFAR binary batch ({len(raw)} "
                        f"bytes, not a whole number of {record}-byte records): {REPLACE}")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    column = 1 if label_bytes == 2 and labels == "fine" else 0
    return _channels_last(rows[:, label_bytes:]), rows[:, column].astype(np.int64)


def _unpickled_dict(found: Found, name: str, raw: bytes) -> dict:
    """The dict pickled in a python-layout file, keys as text."""
    try:
        value = load_cifar_pickle(raw)
    except RefusedGlobal as e:
        raise UserError(f"{found.where(name)} is no CIFAR file: its pickle would call {e}, which "
                        "CIFAR's files never do (refused, as a pickle can run any code): "
                        f"{REPLACE}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            AttributeError, KeyError, MemoryError) as e:
        raise UserError(f"{found.where(name)} is truncated or damaged ({_why(e)}): "
                        f"{REPLACE}") from None
    if not isinstance(value, dict):
        raise UserError(f"{found.where(name)} is not a CIFAR batch (it holds a "
                        f"{type(value).__name__}, not a dict): {REPLACE}")
    return {_text(key): item for key, item in value.items()}


def _check_labels(found: Found, name: str, y: np.ndarray, class_names: list[str]) -> None:
    bad = y[(y < 0) | (y >= len(class_names))]
    if len(bad):
        raise UserError(f"{found.where(name)} holds label {int(bad[0])}, outside the "
                        f"{len(class_names)} classes its layout names: {REPLACE}")


def _channels_last(rows: np.ndarray) -> np.ndarray:
    """Rows of 3,072 channel-major values -> contiguous (N, 32, 32, 3) RGB images."""
    return np.ascontiguousarray(rows.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1))


def _text(value: object) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _why(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
