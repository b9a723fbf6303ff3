"""The four arrays of a `keras.datasets` npz (x_train, y_train, x_test, y_test), which FIDLE
keeps in `$FIDLE_DATASETS_DIR/keras_cache/`: the MNIST family's and IMDB's readers check what
they hold; here, that the file is a readable npz holding them, else one line naming the file
and the fix."""

import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from fidle_runs.core.errors import UserError

KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_keras_arrays(path: Path, name: str, fix: str,
                      allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """The four arrays of Keras' `name` file (mnist.npz, imdb.npz). `allow_pickle` for object
    arrays (IMDB's lists), only for a zip archive: np.load would unpickle any other file."""
    if allow_pickle and not zipfile.is_zipfile(path):
        raise UserError(f"{path} is not a readable npz (not a zip archive): {fix}")
    try:
        with np.load(path, allow_pickle=allow_pickle) as npz:
            missing = [key for key in KEYS if key not in npz.files]
            if missing:
                raise UserError(f"{path} lacks {', '.join(missing)}: it is not Keras' {name}; "
                                f"{fix}")
            return {key: npz[key] for key in KEYS}
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile,
            zlib.error) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise UserError(f"{path} is not a readable npz ({why}): {fix}") from None
