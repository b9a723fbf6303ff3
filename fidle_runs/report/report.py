"""One report over many runs: built once from the run directories, then written as text (the
terminal), Markdown, CSV and JSON. Outputs are written atomically."""

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fidle_runs.core import atomic
from fidle_runs.report.ranking import Matrix, rank
from fidle_runs.report.run_index import RunRow, read_runs
from fidle_runs.report.studies import Study, read_studies
from fidle_runs.report.tables import (
    best_trial_line,
    markdown_table,
    matrix_table,
    runs_table,
    shown_path,
    text_table,
    trials_table,
)
from fidle_runs.report.wording import plural

STATUSES = ("completed", "pruned", "diverged", "running", "interrupted", "failed", "unreadable")


@dataclass
class Report:
    rows: list[RunRow]
    matrices: list[Matrix]
    studies: list[Study] = field(default_factory=list)

    @property
    def unfinished(self) -> list[RunRow]:
        return [r for r in self.rows if r.status != "completed"]

    def counts(self) -> str:
        return f"{len(self.rows)} runs: {tally(self.rows)}"

    def sections(self) -> list[tuple[str, Any]]:
        """(title, table or lines) in reading order: what every rendering shows."""
        sections: list[tuple[str, Any]] = [("Runs", runs_table(self.rows))]
        if len(self.matrices) > 1:
            ranked = "; ".join(f"{m.title} ({plural(len(m.cells), 'cell')})"
                               for m in self.matrices)
            sections.append(("Matrices", ["runs that differ in task, metric or data (family, "
                                          "source or scale) are ranked apart, never together: "
                                          f"{ranked}"]))
        for matrix in self.matrices:
            dataset, model = matrix.winner()
            cell = matrix.cells[(dataset, model)]
            sections.append((f"{matrix.metric.title}, {matrix.label} data ({matrix.key.task}): "
                             "* best model of the dataset, ** winner", matrix_table(matrix)))
            lines = [f"{model} on {dataset}: {matrix.metric.name} "
                     f"{matrix.metric.with_unit(cell.value)} ({shown_path(cell.run_dir)})",
                     *matrix.notes()]
            sections.append((f"Winner, {matrix.title}", lines))
        for study in self.studies:
            sections.append((search_title(study), trials_table(study)))
            best = study.best
            sections.append((f"Best trial, search {study.name}",
                             [best_trial_line(study, best) if best else "no trial completed",
                              *study.notes()]))
        if self.unfinished:
            sections.append(("Not completed", [f"{r.status:<11} {shown_path(r.run_dir)}: "
                                               f"{r.detail}" for r in self.unfinished]))
        problems = [f"{shown_path(r.run_dir)}: {', '.join(r.problems)}" for r in self.rows
                    if r.problems]
        if problems:
            sections.append(("Problems", problems))
        return sections

    def text(self) -> str:
        parts = [self.counts()]
        for title, content in self.sections():
            body = text_table(content) if isinstance(content, tuple) else "\n".join(content)
            parts.append(f"{title}\n{body}")
        return "\n\n".join(parts) + "\n"

    def markdown(self) -> str:
        parts = ["# fidle_runs report", self.counts()]
        for title, content in self.sections():
            body = (markdown_table(content) if isinstance(content, tuple)
                    else "\n".join(f"- {line}" for line in content))
            parts.append(f"## {title}\n\n{body}")
        return "\n\n".join(parts) + "\n"

    def csv(self) -> str:
        header, body = runs_table(self.rows)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*header, "detail", "problems"])
        for row, run in zip(body, self.rows, strict=True):
            writer.writerow([*row[:-1], str(run.run_dir), run.detail, "; ".join(run.problems)])
        return out.getvalue()

    def json(self) -> dict[str, Any]:
        runs = [{**asdict(r), "run_dir": str(r.run_dir)} for r in self.rows]
        matrices = []
        for m in self.matrices:
            dataset, model = m.winner()
            matrices.append({
                "task": m.key.task, "metric": asdict(m.metric), "family": m.key.family,
                "source": m.key.source, "scale": m.key.scale, "datasets": m.datasets,
                "models": m.models,
                "values": {d: {mo: m.cells[(d, mo)].value for mo in m.models
                               if (d, mo) in m.cells} for d in m.datasets},
                "fidle": {d: {mo: m.fidle(d, mo) for mo in m.fidle_models()
                              if m.fidle(d, mo) is not None} for d in m.datasets},
                "best_model": {d: m.best_model(d) for d in m.datasets},
                "baselines": {name: {d: m.baseline_value(d, name) for d in m.datasets}
                              for name in m.baselines},
                "winner": {"dataset": dataset, "model": model,
                           "value": m.cells[(dataset, model)].value,
                           "run_dir": str(m.cells[(dataset, model)].run_dir)}})
        studies = [{"name": s.name, "sweep_dir": str(s.sweep_dir), "objective": asdict(s.objective),
                    "n_trials": s.n_trials,
                    "best_trial": None if s.best is None else s.best.number,
                    "trials": [{**asdict(t), "run_dir": t.run_dir and str(t.run_dir)}
                               for t in s.trials]} for s in self.studies]
        return {"runs": runs, "matrices": matrices, "studies": studies}

    def write(self, out_dir: Path) -> list[Path]:
        written = [out_dir / "report.md", out_dir / "runs.csv", out_dir / "report.json"]
        atomic.write_text(written[0], self.markdown())
        atomic.write_text(written[1], self.csv())
        atomic.write_json(written[2], self.json())
        return written


def tally(rows: list[RunRow]) -> str:
    """`5 completed, 1 running, 1 failed`: the runs per status, in STATUSES order."""
    counted = {s: sum(r.status == s for r in rows) for s in STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counted.items() if n)


def search_title(study: Study) -> str:
    """`Search mnist_lr (outputs/sweeps/mnist_lr): 20 of 20 trials: 17 complete, 3 pruned;
    maximize test_acc`."""
    return (f"Search {study.name} ({shown_path(study.sweep_dir)}): {study.counts()}; "
            f"{study.objective.mode}imize {study.objective.name}")


def build_report(roots: list[Path]) -> Report:
    rows = read_runs(roots)
    return Report(rows, rank(rows), read_studies(roots))
