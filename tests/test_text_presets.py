"""FIDLE's IMDB notebook presets (+experiment=imdb_onehot, imdb_embedding, imdb_lstm, imdb_gru)
run unchanged, as users launch them, on an imdb.npz generated in Keras' exact format where
FIDLE keeps it ($FIDLE_DATASETS_DIR/keras_cache): no IMDB exists in any registry here."""

import json
from pathlib import Path

import numpy as np
import pytest

from fidle_runs.run.train import train
from tests.conftest import compose_train
from tests.test_text_data import objects

WORDS = 12_000  # more than FIDLE's vocabulary of 10,000: the rarest become out-of-vocabulary
REVIEWS = 160  # per split, half positive


def write_keras_cache(datasets: Path) -> Path:
    """Keras' imdb.npz (word ranks from 1, no start mark: load_data adds it) and its word
    index, reviews of 20 to 400 words (some longer than FIDLE's 256), the positive ones using
    the low ranks more often so that there is something to learn."""
    rng = np.random.default_rng(0)
    cache = datasets / "keras_cache"
    cache.mkdir(parents=True)
    arrays = {}
    for split in ("train", "test"):
        labels = np.tile([0, 1], REVIEWS // 2)
        reviews = [(rng.zipf(1.3 if label else 1.6, rng.integers(20, 400)) % WORDS + 1).tolist()
                   for label in labels]
        arrays[f"x_{split}"], arrays[f"y_{split}"] = objects(reviews), labels.astype(np.int64)
    np.savez(cache / "imdb.npz", **arrays)
    (cache / "imdb_word_index.json").write_text(
        json.dumps({f"word{rank}": rank for rank in range(1, WORDS + 1)}))
    return datasets


@pytest.mark.parametrize("experiment", ["imdb_onehot", "imdb_embedding", "imdb_lstm",
                                        "imdb_gru"])
def test_fidle_imdb_presets_run_unchanged_on_keras_imdb(experiment, tmp_path, monkeypatch):
    monkeypatch.setenv("FIDLE_DATASETS_DIR", str(write_keras_cache(tmp_path / "datasets")))
    result = train(compose_train([f"+experiment={experiment}", "callbacks.progress.style=lines",
                                  f"paths.data_dir={tmp_path / 'data'}",
                                  f"paths.run_dir={tmp_path / 'run'}"]))
    assert result.status == "completed", result.error
    data = result.data
    assert (data["family"], data["name"], data["layout"]) == ("text", "imdb", "keras npz")
    maxlen = 2500 if experiment == "imdb_onehot" else 256  # multi-hot: every word
    assert (data["vocab_size"], data["maxlen"], data["n_outputs"]) == (10_000, maxlen, 1)
    assert (data["n_train"], data["n_val"], data["n_test"]) == (144, 16, 160)
    assert result.epochs == result.max_epochs, "the preset's epochs, unchanged"
    assert 0 <= result.metrics["test_acc"] <= 1
    assert result.metrics["test_acc_majority"] == 0.5, "balanced test set"
