"""Keras' IMDB files, as keras.datasets.imdb downloads them (FIDLE keeps them in
`$FIDLE_DATASETS_DIR/keras_cache/`):

- `imdb.npz`: x_train, y_train, x_test, y_test; each x an object array of 25,000 Python lists
  of word ranks (1: the most frequent word; no start mark, no index_from offset: load_data adds
  both), each y 0 (negative) or 1 (positive);
- `imdb_word_index.json`: word -> rank.

Reviews come in load_data's order (its seed 113 shuffles train, then test, with one
RandomState), so sample i here is sample i of Keras' x_train."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.data.keras_npz import read_keras_arrays

KERAS_SEED = 113
CLASSES = ["neg", "pos"]  # Keras' labels 0 and 1
FIX = ("get Keras' files again (keras.datasets.imdb.load_data() and get_word_index() write "
       "them into ~/.keras/datasets/)")


@dataclass
class KerasIMDB:
    """Word ranks per review, labels (int64 0/1) and the word index, train and test."""

    ranks_train: list[np.ndarray]
    y_train: np.ndarray
    ranks_test: list[np.ndarray]
    y_test: np.ndarray
    word_index: dict[str, int]


def read_keras_imdb(npz: Path, word_index: Path) -> KerasIMDB:
    arrays = read_keras_arrays(npz, "imdb.npz", FIX, allow_pickle=True)
    rng = np.random.RandomState(KERAS_SEED)
    out = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        ranks = _ranks(x, f"{npz} x_{split}")
        y = _labels(y, len(ranks), f"{npz} y_{split}")
        order = np.arange(len(ranks))
        rng.shuffle(order)
        out[f"ranks_{split}"], out[f"y_{split}"] = [ranks[i] for i in order], y[order]
    return KerasIMDB(word_index=read_word_index(word_index), **out)


def _ranks(x: np.ndarray, what: str) -> list[np.ndarray]:
    if x.dtype != object or x.ndim != 1:
        raise UserError(f"{what} is a {x.dtype} array of shape {x.shape}, not Keras' object "
                        f"array of word lists: {FIX}")
    ranks = []
    for i, review in enumerate(x):
        values = _integers(review)
        if values is None or (values < 1).any():
            raise UserError(f"{what}[{i}] is not a list of word ranks (integers >= 1): {FIX}")
        ranks.append(values)
    return ranks


def _integers(review: object) -> np.ndarray | None:
    """A review's ranks as int64, None when it is not a flat list of integers."""
    if not isinstance(review, list | np.ndarray):
        return None
    if len(review) == 0:
        return np.zeros(0, dtype=np.int64)
    try:
        values = np.asarray(review)
    except ValueError:  # ragged nesting
        return None
    return values.astype(np.int64) if values.ndim == 1 and values.dtype.kind in "iu" else None


def _labels(y: np.ndarray, n: int, what: str) -> np.ndarray:
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != n:
        raise UserError(f"{what} is a {y.dtype} array of shape {y.shape}, where {n} labels 0/1 "
                        f"are expected: {FIX}")
    if len(y) and not np.isin(y, (0, 1)).all():
        raise UserError(f"{what} holds labels other than 0 and 1 ({sorted(set(y.tolist()))[:5]})"
                        f": {FIX}")
    return y.astype(np.int64)


def read_word_index(path: Path) -> dict[str, int]:
    """imdb_word_index.json: word -> rank (integers >= 1)."""
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise UserError(f"{path} is not a readable JSON word index ({why}): {FIX}") from None
    if not isinstance(index, dict) or not all(
            isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in index.values()):
        raise UserError(f"{path} is not Keras' word index (a JSON object word -> rank >= 1): "
                        f"{FIX}")
    return index
