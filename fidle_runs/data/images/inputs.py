"""Image files as a user has them (any format the shared decoder reads: PNG, JPEG, PPM, WebP...)
-> samples as a run's prepared set holds them: RGB (transparency on the run's background),
resized to the run's size and enhanced in its mode by the same calls as preparation
(fidle_runs.data.images), uint8 (N, C, H, W)."""

from pathlib import Path

import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.data.images.decode import load_rgb
from fidle_runs.data.images.enhance import SetSpec, apply_mode, resize
from fidle_runs.data.inputs import Inputs
from fidle_runs.data.tensor_batches import images_to_tensor

FIX = "give an image file Pillow can read (PNG, JPEG, PPM, BMP, WebP, TIFF)"
WHITE = (255, 255, 255)


def read_image_files(paths: list[Path], spec: SetSpec,
                     background: tuple[int, int, int] = WHITE) -> Inputs:
    if not paths:
        raise UserError("no image given: name one or more image files (photo1.jpg photo2.png)")
    images = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such file; {FIX}")
        rgb = load_rgb(path, FIX, background=background)
        images.append(apply_mode(resize(rgb, spec.size), spec.mode))
    return Inputs(images_to_tensor(np.stack(images)), [Path(p).name for p in paths])
