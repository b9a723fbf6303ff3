"""Texts -> padded id rows, once: the result is cached in `data.prepared_dir` as one npz (ids
int32, labels, word counts, classes) with its vocabulary beside it as JSON (FIDLE IMDB2 saves
`word_index.json` for IMDB3's predictions). A folder's vocabulary is learnt from the train texts
that train (`vocabulary_texts`: the run's validation texts left out, which stay unseen data);
Keras' npz comes with its own word index. Both files are written under a temporary name then
renamed, by one job at a time (a lock), and keyed by what built them: the source files (path,
size, modification time), vocab_size, skip_top, maxlen, the texts the vocabulary is learnt from,
the tokenizer's and this format's versions. A second run reuses them; a change of any of these
rebuilds them.

Every check of the input runs before anything is written: a bad folder or file leaves the cache
as it was."""

import hashlib
import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fidle_runs.core import atomic
from fidle_runs.core.errors import UserError
from fidle_runs.core.storage import DATA_CACHE_FIX, storage_refusals
from fidle_runs.data.text.folders import SPLITS, class_folders, read_split, text_files
from fidle_runs.data.text.keras_npz import CLASSES, read_keras_imdb
from fidle_runs.data.text.locate import Source
from fidle_runs.data.text.sequences import encode
from fidle_runs.data.text.tokenize import TOKENIZER_VERSION, tokenize
from fidle_runs.data.text.vocabulary import Vocabulary, word_ranks

log = logging.getLogger(__name__)
FORMAT_VERSION = 2
ARRAYS = ("x_train", "y_train", "x_test", "y_test", "lengths_train", "lengths_test")


@dataclass(frozen=True)
class Settings:
    vocab_size: int
    skip_top: int
    maxlen: int


@dataclass
class Prepared:
    """`arrays`: x_* (texts, maxlen) int32 ids, y_* int64 class ids, lengths_* int64 word counts
    before padding; `test_files`: each test text's file relative to the source folder (none for
    Keras' npz, which holds no text)."""

    arrays: dict[str, np.ndarray]
    classes: list[str]
    vocabulary: Vocabulary
    test_files: list[str] = field(default_factory=list)
    path: Path | None = None  # the cache file


def cache_paths(out_dir: Path, name: str, source: Source, settings: Settings,
                vocabulary_texts: np.ndarray | None = None) -> tuple[Path, Path]:
    """The npz and its vocabulary's JSON; one pair per source, settings and texts the
    vocabulary is learnt from, so runs of another vocab_size, maxlen or validation (a sweep)
    keep their own."""
    where = hashlib.sha256(str(source.path.resolve()).encode()).hexdigest()[:8]
    stem = (f"{name}-{where}-v{settings.vocab_size}-s{settings.skip_top}-"
            f"l{settings.maxlen}")
    if vocabulary_texts is not None:
        stem += f"-t{texts_digest(vocabulary_texts)[:8]}"
    return out_dir / f"{stem}.npz", out_dir / f"{stem}.vocabulary.json"


def texts_digest(rows: np.ndarray) -> str:
    """A digest of which train texts (their indices) the vocabulary is learnt from."""
    return hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()


def prepared(source: Source, name: str, settings: Settings, out_dir: Path,
             vocabulary_texts: np.ndarray | None = None) -> Prepared:
    """The cached texts of `source`, built where the cache is absent or was built otherwise.
    `vocabulary_texts`: the train texts (indices, in the folders' listing order) a folder's
    vocabulary is learnt from (None: all of them; Keras' npz keeps its own word index)."""
    npz, index = cache_paths(Path(out_dir), name, source, settings, vocabulary_texts)
    key = json.dumps(cache_key(source, settings, vocabulary_texts), sort_keys=True)
    found = _read_cache(npz, index, key)
    if found is not None:
        return found
    built = build(source, settings, vocabulary_texts)
    with atomic.exclusive_lock(npz.parent / ".prepare.lock"):
        found = _read_cache(npz, index, key)  # another job built it while this one read
        if found is not None:
            return found
        # Holding the lock, we own every write of these files: what is there was left by a kill.
        atomic.remove_temporaries(npz.parent, npz.name)
        atomic.remove_temporaries(npz.parent, index.name)
        needs = sum(a.nbytes for a in built.arrays.values())
        with storage_refusals(npz, f"the prepared texts of {name}", DATA_CACHE_FIX, needs):
            atomic.write_json(index, {"key": key, "vocabulary": built.vocabulary.state()})
            _write_npz(npz, {**built.arrays, "classes": np.array(built.classes),
                             "test_files": np.array(built.test_files, dtype=str),
                             "key": np.array(key)})
    log.info("prepared %d train and %d test texts of %s from %s into %s",
             len(built.arrays["y_train"]), len(built.arrays["y_test"]), name, source.path, npz)
    built.path = npz
    return built


def cache_key(source: Source, settings: Settings,
              vocabulary_texts: np.ndarray | None = None) -> dict[str, Any]:
    """What the cache depends on; the source files by path, size and modification time."""
    if source.layout == "folders":
        classes = class_folders(source.path)
        files = [f for split in SPLITS for group in text_files(source.path, split, classes)
                 for f in group]
    else:
        files = [source.path, source.word_index]
    listing = hashlib.sha256()
    for path in files:
        stat = path.stat()
        listing.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return {"format": FORMAT_VERSION, "tokenizer": TOKENIZER_VERSION, "layout": source.layout,
            "source": str(source.path.resolve()), "files": len(files),
            "listing": listing.hexdigest(), "vocab_size": settings.vocab_size,
            "skip_top": settings.skip_top, "maxlen": settings.maxlen,
            "vocabulary_texts": (None if vocabulary_texts is None
                                 else texts_digest(vocabulary_texts))}


def build(source: Source, settings: Settings,
          vocabulary_texts: np.ndarray | None = None) -> Prepared:
    """Read the source and encode it (raises UserError on bad input; writes nothing)."""
    if source.layout == "folders":
        return _from_folders(source.path, settings, vocabulary_texts)
    imdb = read_keras_imdb(source.path, source.word_index)
    vocabulary = Vocabulary.from_ranks(imdb.word_index, settings.vocab_size, settings.skip_top)
    arrays = {"y_train": imdb.y_train, "y_test": imdb.y_test}
    for split, ranks in (("train", imdb.ranks_train), ("test", imdb.ranks_test)):
        arrays[f"x_{split}"], arrays[f"lengths_{split}"] = encode(ranks, vocabulary,
                                                                  settings.maxlen)
    return Prepared(arrays, list(CLASSES), vocabulary)


def _from_folders(root: Path, settings: Settings,
                  vocabulary_texts: np.ndarray | None) -> Prepared:
    classes = class_folders(root)
    train, test = (read_split(root, split, classes) for split in SPLITS)
    words = {"train": [tokenize(t) for t in train.texts], "test": [tokenize(t) for t in test.texts]}
    # The word index is learnt from the texts that train only: a word only validation or test
    # texts have is OOV.
    learnt_from = (words["train"] if vocabulary_texts is None
                   else [words["train"][i] for i in vocabulary_texts.tolist()])
    vocabulary = Vocabulary.from_ranks(word_ranks(learnt_from), settings.vocab_size,
                                       settings.skip_top)
    arrays = {"y_train": train.labels, "y_test": test.labels}
    for split in SPLITS:
        arrays[f"x_{split}"], arrays[f"lengths_{split}"] = encode(
            [vocabulary.ranks(w) for w in words[split]], vocabulary, settings.maxlen)
    return Prepared(arrays, classes, vocabulary, test.files)


def _read_cache(npz: Path, index: Path, key: str) -> Prepared | None:
    """The cache when both files are there, readable and built with `key`; else None."""
    if not (npz.is_file() and index.is_file()):
        return None
    try:
        kept = json.loads(index.read_text(encoding="utf-8"))
        with np.load(npz, allow_pickle=False) as f:
            if str(f["key"]) != key or kept.get("key") != key:
                log.info("%s was built from other texts or settings: rebuilding it", npz)
                return None
            arrays = {name: f[name] for name in ARRAYS}
            classes, test_files = f["classes"].tolist(), f["test_files"].tolist()
        vocabulary = Vocabulary.from_state(kept["vocabulary"])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, UserError) as e:
        log.warning("%s cannot be read (%s): rebuilding it", npz, e)
        return None
    return Prepared(arrays, classes, vocabulary, test_files, npz)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # A file object: np.savez would add .npz to a name.
    with atomic.replacing(path, fsync=True) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
