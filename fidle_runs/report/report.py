"""One report over many runs: built once from the run directories, then written as text (the
terminal), Markdown, CSV and JSON. Outputs are written atomically.

runs.csv: one row per run, numbers as numbers (fractions such as an accuracy as fractions, not
%): status, task, dataset, model, source, seed, group, metric, value, monitor, monitor_best,
epochs, max_epochs, duration_s, params, n_train, n_test, data_MiB, run_dir, detail, problems.

groups.csv: one row per matrix cell (a seed group), in the same units: matrix, task, dataset,
model, group, metric, mode, n (seeds averaged), mean, sd, ci_low, ci_high (95 %),
interval_method, seeds, values (each seed's, `;`-separated), not_averaged (the seeds without a
test value and why), configs (groups of that model and dataset; the shown one chosen on
validation), winner, tied (cannot be told apart from the winner), difference (winner's mean
minus this one's), p_winner_better, p_adjusted (Holm), seeds_to_separate, comparison (its
method), median_run.

report.json: {runs: [every RunRow field], matrices: [{task, metric {name, mode, fraction},
family, source, scale, datasets, models, values {dataset: {model: mean}}, fidle, best_model,
baselines, winner {dataset, model, value, run_dir}, paired, groups: [groups.csv's row as an
object, seeds and values as lists]}], studies: [...]}."""

import csv
import io
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fidle_runs.core import atomic
from fidle_runs.report.metric import Metric
from fidle_runs.report.ranking import Matrix, rank
from fidle_runs.report.rescored import rescored
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

RUNS_CSV = ["status", "task", "dataset", "model", "source", "seed", "group", "metric", "value",
            "monitor", "monitor_best", "epochs", "max_epochs", "duration_s", "params", "n_train",
            "n_test", "data_MiB", "run_dir", "detail", "problems"]
GROUPS_CSV = ["matrix", "task", "dataset", "model", "group", "metric", "mode", "n", "mean", "sd",
              "ci_low", "ci_high", "interval_method", "seeds", "values", "not_averaged",
              "configs", "winner", "tied", "difference", "p_winner_better", "p_adjusted",
              "seeds_to_separate", "comparison", "median_run"]
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
            sections.append((f"{matrix.metric.title}, {matrix.label} data ({matrix.key.task}): "
                             "mean [95 % interval] n=seeds; ** winner, = tied with it, * best "
                             "mean of the dataset", matrix_table(matrix)))
            sections.append((f"Winner, {matrix.title}", [*verdict_lines(matrix),
                                                         *matrix.notes()]))
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
        """runs.csv (see the module's docstring)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(RUNS_CSV)
        for r in self.rows:
            writer.writerow([r.status, r.task, r.dataset, r.model, r.source, r.seed, r.group,
                             _name(r.primary), r.primary_value, _name(r.monitor), r.monitor_best,
                             r.epochs, r.max_epochs, r.duration_s, r.params or None, r.n_train,
                             r.n_test, r.data_mib, str(r.run_dir), r.detail,
                             "; ".join(r.problems)])
        return out.getvalue()

    def groups(self) -> list[dict[str, Any]]:
        """Every matrix cell's seed group, as groups.csv and report.json give it."""
        return [group_record(m, d, mo) for m in self.matrices for d in m.datasets
                for mo in m.models if (d, mo) in m.cells]

    def groups_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, GROUPS_CSV)
        writer.writeheader()
        for record in self.groups():
            writer.writerow({**record, "seeds": ";".join(str(s) for s in record["seeds"]),
                             "values": ";".join(repr(v) for v in record["values"])})
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
                           "run_dir": str(m.cells[(dataset, model)].run_dir)},
                "paired": m.paired,
                "groups": [group_record(m, d, mo) for d in m.datasets for mo in m.models
                           if (d, mo) in m.cells]})
        studies = [{"name": s.name, "sweep_dir": str(s.sweep_dir), "objective": asdict(s.objective),
                    "n_trials": s.n_trials,
                    "best_trial": None if s.best is None else s.best.number,
                    "trials": [{**asdict(t), "run_dir": t.run_dir and str(t.run_dir)}
                               for t in s.trials]} for s in self.studies]
        return {"runs": runs, "matrices": matrices, "studies": studies}

    def write(self, out_dir: Path) -> list[Path]:
        written = [out_dir / "report.md", out_dir / "runs.csv", out_dir / "groups.csv",
                   out_dir / "report.json"]
        atomic.write_text(written[0], self.markdown())
        atomic.write_text(written[1], self.csv())
        atomic.write_text(written[2], self.groups_csv())
        atomic.write_json(written[3], self.json())
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


def build_report(roots: list[Path], metric: str | None = None) -> Report:
    """The report of every run below `roots`, ranked by their primary metric or by test metric
    `metric` (fidle_runs.report.rescored)."""
    rows = read_runs(roots)
    if metric is not None:
        rows = rescored(rows, metric)
    return Report(rows, rank(rows), read_studies(roots))


def _name(metric: Metric | None) -> str | None:
    return metric.name if metric else None


def group_record(matrix: Matrix, dataset: str, model: str) -> dict[str, Any]:
    """A matrix cell's seed group as plain values (groups.csv's columns)."""
    cell = matrix.cells[(dataset, model)]
    group, versus = cell.group, cell.versus_winner
    interval = group.interval
    return {"matrix": matrix.title, "task": matrix.key.task, "dataset": dataset, "model": model,
            "group": group.scored[0].group, "metric": matrix.metric.name,
            "mode": matrix.metric.mode, "n": group.summary.n, "mean": group.mean,
            "sd": group.summary.sd, "ci_low": interval and interval.low,
            "ci_high": interval and interval.high,
            "interval_method": interval.method if interval else None,
            "seeds": group.seeds, "values": list(group.summary.values),
            "not_averaged": group.unscored_line() or None, "configs": cell.configs,
            "winner": (dataset, model) == matrix.winner(), "tied": cell.tied,
            "difference": versus and versus.difference,
            "p_winner_better": versus and versus.p_better, "p_adjusted": cell.adjusted_p,
            "seeds_to_separate": cell.seeds_needed, "comparison": versus and versus.method,
            "median_run": str(cell.run_dir)}


def verdict_lines(matrix: Matrix) -> list[str]:
    """The winner by its mean, then the cells that cannot be told apart from it and those that
    can, each with the probability that the winner is better and the corrected p-value."""
    dataset, model = matrix.winner()
    cell, metric = matrix.cells[(dataset, model)], matrix.metric
    lines = [f"{model} on {dataset}: mean {metric.name} {metric.with_unit(cell.value)} over "
             f"{plural(cell.runs, 'seed')} (" + ", ".join(
                 metric.format(v) for v in cell.group.summary.values) +
             f"); median seed {shown_path(cell.run_dir)}"]
    how = ("t over seeds and a paired bootstrap over the same test samples" if matrix.paired
           else "Welch's t over seeds, test-set sampling not accounted for")
    others = [(key, c) for key, c in matrix.cells.items() if c.versus_winner is not None]
    uncertain = [(key, c) for key, c in others if math.isnan(c.versus_winner.p_value)]
    if uncertain:
        lines.append("cannot be compared (one seed each and no saved test predictions): " +
                     "; ".join(f"{m} on {d} ({metric.with_unit(c.value)})"
                               for (d, m), c in uncertain))
    compared = [item for item in others if item not in uncertain]
    for tied in (True, False):
        named = [f"{m} on {d} ({metric.with_unit(c.value)}, P(winner better) "
                 f"{c.versus_winner.p_better:.3f}, Holm p {c.adjusted_p:.3f}"
                 + (f"; about {c.seeds_needed} seeds each would separate a difference this "
                    "size" if tied and c.seeds_needed else "") + ")"
                 for (d, m), c in compared if c.tied == tied]
        if named:
            verb = "cannot be told apart from it" if tied else "worse than it"
            lines.append(f"{verb} ({how}; Holm-corrected at 5 %): " + "; ".join(named))
    return lines
