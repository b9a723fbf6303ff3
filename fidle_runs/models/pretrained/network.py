"""`model=pretrained`: a pretrained backbone (a torchvision architecture by name, or a
package's network through a Hydra `_target_` factory), its head replaced for the data's
classes, behind the input adapter that gives it images as its weights were trained on."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from fidle_runs.core.errors import UserError, one_line
from fidle_runs.models.pretrained.backbone import Backbone
from fidle_runs.models.pretrained.factory import factory_backbone
from fidle_runs.models.pretrained.head import replace_head
from fidle_runs.models.pretrained.input_adapter import InputAdapter
from fidle_runs.models.pretrained.torchvision_nets import torchvision_backbone
from fidle_runs.models.shapes import image_shape

IMAGENET = "ImageNet's: [0.485,0.456,0.406] and [0.229,0.224,0.225]"


class PretrainedNet(nn.Module):
    """`adapter` (the data's images -> the weights' input) then `backbone` (the pretrained
    network, its head at the attribute path `head_path` replaced). `weights_record` says what a
    run's result should record of it (JSON-ready): the weights' file and sha256, the torchvision
    `arch` and `weights_name` or the `factory`, the `head` and the `input` adaptation.
    `parameter_groups` tells the optimizer which parameters are the head's."""

    def __init__(self, adapter: InputAdapter, backbone: nn.Module, head: str,
                 weights_record: dict[str, Any]) -> None:
        super().__init__()
        self.adapter = adapter
        self.backbone = backbone
        self.head_path = head
        self.weights_record = weights_record

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.adapter(x))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The new head's parameters and the pretrained ones (every other), by group name: the
        optimizer gives each group a learning rate of its own, and the fine-tuning schedule
        freezes the backbone's for its first epochs (fidle_runs.callbacks.finetune)."""
        head = list(self.backbone.get_submodule(self.head_path).parameters())
        in_head = {id(p) for p in head}
        return {"head": head, "backbone": [p for p in self.parameters() if id(p) not in in_head]}


def pretrained_net(in_shape: Sequence[int], n_outputs: int, *, arch: str = "resnet18",
                   weights_name: str = "DEFAULT", weights: str | Path | None = None,
                   weights_dirs: Sequence[str | None] | None = None,
                   factory: DictConfig | None = None, head: str | None = None,
                   input_size: int | str | None = "weights",
                   mean: Sequence[float] | None = None,
                   std: Sequence[float] | None = None) -> PretrainedNet:
    """The pretrained network for images of `in_shape` (channels, height, width) and
    `n_outputs` classes; conf/model/pretrained.yaml says what each argument does. Raises
    UserError for weights, architectures and heads that cannot be used, and ValueError for
    images it cannot take."""
    channels, height, width = image_shape("pretrained", in_shape)
    source = (torchvision_backbone(arch, weights_name, weights, weights_dirs) if factory is None
              else factory_backbone(factory, weights))
    name = source.record.get("arch") or f"{source.record['factory']}'s network"
    path = head or source.head
    if not path:
        raise UserError(f"model.net.head: name the classification head of {name} (its attribute "
                        "path, e.g. fc, classifier.1 or _fc)")
    replace_head(source.net, path, n_outputs, name)
    mean, std = _normalisation(mean, std, source, name)
    if channels not in (1, len(mean)):
        raise ValueError(f"{name} takes images of {len(mean)} channels (or grey ones, "
                         f"repeated), not {channels}")
    size = _size(input_size, source.size, name)
    adapter = InputAdapter(channels, size, mean, std)
    net = PretrainedNet(adapter, source.net, path, {
        **source.record, "head": path,
        "input": {"channels": len(mean), "size": size, "mean": mean, "std": std}})
    _check_forward(net, (channels, height, width), name)
    return net


def _size(input_size: int | str | None, weights_size: int | None, name: str) -> int | None:
    """The side the images are resized to: the weights' (`weights`), the data's (None), or
    the number of pixels given."""
    if input_size == "weights":
        if weights_size is None:
            raise UserError(f"model.net.input_size=weights: the weights of {name} say nothing of "
                            "their image size; give model.net.input_size=<pixels> (what they "
                            "were trained on) or null (the data's size)")
        return weights_size
    if input_size is None or (isinstance(input_size, int) and not isinstance(input_size, bool)
                              and input_size >= 1):
        return input_size
    raise UserError(f"model.net.input_size={input_size}: give weights (the weights' size), "
                    "null (the data's size) or a number of pixels")


def _normalisation(mean: Sequence[float] | None, std: Sequence[float] | None, source: Backbone,
                   name: str) -> tuple[list[float], list[float]]:
    """The per-channel mean and std given, else those of the weights."""
    mean = source.mean if mean is None else mean
    std = source.std if std is None else std
    if mean is None or std is None:
        raise UserError(f"model.net.mean and model.net.std: give the per-channel mean and std "
                        f"the weights of {name} were trained with ({IMAGENET})")
    mean, std = [float(m) for m in mean], [float(s) for s in std]
    if not mean or len(mean) != len(std) or min(std) <= 0:
        raise UserError(f"model.net.mean={mean} and model.net.std={std}: give one mean and one "
                        "positive std per channel the weights take")
    return mean, std


def _check_forward(net: PretrainedNet, shape: tuple[int, int, int], name: str) -> None:
    """Run two blank images of `shape` through `net` (eval mode, no gradient): an image size
    the backbone cannot take is a ValueError before any training."""
    training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(torch.zeros(2, *shape))
    except (RuntimeError, ValueError, AssertionError) as e:
        size = net.adapter.size
        seen = f"{shape[1]}x{shape[2]}" if size is None else f"{size}x{size}"
        raise ValueError(f"{name} cannot take {seen} images ({one_line(e)}); give "
                         "model.net.input_size=weights or a larger size") from None
    finally:
        net.train(training)
