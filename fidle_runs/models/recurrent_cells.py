"""Keras' GRU and LSTM layers, equation for equation, with activation tanh or relu.

Why not nn.GRU / nn.LSTM: PyTorch's are tanh-only, and FIDLE's LADYB1 and SYNOP2 use
`activation='relu'`. In Keras `activation` replaces tanh wherever the layer has one (the GRU's
candidate state; the LSTM's candidate cell and the c -> h output), and `recurrent_activation`
(sigmoid) stays on the gates. From keras/src/layers/rnn/gru.py and lstm.py (Keras 3; tf.keras
2, which FIDLE v2 ran, has the same defaults), for one step with input x, state h, c:

    GRU, reset_after=True (the default), gates in Keras' order z, r, h:
        z  = sigmoid(x W_z + b_z + h U_z + b'_z)
        r  = sigmoid(x W_r + b_r + h U_r + b'_r)
        hh = activation(x W_h + b_h + r * (h U_h + b'_h))    # reset after the recurrent matmul
        h  = z * h + (1 - z) * hh
    LSTM, gates in Keras' order i, f, c, o, one bias:
        i, f, o = sigmoid(x W_. + h U_. + b_.)
        c  = f * c + i * activation(x W_c + h U_c + b_c)
        h  = o * activation(c)

so a GRU has 3 * (units * (inputs + units) + 2 * units) parameters (two bias vectors, Keras'
`bias` of shape (2, 3 units)) and an LSTM 4 * (units * (inputs + units) + units) (one bias;
PyTorch's LSTM has two, so the same layer counts 4 * units more there). With tanh both are
exactly nn.GRU / nn.LSTM (tests/test_recurrent.py checks it), whose gate order is r, z, n for
the GRU (i, f, g, o for the LSTM, Keras' own).

The layers are drop-in for a one-layer, batch-first, unidirectional nn.GRU / nn.LSTM: same
parameter names and layouts (weight_ih_l0 of shape (gates * hidden, inputs), which is Keras'
kernel transposed), same call and return values. The input projection of every step is one
matmul before the loop; the loop does one recurrent matmul per step and a few fused pointwise
ops (addmm, addcmul, lerp). It stays eager: torch.jit.script of the same loop was no faster on
CPU (scripts/benchmark_recurrent.py measures both), torch.jit is deprecated, and torch.compile
(the runner's `compile` option) takes an eager module as it is. They start as Keras' layers do
(`keras_recurrent_init`, which models/keras_init.py applies to nn.LSTM and nn.GRU too).

KerasLSTM also has Keras' `dropout` and `recurrent_dropout` (FIDLE's IMDB5), which nn.LSTM lacks
(its `dropout` is between stacked layers). As in Keras (tf.keras 2's LSTMCell, implementation 2,
and Keras 3's), in training only, each forward draws one mask per sequence (`dropout_mask`) and
uses it at every step: `dropout` multiplies the inputs x, `recurrent_dropout` the state h fed to
the recurrent kernel U.
"""

import torch
from torch import Tensor, nn

ACTIVATIONS = ("tanh", "relu")


def _activate(x: Tensor, activation: str) -> Tensor:
    return torch.relu(x) if activation == "relu" else torch.tanh(x)


def gru_steps(gx: Tensor, w_hh: Tensor, b_hh: Tensor, h: Tensor,
              activation: str) -> tuple[Tensor, Tensor]:
    """Keras' GRU recurrence over `gx` (batch, steps, 3 hidden): the inputs already projected by
    the input kernel and bias (z, r, h). Returns every step's state and the last one."""
    outputs: list[Tensor] = []
    for x_t in gx.unbind(1):
        x_z, x_r, x_h = x_t.chunk(3, 1)
        h_z, h_r, h_h = torch.addmm(b_hh, h, w_hh.t()).chunk(3, 1)
        z = torch.sigmoid(x_z + h_z)
        r = torch.sigmoid(x_r + h_r)
        candidate = _activate(torch.addcmul(x_h, r, h_h), activation)
        h = torch.lerp(candidate, h, z)  # z * h + (1 - z) * candidate
        outputs.append(h)
    return torch.stack(outputs, 1), h


def lstm_steps(gx: Tensor, w_hh: Tensor, h: Tensor, c: Tensor, activation: str,
               h_mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Keras' LSTM recurrence over `gx` (batch, steps, 4 hidden): the inputs already projected by
    the input kernel plus the bias (i, f, c, o). `h_mask` (batch, hidden), if given, multiplies h
    before every recurrent matmul (Keras' recurrent dropout). Returns every step's h, and the last
    h and c."""
    outputs: list[Tensor] = []
    for x_t in gx.unbind(1):
        h_in = h if h_mask is None else h * h_mask
        i, f, candidate, o = torch.addmm(x_t, h_in, w_hh.t()).chunk(4, 1)
        c = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), _activate(candidate, activation))
        h = torch.sigmoid(o) * _activate(c, activation)
        outputs.append(h)
    return torch.stack(outputs, 1), h, c


def dropout_mask(like: Tensor, rate: float) -> Tensor:
    """Keras' RNN dropout mask for `like` (batch, ..., features): one draw per sample and feature,
    (batch, features), kept for every step; the kept units scaled by 1 / (1 - rate)."""
    return nn.functional.dropout(like.new_ones(like.shape[0], like.shape[-1]), rate)


class _KerasRecurrent(nn.Module):
    """What the two layers share: sizes, the activation, the attributes nn.RNNBase users read."""

    num_layers = 1
    bidirectional = False
    batch_first = True

    def __init__(self, name: str, input_size: int, hidden_size: int, gates: int,
                 activation: str) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"{name}: activation={activation!r} is not one of "
                             f"{', '.join(ACTIVATIONS)}")
        self.input_size, self.hidden_size, self.activation = input_size, hidden_size, activation
        self.weight_ih_l0 = nn.Parameter(torch.empty(gates * hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(gates * hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(gates * hidden_size))

    def reset_parameters(self) -> None:
        """Keras' initialisation (`keras_recurrent_init`)."""
        keras_recurrent_init(self)

    def _zeros(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0], self.hidden_size)

    def _projected(self, x: Tensor) -> Tensor:
        """Every step's input projection at once: (batch, steps, gates * hidden)."""
        return torch.nn.functional.linear(x, self.weight_ih_l0, self.bias_ih_l0)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, activation={self.activation}"


class KerasGRU(_KerasRecurrent):
    """keras.layers.GRU(hidden_size, activation, reset_after=True) on (batch, steps, inputs).

    Gates z, r, h; bias_ih_l0 and bias_hh_l0 are Keras' two bias rows (input, recurrent).
    forward(x, h0=None) -> (outputs (batch, steps, hidden), h_n (1, batch, hidden)).
    """

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh") -> None:
        super().__init__("KerasGRU", input_size, hidden_size, 3, activation)
        self.bias_hh_l0 = nn.Parameter(torch.empty(3 * hidden_size))
        self.reset_parameters()

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self._zeros(x) if h0 is None else h0[0]
        outputs, h = gru_steps(self._projected(x), self.weight_hh_l0, self.bias_hh_l0, h,
                               self.activation)
        return outputs, h.unsqueeze(0)


class KerasLSTM(_KerasRecurrent):
    """keras.layers.LSTM(hidden_size, activation, dropout, recurrent_dropout) on (batch, steps,
    inputs).

    Gates i, f, c, o; one bias (bias_ih_l0, added with the input projection), as Keras has.
    forward(x, (h0, c0)=None) -> (outputs (batch, steps, hidden), (h_n, c_n) each (1, batch,
    hidden)).
    """

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh",
                 dropout: float = 0.0, recurrent_dropout: float = 0.0) -> None:
        super().__init__("KerasLSTM", input_size, hidden_size, 4, activation)
        for key, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= rate < 1:
                raise ValueError(f"KerasLSTM: {key}={rate!r} must be in [0, 1)")
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        self.reset_parameters()

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = (self._zeros(x), self._zeros(x)) if state is None else (state[0][0], state[1][0])
        h_mask = None
        if self.training and self.dropout > 0:
            x = x * dropout_mask(x, self.dropout).unsqueeze(1)
        if self.training and self.recurrent_dropout > 0:
            h_mask = dropout_mask(h, self.recurrent_dropout)
        outputs, h, c = lstm_steps(self._projected(x), self.weight_hh_l0, h, c, self.activation,
                                   h_mask)
        return outputs, (h.unsqueeze(0), c.unsqueeze(0))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, dropout={self.dropout}, "
                f"recurrent_dropout={self.recurrent_dropout}")


def keras_recurrent_init(layer: nn.LSTM | nn.GRU | KerasLSTM | KerasGRU) -> None:
    """Start `layer` as Keras starts its LSTM or GRU (models/keras_init.py lists every layer's
    rule)."""
    # PyTorch (and our ports, which keep its names and layouts) stacks the gates along dim 0
    # (weight_ih: (gates * hidden, input)); Keras stacks them along its last axis ((input,
    # gates * units)): the same matrix transposed, so glorot's fans and orthogonality carry over
    # when drawn on the whole matrix.
    hidden = layer.hidden_size
    for name, param in layer.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(param)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(param)
        elif name.startswith("bias"):
            nn.init.zeros_(param)
            if isinstance(layer, nn.LSTM | KerasLSTM) and name.startswith("bias_ih"):
                # Gate order i, f, g, o (Keras' too): PyTorch adds bias_ih and bias_hh, so the
                # forget gate's total bias is 1 with bias_hh left at 0; KerasLSTM has bias_ih
                # only, as Keras has one bias.
                with torch.no_grad():
                    param[hidden : 2 * hidden] = 1.0
