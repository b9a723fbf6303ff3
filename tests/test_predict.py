"""`python -m fidle_runs.predict`: a trained run used on inputs as a user has them, for every
family: PNG files of real MNIST test images and raw synthetic GTSRB sign files (the samples the
run's data holds, exactly), CSV rows of a table, real movie-review texts, the recent history of a
series; bad input refused in one line."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fidle_runs.data.inputs import InputRequest
from fidle_runs.predict.__main__ import main
from fidle_runs.run.rebuild import load_run

PROG = "python -m fidle_runs.predict: error: "


def predicted(capsys, *args) -> list[dict]:
    main([str(a) for a in args] + ["--json"])
    return json.loads(capsys.readouterr().out)


def refused(*args) -> str:
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
    assert stop.value.code != 0
    return str(stop.value.code).removeprefix(PROG)


def network_outputs(run_dir: Path, k: int) -> tuple[torch.Tensor, torch.Tensor, object]:
    """The run's first k test samples as its data holds them, and its outputs for them."""
    _, run = load_run(run_dir, load_data=True)
    x = run.datamodule.tensors["test"][0][:k]
    with torch.inference_mode():
        return x, run.task(run.datamodule.network_input(x)), run


def test_pngs_of_real_mnist_test_images_get_the_classes_of_the_evaluation(
        mnist_run, tmp_path, capsys):
    x, logits, run = network_outputs(mnist_run, 40)
    paths = []
    for i, image in enumerate(x[:, 0].numpy()):
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(image).save(paths[-1])
    records = predicted(capsys, mnist_run, *paths)
    assert [r["input"] for r in records] == [p.name for p in paths]
    assert [r["class_id"] for r in records] == logits.argmax(1).tolist()
    probabilities = logits.softmax(1)
    for r, p in zip(records, probabilities, strict=True):
        assert r["class"] == str(r["class_id"]) and len(r["top"]) == 5
        assert r["probability"] == pytest.approx(float(p.max()), abs=1e-6)
        assert [t["probability"] for t in r["top"]] == sorted(
            (t["probability"] for t in r["top"]), reverse=True)
    labels = run.datamodule.tensors["test"][1][:40]
    right = sum(r["class_id"] == int(y) for r, y in zip(records, labels, strict=True))
    assert right >= 32  # a two-epoch mnist_dnn gets about 88 % of test images right

    main([str(mnist_run), str(paths[0])])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["input", "class", "probability", "next", "most", "probable"]
    assert lines[2].split()[:4] == ["digit0.png", records[0]["class"],
                                    f"{100 * records[0]['probability']:.2f}", "%"]
    assert lines[-1].startswith(f"1 input(s) predicted by {mnist_run} (best checkpoint) on cpu")


def test_a_grey_image_saved_as_rgb_is_read_and_a_colour_one_refused(mnist_run, tmp_path,
                                                                       capsys):
    x, logits, _ = network_outputs(mnist_run, 1)
    grey = x[0, 0].numpy()
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "rgb.png")
    assert predicted(capsys, mnist_run, tmp_path / "rgb.png")[0]["class_id"] == \
        int(logits.argmax())
    colour = np.stack([grey] * 3, axis=-1)
    colour[..., 0] = 255 - colour[..., 0]
    Image.fromarray(colour).save(tmp_path / "colour.png")
    assert refused(mnist_run, tmp_path / "colour.png") == (
        f"{tmp_path / 'colour.png'} is a colour image (3 channels RGB): a mnist run reads grey "
        "images (1 channel); convert it to greyscale")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert refused(mnist_run, tmp_path / "broken.png").startswith(
        f"cannot read image {tmp_path / 'broken.png'} (")
    assert refused(mnist_run, tmp_path / "absent.png") == (
        f"{tmp_path / 'absent.png'}: no such file; give grey image files (PNG, PGM)")
    assert refused(mnist_run) == "no image given: name one or more image files (digit.png)"


def test_raw_gtsrb_sign_files_become_exactly_the_samples_of_the_prepared_set(
        gtsrb_run, shared_data_dir, capsys):
    x, logits, run = network_outputs(gtsrb_run, 12)
    # The run's own raw set: other tests make other fractions, whose first images differ.
    data = run.cfg.data
    raw = (shared_data_dir / "GTSRB-synthetic" /
           f"fraction{data.synthetic_fraction:g}-seed{data.synthetic_seed}")
    with open(raw / "Test.csv") as f:
        paths = [raw / row["Path"] for row in list(csv.DictReader(f))[:12]]
    inputs = run.datamodule.read_inputs(InputRequest(paths))
    assert inputs.x.dtype == torch.uint8 and inputs.x.shape == x.shape == (12, 3, 24, 24)
    assert torch.equal(inputs.x, x)
    records = predicted(capsys, gtsrb_run, *paths, "--top", "3")
    assert [r["class_id"] for r in records] == logits.argmax(1).tolist()
    names = run.datamodule.class_names
    assert [r["class"] for r in records] == [names[c] for c in logits.argmax(1).tolist()]
    assert all(len(r["top"]) == 3 for r in records)
    assert refused(gtsrb_run, raw / "Test.csv").startswith(
        f"cannot decode image {raw / 'Test.csv'}")


def test_csv_rows_are_encoded_with_the_runs_kept_scaling(table_run, tmp_path, capsys):
    _, run = load_run(table_run, load_data=True)
    datamodule = run.datamodule
    rows = datamodule.raw_features.loc[datamodule.test_rows[:25]]
    rows.assign(progression=0.0).to_csv(tmp_path / "patients.csv", index=False)
    with torch.inference_mode():
        expected = run.task(datamodule.tensors["test"][0][:25])[:, 0]
    records = predicted(capsys, table_run, tmp_path / "patients.csv")
    assert [r["input"] for r in records] == [f"patients.csv row {i}" for i in range(1, 26)]
    values = [r["predictions"]["progression"] for r in records]
    np.testing.assert_allclose(values, expected.numpy(), rtol=1e-5, atol=1e-4)
    assert 20 < np.mean(values) < 350  # disease progression in its own units

    rows.drop(columns=["bmi", "bp"]).to_csv(tmp_path / "short.csv", index=False)
    assert refused(table_run, tmp_path / "short.csv") == (
        f"{tmp_path / 'short.csv'} lacks the column(s) 'bmi', 'bp' the run was trained with "
        f"({', '.join(rows.columns)})")
    assert refused(table_run, tmp_path / "patients.csv", "--text", "hello") == (
        f"--text is for runs on texts; {table_run} was trained on tables data: give it files "
        "instead")
    assert refused(table_run, tmp_path / "patients.csv", "--steps", "3") == (
        f"--steps is for forecasting runs; {table_run} is a regression run")


def test_real_review_texts_are_encoded_with_the_runs_vocabulary(text_run, tmp_path, capsys):
    _, logits, run = network_outputs(text_run, 8)
    texts = run.datamodule.test_texts(list(range(8)))
    args = [a for text in texts[:6] for a in ("--text", text)]
    for i, text in enumerate(texts[6:]):
        (tmp_path / f"review{i}.txt").write_text(text, encoding="utf-8")
        args.append(tmp_path / f"review{i}.txt")
    records = predicted(capsys, text_run, *args)
    assert [r["input"] for r in records][6:] == ["review0.txt", "review1.txt"]
    expected = torch.sigmoid(logits[:, 0])
    for r, p in zip(records, expected, strict=True):
        assert {t["class"] for t in r["top"]} == {"neg", "pos"}
        positive = next(t["probability"] for t in r["top"] if t["class"] == "pos")
        assert positive == pytest.approx(float(p), abs=1e-6)
    assert refused(text_run, "--text", " \n ") == (
        "--text number 1 is empty: give the text to classify")
    (tmp_path / "empty.txt").write_text("")
    assert refused(text_run, tmp_path / "empty.txt") == (
        f"{tmp_path / 'empty.txt'} is empty: give the text to classify")


def test_recent_history_gives_the_forecast_of_its_next_steps(forecast_run, tmp_path, capsys):
    _, run = load_run(forecast_run, load_data=True)
    datamodule, task = run.datamodule, run.task
    window, start = datamodule.window, datamodule.parts.test.start
    x = datamodule.tensors["test"][0]
    # Three steps more than a window: the forecast is the one of the LAST window (test's 4th).
    history = pd.DataFrame(datamodule.series.values[start:start + 3 + window],
                           columns=datamodule.feature_names)
    history.insert(0, "t", np.arange(window + 3))
    history.to_csv(tmp_path / "recent.csv", index=False)
    with torch.inference_mode():
        one_step = datamodule.unscale_targets(task(x[3:4]))[0]
        first_window = datamodule.unscale_targets(task(x[0:1]))[0]
    assert not torch.allclose(one_step, first_window, rtol=1e-3, atol=1e-3)
    [record] = predicted(capsys, forecast_run, tmp_path / "recent.csv")
    assert record["input"] == f"recent.csv (after its last of {window + 3} steps)"
    [step] = record["forecast"]
    assert step["step"] == 1
    np.testing.assert_allclose([step[n] for n in task.target_names], one_step.numpy(),
                               rtol=1e-5, atol=1e-5)
    # Five steps: the forecasts fed back as input, the first one the same.
    [record] = predicted(capsys, forecast_run, tmp_path / "recent.csv", "--steps", "5")
    assert [s["step"] for s in record["forecast"]] == [1, 2, 3, 4, 5]
    assert record["forecast"][0] == step
    path = x[3:4]
    with torch.inference_mode():
        for _ in range(5):
            ahead = task(path)
            path = torch.cat([path[:, 1:], ahead[:, None]], dim=1)
    np.testing.assert_allclose([record["forecast"][-1][n] for n in task.target_names],
                               datamodule.unscale_targets(ahead)[0].numpy(), rtol=1e-5,
                               atol=1e-5)

    history.iloc[4:].to_csv(tmp_path / "short.csv", index=False)
    assert refused(forecast_run, tmp_path / "short.csv") == (
        f"{tmp_path / 'short.csv'} holds {window - 1} steps, shorter than the run's window of "
        f"{window}: give at least {window} steps of history")
    history.drop(columns=[task.target_names[0]]).to_csv(tmp_path / "lacking.csv", index=False)
    assert refused(forecast_run, tmp_path / "lacking.csv").startswith(
        f"{tmp_path / 'lacking.csv'} lacks the column(s) '{task.target_names[0]}' the run was "
        "trained with")


def test_what_is_no_trained_run_is_one_line(mnist_run, tmp_path):
    assert refused(tmp_path, "x.png") == (
        f"{tmp_path} is no run: it holds no readable result.json (a run directory holds "
        "result.json, config.yaml and checkpoints/)")
    never = tmp_path / "never"
    shutil.copytree(mnist_run, never, ignore=shutil.ignore_patterns("checkpoints"))
    record = json.loads((never / "result.json").read_text())
    record.update(status="interrupted", epochs=0, checkpoints={"best": None, "last": None})
    (never / "result.json").write_text(json.dumps(record))
    assert refused(never, "x.png") == (
        f"{never} never completed an epoch (interrupted): it has no checkpoint to use; train "
        "it first (launch its command again)")
    assert refused(never, "x.png", "--checkpoint", "last").startswith(f"{never} never completed")
