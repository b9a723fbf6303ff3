"""Rank completed runs: the dataset x model matrix of their primary metric, the best model per
dataset and the overall winner. One matrix per task, primary metric, data family, source and
scale: runs that measure different things or learn from different data never mix. A run
without a finite primary value (not tested, diverged, a NaN test metric) is never ranked;
reports list it apart with its reason.

A cell is a seed group (fidle_runs.report.seed_groups): the mean over the runs that differ only
by their seed, never the best of them. Where a cell's model was run with several configs
(several groups), the one shown is chosen by its mean validation value, never by the test set.
The winner is the best mean; the cells that cannot be told apart from it (the seeds' spread and a
bootstrap over the same test samples, Holm-corrected: fidle_runs.core.seed_statistics.verdict)
are marked tied with it."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fidle_runs.core.seed_statistics import Comparison, seeds_to_separate, verdict
from fidle_runs.report.fidle_reference import GENERATED, fidle_reference
from fidle_runs.report.metric import Metric
from fidle_runs.report.run_index import RunRow
from fidle_runs.report.seed_groups import SeedGroup, seed_groups
from fidle_runs.report.wording import plural

ALPHA = 0.05  # the family-wise error rate of "cannot be told apart from the winner"


@dataclass(frozen=True)
class MatrixKey:
    """What the runs of one matrix share."""

    task: str
    metric: Metric
    family: str
    source: str
    scale: float

    @property
    def source_label(self) -> str:
        return source_label(self.source, self.scale)

    @property
    def label(self) -> str:
        """The data: `GTSRB real`, `MNIST synthetic, scale 0.25`."""
        return f"{self.family.upper()} {self.source_label}"

    @property
    def title(self) -> str:
        """`test_acc on GTSRB real data`: what the matrix ranks."""
        return f"{self.metric.name} on {self.label} data"


def matrix_key(row: RunRow) -> MatrixKey | None:
    """The matrix a run belongs to; None for a run that says nothing of what it is ranked by."""
    if row.primary is None:
        return None
    return MatrixKey(row.task, row.primary, row.family, row.source, row.scale)


def source_label(source: str, scale: float) -> str:
    """`real`, or `synthetic, scale 0.25` for runs on a share of the sets."""
    return source if scale == 1 else f"{source}, scale {scale:g}"


@dataclass
class Cell:
    group: SeedGroup  # the seeds of the config shown
    configs: int = 1  # seed groups of this dataset and model (the shown one chosen on validation)
    # The task's baselines on the test set of the group's median seed, by short name.
    baselines: dict[str, float | None] = field(default_factory=dict)
    tied: bool = False  # cannot be told apart from the matrix's winner
    versus_winner: Comparison | None = None  # the winner (A) against this cell (B)
    adjusted_p: float | None = None  # Holm-corrected p of that comparison
    seeds_needed: int | None = None  # seeds per group that would likely separate them

    @property
    def value(self) -> float:
        """The mean of the group's seeds' test values."""
        return self.group.mean

    @property
    def run_dir(self) -> Path:
        """The group's median seed's run: the one analysed in depth."""
        return self.group.representative.run_dir

    @property
    def runs(self) -> int:
        return len(self.group.scored)


@dataclass
class Matrix:
    key: MatrixKey
    datasets: list[str]
    models: list[str]
    runs: list[RunRow] = field(default_factory=list)  # every run this matrix ranks
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    @property
    def metric(self) -> Metric:
        return self.key.metric

    @property
    def label(self) -> str:
        return self.key.label

    @property
    def title(self) -> str:
        return self.key.title

    paired: bool = False  # whether comparisons are paired on the same test samples

    @property
    def chosen_on_validation(self) -> list[tuple[str, str, int]]:
        """(dataset, model, configs) of the cells whose model ran with several configs."""
        return [(d, m, c.configs) for (d, m), c in self.cells.items() if c.configs > 1]

    def fidle(self, dataset: str, model: str) -> float | None:
        """FIDLE's published value of this matrix's metric for a cell, where it has one."""
        return fidle_reference(dataset, model, self.metric.name)

    def fidle_models(self) -> list[str]:
        """The models FIDLE published a value for on one of this matrix's datasets."""
        return [m for m in self.models
                if any(self.fidle(d, m) is not None for d in self.datasets)]

    def notes(self) -> list[str]:
        """What a reader must know before comparing this matrix with FIDLE or across cells."""
        notes = []
        if self.fidle_models():
            if all(d in GENERATED for d in self.datasets):
                if self.key.scale != 1:
                    notes.append(f"FIDLE's numbers are on the whole {', '.join(self.datasets)}"
                                 f" (generated as ours is); these runs are on a share of it "
                                 f"(scale {self.key.scale:g})")
            elif self.key.source_label != "real":
                notes.append(f"FIDLE's numbers are on the whole real {self.key.family.upper()}; "
                             f"these runs are on {self.key.source_label} data")
            own_split = sum(r.val_on_test is False for r in self.runs)
            if own_split:
                which = ("these runs" if own_split == len(self.runs) else
                         f"{own_split} of these {len(self.runs)} runs")
                notes.append(f"{which} validated on a split of the training data; FIDLE trained "
                             "on all of it and validated on the test set (data.val_on_test=true "
                             "does the same)")
        if self.chosen_on_validation:
            monitor = self.runs[0].monitor
            notes.append("cells whose model ran with several configs show the one with the "
                         f"best mean {monitor.name if monitor else 'validation value'}"
                         " (chosen on validation, not on the test set): " + ", ".join(
                             f"{d} {m} ({plural(n, 'config')})"
                             for d, m, n in self.chosen_on_validation))
        without = sorted({str(r.run_dir) for c in self.cells.values()
                          for r in c.group.without_predictions})
        if without:
            notes.append(f"{plural(len(without), 'run')} saved no test predictions (made before "
                         "they were saved): their intervals are over seeds only, comparisons "
                         "with them do not account for test-set sampling, and scores they did "
                         "not record cannot be computed")
        unscored = [f"{d} {m}: {c.group.unscored_line()}" for (d, m), c in self.cells.items()
                    if c.group.unscored]
        if unscored:
            notes.append("seeds not averaged (no test value): " + "; ".join(unscored))
        return notes

    @property
    def baselines(self) -> list[str]:
        """The short names of the task's baselines its runs were scored beside
        (`persistence`; `mean`, `least_squares`), in the order the task gives them."""
        names: dict[str, None] = {}
        for run in self.runs:
            names.update(dict.fromkeys(baseline_names(run, self.metric)))
        return list(names)

    def baseline_value(self, dataset: str, baseline: str) -> float | None:
        """A baseline on a dataset's test set, as the run of its best model measured it."""
        best = self.best_model(dataset)
        return None if best is None else self.cells[(dataset, best)].baselines.get(baseline)

    def best_model(self, dataset: str) -> str | None:
        best = self._best([(dataset, m) for m in self.models])
        return best[1] if best else None

    def winner(self) -> tuple[str, str] | None:
        """(dataset, model) of the best value in the metric's direction."""
        return self._best([(d, m) for d in self.datasets for m in self.models])

    def _best(self, keys: list[tuple[str, str]]) -> tuple[str, str] | None:
        """The best cell among `keys` (in table order: of equal values, the first wins)."""
        best = None
        for key in keys:
            if key in self.cells and (best is None or self.metric.better(
                    self.cells[key].value, self.cells[best].value)):
                best = key
        return best


def rank(rows: list[RunRow]) -> list[Matrix]:
    """One matrix per task, primary metric, family, source and scale, from the completed runs
    that have a finite primary value, sorted by those (whole sets before shares); each cell the
    seed group chosen on validation, the winner's ties found."""
    scored = [r for r in rows if r.status == "completed" and r.has_score]
    keys = {matrix_key(r) for r in scored} - {None}
    matrices = []
    for key in sorted(keys, key=lambda k: (k.task, k.metric.name, k.family, k.source, -k.scale)):
        runs = [r for r in scored if matrix_key(r) == key]
        matrix = Matrix(key, sorted({r.dataset for r in runs}, key=_dataset_order),
                        sorted({r.model for r in runs}), runs)
        seen = [r for r in rows if matrix_key(r) == key]  # with its failed and diverged seeds
        for dataset in matrix.datasets:
            for model in matrix.models:
                groups = seed_groups([r for r in seen if (r.dataset, r.model) == (dataset, model)],
                                     key.metric)
                if groups:
                    group = _chosen_on_validation(groups)
                    matrix.cells[(dataset, model)] = Cell(
                        group, len(groups), baseline_names(group.representative, key.metric))
        _mark_ties(matrix)
        matrices.append(matrix)
    return matrices


def _chosen_on_validation(groups: list[SeedGroup]) -> SeedGroup:
    """The group with the best mean validation value (its monitor's), the first of equals;
    the first group where none recorded one."""
    best = groups[0]
    for group in groups[1:]:
        monitor = group.representative.monitor
        value, than = group.monitor_mean, best.monitor_mean
        if monitor is not None and value is not None and (
                than is None or monitor.better(value, than)):
            best = group
    return best


def _mark_ties(matrix: Matrix) -> None:
    """Compare the winner's group with every other cell's: the cells that cannot be told apart
    from it are tied. Paired on test samples where every cell saved predictions of the same
    test samples, over seeds only otherwise."""
    keys = list(matrix.cells)
    groups = [matrix.cells[k].group for k in keys]
    matrix.paired = all(g.per_sample is not None for g in groups) and _same_test_samples(groups)
    samples = [g.per_sample if matrix.paired else list(g.summary.values) for g in groups]
    transform = groups[0].transform if matrix.paired else None
    found = verdict(samples, matrix.metric.mode, ALPHA, transform)
    winner = matrix.cells[keys[found.best]]
    for index, comparison in found.comparisons.items():
        cell = matrix.cells[keys[index]]
        cell.versus_winner, cell.adjusted_p = comparison, found.adjusted_p[index]
        cell.tied = index in found.tied
        cell.seeds_needed = seeds_to_separate(comparison.difference, winner.group.summary.sd,
                                              cell.group.summary.sd)


def _same_test_samples(groups: list[SeedGroup]) -> bool:
    """Whether every group's per-sample values are over the same test targets, in one order."""
    first = groups[0].targets
    return first is not None and all(np.array_equal(g.targets, first) for g in groups[1:])


def baseline_names(row: RunRow, metric: Metric) -> dict[str, float | None]:
    """A run's baselines by short name: test_mae_persistence -> persistence."""
    return {name.removeprefix(f"{metric.name}_"): value for name, value in row.baselines.items()}


def _dataset_order(name: str) -> tuple:
    """GTSRB's set names in size order, then mode (set-24x24-L before set-48x48-L); other
    names alphabetically."""
    parts = name.split("-")
    size = parts[1].split("x")[0] if len(parts) > 1 else ""
    return (int(size) if size.isdigit() else 0, "-".join(parts[2:]), name)
