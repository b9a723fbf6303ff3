"""The report's HTML page over a generated tree of runs of several tasks and data families: every
figure present and rendered by a real browser (headless Chromium), the best run's analysis by
task (a classifier's from its checkpoint, with its dataset's class names), and its cache."""

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from fidle_runs.core.errors import UserError
from fidle_runs.data.gtsrb.classes import CLASS_NAMES
from fidle_runs.report.analysis import ANALYSES
from fidle_runs.report.analysis.confusion import (
    confusion_matrix,
    most_confused,
    per_class_accuracy,
)
from fidle_runs.report.html_page import render_html
from fidle_runs.report.learning_curves import read_curves
from fidle_runs.report.predictions import CACHE_FILE, run_predictions
from fidle_runs.report.report import build_report
from fidle_runs.store.result import read_result
from tests.conftest import REPO, run_module
from tests.report_tree import (
    N_TEST,
    N_WRONG,
    REGRESSION,
    write_run,
    write_toy_run,
    write_tree,
    write_winner,
)

DATA = ["GTSRB real", "GTSRB synthetic", "GTSRB synthetic, scale 0.1", "MNIST real",
        "SERIES synthetic, scale 0.1", "TABLES real"]
METRICS = ["test_acc"] * 4 + ["test_mae"] * 2
BEST_RUN = "cnn_v2 on set-48x48-RGB, GTSRB real data"
BEST_FORECAST = "gru on ladybug, SERIES synthetic, scale 0.1 data"
BEST_REGRESSION = "bhpd_dnn on diabetes, TABLES real data"
FIGURES = [*(f"{m} heatmap, {d} data" for m, d in zip(METRICS, DATA, strict=True)),
           *(f"{m} vs duration, {d} data" for m, d in zip(METRICS, DATA, strict=True)),
           *(f"learning curves ({measure}), {d} data" for m, d in zip(METRICS, DATA, strict=True)
             for measure in (m.removeprefix("test_"), "loss")),
           f"confusion matrix, {BEST_RUN}", f"per-class accuracy, {BEST_RUN}",
           f"misclassified test images, {BEST_RUN}",
           f"test forecasts, {BEST_FORECAST}", f"MAE by step ahead, {BEST_FORECAST}",
           f"predicted vs true, {BEST_REGRESSION}", f"residuals, {BEST_REGRESSION}"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def reported(tmp_path_factory, forecast_run,
             table_run) -> tuple[subprocess.CompletedProcess, Path]:
    """The report command, as users type it, over the generated tree."""
    root = tmp_path_factory.mktemp("html")
    outputs = write_tree(root, forecast_run, table_run)
    proc = run_module("fidle_runs.report", str(outputs), "--out", str(root / "report"),
                      cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, root / "report" / "report.html"


def test_second_report_reads_the_cache_without_torch(reported):
    _, page_file = reported
    root = page_file.parent.parent
    code = ("import sys, runpy; sys.argv = ['report', 'outputs', '--out', 'again']; "
            "runpy.run_module('fidle_runs.report', run_name='__main__'); "
            "print('torch imported:', 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{N_TEST} test samples read from cache" in proc.stdout
    assert "torch imported: False" in proc.stdout
    page, again = page_file.read_text(), (root / "again" / "report.html").read_text()
    same = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")  # the time it was made
    assert same.sub("", page) == same.sub("", again), "the same page from the cache"


def test_page_holds_every_figure_and_says_what_went_wrong(reported):
    proc, page_file = reported
    page = page_file.read_text()
    alts = re.findall(r'<img alt="([^"]+)"[^>]* src="data:image/png;base64,', page)
    assert [a for a in alts if not a.startswith("picture")] == FIGURES
    with h5py.File(page_file.parent.parent / "sets" / "set-48x48-RGB.h5") as f:
        wrong = {(int(y), (int(y) - 1) % 43) for y in f["y_test"][-N_WRONG:]}
    assert sum(a.startswith("picture of class") for a in alts) == 2 * min(10, len(wrong))
    assert "http" not in page.replace("http-equiv", ""), "self-contained: no external resource"
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "Winner, test_acc on GTSRB real data: cnn_v2 on set-48x48-RGB: mean test_acc 98.50 % " \
        "over 1 seed (98.50)" in text
    assert "Winner, test_acc on MNIST real data: mnist_cnn on mnist: mean test_acc 99.00 %" in text
    table = read_result(page_file.parent.parent / "outputs" / "sweeps" / "diabetes" / "real")
    mae = table.primary["value"]
    assert f"Winner, test_mae on TABLES real data: bhpd_dnn on diabetes: mean test_mae {mae:.4g} " \
        in text
    assert ("each of the 6 rankings (test_acc on GTSRB real data; test_acc on GTSRB synthetic "
            "data; test_acc on GTSRB synthetic, scale 0.1 data; test_acc on MNIST real data; "
            "test_mae on SERIES synthetic, scale 0.1 data; test_mae on TABLES real data) is made "
            "on its own, never together") in text
    assert "better than persistence's" in text, "the forecaster's analysis"
    assert "Not completed: 1 running, 1 failed, 2 unreadable" in text
    assert f"on {N_TEST} test samples: accuracy 75.00 %" in text
    assert "differs from the 98.50 % its result.json records" in text
    for true, predicted in wrong:
        assert f"{true} {CLASS_NAMES[true]}" in text, "pairs named with GTSRB's own classes"
        assert f"{predicted} {CLASS_NAMES[predicted]}" in text
    assert "No analysis of this run: it has no checkpoint left" in text
    assert f"on 88 test samples: MAE {mae:.4g} in the target's units, R² " in text
    assert "differs from the" not in text.split("on 88 test samples")[1][:200]
    least_squares = table.metrics["test_mae_least_squares"]
    verdict = "better than" if mae < least_squares else "no better than"
    assert (f"{verdict} least squares ({least_squares:.4g}), the baselines fitted on the same "
            "train rows") in " ".join(text.split())
    assert "The 10 worst predictions" in text
    worst = text.split("The 10 worst predictions")[1]
    assert "row true progression predicted progression error age sex bmi bp s1" in " ".join(
        worst.split()), "the features as the table has them"
    assert "Test_acc %" not in text
    assert "Dataset × model mean test_mae over seeds (lower is better" in text
    assert "These runs validated on a split of the training data" in text
    assert "cnn_v3 (running 5/16)" not in text, "legends are inside the figure"
    assert "ValueError: boom" in text and "malformed result.json" in text
    assert "best checkpoint deleted" in text
    assert f"{N_TEST} test samples evaluated, cached, analysis in" in proc.stdout
    assert "learning curves of 14 runs read" in proc.stdout
    assert f"{BEST_FORECAST}: 980 test windows evaluated, cached, analysis in" in proc.stdout
    assert f"{BEST_REGRESSION}: 88 test samples evaluated, cached, analysis in" in proc.stdout


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium, installed by scripts/chromium_install.sh where it is missing (root)."""
    found = shutil.which("chromium")
    if found is None:
        install = subprocess.run(["bash", str(REPO / "scripts" / "chromium_install.sh")],
                                 capture_output=True, text=True, timeout=900)
        found = install.stdout.strip() if install.returncode == 0 else None
        why = install.stderr.strip().splitlines()[-1:] or ["no output"]
        if found is None:
            if os.environ.get("FIDLE_REQUIRE_CHROMIUM") == "1":
                pytest.fail(f"chromium cannot be installed: {why[0]}")
            pytest.skip(f"chromium cannot be installed here: {why[0]}")
    return found


def test_page_renders_in_headless_chromium_with_its_images(reported, chromium, tmp_path):
    """A page next to the report loads it in a frame and lists what the browser made of it:
    every image decoded with its size, the section titles, the page height."""
    _, page_file = reported
    probe = tmp_path / "probe.html"
    probe.write_text(f"""<!DOCTYPE html><html><body>
<iframe id="report" src="{page_file.as_uri()}" style="width:1300px;height:900px"></iframe>
<script>
window.addEventListener("load", () => {{
  const doc = document.getElementById("report").contentDocument;
  const images = [...doc.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);
  const found = {{title: doc.title, height: doc.body.scrollHeight, images: images,
                 sections: [...doc.querySelectorAll("h2")].map(h => h.textContent)}};
  const out = document.createElement("pre");
  out.id = "found";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
}});
</script></body></html>""")
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--allow-file-access-from-files", "--virtual-time-budget=10000",
                           "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="found">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"chromium printed no result: {proc.stderr[-2000:]}"
    found = json.loads(html.unescape(match.group(1)))
    assert found["title"] == "fidle_runs report"
    assert [alt for alt, *_ in found["images"] if not alt.startswith("picture")] == FIGURES
    broken = [alt for alt, complete, width, height in found["images"]
              if not complete or width < 10 or height < 10]
    assert broken == [], "every embedded image decodes"
    sizes = {alt: (w, h) for alt, _, w, h in found["images"]}
    assert sizes[f"confusion matrix, {BEST_RUN}"][0] > 600
    assert {s for alt, s in sizes.items() if alt.startswith("picture")} == {(40, 40)}
    assert found["sections"][:6] == [f"{m} on {d} data" for m, d in zip(METRICS, DATA,
                                                                          strict=True)]
    assert f"Best run: {BEST_FORECAST}" in found["sections"]
    assert f"Best run: {BEST_RUN}" in found["sections"]
    assert f"Best run: {BEST_REGRESSION}" in found["sections"]
    assert "All runs" in found["sections"] and "Problems" in found["sections"]
    assert found["height"] > 5000, "the figures take their room on the page"


def test_best_run_predictions_are_its_checkpoints_and_cached(tmp_path):
    run_dir = tmp_path / "run"
    expected = write_winner(run_dir, tmp_path / "set.h5")
    result = read_result(run_dir)
    first = run_predictions(result, run_dir)
    assert not first.from_cache and (run_dir / CACHE_FILE).is_file()
    assert first.accuracy == (N_TEST - N_WRONG) / N_TEST
    assert (first.y_pred == expected).all()
    assert sorted(first.mistakes.tolist()) == list(range(N_TEST - N_WRONG, N_TEST))
    assert first.mistake_images.shape == (N_WRONG, 48, 48, 3)
    assert (np.diff(first.confidence[first.mistakes]) <= 0).all(), "most confident first"
    assert first.class_names[0] == "Speed limit (20km/h)", "the dataset's own class names"
    assert first.class_pictures.shape == (43, 48, 48, 3)
    again = run_predictions(result, run_dir)
    assert again.from_cache and (again.y_pred == first.y_pred).all()
    assert again.class_names == first.class_names
    assert (again.class_pictures == first.class_pictures).all()
    checkpoint = Path(result.checkpoints["best"])
    os.utime(checkpoint, ns=(0, 0))
    assert not run_predictions(result, run_dir).from_cache, "a changed checkpoint re-runs"
    os.utime(run_dir / "config.yaml", ns=(0, 0))
    assert not run_predictions(result, run_dir).from_cache, "so does a changed config"
    os.utime(tmp_path / "set.h5", ns=(0, 0))
    assert not run_predictions(result, run_dir).from_cache, "and a changed data file"
    checkpoint.write_bytes(b"truncated")
    with pytest.raises(UserError, match="cannot be loaded"):
        run_predictions(result, run_dir)
    (tmp_path / "set.h5").unlink()
    with pytest.raises(UserError, match=r"set\.h5 is gone: prepare it again"):
        run_predictions(result, run_dir)


def test_analysis_of_other_classifiers_uses_their_own_classes(tmp_path):
    """A binary classifier (one output, sigmoid) and a ten-class one with grey pictures, on a
    family of their own: each analysis names the dataset's classes and shows its pictures."""
    binary_dir = tmp_path / "binary"
    expected = write_toy_run(binary_dir, ["negative", "positive"], n_wrong=4)
    result = read_result(binary_dir)
    predictions = run_predictions(result, binary_dir)
    assert (predictions.y_pred == expected).all() and predictions.accuracy == 36 / 40
    assert predictions.class_names == ["negative", "positive"]
    assert predictions.class_pictures is None
    assert predictions.mistake_images.shape == (4, 8, 8, 1)
    assert ((predictions.confidence >= 0.5) & (predictions.confidence <= 1)).all()
    page, done = ANALYSES["classification"](result, binary_dir, "binary")
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert done == "40 test samples read from cache"
    assert "on 40 test samples: accuracy 90.00 %" in text and "differs" not in text
    assert re.search(r"[01] (negative|positive) +[01] (negative|positive) +\d+ ", text)
    assert "worst class" not in text, "no red classes among two"

    digits_dir = tmp_path / "digits"
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    write_toy_run(digits_dir, names, n_wrong=6, pictures=True)
    page, done = ANALYSES["classification"](read_result(digits_dir), digits_dir, "digits")
    assert done == "40 test samples evaluated, cached"
    alts = re.findall(r'<img alt="([^"]+)"', page)
    assert alts[:2] == ["confusion matrix, digits", "per-class accuracy, digits"]
    assert alts[-1] == "misclassified test images, digits"
    assert any(a.startswith("picture of class") for a in alts)
    assert any(f"{c} {names[c]}" in page for c in range(10))


def test_confusion_numbers():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 0, 0, 2])
    counts = confusion_matrix(y_true, y_pred, 4)
    assert counts.tolist() == [[1, 2, 0, 0], [0, 1, 1, 0], [2, 0, 2, 0], [0, 0, 0, 0]]
    accuracy = per_class_accuracy(counts)
    assert accuracy[:3].tolist() == [1 / 3, 0.5, 0.5] and np.isnan(accuracy[3])
    assert [(p.true, p.predicted, p.count, p.share) for p in most_confused(counts, k=5)] == \
        [(0, 1, 2, 2 / 3), (2, 0, 2, 0.5), (1, 2, 1, 0.5)]


def test_learning_curves_read_with_tensorboards_reader(tmp_path):
    (tmp_path / "garbage" / "tensorboard").mkdir(parents=True)
    (tmp_path / "garbage" / "tensorboard" / "events.out.tfevents.1.h.1.0").write_bytes(b"\x07" * 99)
    assert read_curves(tmp_path / "garbage", ["acc", "loss"]).problem is not None
    write_run(tmp_path / "run", "completed", "set-24x24-L", "cnn_v1", value=0.9, epochs=4)
    curves = read_curves(tmp_path / "run", ["acc", "loss"])
    assert curves.problem is None and curves.epochs == 4
    epochs, values = curves.series["val_acc"]
    assert epochs == [1, 2, 3, 4]
    assert values == pytest.approx([1 - 0.6 / e for e in epochs])
    assert set(curves.series) == {"train_acc", "val_acc", "train_loss", "val_loss"}
    write_run(tmp_path / "regression", "completed", "bhpd", "mlp", value=2.5, epochs=3,
              task=REGRESSION, family="tables")
    assert set(read_curves(tmp_path / "regression", ["mae", "loss"]).series) == {
        "train_mae", "val_mae", "train_loss", "val_loss"}, "the run's own metric"
    assert read_curves(tmp_path / "nothing", ["acc"]).problem == "no tensorboard folder"
    (tmp_path / "empty" / "tensorboard").mkdir(parents=True)
    assert "no per-epoch metrics" in read_curves(tmp_path / "empty", ["acc"]).problem


def test_page_of_a_sweep_that_only_started(tmp_path):
    """Nothing completed yet: no ranking, but the curves of the runs in progress."""
    write_run(tmp_path / "sweep" / "0", "running", "set-24x24-L", "cnn_v1", epochs=3)
    write_run(tmp_path / "sweep" / "1", "running", "set-24x24-L", "cnn_v2", epochs=0)
    report = build_report([tmp_path / "sweep"])
    page, timings = render_html(report, [tmp_path / "sweep"])
    assert report.matrices == [] and timings.analyses == []
    assert "No completed run with a test value of its metric yet" in page
    assert "Not completed: 2 running" in page
    alts = re.findall(r'<img alt="([^"]+)"', page)
    assert alts == ["learning curves (acc), GTSRB real data",
                    "learning curves (loss), GTSRB real data"]
    assert "no per-epoch metrics" not in page, "a run with no epoch yet is not a problem"
    assert 'href="#best-run"' not in page
