"""Runs that differ only by their seed, as one group: the report's unit of comparison. A group's
value is the mean of its seeds' test values, with their standard deviation and a 95 % interval
over seeds; a single run's interval is that of its test set's size alone (a binomial interval
for an accuracy, a bootstrap over test samples otherwise), so a reader sees whether seeds or
the test set dominate. A failed, diverged or unfinished seed is counted and named, never
averaged. Per-sample values of the primary metric, from each run's saved test predictions,
feed the paired comparisons (fidle_runs.core.seed_statistics)."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fidle_runs.core.seed_statistics import (
    GroupSummary,
    Interval,
    bootstrap_sample_interval,
    summarize,
    wilson_interval,
)
from fidle_runs.report.metric import Metric
from fidle_runs.report.run_index import RunRow
from fidle_runs.store.predictions import read_predictions
from fidle_runs.tasks import classification_scores, value_scores

# Each task's scores of saved predictions, and how a primary metric decomposes into per-sample
# values whose mean (then a transform) is the metric: what the paired bootstrap resamples.
SCORES_OF_TASK = {"classification": classification_scores, "regression": value_scores,
                  "forecasting": value_scores}
DECOMPOSED = {"rmse": ("mse", np.sqrt)}


@dataclass
class SeedGroup:
    runs: list[RunRow]  # every run of the group, whatever its status, in seed order
    metric: Metric
    summary: GroupSummary  # of the scored runs' test values
    interval: Interval | None  # 95 %: over seeds, or for one seed over its test samples
    # (scored runs x test samples) per-sample values of the metric, where every scored run
    # saved its test predictions and the metric decomposes; else None.
    per_sample: np.ndarray | None = None
    transform: Callable[[np.ndarray], np.ndarray] | None = None
    targets: np.ndarray | None = None  # of the test samples per_sample is over
    without_predictions: list[RunRow] = field(default_factory=list)

    @property
    def scored(self) -> list[RunRow]:
        return [r for r in self.runs if r.status == "completed" and r.has_score]

    @property
    def unscored(self) -> list[RunRow]:
        """The group's runs that have no test value to average: failed, diverged, running..."""
        return [r for r in self.runs if not (r.status == "completed" and r.has_score)]

    @property
    def mean(self) -> float:
        return self.summary.mean

    @property
    def representative(self) -> RunRow:
        """The seed whose value is the median of the group's (the lower of the two middle
        ones): the run the report analyses in depth, never the luckiest seed."""
        ordered = sorted(self.scored, key=lambda r: (r.primary_value, str(r.run_dir)))
        return ordered[(len(ordered) - 1) // 2]

    @property
    def monitor_mean(self) -> float | None:
        """The mean of the seeds' best validation values: how configs of one cell are chosen."""
        values = [r.monitor_best for r in self.scored if r.monitor_best is not None]
        return float(np.mean(values)) if values else None

    @property
    def seeds(self) -> list[int | None]:
        return [r.seed for r in self.scored]

    def unscored_line(self) -> str:
        """`seed 3 diverged, seed 4 failed`: the seeds that could not be averaged."""
        return ", ".join(f"seed {r.seed} {r.status}" for r in self.unscored)


def seed_groups(rows: list[RunRow], metric: Metric) -> list[SeedGroup]:
    """The groups of `rows` (all of one matrix cell's model and dataset) that have at least
    one scored run, in order of first appearance."""
    by_key: dict[str, list[RunRow]] = {}
    for row in rows:
        by_key.setdefault(row.group or str(row.run_dir), []).append(row)
    groups = []
    for runs in by_key.values():
        runs = sorted(runs, key=lambda r: (r.seed is None, r.seed or 0, str(r.run_dir)))
        scored = [r for r in runs if r.status == "completed" and r.has_score]
        if not scored:
            continue
        summary = summarize([r.primary_value for r in scored])
        group = SeedGroup(runs, metric, summary, summary.interval)
        _add_per_sample(group, scored)
        if summary.n == 1:
            group.interval = _test_set_interval(group, scored[0])
        groups.append(group)
    return groups


def _add_per_sample(group: SeedGroup, scored: list[RunRow]) -> None:
    """The per-sample values of the metric for every scored run, where all saved predictions
    of the same test samples and the task decomposes the metric."""
    scores = SCORES_OF_TASK.get(scored[0].task)
    measure = group.metric.name.removeprefix("test_")
    name, transform = DECOMPOSED.get(measure, (measure, None))
    if scores is None:
        return
    values, targets = [], None
    for row in scored:
        saved = read_predictions(row.run_dir, "test")
        if saved is None:
            group.without_predictions.append(row)
            continue
        if targets is not None and not np.array_equal(saved.targets, targets):
            return
        targets = saved.targets
        try:
            values.append(scores.per_sample(saved.outputs, saved.targets, name))
        except KeyError:
            return
    if values and not group.without_predictions:
        group.per_sample, group.transform, group.targets = np.stack(values), transform, targets


def _test_set_interval(group: SeedGroup, run: RunRow) -> Interval | None:
    """A single run's 95 % interval from its test set's size alone: Wilson's for an accuracy
    (from the recorded value and test-set size), else a bootstrap over its saved per-sample
    values."""
    if group.metric.name.removeprefix("test_") == "acc" and run.n_test:
        return wilson_interval(round(run.primary_value * run.n_test), int(run.n_test))
    if group.per_sample is not None:
        return bootstrap_sample_interval(group.per_sample[0], group.transform)
    return None
