"""FIDLE's CNNs, layer for layer as the Keras originals: GTSRB's v1-v3 (fidle.md §2 and §5.2),
MNIST2's CNN and LMNIST2's PyTorch one (fidle.md §8).

Keras Conv2D/Dense carry their ReLU inside the layer, so "Conv -> BN" in v3 is conv, ReLU, then
BatchNorm. Each builder takes the input shape (channels, height, width) and the number of
outputs, and its network starts as the Keras original does (`keras_init`): glorot_uniform
kernels, zero biases, Keras BatchNorm (momentum 0.99 / eps 1e-3, i.e. PyTorch momentum 0.01).
"""

from collections.abc import Sequence

import torch
from torch import nn

from fidle_runs.models.keras_init import keras_init
from fidle_runs.models.shapes import image_shape

PADDINGS = ("valid", "same")


def _flat_features(features: nn.Module, in_shape: tuple[int, int, int]) -> int:
    """Size of the flattened feature map for one input of `in_shape`."""
    try:
        with torch.no_grad():
            return features(torch.zeros(1, *in_shape)).numel()
    except RuntimeError as e:
        raise ValueError(f"input shape {tuple(in_shape)} is too small for this network") from e


def _with_dense_head(features: nn.Sequential, in_shape: tuple[int, int, int], width: int,
                     dropout: float, n_outputs: int) -> nn.Sequential:
    """features -> Flatten -> Dense(width, relu) -> Dropout -> Dense(n_outputs), Keras-initialized:
    the head every FIDLE CNN but v3 ends with."""
    return keras_init(nn.Sequential(
        features, nn.Flatten(),
        nn.Linear(_flat_features(features, in_shape), width), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(width, n_outputs),
    ))


def cnn_v1(in_shape: tuple[int, int, int], n_outputs: int = 43) -> nn.Sequential:
    """96/192 convolutions, Dense 1500. 4,841,083 parameters at 24x24x1."""
    in_shape = image_shape("cnn_v1", in_shape)
    features = nn.Sequential(
        nn.Conv2d(in_shape[0], 96, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
        nn.Conv2d(96, 192, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
    )
    return _with_dense_head(features, in_shape, 1500, 0.5, n_outputs)


def cnn_v2(in_shape: tuple[int, int, int], n_outputs: int = 43) -> nn.Sequential:
    """Blocks of same+valid 3x3 convolutions (64, 128, 256), Dense 512. 1,297,899 at 24x24x1."""
    in_shape = image_shape("cnn_v2", in_shape)
    layers: list[nn.Module] = []
    channels = in_shape[0]
    for width in (64, 128, 256):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                   nn.Conv2d(width, width, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2)]
        channels = width
    features = nn.Sequential(*layers)
    return _with_dense_head(features, in_shape, 512, 0.5, n_outputs)


def cnn_v3(in_shape: tuple[int, int, int], n_outputs: int = 43) -> nn.Sequential:
    """5x5 same convolutions (32 | 64, 128) with BatchNorm, Dense 512 + BatchNorm (GTSRB5's v3)."""
    in_shape = image_shape("cnn_v3", in_shape)
    features = nn.Sequential(
        nn.Conv2d(in_shape[0], 32, 5, padding=2), nn.ReLU(), nn.BatchNorm2d(32),
        nn.MaxPool2d(2), nn.Dropout(0.2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.BatchNorm2d(64),
        nn.Conv2d(64, 128, 5, padding=2), nn.ReLU(), nn.BatchNorm2d(128),
        nn.MaxPool2d(2), nn.Dropout(0.2),
    )
    return keras_init(nn.Sequential(
        features, nn.Flatten(),
        nn.Linear(_flat_features(features, in_shape), 512), nn.ReLU(), nn.BatchNorm1d(512),
        nn.Dropout(0.4), nn.Linear(512, n_outputs),
    ))


def mnist_cnn(in_shape: Sequence[int], n_outputs: int = 10,
              padding: str = "valid") -> nn.Sequential:
    """FIDLE MNIST2: Conv 8 and 16 (3x3) with pooling and dropout, Dense 100.

    padding "valid" is the v2 notebook (42,358 parameters at 28x28x1), "same" K3MNIST2 (80,758).
    """
    if padding not in PADDINGS:
        raise ValueError(f"mnist_cnn: padding={padding!r} is not one of {', '.join(PADDINGS)}")
    shape = image_shape("mnist_cnn", in_shape)
    features = nn.Sequential(
        nn.Conv2d(shape[0], 8, 3, padding=padding), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
        nn.Conv2d(8, 16, 3, padding=padding), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
    )
    return _with_dense_head(features, shape, 100, 0.5, n_outputs)


def lmnist_cnn(in_shape: Sequence[int], n_outputs: int = 10) -> nn.Sequential:
    """FIDLE LMNIST2: MNIST2's valid layers with channel dropout 0.1 (42,358 at 28x28x1).

    The notebook's Dropout1d before the last layer would drop whole samples of a (batch,
    features) tensor; plain element-wise dropout is what it means.
    """
    shape = image_shape("lmnist_cnn", in_shape)
    features = nn.Sequential(
        nn.Conv2d(shape[0], 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout2d(0.1),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout2d(0.1),
    )
    return _with_dense_head(features, shape, 100, 0.1, n_outputs)
