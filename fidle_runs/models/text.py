"""FIDLE's IMDB sentiment networks (fidle.md §8): IMDB1 (multi-hot), IMDB2 (embedding), IMDB5
(v2's LSTM) and K3IMDB5 (Keras 3's GRU).

A sample is int64 token ids of shape (maxlen,), post-padded with 0 (real tokens first), with
Keras' conventions (1 starts a review, 2 is an out-of-vocabulary word) and ids < vocab_size. The
vocabulary size is no part of in_shape: every builder takes `vocab_size`, which the model configs
set from the data's (`${data.vocab_size}`). The networks return logits (one for a binary task,
whose loss applies the sigmoid; else one per class) and start as Keras' layers do (keras_init).

FIDLE's Keras layers see the padding as words: no `mask_zero`. The faithful reading is kept as
an option (`packed=False`, `mask_padding=False`); see each builder for what it changes.
"""

from collections.abc import Sequence
from numbers import Real

import torch
from torch import Tensor, nn

from fidle_runs.models.keras_init import keras_init
from fidle_runs.models.recurrent_cells import KerasGRU, KerasLSTM, dropout_mask
from fidle_runs.models.shapes import flat_size

CELLS = ("keras", "fast")


class MultiHot(nn.Module):
    """Token ids (batch, maxlen) -> (batch, vocab_size) floats: 1 for every word present, else 0.

    FIDLE's one_hot_encoder sets x[i, word] = 1 for each word of an unpadded review, so id 0 (the
    padding) never occurs there and its column stays 0; here the padding leaves it at 0 too.
    """

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, ids: Tensor) -> Tensor:
        hot = torch.zeros(ids.shape[0], self.vocab_size, device=ids.device)
        hot.scatter_(1, ids, 1.0)
        hot[:, 0] = 0.0
        return hot

    def extra_repr(self) -> str:
        return f"{self.vocab_size}"


class AveragedEmbedding(nn.Module):
    """Embedding -> GlobalAveragePooling1D: token ids (batch, maxlen) -> (batch, dim).

    `mask_padding`: average over each text's real tokens only (Keras' Embedding(mask_zero=True),
    whose mask GlobalAveragePooling1D honours); else over all maxlen positions, padding
    included, as FIDLE's IMDB2 does.
    """

    def __init__(self, vocab_size: int, dim: int, mask_padding: bool) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.mask_padding = mask_padding

    def forward(self, ids: Tensor) -> Tensor:
        x = self.embedding(ids)
        if not self.mask_padding:
            return x.mean(1)
        real = (ids != 0).unsqueeze(-1).to(x.dtype)
        return (x * real).sum(1) / real.sum(1).clamp(min=1)  # an empty text: zeros


class TextReader(nn.Module):
    """Embedding -> a recurrent layer -> its state after reading: ids (batch, maxlen) -> (batch,
    hidden).

    `packed`: each text's state after its last real token (its length: the count of ids != 0),
    which Keras gives with Embedding(mask_zero=True) on post-padded texts; a text without tokens
    gives the initial state, zeros. The layer reads the batch up to its longest text and each
    text's output at its length is taken: a unidirectional layer's state there does not depend
    on the padding after it (the same numbers as packed sequences, which nn.LSTM reads several
    times slower on a CPU). Else the state after the last position, the padding read as words
    (FIDLE's reading).
    `input_dropout`: nn.LSTM / nn.GRU's inputs dropped as Keras' `dropout` does (one mask per
    text); a Keras port drops its own.
    """

    def __init__(self, vocab_size: int, dim: int, rnn: nn.LSTM | nn.GRU | KerasLSTM | KerasGRU,
                 packed: bool, input_dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.rnn = rnn
        self.packed, self.input_dropout = packed, input_dropout

    def forward(self, ids: Tensor) -> Tensor:
        x = self.embedding(ids)
        if self.training and self.input_dropout > 0:
            x = x * dropout_mask(x, self.input_dropout).unsqueeze(1)
        if not self.packed:
            return _last_h(self.rnn(x)[1])
        lengths = (ids != 0).sum(1)
        # Stopping at the longest text only saves time: a traced export reads the whole width,
        # whose outputs at each text's length are the same numbers, for any batch.
        exporting = torch.jit.is_tracing() or torch.compiler.is_exporting()
        longest = ids.shape[1] if exporting else max(int(lengths.max()), 1)
        outputs = self.rnn(x[:, :longest])[0]
        h = outputs[torch.arange(ids.shape[0], device=ids.device), (lengths - 1).clamp(min=0)]
        return h * (lengths > 0).unsqueeze(1).to(h.dtype)

    def extra_repr(self) -> str:
        return f"packed={self.packed}, input_dropout={self.input_dropout}"


def _last_h(state: Tensor | tuple[Tensor, Tensor]) -> Tensor:
    """The last layer's h of a recurrent layer's final state (an LSTM's is (h, c))."""
    return (state[0] if isinstance(state, tuple) else state)[-1]


def imdb_onehot(in_shape: Sequence[int], n_outputs: int = 1, *,
                vocab_size: int) -> nn.Sequential:
    """FIDLE IMDB1: multi-hot vector of the words present (MultiHot) -> Dense(32, relu) ->
    Dense(32, relu) -> Dense(n_outputs). 321,121 parameters at vocab 10,000 (v2), 161,121 at
    5,000 (K3).

    The notebook encodes whole reviews; here the words past maxlen are lost, so give the data a
    maxlen that holds the reviews.
    """
    _check_text("imdb_onehot", in_shape, vocab_size)
    return keras_init(nn.Sequential(
        MultiHot(vocab_size),
        nn.Linear(vocab_size, 32), nn.ReLU(),
        nn.Linear(32, 32), nn.ReLU(),
        nn.Linear(32, n_outputs),
    ))


def imdb_embedding(in_shape: Sequence[int], n_outputs: int = 1, *, vocab_size: int,
                   dim: int = 16, mask_padding: bool = False) -> nn.Sequential:
    """FIDLE IMDB2: Embedding(vocab_size, dim) -> GlobalAveragePooling1D -> Dense(dim, relu) ->
    Dense(n_outputs). 160,289 parameters at vocab 10,000 and dim 16 (v2), 161,089 at 5,000 and
    32 (K3).

    `mask_padding=False` (FIDLE's) averages over all maxlen positions, so a short text's average
    is mostly the padding's vector; True averages its real tokens only (AveragedEmbedding).
    """
    _check_text("imdb_embedding", in_shape, vocab_size)
    _check_sizes("imdb_embedding", dim=dim)
    return keras_init(nn.Sequential(
        AveragedEmbedding(vocab_size, dim, mask_padding),
        nn.Linear(dim, dim), nn.ReLU(),
        nn.Linear(dim, n_outputs),
    ))


def imdb_lstm(in_shape: Sequence[int], n_outputs: int = 1, *, vocab_size: int, dim: int = 128,
              hidden: int = 128, dropout: float = 0.2, recurrent_dropout: float = 0.2,
              packed: bool = True, cell: str = "keras") -> nn.Sequential:
    """FIDLE IMDB5 (v2): Embedding(vocab_size, dim) -> LSTM(hidden, dropout, recurrent_dropout)
    -> Dense(n_outputs), tanh and sigmoid gates (Keras' defaults). 1,411,713 parameters at vocab
    10,000, as Keras counts them: embedding 1,280,000, LSTM 4 * (128 * 256 + 128) = 131,584,
    Dense 129.

    `cell="keras"`: our port of Keras' LSTM (KerasLSTM) with both dropouts as Keras has them, one
    mask per text in training only: `dropout` on the inputs, `recurrent_dropout` on h fed to the
    recurrent kernel; a Python loop over the steps. `cell="fast"`: nn.LSTM (cuDNN on a GPU), with
    the same input dropout but no recurrent dropout (`recurrent_dropout` is not used: nn.LSTM
    has none), and PyTorch's second bias vector (bias_hh, starting at 0; the sum of the two is
    Keras' bias), so 4 * hidden = 512 parameters more: 1,412,225. Same function otherwise.
    `packed` (TextReader): each text's state at its last real token; False reads the padding to
    the end as FIDLE does.
    """
    _check_text("imdb_lstm", in_shape, vocab_size)
    _check_sizes("imdb_lstm", dim=dim, hidden=hidden)
    _check_rates("imdb_lstm", dropout=dropout, recurrent_dropout=recurrent_dropout)
    if _cell("imdb_lstm", cell) == "keras":
        reader = TextReader(vocab_size, dim, KerasLSTM(dim, hidden, dropout=dropout,
                                                       recurrent_dropout=recurrent_dropout),
                            packed)
    else:
        reader = TextReader(vocab_size, dim, nn.LSTM(dim, hidden, batch_first=True), packed,
                            input_dropout=dropout)
    return keras_init(nn.Sequential(reader, nn.Linear(hidden, n_outputs)))


def imdb_gru(in_shape: Sequence[int], n_outputs: int = 1, *, vocab_size: int, dim: int = 32,
             hidden: int = 50, packed: bool = True, cell: str = "keras") -> nn.Sequential:
    """FIDLE K3IMDB5: Embedding(vocab_size, dim) -> GRU(hidden) (Keras 3's reset_after=True,
    tanh) -> Dense(n_outputs). 332,651 parameters at vocab 10,000: embedding 320,000, GRU
    3 * (32 * 50 + 50 * 50 + 2 * 50) = 12,600, Dense 51.

    `cell="keras"`: our port of Keras' GRU (KerasGRU), a Python loop over the steps;
    `cell="fast"`: nn.GRU (cuDNN on a GPU), the same equations and parameter count (PyTorch's GRU
    resets after the recurrent matmul, with two bias vectors), its gates in the order r, z, n
    instead of Keras' z, r, h. `packed`: as imdb_lstm's.
    """
    _check_text("imdb_gru", in_shape, vocab_size)
    _check_sizes("imdb_gru", dim=dim, hidden=hidden)
    rnn = (KerasGRU(dim, hidden) if _cell("imdb_gru", cell) == "keras"
           else nn.GRU(dim, hidden, batch_first=True))
    return keras_init(nn.Sequential(TextReader(vocab_size, dim, rnn, packed),
                                    nn.Linear(hidden, n_outputs)))


def _check_text(net: str, in_shape: Sequence[int], vocab_size: int) -> None:
    flat_size(net, in_shape)  # positive integer sizes, or its ValueError
    if len(in_shape) != 1:
        raise ValueError(f"{net} needs token ids (maxlen,), got in_shape {tuple(in_shape)}")
    if not _positive_int(vocab_size) or vocab_size < 4:
        raise ValueError(f"{net}: vocab_size={vocab_size!r} must be an integer of at least 4 "
                         "(ids 0, 1, 2 are padding, start and out-of-vocabulary)")


def _check_sizes(net: str, **sizes: int) -> None:
    for key, value in sizes.items():
        if not _positive_int(value):
            raise ValueError(f"{net}: {key}={value!r} must be a positive integer")


def _check_rates(net: str, **rates: float) -> None:
    for key, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, Real) or not 0 <= rate < 1:
            raise ValueError(f"{net}: {key}={rate!r} must be in [0, 1)")


def _cell(net: str, cell: str) -> str:
    if cell not in CELLS:
        raise ValueError(f"{net}: cell={cell!r} is not one of {', '.join(CELLS)}")
    return cell


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
