"""The first layer of a pretrained network: the data's images as every image family gives
them (float NCHW in [0, 1]) made into what the weights were trained on. Being part of the
network, it is saved in its checkpoints and rebuilt from the run's config, so evaluate, predict
and export feed the weights as training did."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class InputAdapter(nn.Module):
    """Grey images repeated to the channels the weights expect, resized to `size` x `size`
    (bilinear, without antialiasing, which ONNX cannot export; None keeps the data's size),
    then normalised with the weights' per-channel `mean` and `std`."""

    def __init__(self, in_channels: int, size: int | None, mean: Sequence[float],
                 std: Sequence[float]) -> None:
        super().__init__()
        self.repeat = len(mean) if in_channels == 1 else 1
        self.size = size
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.repeat > 1:
            x = x.expand(-1, self.repeat, -1, -1)
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False)
        return (x - self.mean) / self.std
