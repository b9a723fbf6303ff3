"""Recurrent networks on series: one sample is a window (window, features), the output
`n_outputs` values (for forecasting horizon x targets, the task flattening its targets alike).

FIDLE's LADYB1 GRU and SYNOP2 LSTM use `activation='relu'`, which PyTorch's modules lack: they
are built on our Keras ports (models/recurrent_cells.py). The general `lstm` and `gru` are
PyTorch's fast (cuDNN) modules with tanh. Every network reads the window to its end and maps
the state after its last step to the outputs (Keras' return_sequences=False), and starts as
Keras would (`keras_init`).
"""

from collections.abc import Sequence
from numbers import Real

from torch import Tensor, nn

from fidle_runs.models.dense import positive_ints
from fidle_runs.models.keras_init import keras_init
from fidle_runs.models.recurrent_cells import KerasGRU, KerasLSTM
from fidle_runs.models.shapes import series_shape


class LastState(nn.Module):
    """A batch-first recurrent layer's state after the last step, last layer, every direction
    (forward after step T, backward after step 1): (batch, directions * hidden)."""

    def __init__(self, rnn: nn.LSTM | nn.GRU | KerasLSTM | KerasGRU) -> None:
        super().__init__()
        self.rnn = rnn
        self.directions = 2 if rnn.bidirectional else 1

    def forward(self, x: Tensor) -> Tensor:
        _, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state  # an LSTM's (h, c)
        return h[-self.directions:].transpose(0, 1).reshape(x.shape[0], -1)


def ladybug_gru(in_shape: Sequence[int], n_outputs: int = 2) -> nn.Sequential:
    """FIDLE LADYB1: GRU(200, activation='relu') -> Dense(n_outputs). 122,802 parameters at
    (20, 2) with 2 outputs, as Keras counts them."""
    _, features = series_shape("ladybug_gru", in_shape)
    return keras_init(nn.Sequential(
        LastState(KerasGRU(features, 200, activation="relu")),
        nn.Linear(200, n_outputs),
    ))


def synop_lstm(in_shape: Sequence[int], n_outputs: int = 12) -> nn.Sequential:
    """FIDLE SYNOP2: LSTM(100, activation='relu') -> Dropout(0.2) -> Dense(n_outputs). 46,412
    parameters at (16, 12) with 12 outputs, as Keras counts them."""
    _, features = series_shape("synop_lstm", in_shape)
    return keras_init(nn.Sequential(
        LastState(KerasLSTM(features, 100, activation="relu")),
        nn.Dropout(0.2),
        nn.Linear(100, n_outputs),
    ))


def lstm(in_shape: Sequence[int], n_outputs: int, hidden: int = 64, layers: int = 1,
         dropout: float = 0.0, bidirectional: bool = False,
         head: Sequence[int] = ()) -> nn.Sequential:
    """nn.LSTM (tanh, cuDNN on a GPU) -> last state -> [Dropout] -> head -> Linear(n_outputs).

    `hidden` units per layer and direction, `layers` stacked, `dropout` between the stacked
    layers and on the last state, `head` the widths of Dense(relu) layers before the output.
    """
    return _recurrent_net("lstm", nn.LSTM, in_shape, n_outputs, hidden, layers, dropout,
                          bidirectional, head)


def gru(in_shape: Sequence[int], n_outputs: int, hidden: int = 64, layers: int = 1,
        dropout: float = 0.0, bidirectional: bool = False,
        head: Sequence[int] = ()) -> nn.Sequential:
    """nn.GRU (tanh, cuDNN on a GPU) -> last state -> [Dropout] -> head -> Linear(n_outputs);
    the options are lstm's."""
    return _recurrent_net("gru", nn.GRU, in_shape, n_outputs, hidden, layers, dropout,
                          bidirectional, head)


def _recurrent_net(name: str, module: type[nn.LSTM | nn.GRU], in_shape: Sequence[int],
                   n_outputs: int, hidden: int, layers: int, dropout: float,
                   bidirectional: bool, head: Sequence[int]) -> nn.Sequential:
    _, features = series_shape(name, in_shape)
    for key, value in (("hidden", hidden), ("layers", layers)):
        if not _positive_int(value):
            raise ValueError(f"{name}: {key}={value!r} must be a positive integer")
    if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout < 1:
        raise ValueError(f"{name}: dropout={dropout!r} must be in [0, 1)")
    head = positive_ints(name, "head", head)
    # nn.LSTM/GRU drop between stacked layers only (and warn when there is none).
    rnn = module(features, hidden, num_layers=layers, batch_first=True,
                 dropout=dropout if layers > 1 else 0.0, bidirectional=bidirectional)
    size = hidden * (2 if bidirectional else 1)
    net: list[nn.Module] = [LastState(rnn)]
    if dropout > 0:
        net.append(nn.Dropout(dropout))
    for width in head:
        net += [nn.Linear(size, width), nn.ReLU()]
        size = width
    net.append(nn.Linear(size, n_outputs))
    return keras_init(nn.Sequential(*net))


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
