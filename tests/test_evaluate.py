"""`python -m fidle_runs.evaluate`: a trained run's checkpoint scored again on train, validation
and test, on real MNIST (the test accuracy result.json recorded, reproduced exactly), over a
directory of runs, with a changed data file named, and bad input refused in one line with
nothing written."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fidle_runs.evaluate.__main__ import main
from fidle_runs.run.train import train
from fidle_runs.store.result import read_result
from fidle_runs.store.run_dir import LAST_CHECKPOINT
from tests.conftest import compose_train


def evaluate(*args: str) -> None:
    main([str(a) for a in args])


def test_evaluate_reproduces_the_recorded_test_accuracy_and_scores_train_and_val(
        mnist_run, capsys):
    before = json.loads((mnist_run / "result.json").read_text())
    evaluate(mnist_run)
    out = capsys.readouterr().out
    after = json.loads((mnist_run / "result.json").read_text())
    best = after["evaluation"]["best"]
    assert best["checkpoint"] == before["checkpoints"]["best"]  # relative to the run
    assert best["epoch"] == 2 and best["device"] == "cpu" and best["data_changes"] == []
    splits = best["splits"]
    assert list(splits) == ["train", "val", "test"]
    # The test loop of training and this one count the same images right: the same accuracy.
    assert splits["test"]["test_acc"] == before["metrics"]["test_acc"]
    assert splits["test"]["test_acc_majority"] == before["metrics"]["test_acc_majority"]
    assert splits["test"]["test_loss"] == pytest.approx(before["metrics"]["test_loss"], abs=2e-6)
    # The train accuracy is the share of train images that the best checkpoint's weights,
    # loaded here from its file, classify right (counted with numpy): two epochs on 10,800
    # images make it real, near test's.
    import torch

    from fidle_runs.run.rebuild import load_run

    _, run = load_run(mnist_run, load_data=True)
    weights = torch.load(mnist_run / before["checkpoints"]["best"], map_location="cpu",
                         weights_only=True)["state_dict"]
    run.task.load_state_dict(weights)
    run.task.eval()
    x, y = run.datamodule.tensors["train"]
    with torch.inference_mode():
        predicted = np.concatenate([
            run.task(run.datamodule.network_input(x[i:i + 1000])).argmax(1).numpy()
            for i in range(0, len(x), 1000)])
    assert len(predicted) == 10_800
    train_acc = float(np.mean(predicted == y.numpy()))
    assert splits["train"]["train_acc"] == pytest.approx(train_acc, abs=1e-6)
    assert 0.8 < train_acc < 1 and 0.8 < splits["val"]["val_acc"] < 1
    assert splits["val"]["val_acc"] == pytest.approx(before["monitor"]["best"], abs=1e-4)
    # The training record is untouched: only the evaluation block was added.
    assert {k: v for k, v in after.items() if k != "evaluation"} == \
        {k: v for k, v in before.items() if k != "evaluation"}
    lines = out.splitlines()
    assert lines[0] == f"{mnist_run}: mnist_dnn on mnist, best checkpoint (epoch 2)"
    assert lines[3].split()[:2] == ["train", "10800"] and lines[4].split()[:2] == ["val", "1200"]
    test_row = lines[5].split()
    assert test_row[:2] == ["test", "2000"]
    assert test_row[3] == f"{100 * before['metrics']['test_acc']:.2f}"
    assert test_row[-2:] == ["test_acc", f"{100 * before['metrics']['test_acc']:.2f}"]


def test_evaluating_the_last_checkpoint_on_test_adds_it_beside_the_best(mnist_run, capsys):
    evaluate(mnist_run)
    evaluate(mnist_run, "--splits", "test", "--checkpoint", "last")
    evaluation = read_result(mnist_run).evaluation
    assert set(evaluation) == {"best", "last"}
    assert list(evaluation["last"]["splits"]) == ["test"]
    assert evaluation["last"]["checkpoint"] == str(LAST_CHECKPOINT)
    # last.ckpt is epoch 2's too (2 epochs): the same weights, the same accuracy.
    assert evaluation["last"]["splits"]["test"]["test_acc"] == \
        evaluation["best"]["splits"]["test"]["test_acc"]
    assert list(evaluation["best"]["splits"]) == ["train", "val", "test"]


def test_json_output_holds_every_metric(mnist_run, capsys):
    evaluate(mnist_run, "--splits", "val", "--json")
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["run_dir"] == str(mnist_run) and entry["recorded"] is True
    assert entry["which"] == "best" and list(entry["splits"]) == ["val"]
    recorded = read_result(mnist_run).metrics
    assert set(entry["splits"]["val"]) == {name.replace("test_", "val_", 1) for name in recorded}
    assert {"val_acc", "val_acc_majority", "val_f1_macro", "val_log_loss_chance"} <= set(
        entry["splits"]["val"]), "the scores of the predictions, as the run's test has them"


@pytest.fixture(scope="module")
def csv_runs(tmp_path_factory) -> Path:
    """Two regression runs on one generated CSV table, in one directory (a sweep's layout)."""
    root = tmp_path_factory.mktemp("csv_runs")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["y"] = 2 * x[:, 0] - x[:, 1] + 0.1 * rng.normal(size=300)
    frame.to_csv(root / "table.csv", index=False)
    for job, epochs in (("0", 2), ("1", 1)):
        result = train(compose_train([
            "task=regression", "data=csv_table", f"data.path={root / 'table.csv'}",
            "data.target=y", "model=mlp", f"trainer.max_epochs={epochs}",
            "callbacks.progress.style=lines", f"paths.run_dir={root / 'sweep' / job}"]))
        assert result.status == "completed", result.error
    return root


def test_every_run_below_a_directory_is_evaluated(csv_runs, capsys):
    evaluate(csv_runs / "sweep", "--splits", "test")
    out = capsys.readouterr().out
    for job in ("0", "1"):
        result = read_result(csv_runs / "sweep" / job)
        assert f"{csv_runs / 'sweep' / job}: mlp on table" in out
        test = result.evaluation["best"]["splits"]["test"]
        assert test["test_mae"] == pytest.approx(result.metrics["test_mae"], rel=1e-5)
        assert "test_r2" in test and "test_mae_least_squares" in test


def test_a_data_file_changed_since_training_is_named(csv_runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(csv_runs / "sweep" / "0", run)
    table = csv_runs / "table.csv"
    original, stat = table.read_bytes(), table.stat()
    frame = pd.read_csv(table)
    frame.loc[0, "a"] += 100.0  # one train row moves the z-score of column a
    try:
        frame.to_csv(table, index=False)
        later = stat.st_mtime + 60  # written a minute after the run's training ended
        os.utime(table, (later, later))
        evaluate(run, "--splits", "test")
    finally:
        table.write_bytes(original)
        os.utime(table, (stat.st_atime, stat.st_mtime))
    out = capsys.readouterr().out
    changes = read_result(run).evaluation["best"]["data_changes"]
    assert len(changes) == 2
    assert changes[0].startswith(f"the data file {table.resolve()} was modified at ")
    assert "after the run's training ended" in changes[0]
    assert changes[1].startswith("the preprocessing computed from the data now differs from "
                                 "the one the checkpoint kept (encoding.")
    assert f"  WARNING: {changes[0]}" in out and f"  WARNING: {changes[1]}" in out


def _refused(capsys, *args) -> str:
    with pytest.raises(SystemExit) as stop:
        evaluate(*args)
    assert stop.value.code != 0
    return str(stop.value.code)


def test_bad_input_is_one_line_and_writes_nothing(mnist_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _refused(capsys, empty) == (
        f"python -m fidle_runs.evaluate: error: {empty} is no run and holds none (a run "
        "directory holds result.json, config.yaml and checkpoints/)")
    assert _refused(capsys, tmp_path / "absent").endswith(
        "is not a directory: give a run directory or a directory of runs (a sweep, outputs/)")
    assert "--splits 'train,tests': choose among train, val, test" in _refused(
        capsys, mnist_run, "--splits", "train,tests")

    never = tmp_path / "never"
    shutil.copytree(mnist_run, never, ignore=shutil.ignore_patterns("checkpoints"))
    record = json.loads((never / "result.json").read_text())
    record.update(status="failed", epochs=0, checkpoints={"best": None, "last": None})
    (never / "result.json").write_text(json.dumps(record))
    assert _refused(capsys, never) == (
        f"python -m fidle_runs.evaluate: error: {never} never completed an epoch (failed): it "
        "has no checkpoint to use; train it first (launch its command again)")

    gone = tmp_path / "gone"
    shutil.copytree(mnist_run, gone)
    record = json.loads((gone / "result.json").read_text())
    record["checkpoints"]["best"] = str(gone / "checkpoints" / "best-epoch002.ckpt")
    (gone / "result.json").write_text(json.dumps(record))
    before = (gone / "result.json").read_bytes()
    assert _refused(capsys, gone) == (
        f"python -m fidle_runs.evaluate: error: {gone}: its best checkpoint "
        f"{gone / 'checkpoints' / 'best-epoch002.ckpt'} is missing: restore it, or use "
        "--checkpoint last")
    assert (gone / "result.json").read_bytes() == before


def test_a_run_still_running_is_evaluated_but_not_recorded(mnist_run, tmp_path, capsys):
    running = tmp_path / "running"
    shutil.copytree(mnist_run, running)
    record = json.loads((running / "result.json").read_text())
    record.pop("evaluation", None)
    record["status"] = "running"
    (running / "result.json").write_text(json.dumps(record))
    before = (running / "result.json").read_bytes()
    evaluate(running, "--splits", "test")
    assert "not recorded in result.json: the run is running" in capsys.readouterr().out
    assert (running / "result.json").read_bytes() == before


def test_every_split_is_scored_with_the_data_placed_on_the_device(mnist_run):
    """The split views share the datamodule's placement: each split's own memory is placed for
    it (on a CPU, `device` places the same memory and must give the host's numbers)."""
    from fidle_runs.data.placement import Placement
    from fidle_runs.evaluate.splits import SPLITS, evaluate_splits
    from fidle_runs.run.rebuild import load_run

    _, run = load_run(mnist_run, load_data=True)
    on_host = evaluate_splits(run.datamodule, run.task, list(SPLITS))
    run.datamodule.placement = Placement("device")
    assert evaluate_splits(run.datamodule, run.task, list(SPLITS)) == on_host


def test_two_evaluations_at_once_keep_both_entries(mnist_run, tmp_path, monkeypatch):
    """Each reads, merges and replaces result.json under the run's lock: the second waits for
    the first's write instead of merging into what it read before it."""
    import threading
    import time

    from fidle_runs.evaluate import record

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(mnist_run / "result.json", run / "result.json")
    write_json = record.atomic.write_json

    def slow_write(path, data):
        time.sleep(0.3)  # both have read result.json by now, unless one waits for the lock
        write_json(path, data)

    monkeypatch.setattr(record.atomic, "write_json", slow_write)
    entries = {which: {"checkpoint": f"checkpoints/{which}.ckpt", "epoch": 2,
                       "splits": {"test": {"test_acc": 0.5}}} for which in ("best", "last")}
    threads = [threading.Thread(target=record.record_evaluation, args=(run, which, entry))
               for which, entry in entries.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read_result(run).evaluation == entries
