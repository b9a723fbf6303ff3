"""Keras' MNIST file: `keras.datasets.mnist.load_data()` caches `mnist.npz` (x_train, y_train,
x_test, y_test), which FIDLE keeps in `$FIDLE_DATASETS_DIR/keras_cache/` for offline use."""

from pathlib import Path

import numpy as np

from fidle_runs.data.keras_npz import read_keras_arrays
from fidle_runs.data.mnist.split import FIX, check_split


def read_keras_npz(path: Path) -> dict[str, np.ndarray]:
    """The four checked arrays of a Keras mnist.npz (uint8 images (N, 28, 28), int64 labels)."""
    arrays = read_keras_arrays(path, "mnist.npz", FIX)
    out = {}
    for split in ("train", "test"):
        out[f"x_{split}"], out[f"y_{split}"] = check_split(
            arrays[f"x_{split}"], arrays[f"y_{split}"], f"{path} x_{split}", f"{path} y_{split}")
    return out
