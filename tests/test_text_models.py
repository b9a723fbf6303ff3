import math
import re
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from fidle_runs.models import recurrent_cells
from fidle_runs.models.text import imdb_embedding, imdb_gru, imdb_lstm, imdb_onehot

CONF_MODEL = Path(__file__).resolve().parents[1] / "conf" / "model"
BUILDERS = [imdb_onehot, imdb_embedding, imdb_lstm, imdb_gru]
RECURRENT = [imdb_lstm, imdb_gru]
VOCAB = 50


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def texts(lengths: list[int], maxlen: int, seed: int = 0) -> torch.Tensor:
    """Post-padded token ids: `length` words in [1, VOCAB), then zeros."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (len(lengths), maxlen), generator=generator)
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids


def padded(ids: torch.Tensor, extra: int) -> torch.Tensor:
    return torch.cat([ids, torch.zeros(len(ids), extra, dtype=ids.dtype)], 1)


# --- Parameter counts, as Keras counts them --------------------------------------------------

@pytest.mark.parametrize(("build", "kwargs", "expected"), [
    # Dense(vocab -> 32) + Dense(32 -> 32) + Dense(32 -> 1)
    (imdb_onehot, {"vocab_size": 10_000}, 10_000 * 32 + 32 + 32 * 32 + 32 + 32 + 1),
    (imdb_onehot, {"vocab_size": 5_000}, 5_000 * 32 + 32 + 32 * 32 + 32 + 32 + 1),
    # Embedding + Dense(dim -> dim) + Dense(dim -> 1)
    (imdb_embedding, {"vocab_size": 10_000}, 10_000 * 16 + 16 * 16 + 16 + 16 + 1),
    (imdb_embedding, {"vocab_size": 5_000, "dim": 32}, 5_000 * 32 + 32 * 32 + 32 + 32 + 1),
    # Embedding + Keras' LSTM (one bias) + Dense
    (imdb_lstm, {"vocab_size": 10_000}, 1_280_000 + 4 * (128 * 128 + 128 * 128 + 128) + 129),
    # Embedding + Keras 3's GRU (reset_after: two biases) + Dense
    (imdb_gru, {"vocab_size": 10_000}, 320_000 + 3 * (32 * 50 + 50 * 50 + 2 * 50) + 51),
])
def test_parameter_counts_are_keras(build, kwargs, expected):
    assert trainable(build((256,), 1, **kwargs)) == expected


def test_the_counts_are_fidles():
    assert trainable(imdb_onehot((256,), vocab_size=10_000)) == 321_121
    assert trainable(imdb_embedding((256,), vocab_size=10_000)) == 160_289
    assert trainable(imdb_lstm((256,), vocab_size=10_000)) == 1_411_713
    assert trainable(imdb_gru((256,), vocab_size=10_000)) == 320_000 + 12_600 + 51


def test_fast_cells_count_as_pytorch():
    # nn.LSTM's second bias vector: 4 * 128 more; nn.GRU has Keras' reset_after layout.
    assert trainable(imdb_lstm((256,), vocab_size=10_000, cell="fast")) == 1_411_713 + 512
    assert trainable(imdb_gru((256,), vocab_size=10_000, cell="fast")) == 332_651


# --- Shapes ------------------------------------------------------------------------------------

SMALL = {imdb_onehot: {}, imdb_embedding: {"dim": 8}, imdb_lstm: {"dim": 8, "hidden": 6},
         imdb_gru: {"dim": 8, "hidden": 6}}


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_one_row_of_logits_per_text(build, n_outputs):
    net = build((12,), n_outputs, vocab_size=VOCAB, **SMALL[build])
    ids = texts([12, 5, 1, 0], 12)
    for mode in (net.train(), net.eval()):
        out = mode(ids)
        assert out.shape == (4, n_outputs)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("build", RECURRENT)
@pytest.mark.parametrize("cell", ["keras", "fast"])
@pytest.mark.parametrize("packed", [True, False])
def test_recurrent_variants_take_texts(build, cell, packed):
    net = build((12,), 3, vocab_size=VOCAB, cell=cell, packed=packed, **SMALL[build])
    out = net(texts([12, 5, 1, 0], 12))
    assert out.shape == (4, 3)
    out.sum().backward()  # a text without tokens is no NaN either
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


# --- Padding -----------------------------------------------------------------------------------

@pytest.mark.parametrize("build", RECURRENT)
@pytest.mark.parametrize("cell", ["keras", "fast"])
def test_packed_reading_ignores_padding(build, cell):
    torch.manual_seed(0)
    kwargs = dict(vocab_size=VOCAB, cell=cell, **SMALL[build])
    ids = texts([3, 10, 7, 0], 10)
    packed = build((10,), 1, packed=True, **kwargs).eval()
    plain = build((10,), 1, packed=False, **kwargs).eval()
    plain.load_state_dict(packed.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(packed(padded(ids, 6)), packed(ids), atol=1e-6, rtol=0)
        # FIDLE's reading goes on through the zeros: the texts padded further read otherwise.
        assert not torch.allclose(plain(padded(ids, 6)), plain(ids), atol=1e-4)
        # A text without padding reads the same either way; an empty one gives the zero state.
        torch.testing.assert_close(plain(ids)[1], packed(ids)[1], atol=1e-6, rtol=0)
        assert float(packed(ids)[3]) == float(packed[-1].bias)


def test_masked_average_ignores_padding():
    torch.manual_seed(0)
    ids = texts([3, 8, 0], 8)
    masked = imdb_embedding((8,), 1, vocab_size=VOCAB, dim=4, mask_padding=True).eval()
    faithful = imdb_embedding((8,), 1, vocab_size=VOCAB, dim=4).eval()
    faithful.load_state_dict(masked.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(masked(padded(ids, 5)), masked(ids))
        assert not torch.allclose(faithful(padded(ids, 5))[0], faithful(ids)[0])
        average = faithful[0]
        torch.testing.assert_close(average(ids[:1]), average.embedding(ids[:1]).mean(1))
        torch.testing.assert_close(masked[0](ids[:1]), average.embedding(ids[0, :3]).mean(0, True))


def test_multi_hot_marks_words_not_padding():
    ids = torch.tensor([[1, 4, 4, 9, 0, 0], [1, 2, 0, 0, 0, 0]])
    hot = imdb_onehot((6,), 1, vocab_size=10)[0](ids)
    assert hot.tolist() == [[0, 1, 0, 0, 1, 0, 0, 0, 0, 1], [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]]


# --- The Keras cells: PyTorch's equations, Keras' dropout ------------------------------------

def _copy_to_fast(keras_net: nn.Sequential, fast_net: nn.Sequential, gru: bool) -> None:
    """Keras' weights into nn.LSTM / nn.GRU: the LSTM's gates are in the same order (i, f, g, o)
    and its one bias goes in bias_ih; the GRU's z, r, h become r, z, n."""
    fast_net.load_state_dict({k: v for k, v in keras_net.state_dict().items()
                              if not k.startswith("0.rnn.")}, strict=False)
    port, rnn = keras_net[0].rnn, fast_net[0].rnn
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            if not hasattr(port, name):
                getattr(rnn, name).zero_()
                continue
            value = getattr(port, name)
            if gru:
                z, r, h = value.chunk(3)
                value = torch.cat([r, z, h])
            getattr(rnn, name).copy_(value)


@pytest.mark.parametrize("build", RECURRENT)
@pytest.mark.parametrize("packed", [True, False])
def test_keras_cell_is_pytorchs_without_dropout(build, packed):
    torch.manual_seed(1)
    kwargs = dict(vocab_size=VOCAB, packed=packed, **SMALL[build])
    keras_net = build((9,), 2, cell="keras", **kwargs)
    fast_net = build((9,), 2, cell="fast", **kwargs)
    with torch.no_grad():  # away from Keras' zero biases, to test them too
        for name, param in keras_net.named_parameters():
            if "bias" in name:
                param.uniform_(-0.5, 0.5)
    _copy_to_fast(keras_net, fast_net, gru=build is imdb_gru)
    ids = texts([9, 4, 1, 6, 0], 9, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(keras_net.eval()(ids), fast_net.eval()(ids), atol=1e-5, rtol=0)


def test_keras_lstm_dropouts_by_hand(monkeypatch):
    """Keras' LSTMCell (implementation 2) in training: x * m_x and h * m_h in the recurrent
    matmul, each mask drawn once per text, (batch, features), and kept for every step."""
    masks: list[torch.Tensor] = []
    draw = recurrent_cells.dropout_mask

    def recorded(like: torch.Tensor, rate: float) -> torch.Tensor:
        masks.append(draw(like, rate))
        return masks[-1]

    monkeypatch.setattr(recurrent_cells, "dropout_mask", recorded)
    reader = imdb_lstm((5,), 1, vocab_size=VOCAB, dim=4, hidden=3, dropout=0.3,
                       recurrent_dropout=0.4, packed=False)[0].train()
    lstm = reader.rnn
    torch.manual_seed(7)
    got = reader(texts([5, 5], 5))
    m_x, m_h = masks
    assert m_x.shape == (2, 4) and m_h.shape == (2, 3)
    for mask, rate in ((m_x, 0.3), (m_h, 0.4)):  # kept units scaled by 1 / (1 - rate)
        assert torch.isclose(mask, torch.tensor(1 / (1 - rate))).logical_or(mask == 0).all()
    with torch.no_grad():
        x = reader.embedding(texts([5, 5], 5))
        h = c = torch.zeros(2, 3)
        for t in range(5):
            z = ((x[:, t] * m_x) @ lstm.weight_ih_l0.T + lstm.bias_ih_l0
                 + (h * m_h) @ lstm.weight_hh_l0.T)
            i, f, g, o = z.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
    torch.testing.assert_close(got, h, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("cell", "rates", "drops"), [
    ("keras", {"dropout": 0.0, "recurrent_dropout": 0.5}, True),
    ("keras", {"dropout": 0.5, "recurrent_dropout": 0.0}, True),
    ("fast", {"dropout": 0.5, "recurrent_dropout": 0.0}, True),
    ("fast", {"dropout": 0.0, "recurrent_dropout": 0.5}, False),  # nn.LSTM has none
    ("keras", {"dropout": 0.0, "recurrent_dropout": 0.0}, False),
])
def test_dropout_in_training_only(cell, rates, drops):
    net = imdb_lstm((10,), 1, vocab_size=VOCAB, dim=8, hidden=6, cell=cell, **rates)
    ids = texts([10, 6, 3], 10)
    torch.manual_seed(0)
    first, second = net.train()(ids), net(ids)
    assert (not torch.equal(first, second)) == drops
    with torch.no_grad():
        assert torch.equal(net.eval()(ids), net(ids))


# --- Keras' initialisation ---------------------------------------------------------------------

@pytest.mark.parametrize("build", [imdb_embedding, imdb_lstm, imdb_gru])
def test_embeddings_start_uniform_in_keras_range(build):
    torch.manual_seed(0)
    weight = build((256,), 1, vocab_size=1_000)[0].embedding.weight.detach()
    assert float(weight.abs().max()) <= 0.05
    assert float(weight.abs().max()) > 0.049
    assert float(weight.std()) == pytest.approx(0.05 / math.sqrt(3), rel=0.05)
    assert weight[0].abs().max() > 0  # no padding row: Keras trains id 0's vector too


@pytest.mark.parametrize("cell", ["keras", "fast"])
def test_lstm_starts_as_keras(cell):
    torch.manual_seed(0)
    net = imdb_lstm((256,), 1, vocab_size=VOCAB, dim=16, hidden=8, cell=cell)
    rnn = net[0].rnn
    i, f, g, o = (rnn.bias_ih_l0 + getattr(rnn, "bias_hh_l0", 0)).detach().chunk(4)
    assert (f == 1).all() and (i == 0).all() and (g == 0).all() and (o == 0).all()
    torch.testing.assert_close(rnn.weight_hh_l0.T @ rnn.weight_hh_l0, torch.eye(8),
                               atol=1e-5, rtol=0)
    bound = math.sqrt(6 / (16 + 4 * 8))
    assert float(rnn.weight_ih_l0.detach().abs().max()) <= bound
    assert (net[-1].bias == 0).all()


# --- What the builders refuse ------------------------------------------------------------------

@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (20, 2)])
def test_images_and_series_are_refused(build, shape):
    with pytest.raises(ValueError, match=re.escape(
            f"{build.__name__} needs token ids (maxlen,), got in_shape {shape}")):
        build(shape, 1, vocab_size=VOCAB)


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("vocab_size", [3, 0, 10.0, True])
def test_tiny_vocabularies_are_refused(build, vocab_size):
    with pytest.raises(ValueError, match=re.escape(
            f"{build.__name__}: vocab_size={vocab_size!r} must be an integer of at least 4")):
        build((256,), 1, vocab_size=vocab_size)


@pytest.mark.parametrize(("build", "kwargs", "message"), [
    (imdb_lstm, {"cell": "cudnn"}, "imdb_lstm: cell='cudnn' is not one of keras, fast"),
    (imdb_gru, {"cell": "gru"}, "imdb_gru: cell='gru' is not one of keras, fast"),
    (imdb_lstm, {"dropout": 1.0}, "imdb_lstm: dropout=1.0 must be in [0, 1)"),
    (imdb_lstm, {"recurrent_dropout": -0.1}, "imdb_lstm: recurrent_dropout=-0.1 must be in"),
    (imdb_lstm, {"hidden": 0}, "imdb_lstm: hidden=0 must be a positive integer"),
    (imdb_embedding, {"dim": 2.5}, "imdb_embedding: dim=2.5 must be a positive integer"),
])
def test_bad_options_name_the_argument(build, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build((256,), 1, vocab_size=VOCAB, **kwargs)


# --- The configs -------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "expected"), [
    ("imdb_onehot", 321_121), ("imdb_embedding", 160_289), ("imdb_lstm", 1_411_713),
    ("imdb_gru", 332_651),
])
def test_model_configs_take_the_data_vocabulary(model, expected):
    cfg = OmegaConf.create({"data": {"vocab_size": 10_000},
                            "model": OmegaConf.load(CONF_MODEL / f"{model}.yaml")})
    assert cfg.model.name == model
    net = instantiate(cfg.model.net)(in_shape=(256,), n_outputs=1)
    assert trainable(net) == expected
    assert net.eval()(texts([256, 30], 256)).shape == (2, 1)
