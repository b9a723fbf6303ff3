"""The report's analysis of a text classifier: trained on the real movie-review sentences, its
best checkpoint re-evaluated, its most confident mistakes shown as the texts (escaped) and its
accuracy by text length."""

import html

import numpy as np

from fidle_runs.data.text.datamodule import TextDataModule
from fidle_runs.report.analysis import ANALYSES
from fidle_runs.report.predictions import run_predictions
from fidle_runs.report.wording import shorten
from fidle_runs.run.train import train
from fidle_runs.store.result import read_result
from tests.conftest import compose_train
from tests.real_data import real_reviews_dir


def test_a_text_run_shows_its_mistaken_texts_and_accuracy_by_length(tmp_path):
    reviews = real_reviews_dir()
    run_dir = tmp_path / "run"
    result = train(compose_train([
        "+experiment=imdb_embedding", "data=text_folders", f"data.raw_dir={reviews}",
        "data.maxlen=48", "data.batch_size=64", "trainer.max_epochs=2",
        "callbacks.progress.style=lines", f"paths.data_dir={tmp_path / 'data'}",
        f"paths.run_dir={run_dir}"]))
    assert result.status == "completed", result.error
    assert result.data["n_test"] == 5284 and result.data["classes"] == ["neg", "pos"]
    page, done = ANALYSES["classification"](read_result(run_dir), run_dir, "on reviews")
    assert done == "5284 test samples evaluated, cached"
    assert f"accuracy {100 * result.primary['value']:.2f} %" in page
    assert "accuracy by text length, on reviews" in page
    assert "The 10 most confident mistakes" in page
    predictions = run_predictions(read_result(run_dir), run_dir)
    assert predictions.from_cache and len(predictions.lengths) == 5284
    data = TextDataModule(name=None, raw_dir=str(reviews),
                          prepared_dir=str(tmp_path / "data" / "text"), maxlen=48)
    data.setup("test")
    first = int(predictions.mistakes[0])
    assert predictions.mistake_texts[0] == data.test_texts([first])[0], "the file's own text"
    assert html.escape(shorten(predictions.mistake_texts[0], 400)) in page, "escaped"
    assert predictions.lengths.tolist() == data.test_lengths().tolist()
    assert np.median(predictions.lengths) > 10, "sentences of some words"
