"""Sign images as a user has them (any file Pillow reads: PPM, PNG, JPEG...) -> samples as the
run's prepared set holds them: RGB (transparency on white), resized to the run's size and
enhanced in its mode by the same calls as preparation (fidle_runs.data.images.enhance), uint8
(N, C, H, W). A run prepared with `roi=true` was trained on images cropped to the sign's
annotated box: give images cropped to the sign."""

from pathlib import Path

import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.data.images.decode import load_rgb
from fidle_runs.data.images.enhance import apply_mode, resize
from fidle_runs.data.inputs import Inputs
from fidle_runs.data.tensor_batches import images_to_tensor

FIX = "give an image file Pillow can read (PPM, PNG, JPEG)"


def read_sign_images(paths: list[Path], size: int, mode: str) -> Inputs:
    if not paths:
        raise UserError("no image given: name one or more image files (sign1.png sign2.ppm)")
    images = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such file; {FIX}")
        images.append(apply_mode(resize(load_rgb(path, FIX), size), mode))
    return Inputs(images_to_tensor(np.stack(images)), [Path(p).name for p in paths])
