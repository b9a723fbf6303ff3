"""Rank runs by another test metric than the one they were ranked by when trained (`python -m
fidle_runs.report --metric test_balanced_acc`): each run's recorded value where result.json has
it, else the task's score of its saved test predictions, so a metric added after the runs were
made needs no retraining. Its direction and whether it is a fraction are the task's (its scores
module's SCORES). A run with neither keeps no value and says why."""

from dataclasses import replace

from fidle_runs.core.errors import UserError
from fidle_runs.report.metric import Metric
from fidle_runs.report.run_index import RunRow
from fidle_runs.report.seed_groups import SCORES_OF_TASK
from fidle_runs.store.predictions import read_predictions


def rescored(rows: list[RunRow], name: str) -> list[RunRow]:
    """`rows` ranked by test metric `name` (`test_f1_macro`); UserError when no task of the
    rows scores it."""
    measure = name.removeprefix("test_")
    tasks = {row.task for row in rows if row.task in SCORES_OF_TASK}
    if not any(measure in SCORES_OF_TASK[task].SCORES for task in tasks):
        known = sorted({f"test_{s}" for task in tasks for s in SCORES_OF_TASK[task].SCORES})
        raise UserError(f"--metric {name}: no task of these runs scores it; choose one of "
                        f"{', '.join(known)}")
    return [_rescored(row, name, measure) for row in rows]


def _rescored(row: RunRow, name: str, measure: str) -> RunRow:
    scores = SCORES_OF_TASK.get(row.task)
    if scores is None or measure not in scores.SCORES or row.status != "completed":
        return row if row.status != "completed" else replace(row, primary=None,
                                                             primary_value=None)
    mode, fraction = scores.SCORES[measure]
    metric = Metric(name, mode, fraction)
    value = row.metrics.get(name)
    if value is None:
        saved = read_predictions(row.run_dir, "test")
        value = None if saved is None else scores.scores(saved.outputs, saved.targets).get(
            measure)
    problems = row.problems if value is not None else [
        *row.problems, f"no {name}: not recorded and no saved test predictions"]
    # The task's baselines, by the names the run recorded for its own primary metric's.
    kinds = {key.removeprefix(f"{row.primary.name}_") for key in row.baselines} if row.primary \
        else set()
    baselines = {f"{name}_{kind}": row.metrics.get(f"{name}_{kind}") for kind in kinds
                 if f"{name}_{kind}" in row.metrics}
    return replace(row, primary=metric, primary_value=value, baselines=baselines,
                   problems=problems)
