"""Rank completed runs: the dataset x model matrix of their primary metric, the best model per
dataset and the overall winner. One matrix per task, primary metric, data family, source and
scale: runs that measure different things or learn from different data never mix. A run
without a finite primary value (not tested, diverged, a NaN test metric) is never ranked;
reports list it apart with its reason."""

from dataclasses import dataclass, field
from pathlib import Path

from fidle_runs.report.fidle_reference import GENERATED, fidle_reference
from fidle_runs.report.metric import Metric
from fidle_runs.report.run_index import RunRow
from fidle_runs.report.wording import plural


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
    value: float  # the best primary value among the runs of this dataset and model
    run_dir: Path
    runs: int  # runs with this dataset and model
    # The task's baselines on that run's test set, by short name (persistence, mean).
    baselines: dict[str, float | None] = field(default_factory=dict)


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

    @property
    def merged(self) -> list[tuple[str, str, int]]:
        """(dataset, model, runs) of the cells that keep the best of several runs."""
        return [(d, m, c.runs) for (d, m), c in self.cells.items() if c.runs > 1]

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
        if self.merged:
            notes.append("cells that keep the best of several runs: " + ", ".join(
                f"{d} {m} ({plural(n, 'run')})" for d, m, n in self.merged))
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
    that have a finite primary value, sorted by those (whole sets before shares)."""
    scored = [r for r in rows if r.status == "completed" and r.has_score]
    keys = {matrix_key(r) for r in scored} - {None}
    matrices = []
    for key in sorted(keys, key=lambda k: (k.task, k.metric.name, k.family, k.source, -k.scale)):
        runs = [r for r in scored if matrix_key(r) == key]
        matrix = Matrix(key, sorted({r.dataset for r in runs}, key=_dataset_order),
                        sorted({r.model for r in runs}), runs)
        for r in runs:
            cell = matrix.cells.get((r.dataset, r.model))
            if cell is None:
                matrix.cells[(r.dataset, r.model)] = Cell(r.primary_value, r.run_dir, 1,
                                                          baseline_names(r, key.metric))
                continue
            cell.runs += 1
            if key.metric.better(r.primary_value, cell.value):
                cell.value, cell.run_dir = r.primary_value, r.run_dir
                cell.baselines = baseline_names(r, key.metric)
        matrices.append(matrix)
    return matrices


def baseline_names(row: RunRow, metric: Metric) -> dict[str, float | None]:
    """A run's baselines by short name: test_mae_persistence -> persistence."""
    return {name.removeprefix(f"{metric.name}_"): value for name, value in row.baselines.items()}


def _dataset_order(name: str) -> tuple:
    """GTSRB's set names in size order, then mode (set-24x24-L before set-48x48-L); other
    names alphabetically."""
    parts = name.split("-")
    size = parts[1].split("x")[0] if len(parts) > 1 else ""
    return (int(size) if size.isdigit() else 0, "-".join(parts[2:]), name)
