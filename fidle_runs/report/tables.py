"""The report's tables as plain data (header, rows), and their text and Markdown renderings."""

import os
from pathlib import Path

from fidle_runs.report.fidle_reference import fidle_test_acc
from fidle_runs.report.ranking import Matrix
from fidle_runs.report.run_index import RunRow

Table = tuple[list[str], list[list[str]]]

RUN_COLUMNS = ["status", "dataset", "model", "source", "test acc %", "best val acc %", "epochs",
               "duration s", "params", "train images", "data MiB", "run"]


def percent(fraction: float | None) -> str:
    return "" if fraction is None else f"{100 * fraction:.2f}"


def shown_path(path: Path) -> str:
    """Relative to the working directory when below it: shorter, and what users typed."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def runs_table(rows: list[RunRow]) -> Table:
    body = [[r.status, r.dataset, r.model, r.source, percent(r.test_acc), percent(r.best_val_acc),
             f"{r.epochs}/{r.max_epochs}" if r.max_epochs else "", f"{r.duration_s:.1f}",
             f"{r.params:,}" if r.params else "", "" if r.n_train is None else str(r.n_train),
             "" if r.data_mib is None else f"{r.data_mib:.2f}", shown_path(r.run_dir)]
            for r in rows]
    return RUN_COLUMNS, body


def matrix_table(matrix: Matrix) -> Table:
    """Test accuracy (%) of each dataset x model; `*` marks the best model of a dataset, `**`
    the overall winner; FIDLE's published number beside ours where it has one."""
    winner = matrix.winner()
    with_fidle = any(fidle_test_acc(d, m) is not None for d in matrix.datasets
                     for m in matrix.models)
    header = ["dataset"]
    for model in matrix.models:
        header += [model, f"FIDLE {model}"] if with_fidle else [model]
    header.append("best")
    body = []
    for dataset in matrix.datasets:
        best = matrix.best_model(dataset)
        line = [dataset]
        for model in matrix.models:
            cell = matrix.cells.get((dataset, model))
            mark = "**" if (dataset, model) == winner else "*" if model == best else ""
            line.append("" if cell is None else percent(cell.test_acc) + mark)
            if with_fidle:
                reference = fidle_test_acc(dataset, model)
                line.append("" if reference is None else f"{reference:.2f}")
        line.append(best or "")
        body.append(line)
    return header, body


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
