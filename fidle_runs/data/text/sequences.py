"""Texts as the fixed-length id rows a network reads, as FIDLE's IMDB2/IMDB5 make them:
`keras.preprocessing.sequence.pad_sequences(x, value=0, padding='post', maxlen=256)`.

That call pads short texts at the end (`post`) but leaves `truncating` at Keras' default
`'pre'`: a text longer than maxlen loses its BEGINNING (start mark included) and keeps its
last maxlen ids. We do the same, so a review's ending, often its verdict, is what is kept."""

import numpy as np

from fidle_runs.data.text.vocabulary import START, Vocabulary


def encode(rank_lists: list[np.ndarray], vocabulary: Vocabulary,
           maxlen: int) -> tuple[np.ndarray, np.ndarray]:
    """Each text's word ranks -> ((texts, maxlen) int32 ids: start mark, word ids, padding 0;
    (texts,) int64 word counts before padding or truncation)."""
    lengths = np.array([len(r) for r in rank_lists], dtype=np.int64)
    ids = vocabulary.ids(np.concatenate([np.asarray(r, dtype=np.int64) for r in rank_lists])
                         if rank_lists else np.zeros(0, dtype=np.int64))
    rows = np.zeros((len(rank_lists), maxlen), dtype=np.int32)
    start = 0
    for i, n in enumerate(lengths.tolist()):
        sequence = np.concatenate([[START], ids[start : start + n]])[-maxlen:]
        rows[i, : len(sequence)] = sequence
        start += n
    return rows, lengths
