"""Rank completed runs: the dataset x model matrix of test accuracy, the best model per dataset
and the overall winner, one matrix per data source and scale (they never mix)."""

from dataclasses import dataclass, field
from pathlib import Path

from fidle_runs.report.run_index import RunRow


@dataclass
class Cell:
    test_acc: float  # best test accuracy (fraction) among the runs of this dataset and model
    run_dir: Path
    runs: int  # runs with this dataset and model


@dataclass
class Matrix:
    source: str
    scale: float
    datasets: list[str]
    models: list[str]
    runs: list[RunRow] = field(default_factory=list)  # every run this matrix ranks
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return data_label(self.source, self.scale)

    @property
    def merged(self) -> list[tuple[str, str, int]]:
        """(dataset, model, runs) of the cells that keep the best of several runs."""
        return [(d, m, c.runs) for (d, m), c in self.cells.items() if c.runs > 1]

    def notes(self) -> list[str]:
        """What a reader must know before comparing this matrix with FIDLE or across cells."""
        notes = []
        if self.label != "real":
            notes.append(f"FIDLE's numbers are on the whole real GTSRB; these runs are on "
                         f"{self.label} data")
        if self.merged:
            notes.append("cells that keep the best of several runs: " + ", ".join(
                f"{d} {m} ({n} runs)" for d, m, n in self.merged))
        return notes

    def best_model(self, dataset: str) -> str | None:
        scored = [(self.cells[(dataset, m)].test_acc, m) for m in self.models
                  if (dataset, m) in self.cells]
        return max(scored)[1] if scored else None

    def winner(self) -> tuple[str, str] | None:
        """(dataset, model) of the best test accuracy; ties go to the first in table order."""
        if not self.cells:
            return None
        return max(self.cells, key=lambda key: (self.cells[key].test_acc,
                                               -self.datasets.index(key[0]),
                                               -self.models.index(key[1])))


def data_label(source: str, scale: float) -> str:
    """`real`, or `synthetic, scale 0.25` for runs on a share of the sets."""
    return source if scale == 1 else f"{source}, scale {scale:g}"


def rank(rows: list[RunRow]) -> list[Matrix]:
    """One matrix per data source and scale, from the completed runs that have a test accuracy:
    runs trained on other data (synthetic, or a share of the sets) are never ranked together."""
    scored = [r for r in rows if r.status == "completed" and r.test_acc is not None]
    matrices = []
    for source, scale in sorted({(r.source, r.scale) for r in scored},
                                key=lambda key: (key[0], -key[1])):
        runs = [r for r in scored if (r.source, r.scale) == (source, scale)]
        matrix = Matrix(source, scale, sorted({r.dataset for r in runs}, key=_dataset_order),
                        sorted({r.model for r in runs}), runs)
        for r in runs:
            key = (r.dataset, r.model)
            cell = matrix.cells.get(key)
            if cell is None:
                matrix.cells[key] = Cell(r.test_acc, r.run_dir, 1)
            else:
                cell.runs += 1
                if r.test_acc > cell.test_acc:
                    cell.test_acc, cell.run_dir = r.test_acc, r.run_dir
        matrices.append(matrix)
    return matrices


def _dataset_order(name: str) -> tuple:
    """FIDLE's set names in size order, then mode: set-24x24-L before set-48x48-L."""
    parts = name.split("-")
    size = parts[1].split("x")[0] if len(parts) > 1 else ""
    return (int(size) if size.isdigit() else 0, "-".join(parts[2:]), name)
