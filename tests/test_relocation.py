"""A run directory is used from its own files wherever it is: moved, copied while its original is
still there, or set aside by rerun=true, `evaluate`, `predict`, `export`, the report and a
resume open its checkpoints and not those of the place it was trained in; result.json records
them relative to it. Where data is looked for or cached is no part of a run's identity; a
prepared set cleaned since training is built again by `evaluate`."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict
from PIL import Image

from fidle_runs.core.errors import UserError
from fidle_runs.data.inputs import InputRequest
from fidle_runs.evaluate.__main__ import main as evaluate
from fidle_runs.export.__main__ import main as export
from fidle_runs.predict.__main__ import predict
from fidle_runs.report.predictions import run_predictions
from fidle_runs.report.run_index import read_run as report_row
from fidle_runs.run.rebuild import load_run, named_checkpoint, read_run, run_checkpoint
from fidle_runs.run.train import train
from fidle_runs.store.result import RunResult, read_result
from fidle_runs.store.run_dir import (
    LAST_CHECKPOINT,
    check_same_run,
    checkpoint_path,
    save_config,
    set_aside,
)
from tests.conftest import compose_train


def as_written_before(run_dir: Path) -> None:
    """result.json as runs wrote it before checkpoints were recorded relative: absolute paths
    into the directory the run was trained in (`run_dir`, here)."""
    record = json.loads((run_dir / "result.json").read_text())
    record["checkpoints"] = {which: str(run_dir.resolve() / "checkpoints" / Path(path).name)
                             for which, path in record["checkpoints"].items() if path}
    (run_dir / "result.json").write_text(json.dumps(record))


def break_weights(checkpoint: Path) -> None:
    """Replace every weight of the checkpoint's network with NaN."""
    state = torch.load(checkpoint, weights_only=True)
    for key, value in state["state_dict"].items():
        if key.startswith("net.") and value.is_floating_point():
            value.fill_(float("nan"))
    torch.save(state, checkpoint)


def best_name(run_dir: Path) -> str:
    return Path(read_result(run_dir).checkpoints["best"]).name


def test_result_json_records_checkpoints_relative_to_the_run(mnist_run):
    checkpoints = read_result(mnist_run).checkpoints
    assert checkpoints == {"best": f"checkpoints/{best_name(mnist_run)}",
                           "last": "checkpoints/last.ckpt"}
    assert (mnist_run / checkpoints["best"]).is_file()


def test_a_recorded_checkpoint_is_read_in_the_directory_its_result_json_is_in(tmp_path):
    here = tmp_path / "b" / "run"
    assert checkpoint_path(here, "checkpoints/best-epoch002.ckpt") == \
        here / "checkpoints" / "best-epoch002.ckpt"
    # An absolute record (older files) names another directory once the run moved: its name only.
    assert checkpoint_path(here, str(tmp_path / "a" / "run" / "checkpoints" / "best.ckpt")) == \
        here / "checkpoints" / "best.ckpt"
    assert checkpoint_path(here, None) is None


def grey_image(path: Path) -> Path:
    Image.new("L", (28, 28)).save(path)
    return path


@pytest.mark.parametrize("written_before", [False, True], ids=["relative", "absolute"])
def test_a_moved_run_is_evaluated_predicted_exported_and_reported_where_it_is(
        mnist_run, tmp_path, written_before, capsys):
    trained = tmp_path / "a" / "run"
    shutil.copytree(mnist_run, trained)
    if written_before:
        as_written_before(trained)
    moved = tmp_path / "b" / "run"
    moved.parent.mkdir()
    trained.rename(moved)
    trained.parent.rmdir()
    name = best_name(moved)

    evaluate([str(moved), "--splits", "test"])
    result = read_result(moved)
    entry = result.evaluation["best"]
    assert entry["checkpoint"] == f"checkpoints/{name}"
    assert entry["splits"]["test"]["test_acc"] == result.metrics["test_acc"]
    _, records = predict(moved, InputRequest([grey_image(tmp_path / "digit.png")], []))
    assert len(records) == 1
    export([str(moved), "--out", str(tmp_path / "model.ts"), "--format", "torchscript"])
    sidecar = json.loads((tmp_path / "model.ts.json").read_text())
    assert sidecar["checkpoint"] == f"checkpoints/{name}"
    assert sidecar["run"] == str(moved.resolve())

    assert "best checkpoint deleted" not in report_row(moved).problems
    assert run_checkpoint(result.checkpoints, moved) == moved / "checkpoints" / name
    assert run_predictions(result, moved).accuracy == pytest.approx(result.metrics["test_acc"])
    capsys.readouterr()


@pytest.fixture
def original_and_copy(mnist_run, tmp_path) -> tuple[Path, Path]:
    """A run recorded with absolute paths into itself, a copy of it, then the original's
    checkpoints broken: whatever opens the original's files gets NaN."""
    original, copy = tmp_path / "original", tmp_path / "copy"
    shutil.copytree(mnist_run, original)
    as_written_before(original)
    shutil.copytree(original, copy)
    for checkpoint in (original / "checkpoints").glob("*.ckpt"):
        break_weights(checkpoint)
    return original, copy


def test_a_copy_uses_its_own_checkpoints_while_its_original_is_still_there(
        original_and_copy, mnist_run, tmp_path, capsys):
    original, copy = original_and_copy
    name = best_name(copy)
    recorded = read_result(copy)
    assert Path(recorded.checkpoints["best"]).parent == original.resolve() / "checkpoints"
    _, run = load_run(copy)
    assert run.checkpoint == copy / "checkpoints" / name

    evaluate([str(copy), "--splits", "test"])
    tested = read_result(copy).evaluation["best"]["splits"]["test"]
    assert tested["test_acc"] == recorded.metrics["test_acc"]
    request = InputRequest([grey_image(tmp_path / "digit.png")], [])
    assert predict(copy, request) == predict(mnist_run, request)
    export([str(copy), "--out", str(tmp_path / "model.ts"), "--format", "torchscript"])
    assert json.loads((tmp_path / "model.ts.json").read_text())["parity"]["finite"] is True
    assert run_predictions(recorded, copy).accuracy == pytest.approx(
        recorded.metrics["test_acc"])
    capsys.readouterr()


def test_a_run_set_aside_by_rerun_uses_its_own_checkpoints(mnist_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(mnist_run, run)
    as_written_before(run)
    name = best_name(run)
    aside = set_aside(run)
    # The new run trained in the directory saves a checkpoint of the same name.
    (run / "checkpoints").mkdir()
    shutil.copy(aside / "checkpoints" / name, run / "checkpoints" / name)
    break_weights(run / "checkpoints" / name)

    result = read_run(aside)
    assert named_checkpoint(result, aside, "best") == aside / "checkpoints" / name
    evaluate([str(aside), "--splits", "test"])
    tested = read_result(aside).evaluation["best"]["splits"]["test"]
    assert tested["test_acc"] == result.metrics["test_acc"]
    assert named_checkpoint(result, aside, "last") == aside / LAST_CHECKPOINT
    capsys.readouterr()


@pytest.fixture(scope="module")
def interrupted_table_run(tmp_path_factory) -> tuple[Path, list[str]]:
    """A regression run on a generated table with 1 of its 2 epochs checkpointed, as a kill
    after the first epoch leaves it, and the overrides that resume it."""
    import numpy as np
    import pandas as pd

    root = tmp_path_factory.mktemp("interrupted")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x[:, 0] - x[:, 1]}).to_csv(
        root / "table.csv", index=False)
    overrides = ["task=regression", "data=csv_table", f"data.path={root / 'table.csv'}",
                 "data.target=y", "model=mlp", "seed=0", "callbacks.progress.style=lines"]
    run = root / "run"
    result = train(compose_train([*overrides, "trainer.max_epochs=1", f"paths.run_dir={run}"]))
    assert result.status == "completed", result.error
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("max_epochs: 1\n", "max_epochs: 2\n"))
    record = json.loads((run / "result.json").read_text())
    record.update(status="interrupted", max_epochs=2)
    (run / "result.json").write_text(json.dumps(record))
    as_written_before(run)
    return run, [*overrides, "trainer.max_epochs=2"]


def test_a_copy_of_an_interrupted_run_resumes_with_its_own_files(interrupted_table_run,
                                                                  tmp_path):
    original, overrides = interrupted_table_run
    before = {p.name: p.read_bytes() for p in original.rglob("*") if p.is_file()}
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    result = train(compose_train([*overrides, f"paths.run_dir={copy}"]))
    assert result.status == "completed" and result.epochs == 2 and result.resumed == 1
    recorded = read_result(copy).checkpoints
    assert not Path(recorded["best"]).is_absolute() and recorded["last"] == str(LAST_CHECKPOINT)
    assert checkpoint_path(copy, recorded["best"]).is_file()
    assert {p.name: p.read_bytes() for p in original.rglob("*") if p.is_file()} == before


@pytest.fixture
def completed_gtsrb_config(small_run, tmp_path) -> tuple[Path, RunResult]:
    """A completed GTSRB run's directory as its config.yaml and result.json say (nothing
    trained: check_same_run reads only those), started without FIDLE_DATASETS_DIR."""
    run = tmp_path / "run"
    run.mkdir()
    save_config(run, small_run(run_dir=run))
    return run, RunResult(status="completed", epochs=2)


@pytest.mark.parametrize("where", ["paths.datasets_dir=/elsewhere/datasets",
                                   "data.prepared_dir=/elsewhere/cache/GTSRB/enhanced",
                                   "data.synthetic_dir=/elsewhere/cache/synthetic",
                                   "paths.data_dir=/elsewhere/cache"])
@pytest.mark.parametrize("status", ["completed", "interrupted"])
def test_where_data_is_looked_for_or_cached_is_no_part_of_a_run(completed_gtsrb_config,
                                                                small_run, where, status):
    run, previous = completed_gtsrb_config
    previous.status = status
    if status == "interrupted":
        (run / LAST_CHECKPOINT).parent.mkdir()
        (run / LAST_CHECKPOINT).touch()
    check_same_run(run, small_run(where, run_dir=run), previous)


def test_fidle_datasets_dir_set_on_another_machine_is_no_part_of_a_run(
        completed_gtsrb_config, small_run, tmp_path, monkeypatch):
    run, previous = completed_gtsrb_config
    monkeypatch.setenv("FIDLE_DATASETS_DIR", str(tmp_path / "datasets"))
    again = small_run(run_dir=run)
    assert again.data.datasets_dir == str(tmp_path / "datasets")
    check_same_run(run, again, previous)


def test_a_run_saved_before_a_watching_callback_existed_resumes(small_run, tmp_path):
    """config.yaml of a run made before callbacks.divergence existed (and with another progress
    display) is the same run; a callback that changes training is not."""
    run = tmp_path / "run"
    run.mkdir()
    older = small_run(run_dir=run)
    with open_dict(older):
        del older.callbacks["divergence"]
    older.callbacks.progress.style = "bar"
    save_config(run, older)
    interrupted = RunResult(status="interrupted", epochs=1)
    check_same_run(run, small_run(run_dir=run), interrupted)
    with pytest.raises(UserError, match=r"callbacks.model_checkpoint.save_top_k="):
        check_same_run(run, small_run("callbacks.model_checkpoint.save_top_k=2", run_dir=run),
                       interrupted)


@pytest.mark.parametrize(("which", "key"), [("data.raw_dir=/elsewhere/GTSRB", "data.raw_dir"),
                                            ("data.size=48", "data.size")])
def test_which_data_stays_part_of_a_run(completed_gtsrb_config, small_run, which, key):
    run, previous = completed_gtsrb_config
    with pytest.raises(UserError, match=rf"holds a run started with {key}="):
        check_same_run(run, small_run(which, run_dir=run), previous)


def test_evaluate_builds_a_cleaned_prepared_set_again(tmp_path, shared_data_dir, capsys):
    run = tmp_path / "run"
    result = train(compose_train([
        "+experiment=gtsrb_cnn", "data.source=synthetic", "data.synthetic_fraction=0.05",
        "data.prepare_workers=2", "trainer.max_epochs=1", "callbacks.progress.style=lines",
        f"paths.data_dir={tmp_path / 'data'}",
        f"data.synthetic_dir={shared_data_dir / 'GTSRB-synthetic'}", f"paths.run_dir={run}"]))
    assert result.status == "completed", result.error
    prepared = Path(result.data["file"])
    prepared.unlink()  # a cache: safe to delete, rebuilt on demand
    evaluate([str(run), "--splits", "test"])
    assert prepared.is_file()
    tested = read_result(run).evaluation["best"]["splits"]["test"]
    assert tested["test_acc"] == result.metrics["test_acc"]
    capsys.readouterr()


def test_a_resumed_run_is_checked_against_the_data_it_trained_on(small_run):
    """Where data is looked for is no part of a run, so a run resumed elsewhere is checked by
    what it loads: data other than its own (another source, other counts) is refused."""
    cfg = small_run("trainer.max_epochs=1")
    run = Path(cfg.paths.run_dir)
    assert train(cfg).status == "completed"
    recorded = json.loads((run / "result.json").read_text())
    recorded.update(status="interrupted", checkpoints={"best": None, "last": None})
    recorded["data"]["source"] = "real"
    (run / "result.json").write_text(json.dumps(recorded))
    with pytest.raises(UserError, match=r"was trained on data with source='real', but the data "
                                        r"found now has source='synthetic'"):
        train(small_run("trainer.max_epochs=1"))
    assert read_result(run).data["source"] == "real", "the refused attempt keeps the record"
    recorded["data"]["source"] = "synthetic"
    (run / "result.json").write_text(json.dumps(recorded))
    resumed = train(small_run("trainer.max_epochs=1"))
    assert resumed.status == "completed" and resumed.resumed == 1
