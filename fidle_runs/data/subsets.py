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
