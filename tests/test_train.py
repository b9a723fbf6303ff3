"""End-to-end runs of the real gtsrb_cnn experiment on a small synthetic set, on the CPU."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import accuracy_score, f1_score, log_loss

from fidle_runs.core.errors import UserError
from fidle_runs.report.learning_curves import read_curves
from fidle_runs.report.predictions import run_predictions
from fidle_runs.run.train import train
from fidle_runs.store.predictions import read_predictions
from fidle_runs.store.result import read_result
from fidle_runs.store.run_dir import checkpoint_path
from fidle_runs.tasks import classification_scores
from tests.conftest import (
    REPO,
    assert_trains_as_uninterrupted,
    checkpointed_epochs,
    csv_epoch_values,
    csv_epochs,
    run_module,
    tensorboard_epochs,
    tensorboard_scalars,
)

CHANCE = 1 / 43


def test_run_trains_tests_and_records_everything(small_run, tmp_path):
    run_dir = tmp_path / "run"
    result = train(small_run("trainer.max_epochs=3", run_dir=run_dir))
    on_disk = json.loads((run_dir / "result.json").read_text())
    assert on_disk["status"] == "completed" and on_disk["error"] is None
    assert on_disk["model"] == "cnn_v1" and on_disk["epochs"] == 3
    assert on_disk["params"] == 4_841_083
    assert on_disk["schema"] == 2 and on_disk["task"] == "classification"
    metrics, best_val_acc = on_disk["metrics"], on_disk["monitor"]["best"]
    scores = {f"test_{name}" for name in classification_scores.SCORES
              if name in ("acc", "balanced_acc", "f1_macro", "f1_weighted", "precision_macro",
                          "recall_macro", "top5_acc", "log_loss", "ece", "loss")}
    assert scores <= set(metrics) and "test_roc_auc" not in metrics, "43 classes, not two"
    assert {"test_acc_majority", "test_f1_macro_majority", "test_log_loss_chance"} <= set(metrics)
    assert 0.2 < metrics["test_acc"] <= 1 and 0.2 < best_val_acc <= 1
    # The synthetic classes are balanced: the majority class is right on about 1 sign in 43.
    assert 0 < metrics["test_acc_majority"] < 0.1
    assert metrics["test_log_loss_chance"] == pytest.approx(math.log(43), rel=1e-12)
    assert metrics["test_loss"] > 0
    # Every test score is the saved predictions' (float64, scikit-learn's here).
    saved = read_predictions(run_dir, "test")
    assert saved.outputs.shape == (630, 43) and saved.outputs.dtype == np.float32
    predicted = saved.outputs.argmax(axis=1)
    assert metrics["test_acc"] == pytest.approx(accuracy_score(saved.targets, predicted),
                                                abs=1e-12)
    assert metrics["test_f1_macro"] == pytest.approx(
        f1_score(saved.targets, predicted, average="macro"), abs=1e-12)
    probabilities = softmax(saved.outputs.astype(np.float64), axis=1)
    assert metrics["test_log_loss"] == pytest.approx(
        log_loss(saved.targets, probabilities, labels=range(43)), rel=1e-9)
    assert metrics["test_loss"] == pytest.approx(metrics["test_log_loss"], rel=1e-12)
    assert on_disk["primary"] == {"name": "test_acc", "mode": "max", "fraction": True,
                                  "value": metrics["test_acc"],
                                  "baselines": {"test_acc_majority": metrics[
                                      "test_acc_majority"],
                                                "test_acc_chance": metrics["test_acc_chance"]}}
    assert len(on_disk["group"]) == 16
    assert (on_disk["monitor"]["name"], on_disk["monitor"]["mode"]) == ("val_acc", "max")
    data = on_disk["data"]
    assert (data["name"], data["family"], data["source"], data["size"], data["mode"]) == \
        ("set-24x24-L", "gtsrb", "synthetic", 24, "L")
    assert data["shape"] == [1, 24, 24] and data["n_outputs"] == 43
    assert data["n_train"] + data["n_val"] == 1960 and data["n_test"] == 630
    assert 100 < data["n_val"] < 300 and data["val_split"] == "by track" and data["file_mib"] > 0
    assert on_disk["duration_s"]["fit"] > 0 and on_disk["duration_s"]["test"] > 0
    assert on_disk["seed"] == 0 and on_disk["versions"]["torch"]
    assert on_disk["slurm"] == {} and on_disk["host"]
    assert result.metrics == metrics
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert Path(on_disk["checkpoints"]["best"]).name.startswith("best-epoch")
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    csv = (run_dir / "csv" / "metrics.csv").read_text()
    assert "val_acc" in csv and "train_loss" in csv
    # What the report reads back: the curves TensorBoard shows, and the best checkpoint's
    # predictions on the test set, which must reproduce the recorded test accuracy.
    curves = read_curves(run_dir, ["acc", "loss"])
    assert curves.series["val_acc"][0] == [1, 2, 3]
    assert max(curves.series["val_acc"][1]) == pytest.approx(best_val_acc, abs=1e-6)
    predictions = run_predictions(result, run_dir)
    assert len(predictions.y_true) == 630
    assert predictions.accuracy == pytest.approx(metrics["test_acc"], abs=1e-6)


# Lightning's lines a fidle_runs run must not print (fidle_runs/core/lightning_noise.py says why).
NOISE = ("💡", "LeafSpec", "logging interval", "`srun` command", "GPU available", "| Name",
         "Restoring states", "Restored all states", "`Trainer.fit` stopped",
         "exists and is not empty")


def test_a_run_prints_only_what_a_user_needs(tmp_path, shared_data_dir):
    proc = run_module("fidle_runs", "+experiment=gtsrb_cnn", "data.source=synthetic",
                      "data.synthetic_fraction=0.05", "trainer.max_epochs=2",
                      f"paths.data_dir={shared_data_dir}", f"hydra.run.dir={tmp_path / 'run'}",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for noise in NOISE:
        assert noise not in out, noise
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines if line.startswith("epoch")] == ["epoch", "epoch"]
    assert any(line.startswith("test test_loss") and "test_acc" in line for line in lines)
    assert len(lines) <= 10, out


def test_same_seed_same_metrics(small_run, tmp_path):
    a = train(small_run("seed=3", run_dir=tmp_path / "a"))
    b = train(small_run("seed=3", run_dir=tmp_path / "b"))
    assert a.metrics == b.metrics
    assert a.metrics["test_acc"] > 5 * CHANCE


def test_val_on_test_validates_on_the_test_set(small_run, tmp_path):
    """One epoch: the checkpoint tested is the one validated, so validating on the test set
    gives the test's own accuracy and loss (same samples, same batches)."""
    run_dir = tmp_path / "run"
    result = train(small_run("data.val_on_test=true", "trainer.max_epochs=1", run_dir=run_dir))
    assert result.data["n_val"] == 0 and result.data["n_train"] == 1960
    assert csv_epoch_values(run_dir, "val_acc") == csv_epoch_values(run_dir, "test_acc")
    assert csv_epoch_values(run_dir, "val_loss") == pytest.approx(
        csv_epoch_values(run_dir, "test_loss"), rel=1e-6)


def test_completed_run_is_never_overwritten(small_run, tmp_path):
    run_dir = tmp_path / "run"
    first = train(small_run("trainer.max_epochs=1", run_dir=run_dir))
    stamp = (run_dir / "result.json").stat().st_mtime_ns
    again = train(small_run("trainer.max_epochs=1", run_dir=run_dir))
    assert again.metrics == first.metrics
    assert (run_dir / "result.json").stat().st_mtime_ns == stamp


def test_a_completed_run_refuses_another_config(small_run, tmp_path):
    """A different model, learning rate or epoch count sent into a completed run's directory was
    answered "already holds a completed run ... nothing to do" (exit 0), reporting the old run."""
    run_dir = tmp_path / "run"
    train(small_run("trainer.max_epochs=1", run_dir=run_dir))
    for override, difference in (("model=cnn_v2", "model.name='cnn_v1', not 'cnn_v2'"),
                                 ("optimizer.lr=0.01", "optimizer.lr=0.001, not 0.01"),
                                 ("trainer.max_epochs=3", "trainer.max_epochs=1, not 3")):
        cfg = small_run("trainer.max_epochs=1", override, run_dir=run_dir)
        with pytest.raises(UserError, match=f"holds a run started with {difference}"):
            train(cfg)
    assert read_result(run_dir).model == "cnn_v1"


def test_a_run_that_failed_before_its_first_epoch_takes_a_corrected_config(small_run, tmp_path):
    run_dir = tmp_path / "run"
    # Refused before anything is written: a bad option of the data.
    with pytest.raises(UserError, match=r"data.batch_size=0 is invalid"):
        train(small_run("trainer.max_epochs=1", "data.batch_size=0", run_dir=run_dir))
    assert not run_dir.exists()
    # Failed once the run was written: its raw data is found only when it is prepared.
    empty = tmp_path / "no-gtsrb"
    empty.mkdir()
    with pytest.raises(UserError, match=r"data.source=real but no raw GTSRB found"):
        train(small_run("trainer.max_epochs=1", "data.source=real",
                        f"paths.datasets_dir={empty}", run_dir=run_dir))
    assert read_result(run_dir).status == "failed"
    result = train(small_run("trainer.max_epochs=1", "data.batch_size=64", run_dir=run_dir))
    assert result.status == "completed" and result.epochs == 1
    assert "batch_size: 64" in (run_dir / "config.yaml").read_text()


def test_last_checkpoint_follows_every_epoch_even_without_improvement(small_run, tmp_path):
    """Lightning writes last.ckpt only with a new best: with validation accuracy flat (a learning
    rate too small to move it) last.ckpt stayed at epoch 1 of 3."""
    import torch

    run_dir = tmp_path / "run"
    result = train(small_run("trainer.max_epochs=3", "optimizer.lr=1e-12", run_dir=run_dir))
    accuracies = [v for _, v in tensorboard_scalars(run_dir, "val_acc")]
    assert len(set(accuracies)) == 1, "validation accuracy never improved"
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2 and result.epochs == 3
    (best,) = (run_dir / "checkpoints").glob("best-*.ckpt")
    assert best.name.startswith("best-epoch001-val_acc"), "epochs counted from 1, as logged"


def test_interrupted_run_resumes_only_with_its_own_config(small_run, tmp_path):
    run_dir = tmp_path / "run"
    train(small_run("trainer.max_epochs=1", run_dir=run_dir))
    result = json.loads((run_dir / "result.json").read_text())
    result["status"] = "running"
    (run_dir / "result.json").write_text(json.dumps(result))
    with pytest.raises(UserError, match=r"started with data.mode='L', not 'RGB'"):
        train(small_run("trainer.max_epochs=1", "data.mode=RGB", run_dir=run_dir))
    refused = json.loads((run_dir / "result.json").read_text())
    assert refused == result, "the refused launch changed nothing of the run"
    resumed = train(small_run("trainer.max_epochs=1", run_dir=run_dir))
    assert (resumed.status, resumed.resumed, resumed.epochs) == ("completed", 1, 1)
    assert resumed.data["mode"] == "L"
    assert resumed.metrics["test_acc"] == pytest.approx(result["metrics"]["test_acc"]), \
        "resumed from its own last checkpoint, it tests the same weights"


def epochs_recorded(run_dir: Path) -> int:
    """The epochs result.json says are done, 0 before it exists."""
    return read_result(run_dir).epochs if (run_dir / "result.json").is_file() else 0


# The uninterrupted run both resume tests compare with: without a learning rate schedule, its
# first 3 epochs are those of a 3-epoch run.
RESUME_REFERENCE_EPOCHS = 4


@pytest.mark.slow  # the signal test compares a resume with an uninterrupted run by default
def test_killed_run_moved_elsewhere_resumes_from_last_checkpoint(tmp_path, shared_data_dir,
                                                                  uninterrupted_run):
    """SIGKILL after the first epoch's checkpoint, the run directory moved to another place, then
    the same command there, which resumes and completes the run as users see it on a terminal or
    in a Slurm log."""
    run_dir, moved = tmp_path / "run", tmp_path / "elsewhere" / "run"
    args = ["fidle_runs", "+experiment=gtsrb_cnn", "data.source=synthetic",
            "data.synthetic_fraction=0.05", "trainer.max_epochs=3",
            f"paths.data_dir={shared_data_dir}"]
    proc = subprocess.Popen([sys.executable, "-m", *args, f"hydra.run.dir={run_dir}"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    # result.json follows last.ckpt a moment later: kill once both say the first epoch is saved.
    while not (last.exists() and epochs_recorded(run_dir) >= 1) and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted = read_result(run_dir)
    assert interrupted.status == "running" and interrupted.epochs == 1
    assert interrupted.duration_s["fit"] > 0, "result.json follows training epoch by epoch"
    moved.parent.mkdir()
    run_dir.rename(moved)

    again = run_module(*args, f"hydra.run.dir={moved}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    out = again.stdout + again.stderr
    assert "resuming from" in out and "epoch 3/3" in out
    assert "dirpath has changed" not in out, "the best checkpoint is known in the new place"
    assert "\r" not in again.stdout, "plain lines when stdout is a file"
    assert str(moved / "result.json") in out and "tensorboard --logdir" in out
    assert (moved / "fidle_runs.log").is_file()
    result = read_result(moved)
    assert result.status == "completed" and result.epochs == 3 and result.resumed == 1
    assert result.metrics["test_acc"] > 10 * CHANCE
    assert result.duration_s["fit"] > interrupted.duration_s["fit"]
    assert Path(result.checkpoints["best"]).parent == Path("checkpoints"), "relative to the run"
    assert checkpoint_path(moved, result.checkpoints["best"]).is_file()
    assert csv_epochs(moved, "train_loss") == [0, 1, 2], "no epoch lost, none trained twice"
    assert csv_epochs(moved, "val_acc") == [0, 1, 2]
    assert_trains_as_uninterrupted(moved, uninterrupted_run(args[1:], RESUME_REFERENCE_EPOCHS),
                                   checkpointed=1)


# SIGUSR1 (Slurm's warning) also runs in the default suite through test_slurm.py's requeue tests.
@pytest.mark.parametrize("signum", [signal.SIGINT,
                                    pytest.param(signal.SIGUSR1, marks=pytest.mark.slow)])
def test_signal_marks_the_run_interrupted_and_resume_logs_each_epoch_once(signum, tmp_path,
                                                                         shared_data_dir,
                                                                         uninterrupted_run):
    """Ctrl-C, or Slurm's requeue warning (SIGUSR1) outside Slurm: the run stops at a batch end
    without a traceback, is recorded as interrupted, and the same command finishes it."""
    run_dir = tmp_path / "run"
    args = ["fidle_runs", "+experiment=gtsrb_cnn", "data.source=synthetic",
            "data.synthetic_fraction=0.05", "trainer.max_epochs=4",
            f"paths.data_dir={shared_data_dir}", f"hydra.run.dir={run_dir}"]
    # A shell's background job ignores SIGINT, and its children inherit that: a terminal's
    # Ctrl-C reaches a run with Python's default handler, as this one gets it.
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # into the next epoch, which the signal makes us drop
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    interrupted = read_result(run_dir)
    assert interrupted.status == "interrupted", output[-2000:]
    assert interrupted.error.endswith("run the same command again to resume")
    assert "Traceback" not in output
    if signum == signal.SIGUSR1:
        assert "fidle_runs: stopped (SIGUSR1 received at epoch 2)" in output
    checkpointed = checkpointed_epochs(run_dir)

    again = run_module(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    result = read_result(run_dir)
    assert result.status == "completed" and result.epochs == 4 and result.resumed == 1
    assert tensorboard_epochs(run_dir, "val_acc") == [0, 1, 2, 3]
    assert len(tensorboard_scalars(run_dir, "lr-Adam")) == 4, "each epoch's lr logged once"
    assert_trains_as_uninterrupted(run_dir, uninterrupted_run(args[1:], RESUME_REFERENCE_EPOCHS),
                                   checkpointed)


def _fails(*overrides: str, cwd: Path, env: dict | None = None) -> str:
    proc = run_module("fidle_runs", "+experiment=gtsrb_cnn", *overrides, cwd=cwd, env=env)
    assert proc.returncode != 0
    return proc.stderr


@pytest.mark.parametrize(("override", "culprit"), [
    ("optimizer.lr=-0.001", "fidle_runs: error: optimizer.lr=-0.001 is invalid"),
    ("data.batch_size=0", "fidle_runs: error: data.batch_size=0 is invalid"),
    ("trainer.max_epochs=0", "fidle_runs: error: trainer.max_epochs=0 is invalid"),
    ("data.raw_dir=/nonexistent/GTSRB", "fidle_runs: error: data.raw_dir=/nonexistent/GTSRB"),
    ("data.source=real", "fidle_runs: error: data.source=real but no raw GTSRB found"),
])
def test_bad_input_is_one_clear_line(override, culprit, tmp_path):
    stderr = _fails(override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(culprit), stderr[-2000:]
    assert "Traceback" not in stderr


def test_a_model_that_cannot_take_the_data_is_one_clear_line(tmp_path, shared_data_dir):
    stderr = _fails("data.source=synthetic", "data.synthetic_fraction=0.05", "data.size=8",
                    "model=cnn_v2", f"paths.data_dir={shared_data_dir}",
                    f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert stderr.strip().splitlines()[-1] == (
        "fidle_runs: error: model=cnn_v2 cannot take set-8x8-L samples of shape (1, 8, 8): input "
        "shape (1, 8, 8) is too small for this network; choose another model or other data "
        "(e.g. a larger data.size)"), stderr[-2000:]
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("override", "culprit"), [
    ("model=cnn_v9", "Could not find 'model/cnn_v9'"),
    ("data=imagenet", "Could not find 'data/imagenet'"),
    ("data.sizee=24", "Could not override 'data.sizee'"),
])
def test_unknown_names_are_named_by_hydra(override, culprit, tmp_path):
    stderr = _fails(override, cwd=tmp_path)
    assert culprit in stderr and "Traceback" not in stderr


def test_slurm_job_never_falls_back_to_synthetic_data(tmp_path):
    stderr = _fails(f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path,
                    env={"SLURM_JOB_ID": "77"})
    assert "inside Slurm job 77" in stderr and "data.source=synthetic" in stderr


def test_readme_commands_are_those_ci_runs():
    """CI's own extraction (the `setup=` and `tests=` lines of .ci/run, run by bash on this
    README) gives the README's set-up and test commands, as a user reads them in its code
    block beside the main job."""
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    extraction = [line for line in ci_lines if line.startswith(("setup=", "tests="))]
    assert len(extraction) == 2, "CI reads the set-up and test commands from the README"
    proc = subprocess.run(["bash", "-c", "\n".join([*extraction, 'printf "%s\\n" "$setup" '
                                                  '"$tests"'])],
                          cwd=REPO, capture_output=True, text=True, check=True)
    setup, tests = proc.stdout.splitlines()
    assert setup == ("python3 -m venv .venv && .venv/bin/pip install -c constraints.txt "
                     "-e '.[dev]'")
    assert tests == ".venv/bin/python -m pytest"
    block = (REPO / "README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.splitlines()] == [
        setup, ".venv/bin/python -m fidle_runs +experiment=gtsrb_cnn", tests]


@pytest.mark.slow
def test_main_job_exactly_as_the_readme_gives_it(tmp_path):
    """`python -m fidle_runs +experiment=gtsrb_cnn` on a fresh machine: synthetic default data
    (generated and prepared here), 5 epochs of cnn_v1 on set-24x24-L."""
    proc = run_module("fidle_runs", "+experiment=gtsrb_cnn", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "runs").iterdir()
    result = read_result(run_dir)
    assert result.status == "completed" and result.epochs == 5
    assert result.data["source"] == "synthetic" and result.data["n_test"] == 2526
    assert result.metrics["test_acc"] > 0.7
    assert "NO REAL GTSRB FOUND" in proc.stdout + proc.stderr


def _run_until_signalled(args: list[str], env: dict, ready, cwd: Path
                         ) -> subprocess.CompletedProcess:
    """Start `python -m <args>`, send SIGUSR1 once `ready()` holds, wait for the end."""
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not ready():
        assert time.time() < deadline and proc.poll() is None, "never got ready"
        time.sleep(0.02)
    proc.send_signal(signal.SIGUSR1)
    output, _ = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, output)


@pytest.mark.slow  # a real requeue loop: about 30 s
def test_requeued_job_that_completes_no_epoch_fails_instead_of_requeueing(tmp_path,
                                                                         shared_data_dir):
    """A job already requeued once (SLURM_RESTART_COUNT=1) gets the warning signal again before
    it completes an epoch: requeueing would loop forever, so the run fails and says why."""
    run_dir = tmp_path / "run"
    args = ["fidle_runs", "+experiment=gtsrb_cnn", "data.source=synthetic",
            "data.synthetic_fraction=0.05", "trainer.max_epochs=3",
            f"paths.data_dir={shared_data_dir}", f"hydra.run.dir={run_dir}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    first = _run_until_signalled(args, env, (run_dir / "checkpoints" / "last.ckpt").exists,
                                 tmp_path)
    assert read_result(run_dir).status == "interrupted", first.stdout[-2000:]

    def resumed_segment_started() -> bool:
        result = read_result(run_dir)
        return result is not None and result.resumed == 1

    again = _run_until_signalled(args, {**env, "SLURM_RESTART_COUNT": "1"},
                                 resumed_segment_started, tmp_path)
    assert again.returncode == 1, again.stdout[-2000:]
    assert again.stdout.strip().splitlines()[-1].startswith(
        "fidle_runs: error: SIGUSR1 received at epoch 2, but this requeued job completed no "
        "epoch"), again.stdout[-2000:]
    failed = read_result(run_dir)
    assert failed.status == "failed" and failed.epochs == 1 and failed.resumed == 1
    assert "hydra.launcher.timeout_min" in failed.error
