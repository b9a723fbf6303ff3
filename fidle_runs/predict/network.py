"""A rebuilt run's network on inputs read by its family: in batches, on the device asked, each
batch through the family's `network_input` as in training."""

import torch

from fidle_runs.core.command_line import check_device

BATCH = 256


def device_for(name: str) -> torch.device:
    """The torch device `--device` names, checked (fidle_runs.core.command_line)."""
    return torch.device(check_device(name))


def outputs(task: torch.nn.Module, datamodule, x: torch.Tensor, device: torch.device,
            batch: int = BATCH) -> torch.Tensor:
    """The task's outputs (logits, values, z-scored forecasts) for samples `x` as stored, on
    the host."""
    task.to(device)
    with torch.inference_mode():
        return torch.cat([task(datamodule.network_input(part.to(device))).float().cpu()
                          for part in x.split(batch)])
