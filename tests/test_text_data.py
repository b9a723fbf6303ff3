"""The text family: words and ids as keras.datasets.imdb numbers them, Keras' imdb.npz (generated
here in its exact format: no IMDB file exists in any registry), the aclImdb folder layout on
10,568 real movie-review sentences, the prepared cache, the vocabulary kept with the run, the
download path (from a local archive) and one clear line for each bad input."""

import io
import json
import multiprocessing
import os
import shutil
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.text import download, prepare
from fidle_runs.data.text.datamodule import TextDataModule
from fidle_runs.data.text.download import download_aclimdb
from fidle_runs.data.text.keras_npz import read_keras_imdb
from fidle_runs.data.text.sequences import encode
from fidle_runs.data.text.tokenize import tokenize
from fidle_runs.data.text.vocabulary import OOV, Vocabulary, word_ranks
from fidle_runs.run.assemble import build_datamodule
from tests.conftest import compose_train
from tests.real_data import real_reviews_dir

# A Keras imdb.npz in miniature: ranks from 1 (no start mark, no offset), 7 has no word.
WORD_INDEX = {"the": 1, "film": 2, "was": 3, "great": 4, "bad": 5, "plot": 6}
X_TRAIN = [[1, 2, 3, 4], [1, 6, 3, 5, 5], [2, 4], [4, 4, 1]]
Y_TRAIN = [1, 0, 1, 1]
X_TEST = [[1, 2, 3, 5], [6, 4, 4, 4, 4, 4, 4], [7]]
Y_TEST = [0, 1, 0]
# keras.datasets.imdb.load_data's order: RandomState(113) shuffles train, then test.
KERAS_ORDER_TRAIN, KERAS_ORDER_TEST = [3, 2, 0, 1], [1, 0, 2]
REVIEWS = {"train": {"neg": 2663, "pos": 2621}, "test": {"neg": 2663, "pos": 2621}}
TRAIN_WORDS = 13_303  # distinct words of the train sentences (the test ones add 5,175)


def objects(lists: list[list[int]]) -> np.ndarray:
    """Keras' x arrays: a 1-D object array of Python lists."""
    out = np.empty(len(lists), dtype=object)
    for i, values in enumerate(lists):
        out[i] = list(values)
    return out


def write_keras_imdb(folder: Path, **arrays: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = arrays or {"x_train": objects(X_TRAIN), "y_train": np.array(Y_TRAIN),
                        "x_test": objects(X_TEST), "y_test": np.array(Y_TEST)}
    np.savez(folder / "imdb.npz", **arrays)
    (folder / "imdb_word_index.json").write_text(json.dumps(WORD_INDEX))
    return folder


def write_folders(root: Path, texts: dict[str, list[str | bytes]]) -> Path:
    """`{"train/neg": [...], ...}`: one file per text (bytes written as they are)."""
    for folder, items in texts.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(items):
            path = root / folder / f"{i}_1.txt"
            path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return root


SMALL = {"train/neg": ["A bad, bad film.", "Bad plot<br />dull"],
         "train/pos": ["A great film!", "Great great cast"],
         "test/neg": ["Dull and bad", "bad"], "test/pos": ["great", "A great unseen gem"]}


def data(tmp_path: Path, raw_dir: Path, **options) -> TextDataModule:
    options = {"name": None, "val_on_test": True, **options}
    return TextDataModule(raw_dir=str(raw_dir), prepared_dir=str(tmp_path / "prepared"),
                          download_dir=str(tmp_path / "download"), **options)


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """The layouts prepare.build was called for: a cache reused is no call."""
    calls: list[str] = []
    real = prepare.build

    def counted(source, settings, vocabulary_texts=None):
        calls.append(source.layout)
        return real(source, settings, vocabulary_texts)

    monkeypatch.setattr(prepare, "build", counted)
    return calls


def test_the_configs_give_fidles_settings_and_any_folder(tmp_path):
    imdb = build_datamodule(compose_train(["data=imdb", f"paths.output_root={tmp_path}"]))
    assert isinstance(imdb, TextDataModule) and imdb.announced_shape() == (256,)
    assert (imdb.name, imdb.vocab_size, imdb.skip_top, imdb.batch_size) == ("imdb", 10_000, 0,
                                                                             512)
    assert imdb.prepared_dir == tmp_path / "data" / "text"
    root = write_folders(tmp_path / "my_reviews", SMALL)
    folders = build_datamodule(compose_train(["data=text_folders", f"data.raw_dir={root}",
                                              f"paths.output_root={tmp_path}"]))
    folders.setup("fit")
    assert (folders.name, folders.n_outputs, folders.class_names) == ("my_reviews", 1,
                                                                      ["neg", "pos"])


def test_tokenize_lowercases_drops_line_breaks_and_punctuation_keeps_inner_apostrophes():
    text = ("The Rock's ''Conan'' is GREAT.<br /><br />It\u2019s a co-writer/director's "
            "film_noir: 3.5 stars!")
    assert tokenize(text) == ["the", "rock's", "conan", "is", "great", "it's", "a", "co",
                              "writer", "director's", "film", "noir", "3", "5", "stars"]
    assert tokenize("<BR/>Déjà vu") == ["déjà", "vu"]


def test_ranks_follow_train_counts_ties_by_word_and_ids_follow_keras():
    ranks = word_ranks([["b", "a", "c"], ["a", "b", "d"], ["c", "e", "e", "e"]])
    assert ranks == {"e": 1, "a": 2, "b": 3, "c": 4, "d": 5}
    vocabulary = Vocabulary.from_ranks(ranks, vocab_size=7)  # ids 4, 5, 6: ranks 1-3
    assert vocabulary.word_index == {"e": 1, "a": 2, "b": 3}
    rows, lengths = encode([vocabulary.ranks(["a", "d", "e", "zz"]), vocabulary.ranks(["b"])],
                           vocabulary, maxlen=4)
    # [1, 5, 2, 4, 2] is cut at the front (pad_sequences' truncating='pre'), [1, 6] padded.
    assert rows.tolist() == [[5, 2, 4, 2], [1, 6, 0, 0]] and rows.dtype == np.int32
    assert lengths.tolist() == [4, 1]
    skipping = Vocabulary.from_ranks(ranks, vocab_size=7, skip_top=1)
    assert skipping.ids(np.array([1, 2, 3, 4, 0])).tolist() == [OOV, 5, 6, OOV, OOV]
    assert vocabulary.decode([[1, 5, 2, 4, 0, 0]]) == ["a ? e"]


def test_keras_npz_is_read_in_load_datas_order_with_its_conventions(tmp_path):
    folder = write_keras_imdb(tmp_path / "keras")
    imdb = read_keras_imdb(folder / "imdb.npz", folder / "imdb_word_index.json")
    assert [r.tolist() for r in imdb.ranks_train] == [X_TRAIN[i] for i in KERAS_ORDER_TRAIN]
    assert imdb.y_test.tolist() == [Y_TEST[i] for i in KERAS_ORDER_TEST]
    # vocab_size 8 (Keras' num_words): the, film, was, great are ids 4-7; bad, plot and the
    # wordless rank 7 are OOV (2); each row starts with 1; maxlen 5 keeps the last 5 ids.
    texts = data(tmp_path, folder, name="imdb", vocab_size=8, maxlen=5)
    texts.setup("fit")
    x, y = texts.tensors["train"]
    assert x.dtype == torch.int64 and y.dtype == torch.int64
    assert x.tolist() == [[1, 7, 7, 4, 0], [1, 5, 7, 0, 0], [1, 4, 5, 6, 7], [4, 2, 6, 2, 2]]
    assert y.tolist() == [1, 1, 1, 0]
    assert texts.tensors["test"][0].tolist() == [[7, 7, 7, 7, 7], [1, 4, 5, 6, 2],
                                                 [1, 2, 0, 0, 0]]
    assert texts.test_texts([1, 0, 2]) == ["the film was ?", "great great great great great", "?"]
    assert texts.test_lengths().tolist() == [7, 4, 1]
    assert (texts.name, texts.n_outputs, texts.class_names) == ("imdb", 1, ["neg", "pos"])
    assert texts.describe()["layout"] == "keras npz"
    assert texts.describe()["truncated_share"] == pytest.approx(2 / 7, abs=1e-4)
    skipping = data(tmp_path, folder, vocab_size=8, skip_top=1, maxlen=5)
    skipping.setup("test")
    assert skipping.tensors["test"][0][1].tolist() == [1, OOV, 5, 6, OOV]


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    """The real sentences prepared once with a vocabulary holding every train word."""
    tmp_path = tmp_path_factory.mktemp("reviews")
    texts = data(tmp_path, real_reviews_dir(), vocab_size=20_000, maxlen=48)
    texts.setup("fit")
    return tmp_path, texts


def test_folders_give_the_real_sentences_per_class_and_split(reviews):
    _, texts = reviews
    root = real_reviews_dir()
    (x, y), (xt, yt) = texts.tensors["train"], texts.tensors["test"]
    assert texts.class_names == ["neg", "pos"] and texts.n_outputs == 1
    assert torch.bincount(y).tolist() == [REVIEWS["train"]["neg"], REVIEWS["train"]["pos"]]
    assert torch.bincount(yt).tolist() == [REVIEWS["test"]["neg"], REVIEWS["test"]["pos"]]
    assert x.shape == (5284, 48) and x.dtype == torch.int64
    # Every train word has an id (13,303 + 3 the largest); the start mark opens the 5,280
    # texts that fit (4 of the 10,568 are longer than 47 words).
    assert len(texts.vocabulary.word_index) == TRAIN_WORDS and int(x.max()) == TRAIN_WORDS + 3
    assert int((x[:, 0] == 1).sum() + (xt[:, 0] == 1).sum()) == 10_568 - 4
    assert texts.vocabulary.word_index["the"] == 1 and texts.encode_texts(["the"])[0, 1] == 4
    first = texts.test_texts([0])[0]
    assert first == (root / "test" / "neg" / sorted(os.listdir(root / "test" / "neg"))[0]
                     ).read_text(encoding="utf-8")
    assert texts.test_lengths()[0] == len(tokenize(first))
    extras = texts.describe()
    assert extras["layout"] == "folders" and extras["n_classes"] == 2
    assert extras["mean_length"] == pytest.approx(18.85, abs=0.01)


def test_the_vocabulary_is_learnt_on_train_only(reviews):
    _, texts = reviews
    root = real_reviews_dir()
    train_words = {w for p in (root / "train").glob("*/*.txt")
                   for w in tokenize(p.read_text(encoding="utf-8"))}
    test_only = sorted({w for p in (root / "test").glob("*/*.txt")
                        for w in tokenize(p.read_text(encoding="utf-8"))} - train_words)
    assert len(test_only) == 5175 and "1899" in test_only
    # vocab_size 20,000 would give these words ids if test texts had been counted.
    assert texts.encode_texts([" ".join(test_only[:40])])[0, 1:41].tolist() == [OOV] * 40


def test_no_word_only_validation_texts_have_is_in_the_vocabulary(tmp_path, builds):
    # Each train text has a word of its own (its mark), so the marks a split's rows decode to
    # name its texts; the marks of validation texts are words only validation has.
    marks = [f"mark{i}" for i in range(12)]
    root = write_folders(tmp_path / "marked", {
        "train/neg": [f"{m} bad film" for m in marks[:6]],
        "train/pos": [f"{m} great film" for m in marks[6:]],
        "test/neg": ["bad"], "test/pos": ["great"]})
    texts = data(tmp_path, root, maxlen=6, val_on_test=False, val_fraction=0.25)
    texts.setup("fit")
    vocabulary = texts.vocabulary
    seen = {w for t in vocabulary.decode(texts.tensors["train"][0].tolist()) for w in t.split()}
    training = [m for m in marks if m in seen]
    validation = [m for m in marks if m not in seen]
    assert len(training) == 9 and len(validation) == 3
    assert not set(validation) & set(vocabulary.word_index), "validation's words are unseen"
    assert texts.tensors["val"][0][:, 1].tolist() == [OOV] * 3
    learnt = [f"{m} {'bad' if int(m[4:]) < 6 else 'great'} film".split() for m in training]
    assert vocabulary.word_index == word_ranks(learnt)
    # The same settings reuse the cache, and a run's kept vocabulary is what they give again.
    again = data(tmp_path, root, maxlen=6, val_on_test=False, val_fraction=0.25)
    again.setup("fit")
    again.load_state_dict(texts.state_dict())
    assert builds == ["folders"]
    # Under val_on_test every train text trains: all the marks are words.
    every = data(tmp_path, root, maxlen=6)
    every.setup("fit")
    assert set(marks) <= set(every.vocabulary.word_index) and builds == ["folders", "folders"]


def test_the_cache_is_reused_and_rebuilt_when_maxlen_or_vocab_size_change(reviews, builds):
    tmp_path, first = reviews
    cached = first.data_file
    before = cached.stat().st_mtime_ns
    again = data(tmp_path, real_reviews_dir(), vocab_size=20_000, maxlen=48)
    again.setup("fit")
    assert builds == [] and cached.stat().st_mtime_ns == before
    assert torch.equal(again.tensors["test"][0], first.tensors["test"][0])
    shorter = data(tmp_path, real_reviews_dir(), vocab_size=20_000, maxlen=32)
    shorter.setup("fit")
    assert builds == ["folders"] and shorter.data_file != cached
    assert shorter.tensors["test"][0].shape == (5284, 32)
    # The same texts, cut to 32 ids: short ones keep their start, long ones their last ids.
    lengths = first.test_lengths()
    long_rows = torch.from_numpy(lengths + 1 > 32)
    assert int(long_rows.sum()) == 430  # test sentences of more than 31 words
    full, cut = first.tensors["test"][0], shorter.tensors["test"][0]
    assert torch.equal(cut[~long_rows], full[~long_rows][:, :32])
    row = int(np.flatnonzero(long_rows.numpy() & (lengths + 1 <= 48))[0])
    end = int(lengths[row]) + 1
    assert cut[row].tolist() == full[row][end - 32 : end].tolist()
    smaller = data(tmp_path, real_reviews_dir(), vocab_size=1000, maxlen=48)
    smaller.setup("fit")
    x = smaller.tensors["train"][0]
    assert builds == ["folders", "folders"] and int(x.max()) == 999
    assert len(smaller.vocabulary.word_index) == 996


def test_a_changed_text_file_rebuilds_the_cache(tmp_path, builds):
    root = write_folders(tmp_path / "small", SMALL)
    first = data(tmp_path, root, maxlen=6)
    first.setup("fit")
    path = root / "test" / "pos" / "1_1.txt"
    path.write_text("A great great gem")
    second = data(tmp_path, root, maxlen=6)
    second.setup("fit")
    assert builds == ["folders", "folders"] and second.data_file == first.data_file
    assert second.test_texts([3]) == ["A great great gem"]
    # "gem" is a test word only: OOV; train counts: bad 3, great 3, a 2 -> ids 4, 5, 6.
    assert second.tensors["test"][0][3].tolist() == [1, 6, 5, 5, OOV, 0]


def test_more_class_folders_make_a_multi_class_set(tmp_path):
    root = write_folders(tmp_path / "moods", {**SMALL, "train/mixed": ["so so", "fine"],
                                              "test/mixed": ["fine fine"]})
    moods = data(tmp_path, root, maxlen=4)
    moods.setup("fit")
    assert (moods.n_outputs, moods.class_names) == (3, ["mixed", "neg", "pos"])
    assert moods.tensors["test"][1].tolist() == [0, 1, 1, 2, 2]


def test_a_scaled_set_keeps_its_test_texts_with_their_ids(tmp_path):
    root = write_folders(tmp_path / "small", SMALL)
    half = data(tmp_path, root, maxlen=6, scale=0.5)
    half.setup("fit")
    assert len(half.tensors["train"][1]) == 2 and len(half.tensors["test"][1]) == 2
    kept = half.test_texts([0, 1])
    assert kept == ["bad", "great"]  # test texts 1 and 2 of 4 (subset_indices, seed 0 + 1)
    assert torch.equal(half.encode_texts(kept), half.tensors["test"][0])
    assert half.test_lengths().tolist() == [len(tokenize(k)) for k in kept]


def test_the_kept_vocabulary_encodes_new_texts_as_training_did(reviews):
    _, texts = reviews
    review = ["An utterly charming, witty film<br />Not a dull minute.", "Dull and 1899"]
    state = texts.state_dict()  # what every checkpoint keeps (plain values checked)
    fresh = TextDataModule(raw_dir="/nowhere", maxlen=48, vocab_size=20_000)
    fresh.load_state_dict(json.loads(json.dumps(state)))
    assert torch.equal(fresh.encode_texts(review), texts.encode_texts(review))
    assert fresh.encode_texts(review).dtype == torch.int64
    assert (fresh.n_outputs, fresh.class_names, fresh.dims["in_shape"]) == (1, ["neg", "pos"],
                                                                             (48,))
    assert state["vocabulary"]["start_char"] == 1 and state["maxlen"] == 48


def test_download_unpacks_the_archive_without_unsup(tmp_path):
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in [("aclImdb/train/neg/0_1.txt", "bad"), ("aclImdb/train/pos/0_9.txt",
                           "good"), ("aclImdb/test/neg/0_2.txt", "awful"),
                           ("aclImdb/test/pos/0_8.txt", "fine"),
                           ("aclImdb/train/unsup/0_0.txt", "unlabelled")]:
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    folder = download_aclimdb(tmp_path / "dl", url=archive.as_uri())
    assert folder == tmp_path / "dl" / "aclImdb"
    assert sorted(p.name for p in (folder / "train").iterdir()) == ["neg", "pos"]
    assert (folder / "test" / "pos" / "0_8.txt").read_text() == "fine"
    with pytest.raises(UserError, match=r"download from .* failed") as e:
        download_aclimdb(tmp_path / "dl2", url=(tmp_path / "absent.tar.gz").as_uri())
    assert "\n" not in str(e.value) and not (tmp_path / "dl2" / "aclImdb").exists()


def write_archive(path: Path, members: list[tuple[str, str]], *special: tarfile.TarInfo
                  ) -> Path:
    """A tar.gz of text files `(name, text)` and `special` members (links, devices), names as
    given (unsafe ones too)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members:
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
        for info in special:
            tar.addfile(info)
    return path


SMALL_ARCHIVE = [("aclImdb/train/neg/0_1.txt", "bad"), ("aclImdb/train/pos/0_9.txt", "good"),
                 ("aclImdb/test/neg/0_2.txt", "awful"), ("aclImdb/test/pos/0_8.txt", "fine")]


def _download_in_a_job(download_dir: Path) -> None:
    download_aclimdb(download_dir)


def test_jobs_downloading_together_fetch_the_archive_once_and_both_get_it(tmp_path,
                                                                          monkeypatch):
    source = write_archive(tmp_path / "source.tar.gz", SMALL_ARCHIVE)
    fetches = tmp_path / "fetches.log"

    def slow_fetch(url: str, archive: Path) -> None:
        with open(fetches, "a") as log:
            log.write(f"{os.getpid()}\n")
        time.sleep(1.0)  # the other job starts meanwhile
        tmp = archive.with_name(f".{archive.name}.tmp-{os.getpid()}")
        shutil.copy(source, tmp)
        os.replace(tmp, archive)

    monkeypatch.setattr(download, "_fetch", slow_fetch)
    fork = multiprocessing.get_context("fork")  # the jobs inherit the fake fetch
    jobs = [fork.Process(target=_download_in_a_job, args=(tmp_path / "dl",)) for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(60)
    assert [job.exitcode for job in jobs] == [0, 0]
    assert len(fetches.read_text().splitlines()) == 1
    assert (tmp_path / "dl" / "aclImdb" / "test" / "pos" / "0_8.txt").read_text() == "fine"


def test_without_pythons_data_filter_unsafe_members_are_refused(tmp_path, monkeypatch):
    # Python before 3.10.12 / 3.11.4: no data_filter, and extractall takes no filter.
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    extractall = tarfile.TarFile.extractall

    def old_extractall(self, path=".", members=None, *, numeric_owner=False, **unknown):
        for name in unknown:
            raise TypeError(f"extractall() got an unexpected keyword argument {name!r}")
        return extractall(self, path, members, numeric_owner=numeric_owner)

    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    folder = download_aclimdb(tmp_path / "dl",
                              url=write_archive(tmp_path / "ok.tar.gz", SMALL_ARCHIVE).as_uri())
    assert (folder / "train" / "pos" / "0_9.txt").read_text() == "good"
    escaping = write_archive(tmp_path / "escaping.tar.gz",
                             [*SMALL_ARCHIVE, ("aclImdb/../../escaped.txt", "gotcha")])
    link = tarfile.TarInfo("aclImdb/train/neg/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    device = tarfile.TarInfo("aclImdb/train/neg/device")
    device.type = tarfile.CHRTYPE
    for archive, why in ((escaping, "'aclImdb/../../escaped.txt', a path leading outside"),
                         (write_archive(tmp_path / "link.tar.gz", SMALL_ARCHIVE, link),
                          "'aclImdb/train/neg/link', a link to '/etc'"),
                         (write_archive(tmp_path / "device.tar.gz", SMALL_ARCHIVE, device),
                          "'aclImdb/train/neg/device', a device")):
        into = tmp_path / f"dl-{archive.name}"
        with pytest.raises(UserError, match=why) as e:
            download_aclimdb(into, url=archive.as_uri())
        assert "\n" not in str(e.value) and not (into / "aclImdb").exists()
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt"
                                                            ).exists()


def refused(tmp_path: Path, make, match: str) -> None:
    """`make()` raises one UserError line matching `match`, and nothing is prepared."""
    with pytest.raises(UserError, match=match) as e:
        make()
    assert "\n" not in str(e.value)
    assert not (tmp_path / "prepared").exists()


@pytest.mark.parametrize(("texts", "match"), [
    ({**SMALL, "train/pos": []}, r"train/pos holds no \.txt file"),
    ({"train/neg": ["a"], "test/neg": ["b"]}, "one class only"),
    ({**SMALL, "test/neg": ["ok", b"caf\xe9 cr\xe8me"]}, r"test/neg/1_1\.txt is not UTF-8"),
    ({**SMALL, "test/other": ["x"]}, "give both the same classes")])
def test_bad_folders_are_one_line_and_write_nothing(tmp_path, texts, match):
    root = write_folders(tmp_path / "texts", texts)
    refused(tmp_path, lambda: data(tmp_path, root).setup("fit"), match)


@pytest.mark.parametrize(("options", "match"), [
    ({"maxlen": 0}, r"data\.maxlen=0 is invalid"), ({"maxlen": -5}, r"data\.maxlen=-5"),
    ({"vocab_size": 3}, r"data\.vocab_size=3 keeps no word.*>= 5"),
    ({"vocab_size": 4}, r"data\.vocab_size=4 keeps no word"),
    ({"vocab_size": 6, "skip_top": 2}, r"data\.skip_top=2 more .*>= 7"),
    ({"skip_top": -1}, r"data\.skip_top=-1 is invalid")])
def test_bad_options_are_one_line(tmp_path, options, match):
    root = write_folders(tmp_path / "texts", SMALL)
    refused(tmp_path, lambda: data(tmp_path, root, **options).setup("fit"), match)
    data(tmp_path, root, vocab_size=7, skip_top=2)  # the smallest that keeps a word


@pytest.mark.parametrize(("arrays", "match"), [
    ({"x_train": objects(X_TRAIN), "y_train": np.array(Y_TRAIN)}, "lacks x_test, y_test"),
    ({"x_train": np.ones((4, 3), dtype=np.int64), "y_train": np.array(Y_TRAIN),
      "x_test": objects(X_TEST), "y_test": np.array(Y_TEST)}, r"x_train is a int64 array"),
    ({"x_train": objects(X_TRAIN), "y_train": np.array([*Y_TRAIN, 0]),
      "x_test": objects(X_TEST), "y_test": np.array(Y_TEST)}, r"y_train .* where 4 labels"),
    ({"x_train": objects([[1, 2], [0, 3], [1], [2]]), "y_train": np.array(Y_TRAIN),
      "x_test": objects(X_TEST), "y_test": np.array(Y_TEST)}, r"x_train\[1\] is not a list")])
def test_a_damaged_keras_npz_is_one_line(tmp_path, arrays, match):
    folder = write_keras_imdb(tmp_path / "keras", **arrays)
    refused(tmp_path, lambda: data(tmp_path, folder).setup("fit"), match)


def test_an_npz_that_is_no_zip_or_lacks_its_word_index_is_one_line(tmp_path):
    folder = write_keras_imdb(tmp_path / "keras")
    (folder / "imdb.npz").write_bytes(b"not a zip file")
    refused(tmp_path, lambda: data(tmp_path, folder).setup("fit"), "is not a readable npz")
    (folder / "imdb_word_index.json").unlink()
    refused(tmp_path, lambda: data(tmp_path, folder).setup("fit"),
            "has no imdb_word_index.json beside it")


def test_no_imdb_anywhere_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    imdb = TextDataModule(datasets_dir=str(datasets), download_dir=str(tmp_path / "download"),
                          prepared_dir=str(tmp_path / "prepared"))
    places = [datasets / "keras_cache" / "imdb.npz", datasets / "aclImdb",
              tmp_path / "home" / ".keras" / "datasets" / "imdb.npz",
              tmp_path / "download" / "aclImdb"]
    with pytest.raises(UserError, match="no IMDB found") as e:
        imdb.setup("fit")
    assert all(str(p) in str(e.value) for p in places) and "\n" not in str(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(tmp_path, lambda: data(tmp_path, empty, download=True).setup("fit"),
            r"no texts in data.raw_dir .*empty \(no train/ and test/ folders\).*aclImdb")
    assert not (tmp_path / "download").exists()
