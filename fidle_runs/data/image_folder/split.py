"""A scanned folder's splits as preparation takes them: its own val/ and test/ where it has
them, else test carved out of train, a seeded stratified `data.test_fraction` of each class, so
that every class is tested in its proportion and keeps training images."""

import numpy as np

from fidle_runs.data.image_folder.scan import FolderScan, FolderSplit
from fidle_runs.data.images.image_set import SplitItems
from fidle_runs.data.subsets import stratified_split


def split_items(scan: FolderScan, test_fraction: float,
                test_seed: int) -> tuple[dict[str, SplitItems], str]:
    """train, test (and val) items of `scan`, and how test was chosen (result.json's
    `test_split`)."""
    splits = dict(scan.splits)
    how = "the folder's test/"
    if "test" not in splits:
        train = splits["train"]
        test = stratified_split(train.labels, test_fraction, test_seed)
        kept = np.setdiff1d(np.arange(len(train.labels)), test)
        splits["train"], splits["test"] = _take(train, kept), _take(train, test)
        how = f"stratified {test_fraction:g} of each class (data.test_seed={test_seed})"
    return {name: _items(scan, split) for name, split in splits.items()}, how


def _take(split: FolderSplit, rows: np.ndarray) -> FolderSplit:
    return FolderSplit([split.files[i] for i in rows.tolist()], split.labels[rows])


def _items(scan: FolderScan, split: FolderSplit) -> SplitItems:
    return SplitItems([scan.root / name for name in split.files], split.labels, list(split.files))
