"""What an export holds: the run's network as the run applies it to its samples as stored
(uint8 images, int64 id sequences, float32 encoded rows or z-scored windows), the family's
`network_input` included, so that a user feeds it what `read_inputs` gives (predict)."""

from collections.abc import Callable

import torch


class ExportedModel(torch.nn.Module):
    """samples as stored -> the task's outputs (logits, values, z-scored forecasts)."""

    def __init__(self, network_input: Callable[[torch.Tensor], torch.Tensor],
                 task: torch.nn.Module) -> None:
        super().__init__()
        self.network_input = network_input
        self.task = task

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        return self.task(self.network_input(samples))
