"""What a source of pretrained weights hands the network builder: the network with its weights
loaded, which file they came from, and what the weights expect of their input."""

from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class Backbone:
    """`net` with its pretrained weights and its original head; `record` says where the weights
    came from (JSON-ready: file, sha256, arch or factory, weights name); `head` is the attribute
    path of its classification head when the source knows it; `size`, `mean` and `std` are
    the input the weights were trained on when the source knows it (None otherwise)."""

    net: nn.Module
    record: dict[str, Any]
    head: str | None
    size: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
