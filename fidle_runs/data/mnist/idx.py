"""The original MNIST file format (IDX, as on LeCun's site and in torchvision's raw folder), plain
or gzipped, read with the checks that turn a damaged file into one line a user can act on.

Layout: a big-endian 4-byte magic (0x0000, type 0x08 = unsigned byte, number of dimensions), one
big-endian 4-byte size per dimension, then the bytes, nothing after them.
"""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.data.mnist.split import FIX, check_split

IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions (N, rows, columns)
LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension (N,)
DIMS = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array of an IDX images or labels file, gzipped or not (told by its first bytes)."""
    data = _read_bytes(path)
    if len(data) < 4:
        raise _damaged(path, f"truncated: {len(data)} bytes, shorter than the IDX magic number")
    magic = int.from_bytes(data[:4], "big")
    if magic not in DIMS:
        raise _damaged(path, f"bad magic number {magic}, expected {IMAGES_MAGIC} (images) or "
                             f"{LABELS_MAGIC} (labels): not an MNIST IDX file")
    header = 4 + 4 * DIMS[magic]
    if len(data) < header:
        raise _damaged(path, f"truncated: expected a {header}-byte header, got {len(data)} bytes")
    dims = tuple(int.from_bytes(data[i : i + 4], "big") for i in range(4, header, 4))
    expected = header + math.prod(dims)
    if len(data) < expected:
        raise _damaged(path, f"truncated: expected {expected} bytes for dims {dims}, "
                             f"got {len(data)}")
    if len(data) > expected:
        raise _damaged(path, f"{len(data)} bytes, expected {expected} for dims {dims}: "
                             "the header does not match the data")
    return np.frombuffer(data, np.uint8, math.prod(dims), header).reshape(dims).copy()


def read_split(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and int64 labels in 0..9 from an images and a labels IDX file."""
    return check_split(read_idx(images), read_idx(labels), str(images), str(labels))


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            if f.read(2) != GZIP_MAGIC:
                f.seek(0)
                return f.read()
            f.seek(0)
            with gzip.GzipFile(fileobj=f) as unzipped:
                return unzipped.read()
    except FileNotFoundError:
        raise UserError(f"{path} does not exist: {FIX}") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise _damaged(path, f"corrupt or truncated gzip ({e})") from None
    except OSError as e:
        raise UserError(f"{path} cannot be read ({e.strerror or e})") from None


def _damaged(path: Path, what: str) -> UserError:
    return UserError(f"{path}: {what}: {FIX}")
