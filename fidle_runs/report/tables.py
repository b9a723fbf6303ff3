"""The report's tables as plain data (header, rows), and their text and Markdown renderings."""

import os
from pathlib import Path

from fidle_runs.report.metric import Metric
from fidle_runs.report.ranking import Matrix
from fidle_runs.report.run_index import RunRow
from fidle_runs.report.studies import Study, TrialRow

Table = tuple[list[str], list[list[str]]]

# `metric`/`value`: what the run is ranked by (test_acc, test_mae...) and its test value;
# `monitor`/`best`: what its best checkpoint follows and the best value it reached.
RUN_COLUMNS = ["status", "task", "dataset", "model", "source", "metric", "value", "monitor",
               "best", "epochs", "duration s", "params", "train samples", "data MiB", "run"]
TEXT_COLUMNS = {"status", "task", "dataset", "model", "source", "metric", "monitor", "run"}


def shown_path(path: Path) -> str:
    """Relative to the working directory when below it: shorter, and what users typed."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def runs_table(rows: list[RunRow]) -> Table:
    """Every run, whatever its task: each row names its own metrics."""
    body = [[r.status, r.task, r.dataset, r.model, r.source, _name(r.primary),
             _value(r.primary, r.primary_value), _name(r.monitor),
             _value(r.monitor, r.monitor_best),
             f"{r.epochs}/{r.max_epochs}" if r.max_epochs else "", f"{r.duration_s:.1f}",
             f"{r.params:,}" if r.params else "", "" if r.n_train is None else str(r.n_train),
             "" if r.data_mib is None else f"{r.data_mib:.2f}", shown_path(r.run_dir)]
            for r in rows]
    return RUN_COLUMNS, body


def _name(metric: Metric | None) -> str:
    return metric.name if metric else ""


def _value(metric: Metric | None, value: float | None) -> str:
    return metric.with_unit(value) if metric else ""


def matrix_table(matrix: Matrix) -> Table:
    """The mean metric of each dataset x model seed group (in % for a fraction), its 95 %
    interval and its number of seeds; `**` marks the overall winner, `=` the cells that cannot
    be told apart from it, `*` the best mean of a dataset; FIDLE's published number beside ours
    for the models it published one for; the task's baselines (persistence, the majority class,
    the train mean, least squares) on each dataset."""
    with_fidle = set(matrix.fidle_models())
    header = ["dataset"]
    for model in matrix.models:
        header += [model, f"FIDLE {model}"] if model in with_fidle else [model]
    baselines = matrix.baselines
    header += baselines
    header.append("best")
    body = []
    for dataset in matrix.datasets:
        best = matrix.best_model(dataset)
        line = [dataset]
        for model in matrix.models:
            cell = matrix.cells.get((dataset, model))
            line.append("" if cell is None else cell_text(matrix, dataset, model))
            if model in with_fidle:
                line.append(matrix.metric.format(matrix.fidle(dataset, model)))
        line += [matrix.metric.format(matrix.baseline_value(dataset, name)) for name in baselines]
        line.append(best or "")
        body.append(line)
    return header, body


def cell_text(matrix: Matrix, dataset: str, model: str) -> str:
    """`97.85 [97.60, 98.10] n=5**`: the mean, its 95 % interval (over seeds, or for one seed
    over its test samples), the seeds, and the cell's mark."""
    cell, metric = matrix.cells[(dataset, model)], matrix.metric
    text = metric.format(cell.value)
    interval = cell.group.interval
    if interval is not None:
        text += f" [{metric.format(interval.low)}, {metric.format(interval.high)}]"
    text += f" n={cell.runs}"
    if cell.group.unscored:
        text += f" (+{len(cell.group.unscored)} not averaged)"
    mark = ("**" if (dataset, model) == matrix.winner() else "=" if cell.tied
            else "*" if model == matrix.best_model(dataset) else "")
    return text + mark


def trials_table(study: Study) -> Table:
    """A search's trials in trial order: status, objective value (a pruned trial's is its
    monitor's when it stopped, in brackets), the test value recorded beside it when the
    objective is the validation monitor, for a search with a confirmation the objective's mean
    and 95 % interval over each confirmed trial's seeds (empty for the others; its seeds that
    failed or diverged counted beside, never averaged), the parameters, the time from ask to
    tell and the run directory; `*` marks the best trial."""
    best = study.best
    params = list(dict.fromkeys(name for t in study.trials for name in t.params))
    beside = [] if study.on_test_set or study.primary is None else [study.primary]
    confirmed = ["confirmed mean", "95 % interval"] if study.confirmed else []
    header = ["trial", "status", study.objective.title, *(m.title for m in beside), *confirmed,
              *params, "duration s", "run"]
    body = []
    for t in study.trials:
        value = study.objective.format(t.value)
        if t.state == "pruned" and value:
            value = f"({value})"
        body.append([f"{t.number}{'*' if t is best else ''}", t.state, value,
                     *(m.format(t.primary) for m in beside),
                     *(study.confirmed_cells(t.number) if confirmed else []),
                     *(param_text(t.params.get(name)) for name in params),
                     "" if t.duration_s is None else f"{t.duration_s:.1f}",
                     shown_path(t.run_dir) if t.run_dir else ""])
    return header, body


def param_text(value: object) -> str:
    """A parameter's value as short as it stays exact enough to read (0.000312, [256,128])."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def best_trial_line(study: Study, best: TrialRow) -> str:
    params = " ".join(f"{k}={param_text(v)}" for k, v in best.params.items())
    where = f" in {shown_path(best.run_dir)}" if best.run_dir else ""
    return (f"trial #{best.number}: {study.objective.name} "
            f"{study.objective.with_unit(best.value)} with {params}{where}")


def text_table(table: Table) -> str:
    header, body = table
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(table: Table) -> str:
    header, body = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in body]
    return "\n".join(lines)


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("*", "\\*")
