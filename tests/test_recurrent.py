import math
import re
import warnings

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from fidle_runs.models.dense import mlp
from fidle_runs.models.recurrent import LastState, gru, ladybug_gru, lstm, synop_lstm
from fidle_runs.models.recurrent_cells import KerasGRU, KerasLSTM
from tests.conftest import compose_train


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def keras_gru_params(inputs: int, units: int) -> int:
    """keras.layers.GRU(reset_after=True): kernel, recurrent kernel, bias of shape (2, 3 units)."""
    return 3 * (units * (inputs + units) + 2 * units)


def keras_lstm_params(inputs: int, units: int) -> int:
    """keras.layers.LSTM: kernel, recurrent kernel, one bias of 4 units."""
    return 4 * (units * (inputs + units) + units)


def dense_params(inputs: int, units: int) -> int:
    return inputs * units + units


# --- Parameter counts, as Keras counts them --------------------------------------------------

def test_ladybug_gru_has_keras_count():
    # LADYB1 at window 20 of (x, y): GRU 3 * (200 * 202 + 400) = 122,400 + Dense 201 * 2 = 402.
    assert keras_gru_params(2, 200) + dense_params(200, 2) == 122_802
    assert trainable(ladybug_gru((20, 2), 2)) == 122_802


def test_synop_lstm_has_keras_count():
    # SYNOP2, 12 features over 16 steps: LSTM 4 * (100 * 112 + 100) = 45,200 + Dense 1,212.
    assert keras_lstm_params(12, 100) + dense_params(100, 12) == 46_412
    assert trainable(synop_lstm((16, 12), 12)) == 46_412


@pytest.mark.parametrize(("inputs", "units"), [(1, 1), (7, 3), (12, 100)])
def test_cells_have_keras_counts(inputs, units):
    assert trainable(KerasGRU(inputs, units)) == keras_gru_params(inputs, units)
    assert trainable(KerasLSTM(inputs, units)) == keras_lstm_params(inputs, units)
    # PyTorch's LSTM has a second bias vector; its GRU matches Keras' reset_after GRU.
    assert trainable(nn.LSTM(inputs, units)) == keras_lstm_params(inputs, units) + 4 * units
    assert trainable(nn.GRU(inputs, units)) == keras_gru_params(inputs, units)


# --- The equations: with tanh, exactly PyTorch's; with relu, by hand ---------------------------

def _gru_from_torch(ref: nn.GRU) -> KerasGRU:
    """PyTorch's gates r, z, n in Keras' order z, r, h."""
    port = KerasGRU(ref.input_size, ref.hidden_size, activation="tanh")
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            r, z, n = getattr(ref, name).chunk(3)
            getattr(port, name).copy_(torch.cat([z, r, n]))
    return port


def _lstm_from_torch(ref: nn.LSTM) -> KerasLSTM:
    """Same gate order (i, f, g, o); PyTorch's two biases summed into Keras' one."""
    port = KerasLSTM(ref.input_size, ref.hidden_size, activation="tanh")
    with torch.no_grad():
        port.weight_ih_l0.copy_(ref.weight_ih_l0)
        port.weight_hh_l0.copy_(ref.weight_hh_l0)
        port.bias_ih_l0.copy_(ref.bias_ih_l0 + ref.bias_hh_l0)
    return port


def _random_biases(module: nn.Module) -> None:
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.startswith("bias"):
                param.uniform_(-0.5, 0.5)


def test_gru_port_with_tanh_is_torch_gru():
    torch.manual_seed(0)
    ref = nn.GRU(3, 5, batch_first=True)
    _random_biases(ref)
    port = _gru_from_torch(ref)
    x, h0 = torch.randn(4, 7, 3), torch.randn(1, 4, 5)
    for state in (None, h0):
        want_out, want_h = ref(x, state)
        got_out, got_h = port(x, state)
        assert got_out.shape == (4, 7, 5) and got_h.shape == (1, 4, 5)
        torch.testing.assert_close(got_out, want_out, atol=1e-5, rtol=0)
        torch.testing.assert_close(got_h, want_h, atol=1e-5, rtol=0)


def test_lstm_port_with_tanh_is_torch_lstm():
    torch.manual_seed(1)
    ref = nn.LSTM(3, 5, batch_first=True)
    _random_biases(ref)
    port = _lstm_from_torch(ref)
    x = torch.randn(4, 7, 3)
    state = (torch.randn(1, 4, 5), torch.randn(1, 4, 5))
    for initial in (None, state):
        want_out, (want_h, want_c) = ref(x, initial)
        got_out, (got_h, got_c) = port(x, initial)
        torch.testing.assert_close(got_out, want_out, atol=1e-5, rtol=0)
        torch.testing.assert_close(got_h, want_h, atol=1e-5, rtol=0)
        torch.testing.assert_close(got_c, want_c, atol=1e-5, rtol=0)


def test_gradients_match_torch_too():
    torch.manual_seed(2)
    ref = nn.GRU(2, 4, batch_first=True)
    port = _gru_from_torch(ref)
    x = torch.randn(3, 6, 2)
    ref(x)[1].sum().backward()
    port(x)[1].sum().backward()
    r, z, n = ref.weight_hh_l0.grad.chunk(3)
    torch.testing.assert_close(port.weight_hh_l0.grad, torch.cat([z, r, n]), atol=1e-5, rtol=0)


def _one_unit(layer: nn.Module, **values: list[float]) -> nn.Module:
    with torch.no_grad():
        for name, value in values.items():
            getattr(layer, name).copy_(torch.tensor(value).reshape(getattr(layer, name).shape))
    return layer


@pytest.mark.parametrize(("x", "expected"), [
    # z = r = sigmoid(0) = 1/2; hh = relu(x + r * (h U_h + b'_h)) = relu(x + 0.5 * (0.5 + 1)),
    # h = z * 0.5 + (1 - z) * hh. Reset after the matmul: r multiplies the recurrent bias too.
    (2.0, 0.5 * 0.5 + 0.5 * 2.75),
    (-3.0, 0.5 * 0.5 + 0.5 * 0.0),  # relu cuts the candidate at 0
])
def test_relu_gru_step_by_hand(x, expected):
    gru_cell = _one_unit(KerasGRU(1, 1, activation="relu"),  # gates z, r, h
                         weight_ih_l0=[0, 0, 1], weight_hh_l0=[0, 0, 1],
                         bias_ih_l0=[0, 0, 0], bias_hh_l0=[0, 0, 1])
    with torch.no_grad():
        _, h = gru_cell(torch.tensor([[[x]]]), torch.tensor([[[0.5]]]))
    assert float(h) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("x", "c0", "expected_c"), [
    # i = o = sigmoid(0) = 1/2, f = sigmoid(1); c = f * c0 + i * relu(x); h = o * relu(c).
    (2.0, 1.0, 1 / (1 + math.exp(-1)) + 1.0),
    (-2.0, 1.0, 1 / (1 + math.exp(-1))),
    (-2.0, -4.0, -4 / (1 + math.exp(-1))),  # negative cell: h = relu(c) / 2 = 0
])
def test_relu_lstm_step_by_hand(x, c0, expected_c):
    lstm_cell = _one_unit(KerasLSTM(1, 1, activation="relu"),  # gates i, f, c, o
                          weight_ih_l0=[0, 0, 1, 0], weight_hh_l0=[0, 0, 0, 0],
                          bias_ih_l0=[0, 1, 0, 0])
    with torch.no_grad():
        _, (h, c) = lstm_cell(torch.tensor([[[x]]]),
                              (torch.zeros(1, 1, 1), torch.tensor([[[c0]]])))
    assert float(c) == pytest.approx(expected_c, abs=1e-6)
    assert float(h) == pytest.approx(0.5 * max(expected_c, 0.0), abs=1e-6)


def test_relu_is_not_tanh():
    torch.manual_seed(3)
    relu, tanh = KerasGRU(2, 8, activation="relu"), KerasGRU(2, 8)
    tanh.load_state_dict(relu.state_dict())
    x = 20 * torch.randn(4, 10, 2)
    assert relu(x)[1].abs().max() > 1  # tanh's candidate keeps |h| < 1
    assert tanh(x)[1].abs().max() <= 1


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="KerasGRU: activation='gelu' is not one of tanh, relu"):
        KerasGRU(2, 3, activation="gelu")


# --- Keras' initialisation -------------------------------------------------------------------

def _glorot(w: torch.Tensor) -> None:
    bound = math.sqrt(6 / (w.shape[0] + w.shape[1]))
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.99 * bound
    assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize(("build", "shape", "gates", "hidden"), [
    (ladybug_gru, (20, 2), 3, 200),
    (synop_lstm, (16, 12), 4, 100),
])
def test_ports_start_as_keras(build, shape, gates, hidden):
    torch.manual_seed(0)
    net = build(shape)
    cell = net[0].rnn
    _glorot(cell.weight_ih_l0.detach())
    w_hh = cell.weight_hh_l0.detach()
    assert w_hh.shape == (gates * hidden, hidden)
    # Keras' recurrent kernel (units, gates * units) has orthonormal rows; ours is its transpose.
    torch.testing.assert_close(w_hh.T @ w_hh, torch.eye(hidden), atol=1e-4, rtol=0)
    assert not torch.allclose(w_hh @ w_hh.T, torch.eye(gates * hidden), atol=0.1)
    bias = cell.bias_ih_l0.detach().reshape(gates, hidden)
    if gates == 4:  # unit forget bias; i, c, o at 0
        assert (bias[1] == 1).all() and (bias[[0, 2, 3]] == 0).all()
    else:
        assert (bias == 0).all() and (cell.bias_hh_l0 == 0).all()
    head = net[-1]
    _glorot(head.weight.detach())
    assert (head.bias == 0).all()


def test_a_cell_alone_starts_as_keras():
    torch.manual_seed(0)
    cell = KerasLSTM(12, 100)
    assert (cell.bias_ih_l0[100:200] == 1).all()
    torch.testing.assert_close(cell.weight_hh_l0.T @ cell.weight_hh_l0, torch.eye(100),
                               atol=1e-4, rtol=0)


def test_seeded_ports_are_deterministic():
    def build() -> dict[str, torch.Tensor]:
        torch.manual_seed(5)
        return ladybug_gru((20, 2)).state_dict()

    first, second = build(), build()
    assert all(torch.equal(first[k], second[k]) for k in first)


# --- Shapes the builders take, and the ones they refuse -----------------------------------------

BUILDERS = [ladybug_gru, synop_lstm, lstm, gru]


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(("shape", "n_outputs"), [((20, 2), 2), ((24, 4), 12), ((1, 1), 1)])
def test_one_row_of_outputs_per_sample(build, shape, n_outputs):
    net = build(shape, n_outputs).eval()
    assert net(torch.randn(5, *shape)).shape == (5, n_outputs)


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (13,)])
def test_images_and_tables_are_refused(build, shape):
    with pytest.raises(ValueError, match=re.escape(
            f"{build.__name__} needs series (window, features), got in_shape {shape}")):
        build(shape, 2)


def test_mlp_takes_flattened_windows():
    assert mlp((24, 4), 4)(torch.zeros(3, 24, 4)).shape == (3, 4)
    assert trainable(mlp((24, 4), 4, widths=[8])) == dense_params(96, 8) + dense_params(8, 4)


# --- The general lstm and gru -----------------------------------------------------------------

@pytest.mark.parametrize(("build", "module"), [(lstm, nn.LSTM), (gru, nn.GRU)])
@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, False), (1, True),
                                                       (3, True)])
def test_variants_count_as_torch_modules(build, module, layers, bidirectional):
    net = build((24, 4), 6, hidden=16, layers=layers, bidirectional=bidirectional)
    rnn = module(4, 16, num_layers=layers, bidirectional=bidirectional)
    directions = 2 if bidirectional else 1
    gates = 4 if module is nn.LSTM else 3
    # Per layer and direction: two kernels and PyTorch's two biases.
    by_formula = sum(directions * gates * (16 * (inputs + 16) + 2 * 16)
                     for inputs in [4] + [16 * directions] * (layers - 1))
    assert trainable(rnn) == by_formula
    assert trainable(net) == by_formula + dense_params(16 * directions, 6)


def test_head_and_dropout_are_the_layers_asked_for():
    net = lstm((24, 4), 3, hidden=10, layers=2, dropout=0.25, head=[8, 5])
    assert net[0].rnn.dropout == 0.25
    assert [type(m).__name__ for m in net] == ["LastState", "Dropout", "Linear", "ReLU",
                                               "Linear", "ReLU", "Linear"]
    assert [m.out_features for m in net if isinstance(m, nn.Linear)] == [8, 5, 3]
    assert net.eval()(torch.randn(2, 24, 4)).shape == (2, 3)


def test_one_layer_drops_only_before_the_head_and_without_torch_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = gru((24, 4), 2, layers=1, dropout=0.3)
    assert net[0].rnn.dropout == 0
    assert [m.p for m in net if isinstance(m, nn.Dropout)] == [0.3]
    assert not any(isinstance(m, nn.Dropout) for m in gru((24, 4), 2))


def test_general_modules_start_as_keras():
    torch.manual_seed(0)
    rnn = lstm((24, 4), 2, hidden=16)[0].rnn
    i, f, g, o = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().chunk(4)
    assert (f == 1).all() and (i == 0).all() and (g == 0).all() and (o == 0).all()
    torch.testing.assert_close(rnn.weight_hh_l0.T @ rnn.weight_hh_l0, torch.eye(16),
                               atol=1e-5, rtol=0)


def test_bidirectional_state_is_forward_at_the_end_and_backward_at_the_start():
    torch.manual_seed(0)
    rnn = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 5, 3)
    outputs, _ = rnn(x)
    state = LastState(rnn)(x)
    torch.testing.assert_close(state, torch.cat([outputs[:, -1, :4], outputs[:, 0, 4:]], 1))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hidden": 0}, "hidden=0 must be a positive integer"),
    ({"layers": 1.5}, "layers=1.5 must be a positive integer"),
    ({"dropout": 1.0}, "dropout=1.0 must be in [0, 1)"),
    ({"dropout": -0.1}, "dropout=-0.1 must be in [0, 1)"),
    ({"head": 8}, "head=8 must be a list of positive integers"),
    ({"head": [8, 0]}, "head=[8, 0] must be a list of positive integers"),
])
def test_bad_options_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=re.escape("lstm: " + message)):
        lstm((24, 4), 2, **kwargs)


# --- The configs ------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "overrides", "shape", "n_outputs", "expected"), [
    ("ladybug_gru", [], (20, 2), 2, 122_802),
    ("synop_lstm", [], (16, 12), 12, 46_412),
    ("lstm", [], (24, 4), 4, 4 * (64 * (4 + 64) + 2 * 64) + dense_params(64, 4)),
    ("gru", [], (24, 4), 4, 3 * (64 * (4 + 64) + 2 * 64) + dense_params(64, 4)),
    ("gru", ["model.net.hidden=8", "model.net.head=[5]"], (24, 4), 4,
     3 * (8 * (4 + 8) + 2 * 8) + dense_params(8, 5) + dense_params(5, 4)),
    ("mlp", [], (24, 4), 4, dense_params(96, 100) + dense_params(100, 100)
     + dense_params(100, 4)),
])
def test_model_configs_compose_and_build(model, overrides, shape, n_outputs, expected):
    cfg = compose_train([f"model={model}", *overrides])
    assert cfg.model.name == model
    net = instantiate(cfg.model.net)(in_shape=shape, n_outputs=n_outputs)
    assert trainable(net) == expected
    assert net.eval()(torch.randn(2, *shape)).shape == (2, n_outputs)
