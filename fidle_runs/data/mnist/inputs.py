"""Grey images as a user has them (PNG, PGM...) -> samples as MNIST stores them: (N, 1, 28, 28)
uint8, light strokes on black as in MNIST (an image is not inverted: a dark digit on white
paper must be inverted first). An image of another size is resized to 28x28 (Pillow's
bilinear); a colour image is refused unless its channels are equal (grey saved as RGB)."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from fidle_runs.core.errors import UserError
from fidle_runs.data.inputs import Inputs
from fidle_runs.data.mnist.split import IMAGE_SIZE

COLOUR_MODES = ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "P", "HSV", "LAB")


def read_grey_images(paths: list[Path], dataset: str) -> Inputs:
    if not paths:
        raise UserError("no image given: name one or more image files (digit.png)")
    return Inputs(torch.from_numpy(np.stack([grey_image(Path(p), dataset) for p in paths]))
                  .unsqueeze(1), [Path(p).name for p in paths])


def grey_image(path: Path, dataset: str) -> np.ndarray:
    """(28, 28) uint8 of one image file."""
    if not path.is_file():
        raise UserError(f"{path}: no such file; give grey image files (PNG, PGM)")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in COLOUR_MODES:
                rgb = np.asarray(im.convert("RGB"))
                if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
                    raise UserError(f"{path} is a colour image ({len(im.getbands())} channels "
                                    f"{im.mode}): a {dataset} run reads grey images (1 channel); "
                                    "convert it to greyscale")
                grey = Image.fromarray(rgb[..., 0])
            else:
                grey = im.convert("L")
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise UserError(f"cannot read image {path} ({e}): give a grey image file Pillow can "
                        "read (PNG, PGM)") from None
    if grey.size != (IMAGE_SIZE, IMAGE_SIZE):
        grey = grey.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.uint8)
