"""Keras' MNIST file: `keras.datasets.mnist.load_data()` caches `mnist.npz` (x_train, y_train,
x_test, y_test), which FIDLE keeps in `$FIDLE_DATASETS_DIR/keras_cache/` for offline use."""

import zipfile
import zlib
from pathlib import Path

import numpy as np

from fidle_runs.data.mnist.split import FIX, check_split
from fidle_runs.errors import UserError

KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_keras_npz(path: Path) -> dict[str, np.ndarray]:
    """The four checked arrays of a Keras mnist.npz (uint8 images (N, 28, 28), int64 labels)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in KEYS if key not in npz.files]
            if missing:
                raise UserError(f"{path} lacks {', '.join(missing)}: it is not Keras' mnist.npz; "
                                f"{FIX}")
            arrays = {key: npz[key] for key in KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise UserError(f"{path} is not a readable npz ({e}): {FIX}") from None
    out = {}
    for split in ("train", "test"):
        out[f"x_{split}"], out[f"y_{split}"] = check_split(
            arrays[f"x_{split}"], arrays[f"y_{split}"], f"{path} x_{split}", f"{path} y_{split}")
    return out
