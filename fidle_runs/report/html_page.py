"""The report as one self-contained HTML file: every figure embedded as a PNG data URI, no
script, no external file, so it can be mailed, archived or opened from a cluster's scratch."""

import datetime as dt
import html
import time
from dataclasses import dataclass, field
from pathlib import Path

from fidle_runs.core.errors import UserError
from fidle_runs.report import plots, search_plots
from fidle_runs.report.analysis import ANALYSES
from fidle_runs.report.html_blocks import figure, heading, table
from fidle_runs.report.learning_curves import Curves, read_curves
from fidle_runs.report.ranking import Matrix, MatrixKey, matrix_key
from fidle_runs.report.report import Report, search_title, tally, verdict_lines
from fidle_runs.report.run_index import RunRow
from fidle_runs.report.studies import Study, param_importances
from fidle_runs.report.tables import (
    TEXT_COLUMNS,
    best_trial_line,
    matrix_table,
    runs_table,
    shown_path,
    trials_table,
)
from fidle_runs.store.result import read_result

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
tr.failed td, tr.unreadable td, tr.diverged td { background: #fde8e8; }
tr.running td, tr.interrupted td { background: #fff8e1; }
tr.pruned td { background: #f0f0f0; }
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
    for n, study in enumerate(report.studies):
        body.append(_search_section(study, anchor=n == 0))
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
    ranked = [("matrix", "Matrices"), ("duration", "Metric vs duration")]
    links = [*(ranked if report.matrices else []), ("curves", "Learning curves"),
             *([("best-run", "Best runs")] if report.matrices else []),
             *([("search", "Searches")] if report.studies else []), ("runs", "All runs")]
    parts.append("<nav>" + "".join(f"<a href=\"#{a}\">{t}</a>" for a, t in links) + "</nav>")
    for matrix in report.matrices:
        lines = verdict_lines(matrix)
        parts.append(f"<div class=\"winner\"><b>Winner, {e(matrix.title)}: {e(lines[0])}</b>"
                     + "".join(f"<br>{e(line)}" for line in lines[1:]) + "</div>")
    if not report.matrices:
        parts.append("<div class=\"alert\">No completed run with a test value of its metric "
                     "yet: nothing to rank.</div>")
    if len(report.matrices) > 1:
        titles = "; ".join(m.title for m in report.matrices)
        parts.append(f"<div class=\"alert\">These runs differ in task, metric or data: each of "
                     f"the {len(report.matrices)} rankings ({e(titles)}) is made on its own, "
                     "never together.</div>")
    if report.unfinished:
        parts.append(f"<div class=\"alert\">Not completed: {tally(report.unfinished)} "
                     "(<a href=\"#not-completed\">why</a>)</div>")
    return "\n".join(parts)


def _matrix_section(matrix: Matrix, anchor: bool) -> str:
    metric = matrix.metric
    direction = "higher" if metric.mode == "max" else "lower"
    return (heading(matrix.title, "matrix" if anchor else None) +
            figure(plots.metric_heatmap(matrix), f"{metric.name} heatmap, {matrix.label} data",
                   f"Dataset × model mean {metric.title} over seeds ({direction} is better, "
                   "brighter) ± half its 95 % interval; the best mean of each dataset framed, "
                   "the winner in red, the cells that cannot be told apart from it dashed.") +
            table(matrix_table(matrix)) +
            "".join(f"<p class=\"meta\">{html.escape(n[0].upper() + n[1:])}.</p>"
                    for n in matrix.notes()))


def _duration_section(report: Report) -> str:
    parts = ["<h2 id=\"duration\">Metric vs duration</h2>"]
    for matrix in report.matrices:
        parts.append(figure(plots.metric_vs_duration(matrix.runs, matrix.metric, matrix.label),
                            f"{matrix.metric.name} vs duration, {matrix.label} data",
                            f"Each completed run; the grey steps are the best {matrix.metric.name}"
                            " reached within a given time."))
    return "\n".join(parts)


def _curve_runs(report: Report) -> dict[MatrixKey, dict[str, list[tuple[str, str, RunRow]]]]:
    """matrix key -> dataset -> [(model, legend, run)]: the run each matrix cell keeps, then the
    runs in progress (under the matrix they will join)."""
    groups: dict[MatrixKey, dict[str, list[tuple[str, str, RunRow]]]] = {}
    by_dir = {r.run_dir: r for r in report.rows}
    for matrix in report.matrices:
        for (dataset, model), cell in sorted(matrix.cells.items(),
                                             key=lambda kv: matrix.datasets.index(kv[0][0])):
            groups.setdefault(matrix.key, {}).setdefault(dataset, []).append(
                (model, model, by_dir[cell.run_dir]))
    for row in report.rows:
        key = matrix_key(row)
        if row.status in ("running", "interrupted") and key is not None:
            legend = f"{row.model} ({row.status} {row.epochs}/{row.max_epochs})"
            groups.setdefault(key, {}).setdefault(row.dataset, []).append(
                (row.model, legend, row))
    return groups


def _measures(runs: list[RunRow]) -> dict[str, bool]:
    """What the learning curves of these runs show: the metric each monitors (without its
    stage), then the loss; each with whether it is a fraction (drawn in %)."""
    measures = {r.monitor.measure: r.monitor.fraction for r in runs if r.monitor}
    measures.pop("loss", None)
    return {**measures, "loss": False}


def _curves_section(report: Report, timings: Timings) -> str:
    """Per matrix: one panel per dataset, one line per model, one figure per measure."""
    e = html.escape
    start = time.perf_counter()
    groups = _curve_runs(report)
    parts = ["<h2 id=\"curves\">Learning curves</h2>"]
    problems = []
    for key, panels in groups.items():
        shown = dict(list(panels.items())[:MAX_CURVE_PANELS])
        measures = _measures([row for lines in shown.values() for _, _, row in lines])
        read: dict[str, list[tuple[str, str, Curves]]] = {}
        for dataset, lines in shown.items():
            for model, legend, row in lines:
                curves = read_curves(row.run_dir, list(measures))
                timings.curves_read += 1
                if curves.problem:
                    if row.status != "completed" and row.epochs == 0:
                        continue  # no epoch finished yet: nothing to draw, nothing wrong
                    problems.append(f"{shown_path(row.run_dir)}: {curves.problem}")
                    continue
                read.setdefault(dataset, []).append((model, legend, curves))
        if not read:
            continue
        for measure, fraction in measures.items():
            parts.append(figure(plots.learning_curves(read, measure, fraction, key.label),
                                f"learning curves ({measure}), {key.label} data",
                                f"{measure} (validation solid, training dashed) on "
                                f"{key.label} data, per epoch, from the runs' TensorBoard "
                                "events: for each dataset the run each model's matrix cell "
                                "keeps, and runs in progress."))
        if len(panels) > len(shown):
            parts.append(f"<p class=\"meta\">{len(panels) - len(shown)} more datasets of "
                         f"{e(key.label)} data are not drawn.</p>")
    timings.curves_s = time.perf_counter() - start
    if len(parts) == 1:
        parts.append("<p>No run has learning curves yet.</p>")
    parts += [f"<p class=\"meta\">{e(p)}</p>" for p in problems]
    return "\n".join(parts)


def _best_run_section(matrix: Matrix, timings: Timings, anchor: bool) -> str:
    """The winner under the microscope, with its task's analysis."""
    e = html.escape
    dataset, model = matrix.winner()
    run_dir = matrix.cells[(dataset, model)].run_dir
    title = f"{model} on {dataset}, {matrix.label} data"
    head = (heading(f"Best run: {title}", "best-run" if anchor else None) +
            f"<p class=\"meta\">{e(shown_path(run_dir))}</p>")
    task = matrix.key.task
    analyse = ANALYSES.get(task)
    if analyse is None:
        timings.analyses.append(f"{title}: no analysis of {task} runs yet")
        return head + (f"\n<p>The analysis of a {e(task)} run (beyond its metrics above) comes "
                       "in a later version of the report.</p>")
    result = read_result(run_dir)
    start = time.perf_counter()
    try:
        if result is None:
            raise UserError("its result.json is unreadable")
        body, done = analyse(result, run_dir, title)
    except UserError as error:
        timings.analyses.append(f"{title}: no analysis, {error}")
        return head + f"\n<div class=\"alert\">No analysis of this run: {e(str(error))}</div>"
    timings.analyses.append(f"{title}: {done}, analysis in {time.perf_counter() - start:.1f} s")
    return head + "\n" + body


def _search_section(study: Study, anchor: bool) -> str:
    """A hyper-parameter search: its best trial, optimisation history, slices, importance and
    every trial."""
    e = html.escape
    parts = [heading(search_title(study), "search" if anchor else None)]
    best = study.best
    if best is None:
        parts.append("<div class=\"alert\">No trial of this search completed yet.</div>")
    else:
        parts.append(f"<div class=\"winner\"><b>Best trial {e(best_trial_line(study, best))}"
                     "</b>" + "".join(f"<br>{e(note)}" for note in study.notes()) + "</div>")
    parts.append(figure(search_plots.optimisation_history(study),
                        f"optimisation history, search {study.name}",
                        f"{study.objective.name} of each trial in the order they were asked, "
                        "and the best so far."))
    if study.completed:
        parts.append(figure(search_plots.slices(study), f"slice plots, search {study.name}",
                            f"{study.objective.name} of each completed trial against each "
                            "searched parameter."))
    importances = param_importances(study)
    if importances:
        parts.append(figure(search_plots.importances(importances, study),
                            f"parameter importance, search {study.name}",
                            "How much of the objective's variance across completed trials each "
                            "parameter explains (Optuna's fANOVA, seed 0)."))
    parts.append(table(trials_table(study)))
    return "\n".join(parts)


def _runs_section(report: Report) -> str:
    e = html.escape
    header, body = runs_table(report.rows)
    lines = ["<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
    for row, run in zip(body, report.rows, strict=True):
        cells = "".join(f"<td class=\"text\">{e(c)}</td>" if h in TEXT_COLUMNS
                        else f"<td>{e(c)}</td>" for h, c in zip(header, row, strict=True))
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
