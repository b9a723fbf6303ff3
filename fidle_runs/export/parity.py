"""An export is kept only if, loaded back as a user loads it, it gives the run's outputs on
batches of sizes other than the one it was traced with (so its batch size is free), and those
outputs are finite numbers: a network whose weights diverged (NaN, inf) is no model to ship,
and NaN compares as no difference in a max."""

from collections.abc import Callable
from typing import Any

import torch

# float32 kernels of another runtime (ONNX Runtime's fused LSTM, reordered sums) differ from
# PyTorch's in the last bits (README's export section gives the differences measured).
ATOL, RTOL = 1e-4, 1e-4
BATCHES = (1, 7)


def compare(model: torch.nn.Module, runner: Callable[[torch.Tensor], torch.Tensor],
            batches: list[torch.Tensor]) -> dict[str, Any]:
    """How far the export's outputs are from the model's on each batch, and whether both are
    finite (`finite`); within tolerance only when they are."""
    worst, excess, finite = 0.0, 0.0, True
    with torch.inference_mode():
        for samples in batches:
            want = model(samples).float()
            got = runner(samples).float()
            if got.shape != want.shape:
                raise ValueError(f"outputs of shape {tuple(got.shape)} for a batch of "
                                 f"{len(samples)}, the run gives {tuple(want.shape)}")
            finite = finite and bool(torch.isfinite(want).all() and torch.isfinite(got).all())
            if not finite:
                continue
            diff = (got - want).abs()
            worst = max(worst, float(diff.max()))
            excess = max(excess, float((diff - ATOL - RTOL * want.abs()).max()))
    return {"batch_sizes": [len(b) for b in batches],
            "max_abs_difference": worst if finite else None,
            "tolerance": f"|export - run| <= {ATOL:g} + {RTOL:g} * |run|",
            "finite": finite, "within_tolerance": finite and excess <= 0}
