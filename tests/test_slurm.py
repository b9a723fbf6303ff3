"""Sweeps, job arrays and requeue on a real Slurm cluster: the single-node one that
scripts/slurm_cluster_start.sh installs and starts on this machine.

Where it cannot start (not root, no apt) these tests skip and say why; CI sets
FIDLE_REQUIRE_SLURM=1, which turns that skip into a failure.
"""

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fidle_runs.callbacks.test_predictions import split_predictions
from fidle_runs.config.conf import build
from fidle_runs.launch.job_dirs import sweep_job_dir
from fidle_runs.run.rebuild import rebuild_run, run_checkpoint
from fidle_runs.store.predictions import read_predictions
from fidle_runs.store.result import read_result
from fidle_runs.tasks import classification_scores
from tests.conftest import (
    REPO,
    assert_trains_as_uninterrupted,
    compose_train,
    csv_epochs,
    job_dir,
    run_module,
    tensorboard_epochs,
)
from tests.real_data import real_data_dir

pytestmark = pytest.mark.slurm

SCRIPTS = REPO / "scripts"
SLURM_DIR = REPO / "slurm"


def _cluster_answers() -> bool:
    try:
        return subprocess.run(["scontrol", "ping"], capture_output=True, text=True,
                              timeout=20).stdout.count("is UP") > 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _unavailable(reason: str) -> None:
    if os.environ.get("FIDLE_REQUIRE_SLURM") == "1":
        pytest.fail(f"FIDLE_REQUIRE_SLURM=1 but the local Slurm cluster is unavailable: {reason}")
    pytest.skip(f"local Slurm cluster unavailable: {reason}")


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[None]:
    """The local cluster, started (and installed) here when it is not running, stopped after
    the module's tests when started here."""
    was_running = _cluster_answers()
    if not was_running:
        if os.geteuid() != 0:
            _unavailable("scripts/slurm_cluster_start.sh must run as root (it installs Debian "
                         "packages and starts daemons)")
        start = subprocess.run(["bash", str(SCRIPTS / "slurm_cluster_start.sh")],
                               capture_output=True, text=True, timeout=900)
        if start.returncode != 0:
            _unavailable(f"scripts/slurm_cluster_start.sh failed: {start.stderr.strip()[-500:]}")
    yield
    if not was_running:
        subprocess.run(["bash", str(SCRIPTS / "slurm_cluster_stop.sh")], capture_output=True,
                       timeout=300, check=False)


@pytest.fixture(scope="module")
def small_sweep(slurm_cluster, shared_data_dir) -> list[str]:
    """Overrides of a small synthetic gtsrb_cnn run, its data prepared beforehand so that jobs
    running at once do not all prepare it."""
    overrides = ["+experiment=gtsrb_cnn", "data.source=synthetic", "data.synthetic_fraction=0.05",
                 "data.scale=0.5", "data.prepare_workers=2", f"paths.data_dir={shared_data_dir}"]
    cfg = compose_train(overrides)
    build(cfg.data, "data").prepare_data()
    return overrides


def _squeue(*args: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %T", *args], capture_output=True,
                         text=True, check=True).stdout
    return out.split("\n")[:-1]


def _sbatch(script: str, *overrides: str, cwd: Path, options: tuple[str, ...] = ()) -> str:
    """Submit slurm/<script> (with sbatch `options`) to the local partition with these
    overrides; its job id."""
    env = {**os.environ, "FIDLE_PYTHON": sys.executable, "SBATCH_PARTITION": "local"}
    submit = subprocess.run(["sbatch", "--parsable", *options, str(SLURM_DIR / script),
                             *overrides],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert submit.returncode == 0, submit.stderr
    return submit.stdout.strip()


def _wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; "
                                 f"squeue: {_squeue()}")
        time.sleep(0.5)


def test_sweep_through_a_jeanzay_preset_completes_three_runs(small_sweep, tmp_path):
    """Only the partition and the account differ from what a Jean Zay V100 user launches."""
    sweep_dir = tmp_path / "sweep"
    proc = run_module("fidle_runs", "-m", *small_sweep, "trainer.max_epochs=1",
                      "model=cnn_v1,cnn_v2,cnn_v3", "hydra/launcher=jeanzay_v100",
                      "hydra.launcher.partition=local", "hydra.launcher.account=fidle@v100",
                      f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"sweep {sweep_dir}: 3 completed, 0 skipped, 0 failed" in proc.stdout
    results = [read_result(job_dir(sweep_dir, f"model=cnn_v{n}")) for n in (1, 2, 3)]
    assert [r.model for r in results] == ["cnn_v1", "cnn_v2", "cnn_v3"]
    assert all(r.status == "completed" and r.epochs == 1 for r in results)
    assert all(r.metrics["test_acc"] is not None for r in results)
    array_ids = {r.slurm["array_job_id"] for r in results}
    assert len(array_ids) == 1, "one job array for the sweep"
    assert sorted(r.slurm["array_task_id"] for r in results) == ["0", "1", "2"]
    (script,) = (sweep_dir / ".submitit").glob("*/*_submission.sh")
    text = script.read_text()
    for line in ("--partition=local", "--account=fidle@v100", "--qos=qos_gpu-dev",
                 "--cpus-per-task=10", "--gres=gpu:1", "--ntasks-per-node=1", "--nodes=1",
                 "--hint=nomultithread", "--signal=USR1@180", "--requeue", "--array=0-2%3",
                 "module load pytorch-gpu"):
        assert line in text, line
    # The dry run (fidle_runs.launch.sweep_plan) prints the script submitit wrote: the same
    # directives.
    plan = run_module("fidle_runs.sweep_plan", *small_sweep, "trainer.max_epochs=1",
                      "model=cnn_v1,cnn_v2,cnn_v3", "hydra/launcher=jeanzay_v100",
                      "hydra.launcher.partition=local", "hydra.launcher.account=fidle@v100",
                      f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-3000:]

    def directives(script_text: str) -> list[str]:
        return sorted(line.strip() for line in script_text.splitlines()
                      if line.strip().startswith("#SBATCH"))

    assert directives(plan.stdout) == directives(text)


def test_sweep_with_a_failing_run_completes_the_others_and_reports_it(small_sweep, tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = run_module("fidle_runs", "-m", *small_sweep, "trainer.max_epochs=1",
                      "optimizer.lr=-1,0.001", "hydra/launcher=slurm",
                      "hydra.launcher.partition=local", f"hydra.sweep.dir={sweep_dir}",
                      cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"sweep {sweep_dir}: 1 completed, 0 skipped, 1 failed, 0 interrupted" in proc.stdout
    assert "optimizer.lr=-1 is invalid" in proc.stdout
    failed = read_result(job_dir(sweep_dir, "optimizer.lr=-1"))
    completed = read_result(job_dir(sweep_dir, "optimizer.lr=0.001"))
    assert failed.status == "failed" and "optimizer.lr=-1 is invalid" in failed.error
    assert completed.status == "completed" and completed.slurm["job_id"]


def test_search_through_slurm_runs_its_trials_as_jobs_and_completes(slurm_cluster, tmp_path):
    """A 3-trial search, 2 trials a batch: each batch one job array on the cluster, each trial
    told its value from its job's result.json; relaunched, it submits nothing."""
    import optuna
    from optuna.trial import TrialState

    from fidle_runs.launch.search.sweeper import JOURNAL_FILE, open_journal

    sweep_dir = tmp_path / "search"
    command = ["fidle_runs", "-m", "+experiment=diabetes_dnn", "+hparams_search=bhpd_optuna",
               "trainer.max_epochs=2", f"paths.data_dir={tmp_path / 'data'}",
               "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2", "hydra/launcher=slurm",
               "hydra.launcher.partition=local", f"hydra.sweep.dir={sweep_dir}"]
    proc = run_module(*command, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="search", storage=open_journal(sweep_dir / JOURNAL_FILE))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    results = [read_result(Path(t.user_attrs["run_dir"])) for t in study.trials]
    assert all(r.status == "completed" and r.slurm.get("job_id") for r in results)
    assert [t.value for t in study.trials] == [r.monitor["best"] for r in results]
    assert [t.user_attrs["primary"] for t in study.trials] == [r.primary["value"] for r in results]
    # One submission per batch: the first two trials one job array, the third a job of its own.
    batches = [r.slurm.get("array_job_id", r.slurm["job_id"]) for r in results]
    assert batches[0] == batches[1] != batches[2], batches
    assert "search search: trial 3 of 3 complete" in proc.stdout
    assert f"search search, 3 of 3 trials: 3 complete; best trial #{study.best_trial.number}" \
        in proc.stdout
    submitted = sorted((sweep_dir / ".submitit").rglob("*_submission.sh"))
    assert len(submitted) == 2, submitted
    again = run_module(*command, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "search search: 3 of 3 trials (3 complete" in again.stdout
    assert sorted((sweep_dir / ".submitit").rglob("*_submission.sh")) == submitted


@pytest.mark.slow  # slurm/run.sbatch runs by default
def test_job_array_from_slurm_scripts(small_sweep, tmp_path):
    env = {"FIDLE_PYTHON": sys.executable, "SBATCH_PARTITION": "local"}
    submit = subprocess.run(["bash", str(SLURM_DIR / "submit_array.sh"), *small_sweep,
                             "trainer.max_epochs=1", "model=cnn_v1,cnn_v2"],
                            cwd=tmp_path, env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=120)
    assert submit.returncode == 0, submit.stderr
    array_id = submit.stdout.strip()
    assert array_id.isdigit(), submit.stdout
    _wait_until(lambda: not _squeue("-j", array_id), 600, f"array {array_id} to finish")
    sweep_dir = tmp_path / "outputs" / "sweeps" / f"slurm-{array_id}"
    results = [read_result(sweep_dir / str(n)) for n in range(2)]
    logs = "\n".join(p.read_text() for p in tmp_path.glob("fidle_array-*.out"))
    assert all(r is not None and r.status == "completed" for r in results), logs[-3000:]
    assert [r.model for r in results] == ["cnn_v1", "cnn_v2"]
    assert [r.slurm["array_task_id"] for r in results] == ["0", "1"]
    summary = run_module("fidle_runs.sweep_summary", str(sweep_dir), cwd=tmp_path)
    assert summary.returncode == 0 and "2 completed" in summary.stdout, summary.stdout


def _assert_resumed(run_dir: Path, max_epochs: int, reference: Path | None = None) -> int:
    """Check the requeued run finished right; return how many times its job was requeued.
    With the `reference` run (the same command, uninterrupted, outside Slurm): each epoch's
    metrics as it trained them, within dropout's tolerance (the job's threads differ from the
    reference's, so no epoch is compared bit for bit), which a resume from fresh weights
    misses by 11 to 35 %."""
    result = read_result(run_dir)
    assert result.status == "completed", result.error
    assert result.epochs == max_epochs and result.resumed >= 1
    assert tensorboard_epochs(run_dir, "val_acc") == list(range(max_epochs)), \
        "every epoch logged exactly once across the requeue"
    log = (run_dir / "fidle_runs.log").read_text()
    assert "requeueing Slurm job" in log and "it will resume from last.ckpt" in log
    if reference is not None:
        assert_trains_as_uninterrupted(run_dir, reference, checkpointed=0)
    return int(result.slurm["restart_count"])


@pytest.mark.slow  # a requeue resumes in test_requeue_signal_resumes_... by default
def test_scontrol_requeue_of_a_sweep_job_resumes_it_from_its_checkpoint(small_sweep, tmp_path,
                                                                        uninterrupted_run):
    """The cluster requeues a running sweep job (`scontrol requeue`, as on preemption): the job
    is killed mid-epoch, comes back with the same id and finishes its run from last.ckpt."""
    sweep_dir = tmp_path / "sweep"
    name = f"requeue{os.getpid()}"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "fidle_runs", "-m", *small_sweep, "trainer.max_epochs=4",
         "hydra/launcher=slurm", "hydra.launcher.partition=local", f"hydra.launcher.name={name}",
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until(lambda: list(sweep_dir.glob("*/checkpoints/last.ckpt")), 300,
                "the first checkpoint")
    (run_dir,) = (p for p in sweep_dir.iterdir() if (p / "checkpoints").is_dir())
    (job,) = (line.split()[0] for line in _squeue("-n", name))
    subprocess.run(["scontrol", "requeue", job], check=True)
    out, err = launcher.communicate(timeout=600)
    assert launcher.returncode == 0, err[-3000:]
    assert "1 completed, 0 skipped, 0 failed" in out
    result = read_result(run_dir)
    assert result.status == "completed" and result.epochs == 4 and result.resumed == 1
    assert_trains_as_uninterrupted(run_dir, uninterrupted_run([*small_sweep,
                                                               "trainer.max_epochs=4"]), 0)
    assert result.slurm["restart_count"] == "1"
    assert tensorboard_epochs(run_dir, "val_acc") == list(range(4)), \
        "every epoch logged exactly once across the requeue"


@pytest.mark.slow
def test_time_limit_requeues_the_job_until_the_run_is_done(small_sweep, tmp_path):
    """A 3-minute limit with the warning 60 s before it (Slurm may send it up to 60 s earlier
    still), for a run that needs longer (150 small epochs: 60 fitted in one segment on an idle
    2-core machine, so three segments, about 5 minutes; one 2.5 times faster still needs two):
    each segment stops at a batch end and requeues its job, and the last one finishes the run
    in the same directory."""
    sweep_dir = tmp_path / "sweep"
    proc = run_module("fidle_runs", "-m", *small_sweep, "trainer.max_epochs=150",
                      "hydra/launcher=slurm", "hydra.launcher.partition=local",
                      "hydra.launcher.timeout_min=3", "hydra.launcher.signal_delay_s=60",
                      f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "1 completed" in proc.stdout
    (run_dir,) = (p for p in sweep_dir.iterdir() if (p / "checkpoints").is_dir())
    assert 1 <= _assert_resumed(run_dir, 150) <= 4


def test_requeue_signal_resumes_a_run_sbatch_job_from_its_checkpoint(small_sweep, tmp_path,
                                                                     uninterrupted_run):
    """The warning signal sent by hand (`scancel --signal=USR1`, as Slurm does before the time
    limit) once the first epoch is checkpointed: at most that epoch's remainder is lost."""
    job = _sbatch("run.sbatch", *small_sweep, "trainer.max_epochs=3", cwd=tmp_path)
    run_dir = tmp_path / "outputs" / "runs" / f"slurm-{job}"
    _wait_until((run_dir / "checkpoints" / "last.ckpt").exists, 300, "the first checkpoint")
    subprocess.run(["scancel", "--signal=USR1", job], check=True)
    _wait_until(lambda: (r := read_result(run_dir)) is not None and r.resumed == 1, 300,
                "the requeued job to resume")
    _wait_until(lambda: not _squeue("-j", job), 300, f"job {job} to finish")
    log = (tmp_path / f"fidle_run-{job}.out").read_text()
    assert "restart 1" in log, log[-3000:]
    reference = uninterrupted_run([*small_sweep, "trainer.max_epochs=3"])
    assert _assert_resumed(run_dir, 3, reference) == 1


@pytest.mark.slow
def test_requeued_sweep_job_skips_its_completed_run_and_resumes_the_other(small_sweep, tmp_path):
    """slurm/sweep.sbatch runs a whole sweep in one job; requeued during its second run, the job
    comes back, skips the first run and finishes the second from its checkpoint."""
    job = _sbatch("sweep.sbatch", *small_sweep, "trainer.max_epochs=3", "model=cnn_v1,cnn_v2",
                  cwd=tmp_path)
    sweep_dir = tmp_path / "outputs" / "sweeps" / f"slurm-{job}"
    first_dir, second_dir = (sweep_dir / sweep_job_dir([*small_sweep, "trainer.max_epochs=3",
                                                          f"model={m}"])
                             for m in ("cnn_v1", "cnn_v2"))
    _wait_until((second_dir / "checkpoints" / "last.ckpt").exists, 600,
                "the second run's first checkpoint")
    first = read_result(first_dir)
    subprocess.run(["scancel", "--signal=USR1", job], check=True)
    _wait_until(lambda: (r := read_result(second_dir)) is not None and r.resumed == 1, 300,
                "the requeued sweep to resume its second run")
    _wait_until(lambda: not _squeue("-j", job), 300, f"job {job} to finish")
    out = (tmp_path / f"fidle_sweep-{job}.out").read_text()
    assert f"sweep {sweep_dir}: 1 completed, 1 skipped, 0 failed" in out, out[-3000:]
    assert read_result(first_dir).updated == first.updated, "the completed run not retrained"
    assert _assert_resumed(second_dir, 3) == 1


# Data-parallel runs: two Slurm tasks, one process each, on CPU (gloo), as on Jean Zay with one
# task per GPU. FIDLE's MNIST DNN has no dropout: with the same global batch and seed, two ranks
# must train what one process trains. 2,001 test samples: the two ranks cannot get as many each.
def _mnist_run(*overrides: str) -> list[str]:
    return ["+experiment=mnist_dnn", f"data.raw_dir={real_data_dir('mnist')}", "data.scale=0.2001",
            "trainer.accelerator=cpu", "callbacks.progress.style=lines", *overrides]


def _two_tasks(*overrides: str) -> list[str]:
    return _mnist_run("data.batch_size=32", "trainer.devices=2", *overrides)


@pytest.mark.slow  # two Slurm tasks against one process: about 40 s
def test_two_task_run_trains_what_one_process_trains_with_the_same_global_batch(
        slurm_cluster, tmp_path):
    single = run_module("fidle_runs", *_mnist_run("data.batch_size=64", "trainer.max_epochs=3",
                                                  f"hydra.run.dir={tmp_path / 'single'}"),
                        cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    job = _sbatch("run.sbatch", *_two_tasks("trainer.max_epochs=3"), cwd=tmp_path,
                  options=("--ntasks-per-node=2",))
    # The same through a launcher preset, which asks for trainer.devices tasks per node.
    sweep_dir = tmp_path / "sweep"
    preset = run_module("fidle_runs", "-m", *_two_tasks("trainer.max_epochs=3"),
                        "hydra/launcher=jeanzay_v100", "hydra.launcher.partition=local",
                        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert preset.returncode == 0, preset.stderr[-3000:]
    assert re.search(r"mnist_dnn on mnist: test_acc \d+\.\d\d %, 3 epochs, \d+s, 2 processes",
                     preset.stdout), preset.stdout[-2000:]
    assert "--ntasks-per-node=2" in next(sweep_dir.glob(".submitit/*/*_submission.sh")).read_text()
    (launched,) = (read_result(d) for d in sweep_dir.iterdir() if (d / "result.json").exists())
    _wait_until(lambda: not _squeue("-j", job), 600, f"job {job} to finish")
    run_dir = tmp_path / "outputs" / "runs" / f"slurm-{job}"
    out = (tmp_path / f"fidle_run-{job}.out").read_text()
    one, two = read_result(tmp_path / "single"), read_result(run_dir)
    assert two is not None and two.status == "completed", out[-3000:]
    assert launched.parallel["world_size"] == 2
    assert launched.metrics["test_acc"] == two.metrics["test_acc"]
    assert two.parallel["world_size"] == 2 and two.parallel["batch_per_device"] == 32
    assert two.parallel["global_batch"] == 64 and one.parallel["global_batch"] == 64
    # Same batches, exact metrics: only the order of floating-point sums differs.
    assert abs(two.metrics["test_acc"] - one.metrics["test_acc"]) <= 0.001
    assert abs(two.metrics["test_loss"] - one.metrics["test_loss"]) <= 0.002
    assert tensorboard_epochs(run_dir, "val_acc") == [0, 1, 2]
    assert csv_epochs(run_dir, "val_acc") == [0, 1, 2]
    assert out.count("\nepoch 2/3 ") == 1 and out.count("completed: test_acc") == 1
    assert "2 processes on 1 node(s) x batch 32 = global batch 64" in out
    assert out.count("run directory:") == 1 and "Traceback" not in out
    assert "sync_dist" not in out and "DistributedSampler" not in out
    assert_test_predictions_are_one_process_ones(run_dir, two)


def assert_test_predictions_are_one_process_ones(run_dir: Path, result) -> None:
    """The saved test predictions of a data-parallel run are its best checkpoint's on every
    test sample, once each, in the test set's order: what one process computes, and the test
    metrics are their scores."""
    saved = read_predictions(run_dir, "test")
    assert result.data["n_test"] == len(saved.targets) == 2001
    rebuilt = rebuild_run(run_dir, result.data, run_checkpoint(result.checkpoints, run_dir))
    one_process = split_predictions(rebuilt.task, rebuilt.datamodule, "test")
    assert np.array_equal(saved.targets, one_process.targets)
    assert np.allclose(saved.outputs, one_process.outputs, rtol=1e-5, atol=1e-5)
    recorded = classification_scores.scores(saved.outputs, saved.targets)
    assert result.metrics["test_acc"] == recorded["acc"]
    assert result.metrics["test_f1_macro"] == pytest.approx(recorded["f1_macro"], abs=1e-12)
    scores = classification_scores.scores(one_process.outputs, one_process.targets)
    assert abs(scores["acc"] - recorded["acc"]) <= 1 / 2001, "float sums' order only"


@pytest.mark.slow  # two Slurm tasks signalled and requeued: about 50 s
def test_two_task_run_stops_every_rank_on_one_ranks_signal_and_resumes_after_requeue(
        slurm_cluster, tmp_path):
    """The warning signal reaches rank 1 only (Slurm does not signal tasks at the same
    instant): both ranks stop at the same batch, rank 0 requeues the job, and the requeued job
    resumes both ranks from last.ckpt."""
    job = _sbatch("run.sbatch", *_two_tasks("trainer.max_epochs=8"), cwd=tmp_path,
                  options=("--ntasks-per-node=2",))
    run_dir = tmp_path / "outputs" / "runs" / f"slurm-{job}"
    _wait_until((run_dir / "checkpoints" / "last.ckpt").exists, 300, "the first checkpoint")
    os.kill(_rank_pid(job, 1), signal.SIGUSR1)
    _wait_until(lambda: (r := read_result(run_dir)) is not None and r.resumed == 1, 300,
                "the requeued job to resume")
    _wait_until(lambda: not _squeue("-j", job), 300, f"job {job} to finish")
    out = (tmp_path / f"fidle_run-{job}.out").read_text()
    assert "restart 1" in out, out[-3000:]
    assert out.count("requeueing Slurm job") == 1
    assert "the requeue signal (on another rank) received at epoch" in out
    assert _assert_resumed(run_dir, 8) == 1
    assert csv_epochs(run_dir, "val_acc") == list(range(8))
    assert read_result(run_dir).parallel["world_size"] == 2


def _rank_pid(job: str, rank: int) -> int:
    """The process of `job`'s task `rank` on this machine (the local cluster's only node)."""
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = dict(v.split("=", 1) for v in environ.read_text().split("\0") if "=" in v)
            command = (environ.parent / "cmdline").read_text()
        except OSError:
            continue
        if (variables.get("SLURM_JOB_ID") == job and variables.get("SLURM_PROCID") == str(rank)
                and "fidle_runs" in command and "srun" not in command):
            return int(environ.parent.name)
    raise AssertionError(f"no process of job {job} with rank {rank}")
