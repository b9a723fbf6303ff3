"""n steps ahead from a window: the network's horizon read as it is, or, for a run whose
forecasts can be fed back as the next input step (one step ahead, every feature a target), its
forecasts iterated as FIDLE LADYB1's predict_len does."""

import torch

from fidle_runs.core.errors import UserError
from fidle_runs.tasks.forecasting import iterated_forecasts


def forecast(task: torch.nn.Module, window: torch.Tensor, steps: int) -> torch.Tensor:
    """(windows, steps, targets) z-scored forecasts from z-scored `window` (windows, W, F)."""
    horizon, n_targets = task.horizon, len(task.target_names)
    with torch.inference_mode():
        if steps <= horizon:
            return task(window).view(len(window), horizon, n_targets)[:, :steps]
        if not task.hparams.get("iterable") or horizon != 1:
            raise UserError(f"--steps {steps}: this run forecasts {horizon} step(s) at once and "
                            "cannot feed its forecasts back as input (its targets are not all "
                            f"its features, one step ahead); ask --steps {horizon} or fewer")
        return iterated_forecasts(task, window, steps)
