"""Statistics for runs that differ only by seed: a group's mean, spread and interval, one run's
interval from its test set alone (Wilson, bootstrap over test samples), and whether model A is
better than model B counting both seed-to-seed spread and test-set sampling (t over seeds plus a
paired bootstrap over test samples when per-sample contributions were saved, Welch's t over seeds
otherwise), with Holm's correction when the best of several models is compared with the others.
Imports numpy and scipy only, nothing from fidle_runs."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import ceil

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
MODES = ("max", "min")
# Test-sample resamples drawn at once: bounds the weights' memory to CHUNK x n float64
# (20 MB for GTSRB's 12,630 test samples).
CHUNK = 200

Transform = Callable[[np.ndarray], np.ndarray]

PAIRED_BOOTSTRAP = "t over seeds and paired bootstrap over test samples"
PAIRED_ONE_SEED = (
    "paired bootstrap over test samples (one seed on a side: seed-to-seed spread not accounted for)"
)
WELCH = "Welch t over seeds (test-set sampling not accounted for)"
CANNOT_TELL = "cannot tell (one seed and no per-sample data)"


@dataclass(frozen=True)
class Interval:
    """An interval at CONFIDENCE and how it was obtained (shown next to it in the report)."""

    low: float
    high: float
    method: str  # "t over seeds", "Wilson (test samples)", "bootstrap over test samples"...


@dataclass(frozen=True)
class GroupSummary:
    """One config's runs over several seeds: what a report cell shows instead of the best seed."""

    n: int  # seeds with a value
    mean: float
    sd: float | None  # sample standard deviation (ddof=1); None for n == 1
    interval: Interval | None  # interval of the mean; None for n == 1
    values: tuple[float, ...]  # each seed's value, in the given order


@dataclass(frozen=True)
class Comparison:
    """Model A against model B: how far apart, how sure, and by which method."""

    difference: float  # mean(A) - mean(B) as observed, in the metric's units
    interval: Interval  # interval of the difference
    p_better: float  # probability that A is better than B, in the metric's direction
    p_value: float  # two-sided p of "no difference"
    method: str  # PAIRED_BOOTSTRAP, PAIRED_ONE_SEED, WELCH or CANNOT_TELL


@dataclass(frozen=True)
class Verdict:
    """Which group is best, and which others cannot be told apart from it."""

    best: int  # index of the best group by mean, in the metric's direction (ties: the first)
    tied: list[int]  # groups whose Holm-adjusted p >= alpha (or NaN), best excluded
    comparisons: dict[int, Comparison]  # each other group against the best (A = best)
    adjusted_p: dict[int, float]  # Holm-adjusted p-values of those comparisons


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    if values.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} has non-finite values (NaN or inf)")
    return values


def _z(confidence: float) -> float:
    """The two-sided normal quantile for `confidence` (1.96 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} is not in (0, 1)")
    return float(stats.norm.ppf((1 + confidence) / 2))


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode is {mode!r}, not max or min")


def _check_boot(n_boot: int) -> None:
    if n_boot < 2:
        raise ValueError(f"n_boot is {n_boot}: a bootstrap needs at least 2 resamples")


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> GroupSummary:
    """Mean, sample sd and Student-t interval of the mean over seeds: mean ± t_{(1+c)/2, n-1}
    * sd / sqrt(n). The t quantile (not 1.96) because a group rarely has more than 5-10 seeds.
    One seed gives no spread, so no sd and no interval. Raises ValueError on empty input or
    non-finite values: a failed seed must be shown as failed, not averaged away."""
    _z(confidence)
    x = _finite(np.asarray(values, dtype=np.float64).ravel(), "values")
    n = x.size
    mean = float(x.mean())
    if n == 1:
        return GroupSummary(1, mean, None, None, (mean,))
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / np.sqrt(n)
    return GroupSummary(
        n, mean, sd, Interval(mean - half, mean + half, "t over seeds"), tuple(x.tolist())
    )


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson score interval of an accuracy measured on n test samples: one run's
    uncertainty from its test set's size alone (it says nothing about other seeds). Wilson rather
    than the normal approximation because it stays inside [0, 1] near 100 % accuracy."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n} samples")
    z = _z(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * np.sqrt(p * (1 - p) / n + z2n / (4 * n))
    return Interval(float(centre - half), float(centre + half), "Wilson (test samples)")


def _sample_weights(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """`count` bootstrap resamples of n test samples as multinomial counts (count x n float64):
    a run's resampled mean is then a weighted sum, one product for all runs (_resampled_means).
    Drawn as uniform indices counted per row, which is 5x faster than Generator.multinomial."""
    idx = rng.integers(0, n, size=(count, n))
    idx += (np.arange(count) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=count * n).reshape(count, n).astype(np.float64)


def _resampled_means(per_sample: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each run's mean under each resample (runs x count; 1-D per_sample gives count values).
    numpy's own einsum loop, not BLAS: OpenBLAS's threads made the same product 20-150x slower
    on a machine whose cores were busy (measured on 2 shared cores), while einsum's one thread
    takes 23 ms for 20 runs x 12,630 samples x 200 resamples whatever the load."""
    return np.einsum("...n,cn->...c", per_sample, weights) / per_sample.shape[-1]


def _apply(transform: Transform | None, x: np.ndarray) -> np.ndarray:
    return x if transform is None else np.asarray(transform(x), dtype=np.float64)


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    low, high = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def bootstrap_sample_interval(
    per_sample: np.ndarray,
    transform: Transform | None = None,
    confidence: float = CONFIDENCE,
    n_boot: int = 2000,
    seed: int = 0,
) -> Interval:
    """One run's interval from test-set sampling alone, for any metric that is a mean of
    per-sample contributions (then `transform`, e.g. np.sqrt for RMSE): the percentile bootstrap
    over test samples. The Wilson interval's counterpart for MAE, MSE, RMSE, log-loss."""
    _z(confidence)
    _check_boot(n_boot)
    x = _finite(np.asarray(per_sample, dtype=np.float64), "per_sample")
    if x.ndim != 1:
        raise ValueError(f"per_sample has shape {x.shape}, not one value per test sample")
    rng = np.random.default_rng(seed)
    draws = np.concatenate(
        [
            _resampled_means(x, _sample_weights(rng, x.size, min(CHUNK, n_boot - start)))
            for start in range(0, n_boot, CHUNK)
        ]
    )
    return Interval(
        *_percentiles(_apply(transform, draws), confidence), "bootstrap over test samples"
    )


def _t_comparison(
    difference: float, se: float, df: float, mode: str, confidence: float, method: str
) -> Comparison:
    """A comparison from the difference's standard error and its degrees of freedom: interval
    difference ± t_{(1+c)/2, df} se, p_value 2 P(T > |d| / se), p_better P(T < d / se) in the
    metric's direction (so p_value = 2 min(p_better, 1 - p_better)). A zero se (no spread at all)
    gives p 1 for a zero difference and 0 otherwise."""
    if se > 0:
        t = difference / se
        half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
        p_value = float(2 * stats.t.sf(abs(t), df))
        p_higher = float(stats.t.cdf(t, df))
    else:
        half = 0.0
        p_value = 1.0 if difference == 0 else 0.0
        p_higher = 0.5 if difference == 0 else float(difference > 0)
    p_better = p_higher if mode == "max" else 1 - p_higher
    interval = Interval(float(difference - half), float(difference + half), method)
    return Comparison(difference, interval, p_better, p_value, method)


def _paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    mode: str,
    transform: Transform | None,
    n_boot: int,
    seed: int,
    confidence: float,
) -> Comparison:
    """mean(A) - mean(B) with a variance in two parts, referred to a t distribution.

    Seeds: Welch's s_A^2 / k_A + s_B^2 / k_B over the runs' values (what resampling seeds with
    replacement estimates, without its (k - 1) / k shrinkage: 20 % too little for 5 seeds).
    Test samples: bootstrap draws of test-sample indices shared by every run of both groups (the
    pairing: both models face the same resampled test set, so samples hard for both cancel out),
    CHUNK draws at a time; the variance of the difference of the groups' means over these draws,
    less what the draws add to the spread between runs of a group (each run's own test-sample
    noise, which the seeds' spread already holds). Degrees of freedom: Welch-Satterthwaite over
    the three parts (the test samples' n - 1).

    Drawing seeds and test samples together and taking p from the shares of resamples (the first
    design) counts that noise three times and gives 5 seeds normal tails where t's are due: in
    1,000 simulated pairs of equal models (5 seeds, 2,000 samples) it called 0.6 % different
    when the seeds' spread was 0.3 points and 9.2 % when it was 1.5 points (3.5 % and 3.7 % here),
    and it found 88 % of 1-point gains (95 % here; 300 simulations)."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"A has {a.shape[1]} test samples and B {b.shape[1]}: not the same test set"
        )
    draws = _resampled_run_values(np.vstack([a, b]), transform, n_boot, seed)
    return _paired_from_draws(draws[: len(a)], draws[len(a) :], _seed_values(a, transform),
                              _seed_values(b, transform), a.shape[1], mode, confidence)


def _resampled_run_values(
    runs: np.ndarray, transform: Transform | None, n_boot: int, seed: int
) -> np.ndarray:
    """(runs x n_boot) each run's metric under each bootstrap draw of the test samples, the
    draws from `seed` (the same draws whatever the runs: comparisons of one verdict share
    them), CHUNK draws at a time."""
    rng = np.random.default_rng(seed)
    n = runs.shape[1]
    return np.concatenate([
        _apply(transform, _resampled_means(runs, _sample_weights(rng, n, min(CHUNK, n_boot - s))))
        for s in range(0, n_boot, CHUNK)], axis=1)


def _paired_from_draws(
    draws_a: np.ndarray,
    draws_b: np.ndarray,
    values_a: np.ndarray,
    values_b: np.ndarray,
    n: int,
    mode: str,
    confidence: float,
) -> Comparison:
    """The comparison of _paired_bootstrap from each run's resampled values (`draws_*`, runs x
    draws, the same draws on both sides) and its value on the whole test set (`values_*`)."""
    ka, kb = len(values_a), len(values_b)
    group_diff = draws_a.mean(axis=0) - draws_b.mean(axis=0)
    spread = [d.var(axis=0, ddof=1).mean() if len(d) > 1 else 0.0 for d in (draws_a, draws_b)]
    groups = (values_a, values_b)
    seed_parts = [(float(v.var(ddof=1)) / v.size, v.size - 1) for v in groups if v.size > 1]
    run_noise = sum(
        (spread[g] - v.var(ddof=1)) / v.size for g, v in enumerate(groups) if v.size > 1
    )
    sample_part = max(float(group_diff.var(ddof=1)) - run_noise, 0.0)
    parts = [*seed_parts, (sample_part, max(n - 1, 1))]
    variance = sum(part for part, _ in parts)
    shares = sum(part**2 / dof for part, dof in parts)
    df = variance**2 / shares if shares > 0 else float(max(n - 1, 1))
    observed = float(groups[0].mean() - groups[1].mean())
    method = PAIRED_BOOTSTRAP if min(ka, kb) > 1 else PAIRED_ONE_SEED
    return _t_comparison(observed, np.sqrt(variance), df, mode, confidence, method)


def _welch(a: np.ndarray, b: np.ndarray, mode: str, confidence: float) -> Comparison:
    """Recorded per-seed values only: Welch's t (unequal variances; the t quantile suits the few
    seeds a group has), its p-value (scipy's ttest_ind(equal_var=False)) and interval. With one
    seed on a side there is no spread to test against: NaN p and p_better."""
    observed = float(a.mean() - b.mean())
    if min(a.size, b.size) < 2:
        nan = float("nan")
        return Comparison(observed, Interval(nan, nan, "none (one seed)"), nan, nan, CANNOT_TELL)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb))
    df = float((va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))) if se > 0 else 1.0
    return _t_comparison(observed, se, df, mode, confidence, WELCH)


def _as_group(x: np.ndarray | Sequence[float], name: str) -> np.ndarray:
    """A group as float64: 2-D (runs x test samples) per-sample contributions, or 1-D recorded
    per-seed values."""
    arr = _finite(np.asarray(x, dtype=np.float64), name)
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} has shape {arr.shape}: neither runs x samples nor per-seed values"
        )
    return arr


def _seed_values(group: np.ndarray, transform: Transform | None) -> np.ndarray:
    """Each run's metric: transform(mean over test samples) for per-sample data, else as
    recorded."""
    return _apply(transform, group.mean(axis=1)) if group.ndim == 2 else group


def compare(
    a: np.ndarray | Sequence[float],
    b: np.ndarray | Sequence[float],
    mode: str,
    transform: Transform | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """Is model A better than model B? `a`, `b`: 2-D arrays (runs x test samples) of per-sample
    contributions on the same test samples in the same order, or 1-D recorded per-seed values.
    `mode` "max": higher is better; "min": lower is better. `transform` applies to a run's mean of
    per-sample contributions (np.sqrt for RMSE); recorded values are taken as they are.

    Two 2-D groups: seeds' spread and a paired bootstrap over test samples (n_boot draws from
    `seed`), see _paired_bootstrap. Otherwise (a 2-D side reduced to its runs' values): Welch's t
    over seeds, blind to test-set sampling; with one seed on a side and no per-sample data,
    NaN p and p_better. p_better is the t distribution's share on A's side of 0, so
    p_value = 2 min(p_better, 1 - p_better)."""
    _check_mode(mode)
    _z(confidence)
    _check_boot(n_boot)
    ga, gb = _as_group(a, "a"), _as_group(b, "b")
    if ga.ndim == 2 and gb.ndim == 2:
        return _paired_bootstrap(ga, gb, mode, transform, n_boot, seed, confidence)
    return _welch(_seed_values(ga, transform), _seed_values(gb, transform), mode, confidence)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (monotone in the sorted order,
    capped at 1): comparing the best model with several others is several tests, and the
    smallest of several p-values is small by chance. NaN (no test possible) stays NaN and does
    not count as a test."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = order.size
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out.tolist()


def seeds_to_separate(
    difference: float,
    sd_a: float | None,
    sd_b: float | None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int | None:
    """Seeds per group that a two-sided two-sample test at `alpha` would need to detect a true
    difference of this size with probability `power`, from the seeds' pooled sd (normal
    approximation): ceil(2 (z_{1-alpha/2} + z_power)^2 s^2 / d^2), s^2 = (sd_a^2 + sd_b^2) / 2,
    at least 2. What the report suggests when two groups are tied. None when the difference is 0
    or not finite, or an sd is unknown."""
    if sd_a is None or sd_b is None or difference == 0 or not np.isfinite(difference):
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    variance = (sd_a**2 + sd_b**2) / 2
    return max(2, ceil(2 * z**2 * variance / difference**2))


def verdict(
    groups: Sequence[np.ndarray | Sequence[float]],
    mode: str,
    alpha: float = 0.05,
    transform: Transform | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> Verdict:
    """The best group and the groups that cannot be told apart from it. `groups`: each a 2-D
    per-sample array (runs x test samples) or 1-D recorded values; a group's value is the mean
    over its seeds of each run's metric. Every other group is compared with the best (A = best),
    and the p-values are Holm-adjusted, since picking the best and testing it against k others is
    k tests."""
    _check_mode(mode)
    if len(groups) == 0:
        raise ValueError("no groups")
    arrays = [_as_group(g, f"group {i}") for i, g in enumerate(groups)]
    means = np.array([_seed_values(g, transform).mean() for g in arrays])
    best = int(np.argmax(means) if mode == "max" else np.argmin(means))
    others = [i for i in range(len(arrays)) if i != best]
    if others and all(g.ndim == 2 for g in arrays) and len({g.shape[1] for g in arrays}) == 1:
        # The same test-sample draws for every comparison (compare's, from `seed`), each run
        # resampled once.
        _check_boot(n_boot)
        draws = np.split(_resampled_run_values(np.vstack(arrays), transform, n_boot, seed),
                         np.cumsum([len(g) for g in arrays])[:-1])
        comparisons = {i: _paired_from_draws(
            draws[best], draws[i], _seed_values(arrays[best], transform),
            _seed_values(arrays[i], transform), arrays[best].shape[1], mode, CONFIDENCE)
            for i in others}
    else:
        comparisons = {
            i: compare(arrays[best], arrays[i], mode, transform, n_boot, seed) for i in others
        }
    adjusted = dict(zip(others, holm([comparisons[i].p_value for i in others]), strict=True))
    tied = [i for i in others if not adjusted[i] < alpha]
    return Verdict(best, tied, comparisons, adjusted)
