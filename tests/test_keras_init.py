import math

import pytest
import torch
from torch import nn

from fidle_runs.models.keras_init import keras_init


def glorot_bound(fan_in: int, fan_out: int) -> float:
    return math.sqrt(6 / (fan_in + fan_out))


def assert_glorot_uniform(w: torch.Tensor, fan_in: int, fan_out: int) -> None:
    """`w` drawn from glorot_uniform: within its bound, reaching near it, and with a uniform's
    standard deviation (bound / sqrt(3)) to within 4 of its sampling errors (about
    0.45 / sqrt(n) relative for n draws of a uniform). PyTorch's default init (bound
    1 / sqrt(fan_in)) fails at least the last for every layer FIDLE's networks have."""
    w, n = w.detach().flatten(), w.numel()
    bound = glorot_bound(fan_in, fan_out)
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > (1 - 10 / n) * bound
    assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=4 * 0.45 / math.sqrt(n))


@pytest.mark.parametrize(("layer", "fan_in", "fan_out"), [
    (nn.Linear(300, 200), 300, 200),
    (nn.Conv1d(16, 32, 5), 16 * 5, 32 * 5),
    (nn.Conv2d(32, 64, 3), 32 * 9, 64 * 9),
])
def test_kernels_are_glorot_uniform_and_biases_zero(layer, fan_in, fan_out):
    torch.manual_seed(0)
    layer.bias.data.fill_(0.5)
    keras_init(layer)
    assert_glorot_uniform(layer.weight, fan_in, fan_out)
    assert (layer.bias == 0).all()


def test_layers_without_bias_are_fine():
    torch.manual_seed(0)
    layer = keras_init(nn.Linear(300, 200, bias=False))
    assert layer.bias is None
    assert_glorot_uniform(layer.weight, 300, 200)


@pytest.mark.parametrize("layer", [nn.BatchNorm1d(8), nn.BatchNorm2d(8)])
def test_batchnorm_takes_keras_momentum_and_epsilon(layer):
    layer.weight.data.fill_(3.0)
    layer.bias.data.fill_(2.0)
    keras_init(layer)
    assert layer.momentum == pytest.approx(0.01)
    assert layer.eps == pytest.approx(1e-3)
    assert (layer.weight == 1).all()
    assert (layer.bias == 0).all()


def test_lstm_kernels_biases_and_forget_gate():
    torch.manual_seed(0)
    hidden, inputs = 32, 20
    lstm = keras_init(nn.LSTM(inputs, hidden, num_layers=2, bidirectional=True))
    for suffix in ("l0", "l1", "l0_reverse", "l1_reverse"):
        w_ih = getattr(lstm, f"weight_ih_{suffix}").detach()
        assert w_ih.abs().max() <= glorot_bound(w_ih.shape[1], 4 * hidden)
        w_hh = getattr(lstm, f"weight_hh_{suffix}").detach()
        # Keras' (units, 4 units) orthogonal kernel has orthonormal rows; PyTorch's transpose
        # (4 hidden, hidden) has orthonormal columns.
        assert torch.allclose(w_hh.T @ w_hh, torch.eye(hidden), atol=1e-5)
        total = getattr(lstm, f"bias_ih_{suffix}") + getattr(lstm, f"bias_hh_{suffix}")
        i, f, g, o = total.detach().chunk(4)
        assert (f == 1).all()
        assert (i == 0).all() and (g == 0).all() and (o == 0).all()
        assert (getattr(lstm, f"bias_hh_{suffix}") == 0).all()


def test_gru_kernels_and_zero_biases():
    torch.manual_seed(0)
    gru = keras_init(nn.GRU(10, 16))
    assert gru.weight_ih_l0.abs().max() <= glorot_bound(10, 3 * 16)
    w_hh = gru.weight_hh_l0.detach()
    assert torch.allclose(w_hh.T @ w_hh, torch.eye(16), atol=1e-5)
    assert (gru.bias_ih_l0 == 0).all() and (gru.bias_hh_l0 == 0).all()


def test_embedding_is_uniform_005_and_keeps_its_padding_row_zero():
    torch.manual_seed(0)
    emb = keras_init(nn.Embedding(1000, 32, padding_idx=0))
    w = emb.weight.detach()
    assert w.abs().max() <= 0.05
    assert w[1:].abs().max() > 0.049
    assert (w[0] == 0).all()


def test_nested_networks_and_seeded_runs_are_deterministic():
    def build() -> nn.Module:
        torch.manual_seed(7)
        return keras_init(nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
            nn.Sequential(nn.Linear(4 * 6 * 6, 10), nn.ReLU()),
        ))

    first, second = build().state_dict(), build().state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert (first["3.0.bias"] == 0).all()


def test_returns_the_same_network():
    net = nn.Linear(2, 2)
    assert keras_init(net) is net
