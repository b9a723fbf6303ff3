"""An export is kept only if, loaded back as a user loads it, it gives the run's outputs on
batches of sizes other than the one it was traced with (so its batch size is free)."""

from collections.abc import Callable
from typing import Any

import torch

# float32 kernels of another runtime (ONNX Runtime's fused LSTM, reordered sums) differ from
# PyTorch's in the last bits; measured differences stay below 1e-5 on every family's networks.
ATOL, RTOL = 1e-4, 1e-4
BATCHES = (1, 7)


def compare(model: torch.nn.Module, runner: Callable[[torch.Tensor], torch.Tensor],
            batches: list[torch.Tensor]) -> dict[str, Any]:
    """How far the export's outputs are from the model's on each batch."""
    worst, excess = 0.0, 0.0
    with torch.inference_mode():
        for samples in batches:
            want = model(samples).float()
            got = runner(samples).float()
            if got.shape != want.shape:
                raise ValueError(f"outputs of shape {tuple(got.shape)} for a batch of "
                                 f"{len(samples)}, the run gives {tuple(want.shape)}")
            diff = (got - want).abs()
            worst = max(worst, float(diff.max()))
            excess = max(excess, float((diff - ATOL - RTOL * want.abs()).max()))
    return {"batch_sizes": [len(b) for b in batches], "max_abs_difference": worst,
            "tolerance": f"|export - run| <= {ATOL:g} + {RTOL:g} * |run|",
            "within_tolerance": excess <= 0}
