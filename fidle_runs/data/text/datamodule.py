"""Texts as FIDLE's IMDB notebooks feed them: each text a row of `maxlen` word ids (Keras'
conventions, fidle_runs.data.text.vocabulary), int64, served from memory; class ids int64 (IMDB:
0 negative, 1 positive, learnt with one logit). The rows are prepared once per source and
settings (fidle_runs.data.text.prepare); the vocabulary, learnt from the texts that train only
(validation and test texts left out), is kept with the run so a report or a prediction encodes
new texts as training did."""

from pathlib import Path
from typing import Any

import numpy as np
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.in_memory import InMemoryDataModule, Splits, check_option
from fidle_runs.data.inputs import InputRequest, Inputs
from fidle_runs.data.subsets import subset_indices
from fidle_runs.data.text.download import download_aclimdb
from fidle_runs.data.text.folders import class_folders, class_ids, read_text, text_files
from fidle_runs.data.text.inputs import read_texts
from fidle_runs.data.text.locate import Source, find_source, not_found
from fidle_runs.data.text.prepare import Prepared, Settings, prepared
from fidle_runs.data.text.sequences import encode
from fidle_runs.data.text.tokenize import TOKENIZER_VERSION, tokenize
from fidle_runs.data.text.vocabulary import Vocabulary, check_sizes


class TextDataModule(InMemoryDataModule):
    """`name`: the dataset's name in reports ("imdb"; None: the folder's name); `raw_dir`: where
    the texts are (None: IMDB's usual places, fidle_runs.data.text.locate)."""

    family = "text"
    task = "classification"
    sample_noun = "texts"
    loads_scaled = True  # data.scale is applied here, so that test texts keep their files

    def __init__(self, name: str | None = "imdb", raw_dir: str | None = None,
                 datasets_dir: str | None = None, download: bool = False,
                 download_dir: str = "outputs/data/imdb-download",
                 prepared_dir: str = "outputs/data/text", vocab_size: int = 10000,
                 skip_top: int = 0, maxlen: int = 256, batch_size: int = 512,
                 val_fraction: float = 0.1, val_on_test: bool = False, split_seed: int = 0,
                 scale: float = 1.0, subset_seed: int = 0) -> None:
        super().__init__(batch_size, val_fraction, val_on_test, split_seed, scale, subset_seed)
        check_option("maxlen", maxlen, isinstance(maxlen, int) and not isinstance(maxlen, bool)
                     and maxlen >= 1, "an integer >= 1 (ids per text; FIDLE: 256)")
        check_sizes(vocab_size, skip_top)
        self.dataset, self.raw_dir, self.datasets_dir = name, raw_dir, datasets_dir
        self.download, self.download_dir = download, download_dir
        self.prepared_dir = Path(prepared_dir).expanduser()
        self.vocab_size, self.skip_top, self.maxlen = vocab_size, skip_top, maxlen
        self.vocabulary: Vocabulary | None = None
        self.classes: list[str] = []
        self.text_source: Source | None = None
        self.cache: Prepared | None = None
        self.test_rows: np.ndarray | None = None  # the kept test texts among the prepared ones

    @property
    def name(self) -> str:
        if self.dataset:
            return self.dataset
        path = Path(self.raw_dir or "texts").expanduser().resolve()
        return path.stem if path.suffix == ".npz" else path.name

    def load(self) -> Splits:
        self.text_source = self._locate()
        self.cache = prepared(self.text_source, self.name,
                              Settings(self.vocab_size, self.skip_top, self.maxlen),
                              self.prepared_dir, self._vocabulary_texts(self.text_source))
        self.vocabulary, self.classes = self.cache.vocabulary, list(self.cache.classes)
        arrays = self.cache.arrays
        train = subset_indices(len(arrays["y_train"]), self.scale, self.subset_seed)
        self.test_rows = subset_indices(len(arrays["y_test"]), self.scale, self.subset_seed + 1)
        return Splits(_ids(arrays["x_train"][train]), torch.from_numpy(arrays["y_train"][train]),
                      _ids(arrays["x_test"][self.test_rows]),
                      torch.from_numpy(arrays["y_test"][self.test_rows]))

    def _vocabulary_texts(self, source: Source) -> np.ndarray | None:
        """The train texts a folder's vocabulary is learnt from: those of this run's share
        (data.scale) that train, validation carved out as `setup` will carve it (indices in
        the folder's listing order). None for Keras' npz, which comes with its word index."""
        if source.layout != "folders":
            return None
        labels = class_ids(text_files(source.path, "train", class_folders(source.path)))
        train = subset_indices(len(labels), self.scale, self.subset_seed)
        return train[self.training_rows(labels[train])]

    def _locate(self) -> Source:
        source = find_source(self.raw_dir, self.datasets_dir, self.download_dir)
        if source is not None:
            return source
        if not self.download or self.raw_dir:
            # A data.raw_dir that holds no texts is an error, never a download in its place.
            raise not_found(self.raw_dir, self.datasets_dir, self.download_dir)
        return Source("folders", download_aclimdb(Path(self.download_dir).expanduser()))

    # The base's hooks.
    @property
    def n_outputs(self) -> int:
        return self.classifier_outputs(self.classes)

    @property
    def class_names(self) -> list[str] | None:
        return list(self.classes) or None

    def announced_shape(self) -> tuple[int]:
        return (self.maxlen,)

    def example_samples(self, shape: tuple[int, ...], n: int,
                        generator: torch.Generator) -> torch.Tensor:
        """Made-up int64 id sequences as texts are stored: word ids of any length up to the
        row's (none included), padded with 0 at the end."""
        ids = torch.randint(1, self.vocab_size, (n, *shape), generator=generator)
        lengths = torch.randint(0, shape[-1] + 1, (n, 1), generator=generator)
        return ids.masked_fill(torch.arange(shape[-1]) >= lengths, 0)

    @property
    def data_file(self) -> Path | None:
        return self.cache.path if self.cache else None

    def extras(self) -> dict[str, Any]:
        out: dict[str, Any] = {"vocab_size": self.vocab_size, "skip_top": self.skip_top,
                               "maxlen": self.maxlen, "tokenizer": TOKENIZER_VERSION}
        if self.cache is None or self.text_source is None:
            return out
        lengths = np.concatenate([self.cache.arrays["lengths_train"],
                                  self.cache.arrays["lengths_test"]])
        # A text's row holds its start mark and its words: longer than maxlen, it is cut.
        return {**out, "layout": self.text_source.layout, "origin": str(self.text_source.path),
                "n_classes": len(self.classes), "classes": list(self.classes),
                "mean_length": round(float(lengths.mean()), 2) if len(lengths) else 0.0,
                "truncated_share": round(float((lengths + 1 > self.maxlen).mean()), 4)
                if len(lengths) else 0.0}

    # Kept preprocessing: how texts become ids, and what the outputs mean.
    def kept_state(self) -> dict[str, Any]:
        if self.vocabulary is None:
            return {}
        return {"vocabulary": self.vocabulary.state(), "maxlen": self.maxlen,
                "tokenizer": TOKENIZER_VERSION, "classes": list(self.classes)}

    def install_kept_state(self, state: dict[str, Any]) -> None:
        if state["tokenizer"] != TOKENIZER_VERSION:
            raise UserError(f"the run tokenized its texts with tokenizer version "
                            f"{state['tokenizer']}, this version has {TOKENIZER_VERSION}: new "
                            "texts would not be encoded as training did; use the version that "
                            "trained it")
        self.vocabulary = Vocabulary.from_state(state["vocabulary"])
        self.maxlen, self.classes = int(state["maxlen"]), list(state["classes"])

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Raw texts -> (texts, maxlen) int64 ids, encoded as the run's training texts were."""
        if self.vocabulary is None:
            raise UserError(f"{self.name}: no vocabulary yet: load the data (setup) or a "
                            "checkpoint's state (load_state_dict) first")
        rows, _ = encode([self.vocabulary.ranks(tokenize(t)) for t in texts], self.vocabulary,
                         self.maxlen)
        return _ids(rows)

    def read_inputs(self, request: InputRequest) -> Inputs:
        return read_texts(request, self.encode_texts)

    # For the report.
    def test_texts(self, indices: np.ndarray | list[int]) -> list[str]:
        """Test texts `indices` readable: as their files have them (folders), else decoded
        from the ids the network saw (Keras' npz holds no text; `?`: a word left out)."""
        cache, test_rows = self._test_cache()
        rows = test_rows[np.asarray(indices, dtype=np.int64)]
        if cache.test_files and self.text_source is not None:
            return [read_text(self.text_source.path / cache.test_files[i]) for i in rows.tolist()]
        return cache.vocabulary.decode(cache.arrays["x_test"][rows])

    def test_lengths(self) -> np.ndarray:
        """Each test text's word count before padding or truncation (int64)."""
        cache, test_rows = self._test_cache()
        return cache.arrays["lengths_test"][test_rows]

    def _test_cache(self) -> tuple[Prepared, np.ndarray]:
        if self.cache is None or self.test_rows is None:
            raise UserError(f"{self.name}: its test texts are not loaded (setup first)")
        return self.cache, self.test_rows


def _ids(rows: np.ndarray) -> torch.Tensor:
    """int32 id rows as stored -> the int64 tensor embeddings index with."""
    return torch.from_numpy(rows.astype(np.int64))
