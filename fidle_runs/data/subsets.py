"""FIDLE's `scale`: a seeded share of a dataset. Without torch, for data preparation on a login
node (python -m fidle_runs.prepare) as well as for training."""

import numpy as np

from fidle_runs.core.errors import UserError


def subset_indices(n: int, scale: float, seed: int) -> np.ndarray:
    """FIDLE's `scale` as a seeded random subset of int(n * scale) items, in original order."""
    if not 0 < scale <= 1:
        raise UserError(f"data.scale={scale} must be in (0, 1]: e.g. data.scale=0.2")
    if scale == 1:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max(1, int(n * scale)), replace=False))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded share `fraction` of each class's samples (at least one of a
    class of two or more, never all of a class), for a held-out split whose classes keep the
    proportions of the whole."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        k = min(len(members) - 1, max(1, round(len(members) * fraction)))
        if k > 0:
            chosen.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)
