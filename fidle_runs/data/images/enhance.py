"""FIDLE's image enhancement (fidle.md §1.3): resize, then one of the colour/equalisation modes.

Same scikit-image calls as FIDLE so numbers compare; the result is stored as uint8 instead of
float64 (value * 255, rounded), 8x smaller and exact to 1/255.
"""

from dataclasses import dataclass

import numpy as np
from skimage import color, exposure, filters, morphology, transform, util

from fidle_runs.core.errors import UserError

CHANNELS = {"RGB": 3, "RGB-HE": 3, "L": 1, "L-HE": 1, "L-LHE": 1, "L-CLAHE": 1}
LOCAL_EQUALIZE_FOOTPRINT = morphology.disk(10)


@dataclass(frozen=True, order=True)
class SetSpec:
    """One enhanced set: image size and mode, named as FIDLE names it."""

    size: int
    mode: str

    @property
    def name(self) -> str:
        return f"set-{self.size}x{self.size}-{self.mode}"

    @property
    def channels(self) -> int:
        return CHANNELS[self.mode]


def resize(image: np.ndarray, size: int, roi: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 image -> (size, size, 3) float in [0, 1], cropped to `roi` (inclusive) if given.

    Shared by every mode of one size, so a multi-set preparation resizes each image once.
    """
    if roi is not None:
        x1, y1, x2, y2 = (int(v) for v in roi)
        h, w = image.shape[:2]
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(w - 1, x2), min(h - 1, y2)
        if x2 > x1 and y2 > y1:
            image = image[y1 : y2 + 1, x1 : x2 + 1]
    return transform.resize(image, (size, size))


def apply_mode(x: np.ndarray, mode: str) -> np.ndarray:
    """Resized float RGB image -> uint8 (size, size, channels) in `mode`."""
    size = x.shape[0]
    if mode == "RGB":
        pass
    elif mode == "RGB-HE":
        hsv = color.rgb2hsv(x)
        hsv[:, :, 2] = exposure.equalize_hist(hsv[:, :, 2])
        x = color.hsv2rgb(hsv)
    elif mode == "L":
        x = color.rgb2gray(x)
    elif mode == "L-HE":
        x = exposure.equalize_hist(color.rgb2gray(x))
    elif mode == "L-LHE":
        gray = util.img_as_ubyte(color.rgb2gray(x))
        x = filters.rank.equalize(gray, footprint=LOCAL_EQUALIZE_FOOTPRINT) / 255.0
    elif mode == "L-CLAHE":
        x = exposure.equalize_adapthist(color.rgb2gray(x))
    else:
        raise UserError(f"unknown image mode {mode!r}: use one of {', '.join(CHANNELS)}")
    x = np.clip(np.rint(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)
    return x.reshape(size, size, CHANNELS[mode])
