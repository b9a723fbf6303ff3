"""Words as the ids keras.datasets.imdb gives them (FIDLE's IMDB notebooks load it with
`num_words=vocab_size, skip_top=0, start_char=1, oov_char=2, index_from=3`):

- a word's rank is its place by frequency in the train texts (1: the most frequent; ties by
  the word, so the ranks do not depend on the order files are read in), as Keras'
  imdb_word_index.json gives it;
- its id is rank + 3 (index_from): 0 is padding, 1 marks the start of each text, 2 stands for
  any word left out (out of vocabulary), 3 is never used (Keras' ranks start at 1);
- only ids < vocab_size (Keras' num_words) are kept, and the `skip_top` most frequent words
  are left out too: both become 2.

Keras compares skip_top with the id (rank + 3), not the rank, so its skip_top=N leaves out
N - 3 words and turns the start mark into 2 as well; we skip the N words its documentation
promises and keep the start mark. With FIDLE's skip_top=0 the two agree.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fidle_runs.core.errors import UserError

PAD, START, OOV, INDEX_FROM = 0, 1, 2, 3
FIRST_WORD_ID = INDEX_FROM + 1  # the id of rank 1


def word_ranks(texts: Iterable[list[str]]) -> dict[str, int]:
    """word -> rank from 1, by decreasing count over `texts` (the train texts), ties by word."""
    counts = Counter(word for words in texts for word in words)
    order = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {word: rank for rank, (word, _) in enumerate(order, start=1)}


def check_sizes(vocab_size: Any, skip_top: Any) -> None:
    """One line where the options leave no word an id of its own."""
    if not isinstance(skip_top, int) or isinstance(skip_top, bool) or skip_top < 0:
        raise UserError(f"data.skip_top={skip_top!r} is invalid: it must be an integer >= 0 "
                        "(the most frequent words left out; FIDLE: 0)")
    smallest = FIRST_WORD_ID + skip_top + 1
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < smallest:
        raise UserError(f"data.vocab_size={vocab_size!r} keeps no word: ids 0-{INDEX_FROM} are "
                        f"reserved (padding, start, out of vocabulary, unused) and "
                        f"data.skip_top={skip_top} more are left out, so it must be an integer "
                        f">= {smallest} (FIDLE: 10000)")


@dataclass(frozen=True)
class Vocabulary:
    """The words that have an id of their own: `word_index` word -> rank, only ranks whose id
    is kept (skip_top < rank, rank + 3 < vocab_size)."""

    word_index: dict[str, int]
    vocab_size: int
    skip_top: int = 0

    @classmethod
    def from_ranks(cls, ranks: dict[str, int], vocab_size: int,
                   skip_top: int = 0) -> "Vocabulary":
        check_sizes(vocab_size, skip_top)
        last = vocab_size - FIRST_WORD_ID  # the largest rank whose id is < vocab_size
        return cls({w: r for w, r in ranks.items() if skip_top < r <= last}, vocab_size,
                   skip_top)

    def ids(self, ranks: np.ndarray) -> np.ndarray:
        """Ranks (0: a word the train texts lack) -> ids, left-out words as OOV."""
        ranks = np.asarray(ranks, dtype=np.int64)
        ids = ranks + INDEX_FROM
        ids[(ranks <= self.skip_top) | (ids >= self.vocab_size) | (ranks < 1)] = OOV
        return ids

    def ranks(self, words: list[str]) -> np.ndarray:
        """Each word's rank, 0 where it has no id of its own."""
        return np.array([self.word_index.get(w, 0) for w in words], dtype=np.int64)

    def decode(self, sequences: Iterable[Iterable[int]]) -> list[str]:
        """Id sequences -> their words, `?` for OOV (padding and the start mark dropped)."""
        words = {rank + INDEX_FROM: word for word, rank in self.word_index.items()}
        return [" ".join(words.get(i, "?") for i in map(int, ids) if i not in (PAD, START))
                for ids in sequences]

    def state(self) -> dict[str, Any]:
        """Plain values: what a run keeps to encode texts as its training did."""
        return {"word_index": dict(self.word_index), "vocab_size": self.vocab_size,
                "skip_top": self.skip_top, "pad": PAD, "start_char": START, "oov_char": OOV,
                "index_from": INDEX_FROM}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Vocabulary":
        conventions = {k: state[k] for k in ("pad", "start_char", "oov_char", "index_from")}
        if conventions != {"pad": PAD, "start_char": START, "oov_char": OOV,
                           "index_from": INDEX_FROM}:
            raise UserError(f"a vocabulary with ids {conventions} cannot be used here (this "
                            f"version numbers words with pad {PAD}, start {START}, oov {OOV}, "
                            f"index_from {INDEX_FROM})")
        return cls({str(w): int(r) for w, r in state["word_index"].items()},
                   int(state["vocab_size"]), int(state["skip_top"]))
