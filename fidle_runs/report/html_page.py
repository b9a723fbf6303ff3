"""The report as one self-contained HTML file: every figure embedded as a PNG data URI, no
script, no external file, so it can be mailed, archived or opened from a cluster's scratch."""

import base64
import datetime as dt
import html
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fidle_runs.data.gtsrb.classes import CLASS_NAMES
from fidle_runs.data.gtsrb.h5 import N_CLASSES
from fidle_runs.errors import UserError
from fidle_runs.report import plots
from fidle_runs.report.confusion import confusion_matrix, most_confused, per_class_accuracy
from fidle_runs.report.learning_curves import Curves, read_curves
from fidle_runs.report.predictions import Predictions, run_predictions
from fidle_runs.report.ranking import Matrix, data_label
from fidle_runs.report.report import Report, tally
from fidle_runs.report.run_index import RunRow
from fidle_runs.report.tables import Table, matrix_table, percent, runs_table, shown_path
from fidle_runs.result import read_result

MAX_CURVE_PANELS = 16  # datasets per data source shown as learning-curve panels
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1250px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
.meta { color: #666; font-size: 0.9em; }
.winner, .alert { padding: 0.6em 1em; margin: 0.5em 0; }
.winner { background: #eef6ee; border-left: 5px solid #2ca02c; }
.alert { background: #fff4e5; border-left: 5px solid #ff7f0e; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; white-space: nowrap; } .wide { overflow-x: auto; }
tr.failed td, tr.unreadable td { background: #fde8e8; }
tr.running td, tr.interrupted td { background: #fff8e1; }
img { max-width: 100%; } figure { margin: 0.8em 0; }
figcaption { color: #555; font-size: 0.85em; }
nav a { margin-right: 1em; }
"""


@dataclass
class Timings:
    """What building the page cost, for the command's closing line."""

    curves_read: int = 0
    curves_s: float = 0.0
    analyses: list[str] = field(default_factory=list)


def render_html(report: Report, roots: list[Path]) -> tuple[str, Timings]:
    timings = Timings()
    body = [_summary(report, roots)]
    for n, matrix in enumerate(report.matrices):
        body.append(_matrix_section(matrix, anchor=n == 0))
    if report.matrices:
        body.append(_duration_section(report))
    body.append(_curves_section(report, timings))
    for n, matrix in enumerate(report.matrices):
        body.append(_best_run_section(matrix, timings, anchor=n == 0))
    body.append(_runs_section(report))
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>fidle_runs report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    return page, timings


def _summary(report: Report, roots: list[Path]) -> str:
    e = html.escape
    parts = ["<h1>fidle_runs report</h1>",
             f"<p class=\"meta\">{dt.datetime.now():%Y-%m-%d %H:%M} · runs below "
             f"{e(', '.join(shown_path(Path(r).resolve()) for r in roots))} · "
             f"{e(report.counts())}</p>"]
    ranked = [("matrix", "Accuracy matrix"), ("duration", "Accuracy vs duration")]
    links = [*(ranked if report.matrices else []), ("curves", "Learning curves"),
             *([("best-run", "Best run")] if report.matrices else []), ("runs", "All runs")]
    parts.append("<nav>" + "".join(f"<a href=\"#{a}\">{t}</a>" for a, t in links) + "</nav>")
    for matrix in report.matrices:
        dataset, model = matrix.winner()
        cell = matrix.cells[(dataset, model)]
        parts.append(f"<div class=\"winner\"><b>Winner on {e(matrix.label)} data: {e(model)} on "
                     f"{e(dataset)}, test accuracy {percent(cell.test_acc)} %</b> "
                     f"<span class=\"meta\">({e(shown_path(cell.run_dir))})</span></div>")
    if not report.matrices:
        parts.append("<div class=\"alert\">No completed run with a test accuracy yet: nothing "
                     "to rank.</div>")
    if len(report.matrices) > 1:
        labels = ", ".join(m.label for m in report.matrices)
        parts.append(f"<div class=\"alert\">These runs were trained on different data ({e(labels)})"
                     ": each is ranked on its own, never together.</div>")
    if report.unfinished:
        parts.append(f"<div class=\"alert\">Not completed: {tally(report.unfinished)} "
                     "(<a href=\"#not-completed\">why</a>)</div>")
    return "\n".join(parts)


def _matrix_section(matrix: Matrix, anchor: bool) -> str:
    return (_h2(f"Test accuracy, {matrix.label} data", "matrix" if anchor else None) +
            _figure(plots.accuracy_heatmap(matrix), f"accuracy heatmap, {matrix.label} data",
                    "Dataset × model test accuracy (%); the best model of each dataset framed, "
                    "the winner in red.") +
            _table(matrix_table(matrix)) +
            "".join(f"<p class=\"meta\">{html.escape(n[0].upper() + n[1:])}.</p>"
                    for n in matrix.notes()))


def _duration_section(report: Report) -> str:
    parts = ["<h2 id=\"duration\">Accuracy vs duration</h2>"]
    for matrix in report.matrices:
        parts.append(_figure(plots.accuracy_vs_duration(matrix.runs, matrix.label),
                             f"accuracy vs duration, {matrix.label} data",
                             "Each completed run; the grey steps are the best accuracy reached "
                             "within a given time."))
    return "\n".join(parts)


def _curve_runs(report: Report) -> dict[str, dict[str, list[tuple[str, str, RunRow]]]]:
    """data label -> dataset -> [(model, legend, run)]: the run each matrix cell keeps, then the
    runs in progress."""
    groups: dict[str, dict[str, list[tuple[str, str, RunRow]]]] = {}
    by_dir = {r.run_dir: r for r in report.rows}
    for matrix in report.matrices:
        for (dataset, model), cell in sorted(matrix.cells.items(),
                                             key=lambda kv: matrix.datasets.index(kv[0][0])):
            groups.setdefault(matrix.label, {}).setdefault(dataset, []).append(
                (model, model, by_dir[cell.run_dir]))
    for row in report.rows:
        if row.status in ("running", "interrupted"):
            legend = f"{row.model} ({row.status} {row.epochs}/{row.max_epochs})"
            groups.setdefault(data_label(row.source, row.scale), {}).setdefault(
                row.dataset, []).append((row.model, legend, row))
    return groups


def _curves_section(report: Report, timings: Timings) -> str:
    """Per data label: one panel per dataset, one line per model."""
    e = html.escape
    start = time.perf_counter()
    groups = _curve_runs(report)
    parts = ["<h2 id=\"curves\">Learning curves</h2>"]
    problems = []
    for label, panels in groups.items():
        shown = dict(list(panels.items())[:MAX_CURVE_PANELS])
        read: dict[str, list[tuple[str, str, Curves]]] = {}
        for dataset, lines in shown.items():
            for model, legend, row in lines:
                curves = read_curves(row.run_dir)
                timings.curves_read += 1
                if curves.problem:
                    if row.status != "completed" and row.epochs == 0:
                        continue  # no epoch finished yet: nothing to draw, nothing wrong
                    problems.append(f"{shown_path(row.run_dir)}: {curves.problem}")
                    continue
                read.setdefault(dataset, []).append((model, legend, curves))
        if not read:
            continue
        for metric, name in (("acc", "accuracy"), ("loss", "loss")):
            parts.append(_figure(plots.learning_curves(read, metric, label),
                                 f"learning curves ({name}), {label} data",
                                 "Per epoch, from the runs' TensorBoard events: for each "
                                 "dataset the run each model's matrix cell keeps, and runs in "
                                 "progress."))
        if len(panels) > len(shown):
            parts.append(f"<p class=\"meta\">{len(panels) - len(shown)} more datasets of "
                         f"{e(label)} data are not drawn.</p>")
    timings.curves_s = time.perf_counter() - start
    if len(parts) == 1:
        parts.append("<p>No run has learning curves yet.</p>")
    parts += [f"<p class=\"meta\">{e(p)}</p>" for p in problems]
    return "\n".join(parts)


def _best_run_section(matrix: Matrix, timings: Timings, anchor: bool) -> str:
    """The winner under the microscope: its checkpoint re-evaluated on its test set."""
    e = html.escape
    dataset, model = matrix.winner()
    run_dir = matrix.cells[(dataset, model)].run_dir
    title = f"{model} on {dataset}, {matrix.label} data"
    head = (_h2(f"Best run: {title}", "best-run" if anchor else None) +
            f"<p class=\"meta\">{e(shown_path(run_dir))}</p>")
    result = read_result(run_dir)
    start = time.perf_counter()
    try:
        if result is None:
            raise UserError("its result.json is unreadable")
        predictions = run_predictions(result, run_dir, N_CLASSES)
    except UserError as error:
        timings.analyses.append(f"{title}: no analysis, {error}")
        return head + f"\n<div class=\"alert\">No analysis of this run: {e(str(error))}</div>"
    how = "read from cache" if predictions.from_cache else "evaluated, cached"
    timings.analyses.append(f"{title}: {len(predictions.y_true)} test images {how} in "
                            f"{time.perf_counter() - start:.1f} s")
    return head + "\n" + _analysis(predictions, result.metrics.get("test_acc"), title)


def _analysis(p: Predictions, recorded: float | None, title: str) -> str:
    e = html.escape
    counts = confusion_matrix(p.y_true, p.y_pred, N_CLASSES)
    sentence = (f"<p>Checkpoint <code>{e(p.checkpoint.name)}</code> on {len(p.y_true)} test "
                f"images: accuracy {percent(p.accuracy)} %")
    if recorded is not None and abs(recorded - p.accuracy) > 5e-4:
        sentence += (f" — <b>differs from the {percent(recorded)} % its result.json records</b>"
                     " (checkpoint or test set changed since)")
    parts = [sentence + ".</p>"]
    parts.append(_figure(plots.confusion_heatmap(counts, f"confusion matrix, {title}"),
                         "confusion matrix", "Share of each true class predicted as each "
                         "class (power scale: small confusions stay visible)."))
    parts.append(_figure(plots.class_accuracy_bars(per_class_accuracy(counts), p.accuracy,
                                                   f"test accuracy per class, {title}"),
                         "per-class accuracy", "The five worst classes in red."))
    pairs = most_confused(counts)
    if pairs:
        header = ["true class", "predicted as", "images", "share of the true class"]
        rows = [[_class_cell(p.meta_images, pair.true),
                 _class_cell(p.meta_images, pair.predicted), str(pair.count),
                 f"{100 * pair.share:.1f} %"] for pair in pairs]
        parts.append("<h3>Most confused class pairs</h3>" + _table((header, rows), raw=True))
    if len(p.mistakes):
        parts.append(_figure(
            plots.mistakes_grid(p.mistake_images, p.y_true[p.mistakes], p.y_pred[p.mistakes],
                                p.confidence[p.mistakes],
                                f"the {len(p.mistakes)} most confident mistakes, {title}"),
            "misclassified test images",
            "Test images the model got wrong with the highest confidence: true → predicted "
            "(confidence), predicted sign."))
    return "\n".join(parts)


def _runs_section(report: Report) -> str:
    e = html.escape
    header, body = runs_table(report.rows)
    lines = ["<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
    for row, run in zip(body, report.rows, strict=True):
        cells = "".join(f"<td class=\"text\">{e(c)}</td>" if i in (0, 1, 2, 3, len(row) - 1)
                        else f"<td>{e(c)}</td>" for i, c in enumerate(row))
        lines.append(f"<tr class=\"{e(run.status)}\">{cells}</tr>")
    parts = ["<h2 id=\"runs\">All runs</h2>",
             "<div class=\"wide\"><table>" + "\n".join(lines) + "</table></div>"]
    if report.unfinished:
        parts.append("<h2 id=\"not-completed\">Not completed</h2><ul>" + "".join(
            f"<li><b>{e(r.status)}</b> {e(shown_path(r.run_dir))}: {e(r.detail)}</li>"
            for r in report.unfinished) + "</ul>")
    problems = [r for r in report.rows if r.problems]
    if problems:
        parts.append("<h2 id=\"problems\">Problems</h2><ul>" + "".join(
            f"<li>{e(shown_path(r.run_dir))}: {e(', '.join(r.problems))}</li>"
            for r in problems) + "</ul>")
    return "\n".join(parts)


def _h2(title: str, anchor: str | None) -> str:
    """A section title; `anchor` is the id the page's links point to (first section only)."""
    return (f"<h2 id=\"{anchor}\">" if anchor else "<h2>") + f"{html.escape(title)}</h2>\n"


def _figure(png: bytes, alt: str, caption: str) -> str:
    return (f"<figure><img alt=\"{html.escape(alt)}\" src=\"data:image/png;base64,"
            f"{base64.b64encode(png).decode()}\"><figcaption>{html.escape(caption)}"
            "</figcaption></figure>")


def _class_cell(meta: np.ndarray, class_id: int) -> str:
    """The class's pictogram (from the test set's file) beside its id and name."""
    name = html.escape(f"{class_id} {CLASS_NAMES[class_id]}")
    if class_id >= len(meta):
        return name
    data = base64.b64encode(plots.pictogram(meta[class_id])).decode()
    return (f"<img alt=\"pictogram of class {class_id}\" width=\"40\" height=\"40\" "
            f"style=\"vertical-align: middle\" src=\"data:image/png;base64,{data}\"> {name}")


def _table(table: Table, raw: bool = False) -> str:
    """An HTML table; `raw` cells are HTML already (escaped by the caller)."""
    header, body = table
    cell = (lambda c: c) if raw else html.escape
    lines = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in body]
    return "<div class=\"wide\"><table>" + "\n".join(lines) + "</table></div>"
