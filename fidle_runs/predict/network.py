"""A rebuilt run's network on inputs read by its family: in batches, on the device asked, each
batch through the family's `network_input` as in training."""

import torch

from fidle_runs.core.errors import UserError

BATCH = 256


def device_for(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: no CUDA device here; use --device cpu")
        return torch.device(name)
    raise UserError(f"--device {name!r}: use cpu, cuda or cuda:<index>")


def outputs(task: torch.nn.Module, datamodule, x: torch.Tensor, device: torch.device,
            batch: int = BATCH) -> torch.Tensor:
    """The task's outputs (logits, values, z-scored forecasts) for samples `x` as stored, on
    the host."""
    task.to(device)
    with torch.inference_mode():
        return torch.cat([task(datamodule.network_input(part.to(device))).float().cpu()
                          for part in x.split(batch)])
