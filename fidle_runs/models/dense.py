"""Fully connected networks: FIDLE's MNIST1 DNN, LMNIST1's MLP, FIDLE's table regressors (BHPD1,
BHPD2, PBHPD1, K3WINE1, LWINE1), and a configurable MLP.

Each builder takes `in_shape` (one sample's shape, flattened first, so images work too) and the
number of outputs, starts as Keras does (`keras_init`) and returns logits.
"""

from collections.abc import Sequence
from numbers import Real

from torch import nn

from fidle_runs.models.keras_init import keras_init
from fidle_runs.models.shapes import flat_size

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU, "selu": nn.SELU, "sigmoid": nn.Sigmoid,
}


def mnist_dnn(in_shape: Sequence[int], n_outputs: int = 10) -> nn.Sequential:
    """FIDLE MNIST1: Dense(100, relu), Dense(100, relu). 89,610 parameters at 28x28x1."""
    return keras_init(nn.Sequential(
        nn.Flatten(),
        nn.Linear(flat_size("mnist_dnn", in_shape), 100), nn.ReLU(),
        nn.Linear(100, 100), nn.ReLU(),
        nn.Linear(100, n_outputs),
    ))


def lmnist_mlp(in_shape: Sequence[int], n_outputs: int = 10) -> nn.Sequential:
    """FIDLE LMNIST1: MNIST1's layers with Dropout(0.1) after each hidden one (89,610 at 28x28).

    The notebook writes nn.Dropout1d, which on a (batch, features) tensor drops whole samples;
    plain element-wise dropout is what it means.
    """
    return keras_init(nn.Sequential(
        nn.Flatten(),
        nn.Linear(flat_size("lmnist_mlp", in_shape), 100), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(100, 100), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(100, n_outputs),
    ))


def bhpd_dnn(in_shape: Sequence[int], n_outputs: int = 1) -> nn.Sequential:
    """FIDLE BHPD1: Dense(32, relu), Dense(64, relu), Dense(32, relu), Dense(1). 4,673
    parameters at 13 features."""
    return _relu_stack("bhpd_dnn", in_shape, n_outputs, (32, 64, 32))


def bhpd_dnn2(in_shape: Sequence[int], n_outputs: int = 1) -> nn.Sequential:
    """FIDLE BHPD2: Dense(64, relu), Dense(64, relu), Dense(1). 5,121 parameters at 13."""
    return _relu_stack("bhpd_dnn2", in_shape, n_outputs, (64, 64))


def pbhpd_dnn(in_shape: Sequence[int], n_outputs: int = 1) -> nn.Sequential:
    """FIDLE PBHPD1 (PyTorch): Linear(13, 64), ReLU, Linear(64, 64), ReLU, Linear(64, 1), with
    PyTorch's own initialisation as the notebook has it. 5,121 parameters at 13."""
    return _relu_stack("pbhpd_dnn", in_shape, n_outputs, (64, 64), keras=False)


def wine_dnn(in_shape: Sequence[int], n_outputs: int = 1) -> nn.Sequential:
    """FIDLE K3WINE1: Dense(64, relu), Dense(64, relu), Dense(1). 4,993 parameters at 11."""
    return _relu_stack("wine_dnn", in_shape, n_outputs, (64, 64))


def lwine_mlp(in_shape: Sequence[int], n_outputs: int = 1) -> nn.Sequential:
    """FIDLE LWINE1 (Lightning): Linear(11, 128), ReLU, Linear(128, 128), ReLU, Linear(128, 1),
    with PyTorch's own initialisation. 18,177 parameters at 11."""
    return _relu_stack("lwine_mlp", in_shape, n_outputs, (128, 128), keras=False)


def _relu_stack(name: str, in_shape: Sequence[int], n_outputs: int, widths: Sequence[int],
                keras: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    size = flat_size(name, in_shape)
    for width in widths:
        layers += [nn.Linear(size, width), nn.ReLU()]
        size = width
    net = nn.Sequential(*layers, nn.Linear(size, n_outputs))
    return keras_init(net) if keras else net


def mlp(in_shape: Sequence[int], n_outputs: int, widths: Sequence[int] = (100, 100),
        dropout: float | Sequence[float] = 0.0, activation: str = "relu",
        batch_norm: bool = False) -> nn.Sequential:
    """Hidden layers of `widths` units, each Linear [-> BatchNorm] -> activation [-> Dropout].

    `dropout` is one rate for every hidden layer or one per layer; `activation` is a name of
    ACTIVATIONS. BatchNorm sits before the activation, where Ioffe and Szegedy put it.
    """
    widths = positive_ints("mlp", "widths", widths)
    rates = _dropout_rates(dropout, len(widths))
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: activation={activation!r} is not one of "
                         f"{', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = [nn.Flatten()]
    size = flat_size("mlp", in_shape)
    for width, rate in zip(widths, rates, strict=True):
        layers.append(nn.Linear(size, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(ACTIVATIONS[activation]())
        if rate > 0:
            layers.append(nn.Dropout(rate))
        size = width
    layers.append(nn.Linear(size, n_outputs))
    return keras_init(nn.Sequential(*layers))


def positive_ints(net: str, key: str, values: Sequence[int]) -> list[int]:
    """Layer widths given in a config (`model.net.widths`, `head`), or ValueError naming them."""
    if isinstance(values, str | Real) or not all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in values):
        raise ValueError(f"{net}: {key}={values!r} must be a list of positive integers")
    return list(values)


def _dropout_rates(dropout: float | Sequence[float], n_layers: int) -> list[float]:
    rates = [dropout] * n_layers if isinstance(dropout, Real) else list(dropout)
    if len(rates) != n_layers:
        raise ValueError(f"mlp: dropout={dropout!r} needs one rate or {n_layers} (one per width), "
                         f"got {len(rates)}")
    if not all(isinstance(r, Real) and 0 <= r < 1 for r in rates):
        raise ValueError(f"mlp: dropout={dropout!r} rates must be in [0, 1)")
    return [float(r) for r in rates]
