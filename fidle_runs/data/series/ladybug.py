"""FIDLE LADYB1's ladybug: a 2-D trajectory, the sum of four sines and cosines per axis with
Gaussian amplitudes and frequencies drawn from Python's `random` seeded with 16, sampled every
`delta_t` over [0, max_t) (v2: 0.02 -> 50,000 positions; K3 uses 0.01)."""

import random

import numpy as np

from fidle_runs.data.series.frame import Series

SEED = 16
MAX_T = 1000.0
DELTA_T = 0.02
COLUMNS = ["x", "y"]
PARAMETERS = 8  # a1..a4, k1..k4 per axis


def ladybug_parameters(seed: int = SEED) -> tuple[list[float], list[float]]:
    """The 8 parameters of x, then of y, as LADYB1 draws them after `random.seed(seed)`."""
    draw = random.Random(seed)
    params_x = [draw.gauss(0.0, 1.0) for _ in range(PARAMETERS)]
    params_y = [draw.gauss(0.0, 1.0) for _ in range(PARAMETERS)]
    return params_x, params_y


def ladybug_series(seed: int = SEED, max_t: float = MAX_T, delta_t: float = DELTA_T) -> Series:
    """The positions (x, y) at t = 0, delta_t, ... < max_t:
    x(t) = a1 sin(t(k1+20)) + a2 cos(t(k2+10)) + a3 sin(t(k3+5)) + a4 cos(t(k4+5)),
    y(t) the same with cos and sin swapped."""
    (ax1, ax2, ax3, ax4, kx1, kx2, kx3, kx4), (ay1, ay2, ay3, ay4, ky1, ky2, ky3, ky4) = (
        ladybug_parameters(seed))
    t = np.arange(0.0, max_t, delta_t)
    x = (ax1 * np.sin(t * (kx1 + 20)) + ax2 * np.cos(t * (kx2 + 10))
         + ax3 * np.sin(t * (kx3 + 5)) + ax4 * np.cos(t * (kx4 + 5)))
    y = (ay1 * np.cos(t * (ky1 + 20)) + ay2 * np.sin(t * (ky2 + 10))
         + ay3 * np.cos(t * (ky3 + 5)) + ay4 * np.sin(t * (ky4 + 5)))
    return Series(t, np.stack([x, y], axis=1), list(COLUMNS))
