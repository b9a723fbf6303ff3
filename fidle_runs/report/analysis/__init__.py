"""The best run of each ranking under the microscope, by task: one plain dict from the task's
name to its analysis. A task without one (yet) gets a sentence saying so."""

from collections.abc import Callable
from pathlib import Path

from fidle_runs.report.analysis import classification, forecasting, regression
from fidle_runs.store.result import RunResult

# (result, run_dir, title) -> (HTML, what it did, for the command's timing line); raises
# UserError when the run cannot be analysed (its checkpoint or data gone...).
Analysis = Callable[[RunResult, Path, str], tuple[str, str]]

ANALYSES: dict[str, Analysis] = {"classification": classification.analyse,
                                  "forecasting": forecasting.analyse,
                                  "regression": regression.analyse}
