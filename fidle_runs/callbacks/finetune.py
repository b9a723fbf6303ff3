"""A pretrained network's fine-tuning schedule (model.finetune): its backbone frozen for the
first `freeze_epochs` epochs, then trained at `backbone_lr_mult` times the optimizer's learning
rate, its head trained throughout.

Both parameter groups exist from the first step (the task module makes them, at their learning
rates), so a resumed run, a scheduler and every rank of a data-parallel run see the same groups
throughout; Lightning's BackboneFinetuning, which adds the backbone's group at the unfreeze and
toggles `requires_grad`, breaks under DDP and re-freezes on resume. Here, during the frozen
epochs, the backbone's gradients are dropped before each optimizer step: after DDP has averaged
them, identically on every rank. Torch's optimizers skip a parameter without a gradient, so the
backbone does not move, its optimizer state stays empty and weight decay leaves it alone. Its
BatchNorm layers also keep their running statistics then (eval mode), unless `train_bn`. The
schedule depends on the epoch number only, which a resumed run restores."""

from typing import Any

import pytorch_lightning as pl
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

BACKBONE = "backbone"


class FinetuneSchedule(pl.Callback):
    """The schedule of the `backbone` group of `net` (a network that names its parameter groups,
    `parameter_groups()`: fidle_runs.models.pretrained) over a run of `max_epochs` epochs, the
    optimizer's learning rate being `lr` (None: the optimizer's default). `lr_mults` are the
    groups' learning rates as multiples of the optimizer's, `record` the schedule as
    result.json says it: its settings, the trainable parameters of each phase (epochs counted
    from 1) and each group's learning rate before any scheduler scales it."""

    def __init__(self, net: nn.Module, max_epochs: int, lr: float | None, *,
                 freeze_epochs: int, backbone_lr_mult: float, train_bn: bool) -> None:
        groups = net.parameter_groups()
        self.freeze_epochs, self.train_bn = freeze_epochs, train_bn
        self.lr_mults = {BACKBONE: backbone_lr_mult}
        self.backbone = groups[BACKBONE]
        in_backbone = {id(p) for p in self.backbone}
        # Those of the backbone: a layer without affine parameters belongs to no other group.
        self.batch_norms = [m for m in net.modules() if isinstance(m, _BatchNorm) and
                            all(id(p) in in_backbone for p in m.parameters(recurse=False))]
        sizes = {name: sum(p.numel() for p in params) for name, params in groups.items()}
        phases = [{"epochs": [freeze_epochs + 1, max_epochs], "trainable": sum(sizes.values())}]
        if freeze_epochs:
            phases.insert(0, {"epochs": [1, freeze_epochs],
                              "trainable": sum(sizes.values()) - sizes[BACKBONE]})
        self.record: dict[str, Any] = {
            "freeze_epochs": freeze_epochs, "backbone_lr_mult": backbone_lr_mult,
            "train_bn": train_bn, "phases": phases,
            "groups": {name: None if lr is None else lr * self.lr_mults.get(name, 1.0)
                       for name in groups}}

    def frozen(self, epoch: int) -> bool:
        """Whether the backbone is frozen during `epoch` (counted from 0, as Lightning does)."""
        return epoch < self.freeze_epochs

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        # At every batch: Lightning puts the whole module back in train mode after validation.
        if not self.train_bn:
            frozen = self.frozen(trainer.current_epoch)
            for layer in self.batch_norms:
                layer.train(not frozen)

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: Any) -> None:
        if self.frozen(trainer.current_epoch):
            for param in self.backbone:
                param.grad = None
