"""A regressor's best run: its checkpoint rebuilt (fidle_runs.run.rebuild) and re-evaluated on its
test set (checked against result.json) beside its baselines (the train mean, least squares),
predicted vs true values, the residuals, and the worst predictions with the samples' features
as the table has them. What the checkpoint computed is cached (fidle_runs.report.analysis_cache):
the next report draws it without torch."""

import html
from pathlib import Path

import numpy as np

from fidle_runs.report.analysis.reevaluation import BATCH, RECORDED_TOLERANCE
from fidle_runs.report.analysis.regression_figures import predicted_vs_true, residual_histogram
from fidle_runs.report.analysis_cache import CACHE_DIR, cached_evaluation
from fidle_runs.report.html_blocks import figure, table
from fidle_runs.report.wording import plural
from fidle_runs.run.rebuild import rebuild_run
from fidle_runs.store.result import RunResult

CACHE_FILE = CACHE_DIR / "test_regression.npz"
CACHE_VERSION = 1
WORST = 10  # predictions listed, the largest absolute errors first
SHOWN_TARGETS = 3  # targets given columns in the worst predictions' table


def analyse(result: RunResult, run_dir: Path, title: str) -> tuple[str, str]:
    """The analysis's HTML, and `152 test samples evaluated, cached` (or read from cache)."""
    checkpoint, arrays, how = cached_evaluation(
        result.checkpoints, result.data or {}, run_dir, CACHE_FILE, CACHE_VERSION,
        lambda checkpoint: _evaluate(run_dir, result, checkpoint))
    y_true, y_pred = arrays["y_true"], arrays["y_pred"]
    names = arrays["target_names"].tolist()
    parts = [_sentence(result, checkpoint.name, y_true, y_pred),
             figure(predicted_vs_true(y_true, y_pred, names, f"test set, {title}"),
                    f"predicted vs true, {title}",
                    "Each test sample's prediction against its true value, in the target's "
                    "units; a perfect model puts every point on the dashed diagonal."),
             figure(residual_histogram(y_true, y_pred, names, f"test residuals, {title}"),
                    f"residuals, {title}",
                    "Predicted minus true values of the test samples; the dashed line is their "
                    "mean (the model's bias)."),
             _worst_table(arrays, names)]
    return "\n".join(parts), f"{len(y_true)} test samples {how}"


def _evaluate(run_dir: Path, result: RunResult, checkpoint: Path) -> dict[str, np.ndarray]:
    """The rebuilt run's test predictions (samples, targets), the worst ones' indices and, where
    the data can say (a table), those samples as the table has them."""
    import torch

    run = rebuild_run(run_dir, result.data or {}, checkpoint)
    datamodule, task = run.datamodule, run.task
    x, y = datamodule.tensors["test"]
    with torch.inference_mode():
        y_pred = torch.cat([task(datamodule.network_input(batch)) for batch in x.split(BATCH)])
    y_true = y.reshape(len(y), -1).numpy().astype(np.float64)
    y_pred = y_pred.reshape(len(y), -1).numpy().astype(np.float64)
    errors = np.abs(y_pred - y_true).sum(axis=1)
    worst = np.argsort(-errors, kind="stable")[:WORST]
    header, cells = ["test sample"], [[str(i)] for i in worst.tolist()]
    if hasattr(datamodule, "test_samples"):
        header, cells = datamodule.test_samples(worst)
    names = list(getattr(task, "target_names", None) or
                 [f"target {i}" for i in range(y_true.shape[1])])
    return {"y_true": y_true, "y_pred": y_pred, "worst": worst.astype(np.int64),
            "sample_header": np.array(header, dtype=str),
            "sample_cells": np.array(cells, dtype=str).reshape(len(worst), len(header)),
            "target_names": np.array(names, dtype=str)}


def _sentence(result: RunResult, checkpoint: str, y_true: np.ndarray,
              y_pred: np.ndarray) -> str:
    e = html.escape
    primary = result.primary or {}
    mae = float(np.abs(y_pred - y_true).mean())
    r2 = _r2(y_true, y_pred)
    text = (f"<p>Checkpoint <code>{e(checkpoint)}</code> on {len(y_true)} test samples: MAE "
            f"{mae:.4g} in the target's units, R² {r2:.3f}")
    recorded = primary.get("value")
    if recorded is not None and abs(recorded - mae) > RECORDED_TOLERANCE * max(recorded, 1e-9):
        text += (f" — <b>differs from the {recorded:.4g} its result.json records</b> "
                 "(checkpoint or test set changed since)")
    baselines = primary.get("baselines") or {}
    prefix = f"{primary.get('name', '')}_"
    named = [(name.removeprefix(prefix).replace("_", " "), value)
             for name, value in baselines.items() if value is not None]
    if named:
        verdicts = [f"{'better than' if mae < value else '<b>no better than</b>'} "
                    f"{e(name)} ({value:.4g})" for name, value in named]
        text += ", " + " and ".join(verdicts) + ", the baselines fitted on the same train rows"
    return text + ".</p>"


def _r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """R² averaged over the targets (torchmetrics' R2Score: uniform average)."""
    residual = ((y_true - y_pred) ** 2).sum(axis=0)
    total = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1 - residual / np.where(total > 0, total, np.nan)))


def _worst_table(arrays: dict[str, np.ndarray], names: list[str]) -> str:
    worst = arrays["worst"]
    y_true, y_pred = arrays["y_true"][worst], arrays["y_pred"][worst]
    shown = names[:SHOWN_TARGETS]
    header = [*arrays["sample_header"].tolist()[:1]]
    for name in shown:
        header += [f"true {name}", f"predicted {name}", "error"]
    header += arrays["sample_header"].tolist()[1:]
    rows = []
    for i, cells in enumerate(arrays["sample_cells"].tolist()):
        row = cells[:1]
        for t in range(len(shown)):
            row += [f"{y_true[i, t]:.4g}", f"{y_pred[i, t]:.4g}",
                    f"{y_pred[i, t] - y_true[i, t]:+.4g}"]
        rows.append(row + cells[1:])
    return (f"<h3>The {plural(len(worst), 'worst prediction')}</h3><p>The test samples with the "
            "largest absolute errors, with their features as the table has them (row: its "
            "index in the table, 0 the first data row).</p>" + table((header, rows)))
