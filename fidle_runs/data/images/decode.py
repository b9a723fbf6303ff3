"""Any image file a user has -> an RGB uint8 array, the input of every image family's
preparation and prediction."""

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from skimage import color, util

from fidle_runs.core.errors import UserError


def load_rgb(path: Path, fix: str = "replace it or re-extract the raw set") -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); transparency is blended on white as FIDLE does.
    A file that cannot be decoded is one line ending with `fix`."""
    try:
        with Image.open(path) as im:
            im.load()
            return rgb_array(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise UserError(f"cannot decode image {path} ({e}): {fix}") from None


def rgb_array(im: Image.Image) -> np.ndarray:
    """A loaded image as RGB uint8 (H, W, 3), transparency blended on white."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return util.img_as_ubyte(color.rgba2rgb(np.asarray(im.convert("RGBA"))))
    return np.asarray(im.convert("RGB"))
