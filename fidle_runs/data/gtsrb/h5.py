"""The enhanced-set H5 file: FIDLE's keys, uint8 images, attributes saying how it was made."""

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.data.images.enhance import SetSpec
from fidle_runs.data.images.image_set import plain_attribute

KEYS = ("x_train", "y_train", "x_test", "y_test", "x_meta", "y_meta")
# Optional (not in FIDLE's files): the track of each train image, for a leak-free validation split.
TRACK_KEY = "track_train"
FORMAT_VERSION = 1
N_CLASSES = 43


def set_filename(spec: SetSpec, roi: bool, scale: float, subset_seed: int) -> str:
    """`set-24x24-L.h5` for FIDLE's defaults; ROI crops and subsets get their own files."""
    name = spec.name + ("-roi" if roi else "")
    if scale < 1:
        name += f"-scale{scale:g}-seed{subset_seed}"
    return name + ".h5"


def read_attrs(path: Path, user_file: bool = False) -> dict[str, Any]:
    """The attributes of a valid set file (raises UserError when it is corrupt or incomplete).
    `user_file`: the user gave it (data.h5_file), so the fix is theirs, not a rebuild."""
    with _open(path, user_file) as f:
        _check_layout(f, path, user_file)
        return {k: plain_attribute(v) for k, v in f.attrs.items()}


def load_arrays(path: Path, keys: tuple[str, ...] = KEYS,
                user_file: bool = False) -> dict[str, np.ndarray]:
    """Arrays of a valid set file, images as uint8 NHWC (FIDLE's float [0, 1] files converted)."""
    with _open(path, user_file) as f:
        _check_layout(f, path, user_file)
        out = {}
        if TRACK_KEY in keys and TRACK_KEY not in f:
            keys = tuple(k for k in keys if k != TRACK_KEY)
        for key in keys:
            data = f[key]
            if key.startswith("x_") and data.dtype != np.uint8:
                out[key] = _float_to_uint8(data)
            else:
                out[key] = data[:]
        return out


def fix_for(user_file: bool) -> str:
    """What to do about a bad set file: the user's own is theirs to fix; ours is rebuilt."""
    if user_file:
        return "fix or replace it, or drop data.h5_file to prepare the set from raw data"
    return "delete it and run again to rebuild it (python -m fidle_runs.prepare)"


def _open(path: Path, user_file: bool) -> h5py.File:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"H5 set {path} is a directory, not an H5 file: give data.h5_file the "
                        "path of the .h5 file itself")
    if not path.is_file():
        raise UserError(f"H5 set {path} does not exist: fix data.h5_file or drop it to prepare "
                        "the set from raw data")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise UserError(f"H5 set {path} is corrupt or truncated ({e}): "
                        f"{fix_for(user_file)}") from None


def _check_layout(f: h5py.File, path: Path, user_file: bool) -> None:
    missing = [k for k in KEYS if k not in f]
    if missing:
        raise UserError(f"H5 set {path} lacks key(s) {', '.join(missing)}: it is not a GTSRB "
                        f"enhanced set; {fix_for(user_file)}")
    try:
        shapes = {k: f[k].shape for k in KEYS}
    except (OSError, RuntimeError) as e:
        raise UserError(f"H5 set {path} is corrupt ({e}): {fix_for(user_file)}") from None
    problems = []
    for split in ("train", "test", "meta"):
        x, y = shapes[f"x_{split}"], shapes[f"y_{split}"]
        if len(x) != 4 or x[1] != x[2] or x[3] not in (1, 3):
            problems.append(f"x_{split} has shape {x}, expected (N, size, size, 1|3)")
        elif len(y) != 1 or y[0] != x[0]:
            problems.append(f"y_{split} has shape {y}, expected ({x[0]},)")
    if not problems and shapes["x_train"][1:] != shapes["x_test"][1:]:
        problems.append(f"x_train {shapes['x_train']} and x_test {shapes['x_test']} differ")
    if not problems and (shapes["x_train"][0] == 0 or shapes["x_test"][0] == 0):
        problems.append(f"it holds {shapes['x_train'][0]} train and {shapes['x_test'][0]} test "
                        "images")
    if problems:
        raise UserError(f"H5 set {path} has wrong shapes: {problems[0]}; {fix_for(user_file)}")


def check_labels(labels: np.ndarray, key: str, path: Path, user_file: bool) -> None:
    """Labels must be class ids 0..42: anything else fails mid-training in the loss."""
    bad = labels[(labels < 0) | (labels >= N_CLASSES)]
    if len(bad):
        raise UserError(f"H5 set {path} has {len(bad)} label(s) in {key} outside "
                        f"0..{N_CLASSES - 1} (e.g. {int(bad[0])}): {fix_for(user_file)}")


def _float_to_uint8(data: h5py.Dataset, chunk: int = 4096) -> np.ndarray:
    out = np.empty(data.shape, dtype=np.uint8)
    for start in range(0, data.shape[0], chunk):
        block = data[start : start + chunk]
        out[start : start + chunk] = np.clip(np.rint(block * 255.0), 0, 255)
    return out
