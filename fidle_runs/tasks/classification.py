"""Classification: cross-entropy over `n_outputs` classes, or, with one output, binary
cross-entropy on a logit (FIDLE's IMDB sentiment). Logs `<stage>_acc` and `<stage>_loss`, and
on validation and test the accuracy of the majority baseline (every sample given the class most
frequent among the training samples): `acc_majority`.

Tested, it is scored from its saved predictions beyond accuracy (tasks.classification_scores:
balanced accuracy, F1, top-5, log-loss, calibration; for two classes ROC and precision-recall
areas, and a decision threshold chosen on validation), each beside the majority class and
chance (uniform probabilities): `f1_macro_majority`, `log_loss_chance`..."""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

from fidle_runs.store.predictions import SavedPredictions
from fidle_runs.tasks import classification_scores
from fidle_runs.tasks.base import OptimizerFactory, SchedulerFactory, TaskModule

MAJORITY, CHANCE = "majority", "chance"


class Classification(TaskModule):
    SCORES = classification_scores.SCORES
    BASELINES = (MAJORITY, CHANCE)

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, n_outputs: int,
                 scheduler: SchedulerFactory | None = None, model_name: str = "") -> None:
        if n_outputs < 1:
            raise ValueError(f"classification needs at least one output, got n_outputs={n_outputs}")
        self.n_outputs = n_outputs
        super().__init__(net, optimizer, scheduler, model_name)
        self.majority: int | None = None  # fit_baselines: the most frequent training class

    @property
    def binary(self) -> bool:
        return self.n_outputs == 1

    def _accuracy(self) -> Metric:
        # No argument checks: they read values back from the device at every step (a host
        # synchronisation that stalls a GPU), and predictions and targets are ours.
        if self.binary:
            return BinaryAccuracy(validate_args=False)
        return MulticlassAccuracy(self.n_outputs, average="micro", validate_args=False)

    def metrics(self) -> dict[str, Metric]:
        return {"acc": self._accuracy()}

    def baseline_metrics(self) -> dict[str, dict[str, Metric]]:
        return {MAJORITY: {f"acc_{MAJORITY}": self._accuracy()}}

    def in_progress_line(self, name: str) -> bool:
        return not name.endswith(f"_{MAJORITY}")

    def fit_baselines(self, x: torch.Tensor, y: torch.Tensor,
                      network_input: Callable[[torch.Tensor], torch.Tensor]) -> None:
        counts = torch.bincount(y.reshape(-1).long(), minlength=max(2, self.n_outputs))
        self.majority = int(counts.argmax())  # the first of equally frequent classes

    def baseline(self, name: str, x: torch.Tensor) -> torch.Tensor | None:
        if self.majority is None:
            return None
        return torch.full((len(x),), self.majority, dtype=torch.long, device=x.device)

    @property
    def scored_on_validation(self) -> bool:
        return self.binary

    def scores(self, test: SavedPredictions,
               validation: SavedPredictions | None = None) -> dict[str, float]:
        """classification_scores' scores; for two classes with a validation set, also those of
        the threshold chosen there. Beside them each baseline's, where it was fitted."""
        n_classes = max(2, self.n_outputs)
        threshold = None
        if self.binary and validation is not None and len(validation.targets):
            threshold = classification_scores.choose_threshold(validation.outputs,
                                                               validation.targets)
        scores = classification_scores.scores(test.outputs, test.targets, n_classes, threshold)
        majority = self.majority if self.majority is not None else -1
        for baseline, values in classification_scores.baseline_scores(
                test.targets, n_classes, majority).items():
            if baseline == MAJORITY and self.majority is None:
                continue
            scores.update({f"{name}_{baseline}": value for name, value in values.items()})
        return scores

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
