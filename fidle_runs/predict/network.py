"""Where `predict` runs a rebuilt network (the device asked) and how many inputs at a time; the
outputs themselves are fidle_runs.tasks.base.task_outputs'."""

import torch

from fidle_runs.core.command_line import check_device

BATCH = 256


def device_for(name: str) -> torch.device:
    """The torch device `--device` names, checked (fidle_runs.core.command_line)."""
    return torch.device(check_device(name))

