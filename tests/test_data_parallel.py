"""Data-parallel runs without a cluster: two processes started by Lightning on this machine,
which process leads, and the Slurm job layouts refused before any process waits for the others.
Runs of two Slurm tasks train on the local Slurm cluster (tests/test_slurm.py)."""

import pytest

from fidle_runs.core.errors import UserError
from fidle_runs.hardware.data_parallel import check_slurm_layout, process_rank
from fidle_runs.store.result import read_result
from tests.conftest import compose_train, run_module, tensorboard_epochs
from tests.real_data import real_data_dir

SLURM_STEP = {"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_NNODES": "1",
              "SLURM_JOB_NAME": "fidle_run", "SLURM_PROCID": "1"}


@pytest.fixture
def slurm_step(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", *SLURM_STEP):
        monkeypatch.delenv(name, raising=False)
    for name, value in SLURM_STEP.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_rank_comes_from_the_launcher_that_started_the_process(slurm_step):
    assert process_rank() == 1
    slurm_step.setenv("RANK", "3")  # torchrun, Lightning's own processes
    assert process_rank() == 3


@pytest.mark.parametrize(("env", "rank"), [
    ({"LOCAL_RANK": "1"}, 1),
    ({"NODE_RANK": "1"}, 1),  # Lightning's first process on the second node: no LOCAL_RANK
    ({"NODE_RANK": "1", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"}, 5),
    ({"GROUP_RANK": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2"}, 4),  # torchrun's
    ({"NODE_RANK": "0", "LOCAL_RANK": "0"}, 0),
    ({}, 0),
])
def test_only_the_first_process_of_the_first_node_leads_a_launch_outside_slurm(env, rank,
                                                                               monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "LOCAL_WORLD_SIZE",
                 "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert process_rank() == rank


@pytest.mark.parametrize(("env", "overrides"), [
    ({}, ["trainer.devices=2"]),
    ({"SLURM_NTASKS": "8", "SLURM_NTASKS_PER_NODE": "4(x2)", "SLURM_NNODES": "2"},
     ["trainer.devices=4", "trainer.num_nodes=2"]),
    ({"SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1"}, []),
    ({"SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1"}, ["trainer.devices=auto"]),
    ({"SLURM_JOB_NAME": "interactive"}, []),  # salloc + srun --job-name=interactive: not a job
])
def test_tasks_matching_the_devices_pass(slurm_step, env, overrides):
    for name, value in env.items():
        slurm_step.setenv(name, value)
    check_slurm_layout(compose_train(overrides))


@pytest.mark.parametrize(("env", "overrides", "message"), [
    ({}, [], "this Slurm job runs 2 task(s) per node but trainer.devices=1: data-parallel "
     "training runs one task per device; set trainer.devices=2, or submit with "
     "--ntasks-per-node=1 --gres=gpu:1"),
    ({"SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1"}, ["trainer.devices=4"],
     "this Slurm job runs 1 task(s) per node but trainer.devices=4"),
    ({"SLURM_NTASKS": "4", "SLURM_NTASKS_PER_NODE": "2", "SLURM_NNODES": "2"},
     ["trainer.devices=2"], "this Slurm job has 2 node(s) but trainer.num_nodes=1: set "
     "trainer.num_nodes=2, or submit with --nodes=1"),
    ({"SLURM_NTASKS_PER_NODE": ""}, ["trainer.devices=2"],
     "this Slurm job runs 2 tasks without --ntasks-per-node: submit with --nodes=1 "
     "--ntasks-per-node=2"),
    ({}, ["trainer.devices=auto"], "trainer.devices=auto in a Slurm job of 2 tasks: give the "
     "number of devices per node, one task each, e.g. trainer.devices=2"),
])
def test_tasks_that_do_not_match_the_devices_are_refused_in_one_line(slurm_step, env,
                                                                     overrides, message):
    for name, value in env.items():
        slurm_step.setenv(name, value)
    with pytest.raises(UserError) as refused:
        check_slurm_layout(compose_train(overrides))
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


@pytest.mark.slow  # two processes with gloo: about 25 s
def test_two_local_processes_train_one_run_written_by_rank_0(tmp_path):
    """`trainer.devices=2` on one machine (a workstation's GPUs; CPU processes here): Lightning
    starts rank 1 by running the command again; the run directory has rank 0's files only."""
    mnist = ["+experiment=mnist_dnn", f"data.raw_dir={real_data_dir('mnist')}", "data.scale=0.1",
             "trainer.max_epochs=2", "trainer.accelerator=cpu", "callbacks.progress.style=lines"]
    proc = run_module("fidle_runs", *mnist, "data.batch_size=32", "trainer.devices=2",
                      f"hydra.run.dir={tmp_path / 'two'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = read_result(tmp_path / "two")
    assert two.status == "completed" and two.parallel["global_batch"] == 64
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "checkpoints", "config.yaml", "csv", "fidle_runs.log", "predictions", "result.json",
        "tensorboard", "train_ddp_process_1.log"], "rank 1 writes only its own (error) log"
    assert (tmp_path / "two" / "train_ddp_process_1.log").read_text().count("\n") <= 1
    assert tensorboard_epochs(tmp_path / "two", "val_acc") == [0, 1]
    assert proc.stdout.count("epoch 2/2 ") == 1 and proc.stdout.count("completed: test_acc") == 1
    swept = run_module("fidle_runs", "-m", *mnist, "trainer.devices=2",
                       f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert swept.returncode == 1
    assert "trainer.devices=2 in a sweep on this machine" in swept.stdout
