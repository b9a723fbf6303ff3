"""Scores of a regression or a forecast computed once, in float64 on the CPU, from a run's saved
test predictions and targets, both (n, k) values in the targets' units ((n,) meaning k = 1).
They are exact where the metrics logged during training are float32 running estimates, and they
follow scikit-learn's definitions (the tests compare them with it). Imports only numpy: of
fidle_runs it may import config, store and core (the tasks layer), and needs none of them.
"""

import numpy as np

# Every score this module produces, by name (without a stage prefix or a target's name):
# (mode, fraction), mode "max" where higher is better; none is a fraction shown as a percentage.
SCORES: dict[str, tuple[str, bool]] = {
    "mae": ("min", False),
    "mse": ("min", False),
    "rmse": ("min", False),
    "r2": ("max", False),
    # The mean squared error the task minimises: the same value as mse.
    "loss": ("min", False),
}


def _values(predictions: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 (n, k), checked to agree."""
    p = np.asarray(predictions, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    p, t = (a[:, None] if a.ndim == 1 else a for a in (p, t))
    if p.ndim != 2 or p.shape != t.shape:
        raise ValueError(f"predictions {p.shape} and targets {t.shape} must be the same (n, k)")
    if len(p) == 0:
        raise ValueError("no samples to score")
    return p, t


def _r2(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """R² of each of the k columns. Where a target does not vary (a zero denominator) it is 1.0
    for a perfect prediction and 0.0 otherwise, as scikit-learn's r2_score (force_finite=True);
    NaN under two samples, where scikit-learn too leaves it undefined."""
    if len(t) < 2:
        return np.full(t.shape[1], np.nan)
    residual = np.sum((t - p) ** 2, axis=0)
    total = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    r2 = np.where(residual == 0, 1.0, 0.0)
    np.subtract(1.0, residual / np.where(total == 0, 1.0, total), out=r2, where=total != 0)
    return r2


def scores(predictions: np.ndarray, targets: np.ndarray,
           names: list[str] | None = None) -> dict[str, float]:
    """mae, mse, rmse and loss (= mse) over all n x k values, and r2 the uniform average of the
    k targets' own R² (torchmetrics R2Score's default, scikit-learn's
    r2_score(multioutput="uniform_average")), as Python floats. With k > 1 and the targets'
    names, each target's mae_<name>, rmse_<name> and r2_<name> too."""
    p, t = _values(predictions, targets)
    error = p - t
    mse = float(np.mean(error**2))
    r2 = _r2(p, t)
    result = {"mae": float(np.mean(np.abs(error))), "mse": mse, "rmse": float(np.sqrt(mse)),
              "r2": float(np.mean(r2)), "loss": mse}
    if names is not None and p.shape[1] > 1:
        if len(names) != p.shape[1]:
            raise ValueError(f"{len(names)} names for {p.shape[1]} targets")
        mae = np.mean(np.abs(error), axis=0)
        rmse = np.sqrt(np.mean(error**2, axis=0))
        for i, name in enumerate(names):
            result.update({f"mae_{name}": float(mae[i]), f"rmse_{name}": float(rmse[i]),
                           f"r2_{name}": float(r2[i])})
    return result


def per_sample(predictions: np.ndarray, targets: np.ndarray, name: str) -> np.ndarray:
    """Each sample's share of a score that is a mean over samples, so that resampling samples
    (a bootstrap) resamples the score: `mae` (the sample's mean absolute error over its k
    values), `mse` and `loss` (its mean squared error). KeyError for the others (RMSE and R² are
    not means over samples)."""
    p, t = _values(predictions, targets)
    if name == "mae":
        return np.mean(np.abs(p - t), axis=1)
    if name in ("mse", "loss"):
        return np.mean((p - t) ** 2, axis=1)
    raise KeyError(f"{name!r} is not a per-sample mean")
