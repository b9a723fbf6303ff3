"""Any image file a user has -> an RGB uint8 array, the input of every image family's
preparation and prediction.

Whatever the file stores (grey, RGB, palette, CMYK, 16-bit or float pixels, an alpha channel, an
EXIF orientation), the array is what a viewer shows: turned upright, transparency composited on
a background (white by default, as FIDLE blends GTSRB's), 8 bits per channel."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from skimage import color, util

from fidle_runs.core.errors import UserError

# The files worth decoding, by extension (lower case): what PIL reads of the common formats.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pbm", ".pnm", ".bmp",
                            ".webp", ".tif", ".tiff", ".gif"})
WHITE = (255, 255, 255)
# Grey images of more than 8 bits: PIL's modes for 16-bit (and 32-bit integer) pixels.
WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class UndecodableImage(UserError):
    """A file that cannot be decoded as an image: one line naming it, why, and `fix`; `reason`
    alone for a preparation that lists the files it skipped."""

    def __init__(self, path: Path, reason: str, fix: str) -> None:
        super().__init__(f"cannot decode image {path} ({reason}): {fix}")
        self.path, self.reason, self.fix = path, reason, fix

    def __reduce__(self) -> tuple:
        """Rebuilt from its own arguments when it crosses from a pool worker to the parent
        (an exception is pickled by its message otherwise, which this __init__ does not take,
        and the pool would wait forever)."""
        return type(self), (self.path, self.reason, self.fix)


def is_image_file(path: Path) -> bool:
    """Whether `path` has the extension of an image format this package decodes."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_rgb(path: Path, fix: str = "replace it or re-extract the raw set",
             background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3), upright, transparency composited on `background`
    (RGB 0-255). A file that cannot be decoded is one line ending with `fix`."""
    try:
        with Image.open(path) as im:
            im.load()
            return rgb_array(ImageOps.exif_transpose(im), background)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as e:
        raise UndecodableImage(path, str(e), fix) from None


def rgb_array(im: Image.Image, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """A loaded image as RGB uint8 (H, W, 3), transparency composited on `background`.

    16-bit grey is scaled to 8 bits exactly (value / 257, rounded: an 8-bit image saved as
    16-bit by x * 257 comes back as x); float pixels are taken in [0, 1], scikit-image's
    convention; CMYK and the other colour modes are converted by PIL."""
    if im.mode in WIDE_GREY_MODES:
        values = np.asarray(im)
        rgb = _grey_to_rgb(values.astype(np.float64) / 257)
        key = im.info.get("transparency")
        if not isinstance(key, int):
            return rgb
        # A transparent grey value (PNG's tRNS): PIL's RGBA conversion would clip 16-bit grey.
        return _composite(np.dstack([rgb, np.where(values == key, 0, 255).astype(np.uint8)]),
                          background)
    if im.mode == "F":
        return _grey_to_rgb(np.asarray(im).astype(np.float64) * 255)
    if im.mode in ALPHA_MODES or "transparency" in im.info:
        return _composite(np.asarray(im.convert("RGBA")), background)
    return np.asarray(im.convert("RGB"))


def _composite(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """RGBA uint8 -> RGB uint8 on `background`, with scikit-image's blend (GTSRB's on white)."""
    return util.img_as_ubyte(color.rgba2rgb(rgba, tuple(c / 255 for c in background)))


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """Grey levels on the 0-255 scale (any float) -> RGB uint8, rounded and clipped."""
    levels = np.clip(np.rint(np.nan_to_num(grey)), 0, 255).astype(np.uint8)
    return np.repeat(levels[:, :, None], 3, axis=2)
