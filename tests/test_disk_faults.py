"""Never lose a run, when the storage fails: a torn checkpoint, a full disk, a folder that cannot
be written. Each ends in one line naming the file or folder and the fix (never a traceback),
deletes nothing, and the run resumes from what is intact once the fault is gone.

Full and read-only disks are real: small tmpfs mounts (root, as in CI).
"""

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fidle_runs.core.errors import UserError
from fidle_runs.data.gtsrb.h5 import SetSpec
from fidle_runs.data.gtsrb.prepare import prepare_sets
from fidle_runs.data.gtsrb.raw import read_raw_gtsrb
from fidle_runs.store.result import read_result
from tests.conftest import REPO, csv_epochs, run_module, tensorboard_epochs

EPOCHS = 3
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


def _args(run_dir: Path, data_dir: Path, *more: str) -> list[str]:
    return ["+experiment=gtsrb_cnn", "data.source=synthetic", "data.synthetic_fraction=0.02",
            f"trainer.max_epochs={EPOCHS}", "data.prepare_workers=2", "data.batch_size=32",
            f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}", *more]


@pytest.fixture
def mount_tmpfs(tmp_path) -> Iterator[Callable[..., Path]]:
    """mount_tmpfs(name, mib, read_only=False): a small filesystem of its own at tmp_path/name."""
    mounted: list[Path] = []

    def mount(name: str, mib: int, read_only: bool = False) -> Path:
        where = tmp_path / name
        where.mkdir(parents=True, exist_ok=True)
        options = f"size={mib}m" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture(scope="module")
def killed_between_epochs(tmp_path_factory) -> Path:
    """A run SIGKILLed as its third epoch starts: last.ckpt holds 2 epochs (copied per test)."""
    where = tmp_path_factory.mktemp("killed")
    killed = subprocess.run([sys.executable, str(REPO / "tests" / "kill_at.py"),
                             "between epochs", *_args(where / "run", where / "data")],
                            cwd=where, capture_output=True, text=True, timeout=600,
                            start_new_session=True)
    assert killed.returncode == -9, killed.stderr[-3000:]
    return where


def _copy_of(killed: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(killed / "run", run_dir)
    return run_dir


def _tear(path: Path) -> None:
    """Cut a file to half its size, as a crashed node or an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr.strip().splitlines()[-1]


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")
            if p.is_file()}


def _assert_each_epoch_logged_once(run_dir: Path) -> None:
    for metric in METRICS:
        assert tensorboard_epochs(run_dir, metric) == list(range(EPOCHS)), metric
        assert csv_epochs(run_dir, metric) == list(range(EPOCHS)), metric


def test_torn_last_checkpoint_resumes_from_the_intact_best_one(killed_between_epochs, tmp_path):
    run_dir = _copy_of(killed_between_epochs, tmp_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    (best,) = run_dir.glob("checkpoints/best-*.ckpt")
    best_epochs = int(best.name.split("epoch")[1][:3])
    _tear(last)
    torn = last.read_bytes()

    again = run_module("fidle_runs", *_args(run_dir, killed_between_epochs / "data"),
                       cwd=tmp_path)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-3000:]
    assert "Traceback" not in out
    assert ("checkpoints/last.ckpt is torn or is not a checkpoint" in out
            and f"resuming from {best.name} (epoch {best_epochs}): {2 - best_epochs} epoch(s) "
                "are trained again" in out), out[-3000:]
    (kept,) = run_dir.glob("checkpoints/last.ckpt.torn-*")
    assert kept.read_bytes() == torn, "the torn file is kept, not deleted"
    result = read_result(run_dir)
    assert result.status == "completed" and result.epochs == EPOCHS and result.resumed == 1
    _assert_each_epoch_logged_once(run_dir)


def test_torn_last_checkpoint_with_no_intact_one_is_one_line(killed_between_epochs, tmp_path):
    run_dir = _copy_of(killed_between_epochs, tmp_path)
    for checkpoint in run_dir.glob("checkpoints/*.ckpt"):
        _tear(checkpoint)
    before = _files(run_dir)

    again = run_module("fidle_runs", *_args(run_dir, killed_between_epochs / "data"),
                       cwd=tmp_path)
    line = _one_line_error(again)
    assert line.startswith(f"fidle_runs: error: {run_dir / 'checkpoints' / 'last.ckpt'} is torn")
    assert "no intact checkpoint is beside it: restore it from a copy" in line
    after = _files(run_dir)
    assert {k: v for k, v in after.items() if k != "fidle_runs.log"} == {
        k: v for k, v in before.items() if k != "fidle_runs.log"}, "nothing deleted or changed"


@pytest.mark.slow
def test_torn_best_checkpoint_is_named_when_the_run_is_tested(tmp_path):
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    killed = subprocess.run([sys.executable, str(REPO / "tests" / "kill_at.py"), "during test",
                             *_args(run_dir, data_dir)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, start_new_session=True)
    assert killed.returncode == -9, killed.stderr[-3000:]
    (best,) = run_dir.glob("checkpoints/best-*.ckpt")
    _tear(best)

    line = _one_line_error(run_module("fidle_runs", *_args(run_dir, data_dir), cwd=tmp_path))
    assert line.startswith(f"fidle_runs: error: {best} is torn or is not a checkpoint")
    assert "the run's best weights are lost, so it cannot be tested" in line
    assert best.exists() and (run_dir / "checkpoints" / "last.ckpt").exists()


def test_full_disk_while_checkpointing_is_one_line_and_the_run_resumes_elsewhere(
        mount_tmpfs, tmp_path):
    """cnn_v1's checkpoint is 55 MiB: 150 MiB hold the first epoch's best and last, not the
    second epoch's third."""
    disk = mount_tmpfs("disk", 150)
    run_dir, data_dir = disk / "run", tmp_path / "data"
    failed = run_module("fidle_runs", *_args(run_dir, data_dir), cwd=tmp_path)
    line = _one_line_error(failed)
    assert line.startswith(f"fidle_runs: error: the disk of {run_dir / 'checkpoints'} is full: "
                           "writing a checkpoint"), line
    assert "needs about 55.4 MiB" in line and "then launch the same command again" in line
    assert not list(disk.rglob("*.tmp-*")), "no temporary file left"
    result = read_result(run_dir)
    assert result.status == "failed", failed.stdout[-3000:]
    assert result.epochs == 1, "no epoch claimed before its checkpoint is on disk"

    moved = tmp_path / "room" / "run"
    shutil.copytree(run_dir, moved)
    again = run_module("fidle_runs", *_args(moved, data_dir), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    result = read_result(moved)
    assert result.status == "completed" and result.epochs == EPOCHS and result.resumed == 1
    _assert_each_epoch_logged_once(moved)


@pytest.mark.slow
def test_checkpoint_folder_that_cannot_be_written_is_one_line(mount_tmpfs, tmp_path):
    run_dir = tmp_path / "run"
    mount_tmpfs("run/checkpoints", 1, read_only=True)
    line = _one_line_error(run_module("fidle_runs", *_args(run_dir, tmp_path / "data"),
                                      cwd=tmp_path))
    assert line.startswith(f"fidle_runs: error: {run_dir / 'checkpoints'} cannot be written "
                           "(Read-only file system) while writing a checkpoint"), line


@pytest.mark.parametrize("multirun", [False, True])
def test_output_root_that_cannot_be_written_is_one_line(multirun, mount_tmpfs, tmp_path):
    root = mount_tmpfs("work", 1, read_only=True)
    args = ["+experiment=gtsrb_cnn", f"paths.output_root={root}/fidle_runs"]
    line = _one_line_error(run_module("fidle_runs", *(["-m", *args] if multirun else args),
                                      cwd=tmp_path))
    what, setting = ("sweep", "hydra.sweep.dir") if multirun else ("run", "hydra.run.dir")
    assert line.startswith(f"fidle_runs: error: the {what} directory {root}/fidle_runs/"), line
    assert f"(Read-only file system, at {root}): choose a writable place with " \
           f"paths.output_root=... (every run) or {setting}=..." in line


def test_full_disk_while_preparing_data_is_one_line(raw_kaggle, mount_tmpfs):
    disk = mount_tmpfs("data", 1)
    raw = read_raw_gtsrb(raw_kaggle)
    with pytest.raises(UserError, match=rf"the disk of {disk} is full: writing the prepared "
                                        r"set\(s\) set-48x48-RGB \(.*\) needs about 6\.8 "
                                        r"MiB, 1\.0 MiB free"):
        prepare_sets(raw, "synthetic", [SetSpec(48, "RGB")], disk, workers=1)
    assert not list(disk.iterdir()) or not list(disk.glob("*.h5")), "no set, no temporary"
    assert not list(disk.glob(".*.tmp-*"))


@pytest.mark.slow
def test_full_disk_while_generating_the_synthetic_set_is_one_line(mount_tmpfs, tmp_path):
    disk = mount_tmpfs("data", 1)
    line = _one_line_error(run_module("fidle_runs", *_args(tmp_path / "run", disk),
                                      cwd=tmp_path))
    assert line.startswith(f"fidle_runs: error: the disk of {disk}/GTSRB-synthetic is full: "
                           "writing the synthetic raw GTSRB"), line
    assert "paths.data_dir=" in line
    assert not list(disk.rglob("*.tmp-*")), "no temporary folder left"
