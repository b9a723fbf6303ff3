"""A run killed with SIGKILL at any point, then launched again with the same command, ends
completed with exactly the requested epochs, each logged once in TensorBoard and in
csv/metrics.csv, at most the killed epoch trained again, and no temporary file left."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fidle_runs.store.result import read_result
from fidle_runs.store.run_dir import checkpoint_path
from tests.conftest import (
    REPO,
    assert_trains_as_uninterrupted,
    csv_epochs,
    run_module,
    tensorboard_epochs,
    tensorboard_scalars,
)

EPOCHS = 3
# Kill point -> epochs that last.ckpt holds after the kill (the relaunch trains the rest).
CHECKPOINTED = {
    "data generation": 0,
    "data preparation": 0,
    "before the first checkpoint": 0,
    "mid-epoch": 1,
    "between epochs": 2,
    "between best and last checkpoint": 1,
    "right after a checkpoint": 2,
    "during validation": 1,
    "during test": EPOCHS,
    "while writing result.json": EPOCHS,
}
# The default suite keeps the kill point of the last defect found (epoch-end metrics lost after
# a checkpoint); the slow suite, which CI runs too, runs them all.
DEFAULT = ("right after a checkpoint",)


@pytest.mark.parametrize("point", [
    p if p in DEFAULT else pytest.param(p, marks=pytest.mark.slow) for p in CHECKPOINTED])
def test_killed_anywhere_the_same_command_completes_the_run(point, tmp_path,
                                                            uninterrupted_run):
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    args = ["+experiment=gtsrb_cnn", "data.source=synthetic", "data.synthetic_fraction=0.02",
            f"trainer.max_epochs={EPOCHS}", "data.prepare_workers=2", "data.batch_size=32",
            f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}"]
    killed = subprocess.run([sys.executable, str(REPO / "tests" / "kill_at.py"), point, *args],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            start_new_session=True)
    assert killed.returncode == -9, killed.stderr[-3000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    checkpointed = torch.load(last, weights_only=True)["epoch"] + 1 if last.exists() else 0
    assert checkpointed == CHECKPOINTED[point]

    again = run_module("fidle_runs", *args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    result = read_result(run_dir)
    assert result.status == "completed" and result.epochs == EPOCHS
    assert result.resumed == (1 if checkpointed else 0)
    assert result.metrics["test_acc"] > 2 / 43, "better than chance"
    assert checkpoint_path(run_dir, result.checkpoints["best"]).is_file()
    assert tensorboard_epochs(run_dir, "val_acc") == list(range(EPOCHS))
    assert len(tensorboard_scalars(run_dir, "lr-Adam")) == EPOCHS
    assert len(tensorboard_scalars(run_dir, "test_acc")) == 1
    for metric in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert tensorboard_epochs(run_dir, metric) == list(range(EPOCHS)), metric
        assert csv_epochs(run_dir, metric) == list(range(EPOCHS)), metric
    assert len(csv_epochs(run_dir, "test_acc")) == 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == sorted(
        [Path(result.checkpoints["best"]).name, "last.ckpt"])
    assert not list(tmp_path.rglob("*.tmp-*")), "no temporary file survives"
    assert_trains_as_uninterrupted(run_dir, uninterrupted_run(args), checkpointed)
