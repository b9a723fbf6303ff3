"""FIDLE's train/test split of a table (BHPD1 `data.sample(frac=0.7)`: 70 % of the rows drawn
at random for train, the rest test; Wine 80/20), seeded; for a classification drawn per class,
so each class keeps its share in both (a class of one row stays in train)."""

import numpy as np


def train_size(n_rows: int, test_fraction: float) -> int:
    """pandas' `sample(frac=...)` count: the train fraction of the rows, rounded."""
    return round(n_rows * (1 - test_fraction))


def test_split(n_rows: int, test_fraction: float, seed: int,
               labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and test row indices; `labels`: stratify by them."""
    rng = np.random.default_rng(seed)
    if labels is None:
        order = rng.permutation(n_rows)
        n_train = train_size(n_rows, test_fraction)
        return np.sort(order[:n_train]), np.sort(order[n_train:])
    train, test = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        n_train = max(1, train_size(len(rows), test_fraction))
        train.append(rows[:n_train])
        test.append(rows[n_train:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
