"""What every MNIST-like split must be, whichever file it came from (IDX files, Keras' npz)."""

import numpy as np

from fidle_runs.core.errors import UserError

IMAGE_SIZE = 28
N_CLASSES = 10
FIX = "replace the file, or delete it and set data.download=true where the internet is reachable"


def check_split(images: np.ndarray, labels: np.ndarray, images_from: str,
                labels_from: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and their labels as int64 in 0..9, else a UserError naming the
    culprit (`images_from`, `labels_from`: where each array was read, for the message)."""
    if images.dtype != np.uint8 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise UserError(f"{images_from}: wrong dims: {images.dtype} images of shape "
                        f"{images.shape}, expected uint8 (N, {IMAGE_SIZE}, {IMAGE_SIZE}): {FIX}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{labels_from}: wrong dims: {labels.dtype} labels of shape "
                        f"{labels.shape}, expected integers (N,): {FIX}")
    if len(images) != len(labels):
        raise UserError(f"{images_from} holds {len(images)} images but {labels_from} "
                        f"{len(labels)} labels: {FIX}")
    if len(labels) and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise UserError(f"{labels_from}: labels span {labels.min()}..{labels.max()}, expected "
                        f"0..{N_CLASSES - 1}: {FIX}")
    return images, labels.astype(np.int64)
