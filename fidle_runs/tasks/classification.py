"""Classification: cross-entropy over `n_outputs` classes, or, with one output, binary
cross-entropy on a logit (FIDLE's IMDB sentiment). Logs `<stage>_acc` and `<stage>_loss`."""

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

from fidle_runs.tasks.base import OptimizerFactory, SchedulerFactory, TaskModule


class Classification(TaskModule):
    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, n_outputs: int,
                 scheduler: SchedulerFactory | None = None, model_name: str = "") -> None:
        if n_outputs < 1:
            raise ValueError(f"classification needs at least one output, got n_outputs={n_outputs}")
        self.n_outputs = n_outputs
        super().__init__(net, optimizer, scheduler, model_name)

    @property
    def binary(self) -> bool:
        return self.n_outputs == 1

    def metrics(self) -> dict[str, Metric]:
        # No argument checks: they read values back from the device at every step (a host
        # synchronisation that stalls a GPU), and predictions and targets are ours.
        if self.binary:
            return {"acc": BinaryAccuracy(validate_args=False)}
        return {"acc": MulticlassAccuracy(self.n_outputs, average="micro", validate_args=False)}

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return F.binary_cross_entropy_with_logits(outputs.squeeze(-1), targets.float())
        return F.cross_entropy(outputs, targets)

    def predictions(self, outputs: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return (outputs.squeeze(-1) > 0).long()
        return outputs.argmax(dim=-1)

    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        """(batch, classes) probabilities, also for a binary classifier (two columns)."""
        if self.binary:
            p = torch.sigmoid(outputs.squeeze(-1))
            return torch.stack([1 - p, p], dim=-1)
        return outputs.softmax(dim=-1)
