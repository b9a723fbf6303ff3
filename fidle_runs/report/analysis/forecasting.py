"""A forecaster's best run: its best checkpoint rebuilt (fidle_runs.run.rebuild) and re-evaluated on
its test windows (checked against result.json), each target's MAE in its units beside
persistence's, a stretch of the test series with the one-step and iterated forecasts, and the
MAE by step ahead that the run recorded at test time. What the checkpoint computed is cached
(fidle_runs.report.analysis_cache): the next report draws it without torch."""

import html
from pathlib import Path
from typing import Any

import numpy as np

from fidle_runs.core.errors import UserError
from fidle_runs.report.analysis.forecasting_figures import forecast_stretch, mae_by_step
from fidle_runs.report.analysis.reevaluation import BATCH, RECORDED_TOLERANCE
from fidle_runs.report.analysis_cache import CACHE_DIR, cached_evaluation
from fidle_runs.report.html_blocks import figure, table
from fidle_runs.run.rebuild import rebuild_run
from fidle_runs.store.result import RunResult

CACHE_FILE = CACHE_DIR / "test_forecasts.npz"
CACHE_VERSION = 1
STRETCH = 240  # test steps drawn


def analyse(result: RunResult, run_dir: Path, title: str) -> tuple[str, str]:
    """The analysis's HTML, and `980 test windows evaluated, cached` (or read from cache)."""
    checkpoint, arrays, how = cached_evaluation(
        result.checkpoints, result.data or {}, run_dir, CACHE_FILE, CACHE_VERSION,
        lambda checkpoint: _evaluate(run_dir, result, checkpoint))
    names = arrays["target_names"].tolist()
    starts, paths = arrays["path_starts"], arrays["paths"]
    stretch = len(arrays["truth"])
    n = int(arrays["n_windows"])
    html_parts = [_sentence(result, checkpoint.name, n, float(arrays["mae"])),
                  table(_target_table(result, names)),
                  figure(forecast_stretch(arrays["truth"], arrays["one_step"],
                                          list(zip(starts.tolist(), paths, strict=True)), names,
                                          f"the first {stretch} test steps, {title}"),
                         f"test forecasts, {title}",
                         "The test series (black), the network's forecast of each step from the "
                         "window before it (blue)" + (
                             f", and its forecasts iterated {paths.shape[1]} steps ahead, each "
                             "fed back as the next input step (red)" if len(paths) else "") +
                         "; in the data's units.")]
    steps = _recorded_steps(result)
    if steps:
        html_parts.append(figure(mae_by_step(*steps, f"test MAE by step ahead, {title}"),
                                 f"MAE by step ahead, {title}",
                                 "The network's forecasts iterated k steps ahead against "
                                 "persistence's, as the run recorded them at test time."))
    return "\n".join(html_parts), f"{n} test windows {how}"


def _evaluate(run_dir: Path, result: RunResult, checkpoint: Path) -> dict[str, np.ndarray]:
    """The rebuilt run's forecasts: the test MAE (z-score) over every window, and in the data's
    units the first STRETCH steps' truth, one-step forecasts and iterated paths."""
    import torch

    run = rebuild_run(run_dir, result.data or {}, checkpoint)
    datamodule, task = run.datamodule, run.task
    if not hasattr(datamodule, "unscale_targets"):
        raise UserError(f"its data {datamodule.name} is no series")
    x, y = datamodule.tensors["test"]
    n_targets = len(task.target_names)
    with torch.inference_mode():
        forecasts = torch.cat([task(datamodule.network_input(batch)) for batch in x.split(BATCH)])
        forecasts = forecasts.view(len(x), -1, n_targets)
        stretch = min(STRETCH, len(x))
        starts, paths = (_iterated(task, datamodule, x[:stretch]) if task.steps_ahead > 1
                         else ([], torch.zeros(0, 1, n_targets)))
        return {"mae": np.array(float((forecasts - y).abs().mean())),
                "n_windows": np.array(len(x)),
                "truth": datamodule.unscale_targets(y[:stretch, 0]).numpy(),
                "one_step": datamodule.unscale_targets(forecasts[:stretch, 0]).numpy(),
                "path_starts": np.array(starts, dtype=np.int64),
                "paths": datamodule.unscale_targets(paths).numpy(),
                "target_names": np.array(task.target_names, dtype=str)}


def _iterated(task: Any, datamodule: Any, x: Any) -> tuple[list[int], Any]:
    """Forecasts iterated `steps_ahead` steps from every steps_ahead-th window of `x` (each
    forecast becomes the window's next step): the windows' indices, and (paths, k, targets)
    in z-score."""
    from fidle_runs.tasks.forecasting import iterated_forecasts

    k = task.steps_ahead
    starts = list(range(0, len(x) - k + 1, k))
    return starts, iterated_forecasts(task, datamodule.network_input(x[starts]), k)


def _sentence(result: RunResult, checkpoint: str, n: int, mae: float) -> str:
    e = html.escape
    primary = result.primary or {}
    recorded = primary.get("value")
    baseline = next(iter((primary.get("baselines") or {}).values()), None)
    text = (f"<p>Checkpoint <code>{e(checkpoint)}</code> on {n} test windows: MAE {mae:.4f} "
            "(z-score)")
    if recorded is not None and abs(recorded - mae) > RECORDED_TOLERANCE * max(recorded, 1e-9):
        text += (f" — <b>differs from the {recorded:.4f} its result.json records</b> "
                 "(checkpoint or test series changed since)")
    if baseline is not None:
        verdict = ("better than" if mae < baseline else "<b>no better than</b>")
        text += f", {verdict} persistence's {baseline:.4f}"
    return text + ".</p>"


def _names(result: RunResult) -> tuple[str, str | None]:
    """The primary metric's name and its (persistence) baseline's as result.json records them
    (test_mae, test_mae_persistence): the task's per-target and per-step metrics are named after
    them."""
    primary = result.primary or {}
    return primary.get("name") or "", next(iter(primary.get("baselines") or {}), None)


def _target_table(result: RunResult, names: list[str]) -> tuple[list[str], list[list[str]]]:
    (metrics, (primary, baseline)) = result.metrics or {}, _names(result)
    rows = []
    for name in names:
        network = metrics.get(f"{primary}_{name}")
        persistence = metrics.get(f"{baseline}_{name}") if baseline else None
        gain = ("" if network is None or not persistence else
                f"{100 * (1 - network / persistence):+.1f} %")
        rows.append([name, _number(network), _number(persistence), gain])
    return ["target", "test MAE (units)", "persistence MAE", "gain over persistence"], rows


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _recorded_steps(result: RunResult) -> tuple[list[float], list[float]] | None:
    (metrics, (primary, baseline)) = result.metrics or {}, _names(result)
    network, persistence, k = [], [], 1
    while f"{primary}_step{k}" in metrics:
        network.append(metrics[f"{primary}_step{k}"])
        persistence.append(metrics.get(f"{baseline}_step{k}", float("nan")) if baseline
                           else float("nan"))
        k += 1
    return (network, persistence) if network else None
