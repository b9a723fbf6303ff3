"""Launcher presets (Jean Zay, generic Slurm, local parallel), the sweep dry run, GPU slots."""

import os

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from fidle_runs.config.conf import CONF_DIR
from fidle_runs.core.errors import UserError
from fidle_runs.hardware.gpu_slots import claimed_gpu
from fidle_runs.launch import slurm_presets
from fidle_runs.launch.sweep_plan import expand, submitit_parameters
from tests.conftest import run_as_command, run_module


def _hydra(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True).hydra


@pytest.mark.parametrize(("preset", "partition", "constraint", "cpus", "qos", "arch"), [
    ("jeanzay_v100", "gpu_p13", None, 10, "qos_gpu-dev", None),
    ("jeanzay_a100", "gpu_p5", "a100", 8, "qos_gpu_a100-dev", "module load arch/a100"),
    ("jeanzay_h100", "gpu_p6", "h100", 24, "qos_gpu_h100-dev", "module load arch/h100"),
])
def test_jeanzay_presets(preset, partition, constraint, cpus, qos, arch, monkeypatch):
    monkeypatch.setenv("IDRPROJ", "abc")
    launcher = _hydra(f"hydra/launcher={preset}").launcher
    gpu = preset.removeprefix("jeanzay_")
    assert (launcher.partition, launcher.constraint, launcher.cpus_per_task) == \
        (partition, constraint, cpus)
    assert launcher.qos == qos and launcher.account == f"abc@{gpu}"
    assert launcher.gres == "gpu:1" and launcher.tasks_per_node == 1 and launcher.nodes == 1
    assert launcher.timeout_min == 120
    assert launcher.additional_parameters.hint == "nomultithread"
    assert launcher.additional_parameters.signal == "USR1@180"
    assert launcher.additional_parameters.requeue is True
    assert "module purge" in launcher.setup
    assert (arch in launcher.setup) if arch else not any("arch/" in s for s in launcher.setup)


@pytest.mark.parametrize(("gpu", "minutes", "qos"), [
    ("v100", 120, "qos_gpu-dev"), ("v100", 121, "qos_gpu-t3"), ("v100", 1200, "qos_gpu-t3"),
    ("v100", 6000, "qos_gpu-t4"), ("a100", 1200, "qos_gpu_a100-t3"),
    ("h100", 1201, "qos_gpu_h100-t4"),
])
def test_qos_follows_the_time_limit(gpu, minutes, qos):
    assert slurm_presets.jeanzay_qos(gpu, minutes) == qos


def test_time_limit_beyond_every_qos_names_the_key():
    with pytest.raises(SystemExit, match=r"hydra.launcher.timeout_min=1500 exceeds the longest "
                                         r"a100 QoS \(1200 min\)"):
        slurm_presets.jeanzay_qos("a100", 1500)


def test_slurm_presets_ask_one_task_and_gpu_per_device_on_each_node():
    launcher = _hydra("hydra/launcher=jeanzay_h100", "trainer.devices=4",
                      "trainer.num_nodes=2").launcher
    assert (launcher.tasks_per_node, launcher.gres, launcher.nodes) == (4, "gpu:4", 2)
    assert launcher.cpus_per_task == 24, "CPUs per task, so per GPU"
    launcher = _hydra("hydra/launcher=slurm", "trainer.devices=2",
                      "hydra.launcher.gpus_per_node=2").launcher
    assert (launcher.tasks_per_node, launcher.gres, launcher.nodes) == (2, "gpu:2", 1)


@pytest.mark.parametrize(("overrides", "message"), [
    (["trainer.devices=1", "hydra.launcher.gpus_per_node=4"],
     "hydra.launcher.gpus_per_node=4 but trainer.devices=1: data-parallel training runs one task "
     "per GPU; set trainer.devices=4"),
    (["trainer.devices=auto"], "trainer.devices=auto under a Slurm launcher: give the number of "
     "GPUs per node"),
    (["hydra.launcher.timeout_min=100000"], "hydra.launcher.timeout_min=100000 exceeds the "
     "longest v100 QoS (6000 min)"),
])
def test_an_impossible_slurm_request_stops_the_launch_with_one_line(overrides, message,
                                                                    tmp_path):
    proc = run_module("fidle_runs", "-m", "+experiment=gtsrb_cnn", "hydra/launcher=jeanzay_v100",
                      f"hydra.sweep.dir={tmp_path}/sweep", *overrides, cwd=tmp_path)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"fidle_runs: error: {message}")
    assert not (tmp_path / "sweep").exists(), "nothing launched"


def _another_value(field_type: object, value: object) -> tuple[str, object]:
    """A command-line value for a launcher field other than `value`, and what it composes to."""
    text = str(field_type)
    if value is True or value is False:
        return str(not value).lower(), not value
    if "int" in text:
        changed = (value or 0) + 3
        return str(changed), changed
    if "List" in text or "list" in text:
        return "[echo changed]", ["echo changed"]
    return "changed-by-user", "changed-by-user"


@pytest.mark.parametrize("preset", ["jeanzay_v100", "jeanzay_a100", "jeanzay_h100", "slurm"])
def test_every_preset_key_is_overridable_from_the_command_line(preset, monkeypatch):
    """Each field of the preset's launcher (submitit's SlurmQueueConf) and each of its
    additional sbatch parameters, set on the command line, is what the launcher gets."""
    import dataclasses

    from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf

    monkeypatch.delenv("IDRPROJ", raising=False)
    types = {f.name: f.type for f in dataclasses.fields(SlurmQueueConf)}
    preset_launcher = _hydra(f"hydra/launcher={preset}").launcher
    overrides, expected = [], {}
    for key in preset_launcher:
        if key in ("_target_", "additional_parameters"):
            continue
        current = OmegaConf.select(preset_launcher, key, throw_on_resolution_failure=False)
        written, value = _another_value(types[key], current)
        overrides.append(f"hydra.launcher.{key}={written}")
        expected[key] = value
    for key in preset_launcher.additional_parameters:
        overrides.append(f"hydra.launcher.additional_parameters.{key}=changed-by-user")
        expected[f"additional_parameters.{key}"] = "changed-by-user"
    overrides.append("+hydra.launcher.additional_parameters.mail-type=END")
    expected["additional_parameters.mail-type"] = "END"
    launcher = _hydra(f"hydra/launcher={preset}", *overrides).launcher
    got = {key: OmegaConf.select(launcher, key) for key in expected}
    got = {k: list(v) if OmegaConf.is_list(v) else v for k, v in got.items()}
    assert got == expected
    assert len(expected) >= 25, "every field was tried"


def test_outputs_go_to_scratch_when_it_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCH", str(tmp_path))
    assert slurm_presets.output_root() == str(tmp_path / "fidle_runs")
    monkeypatch.setenv("SCRATCH", str(tmp_path / "missing"))
    assert slurm_presets.output_root() == os.path.abspath("outputs")


def test_gtsrb_full_expands_to_24_jobs_and_the_command_line_narrows_it():
    _, jobs = expand(["+experiment=gtsrb_full"])
    assert len(jobs) == 24
    assert len({tuple(job) for job in jobs}) == 24
    _, jobs = expand(["+experiment=gtsrb_full", "model=cnn_v2", "data.scale=0.1"])
    assert len(jobs) == 8
    assert all("model=cnn_v2" in job and "data.scale=0.1" in job for job in jobs)
    assert jobs[0] == ["data.size=24", "data.mode=RGB", "model=cnn_v2", "+experiment=gtsrb_full",
                       "data.scale=0.1"]


def test_submitit_parameters_are_those_the_launcher_passes():
    init, job = submitit_parameters(_hydra("hydra/launcher=jeanzay_h100",
                                           "hydra.sweep.dir=/s").launcher)
    assert init == {"folder": "/s/.submitit/%j", "slurm_max_num_timeout": 0}
    assert job["timeout_min"] == 120 and job["cpus_per_task"] == 24
    assert job["slurm_partition"] == "gpu_p6" and job["slurm_constraint"] == "h100"
    assert job["slurm_array_parallelism"] == 32


def test_dry_run_prints_the_sbatch_script_and_submits_nothing(tmp_path):
    proc = run_module("fidle_runs.sweep_plan", "+experiment=gtsrb_full", "data.scale=0.2",
                      "hydra/launcher=jeanzay_a100", f"hydra.sweep.dir={tmp_path / 's'}",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(f"24 jobs, sweep directory {tmp_path / 's'}")
    assert ("#23: data.size=48 data.mode=L-LHE model=cnn_v3 +experiment=gtsrb_full data.scale=0.2 "
            f"hydra/launcher=jeanzay_a100 hydra.sweep.dir={tmp_path / 's'}\n"
            "       in +experiment=gtsrb_full,data.mode=L-LHE,data.scale=0.2,data.size=48,"
            "model=cnn_v3/") in out
    for line in ("#SBATCH --array=0-23%24", "#SBATCH --partition=gpu_p5",
                 "#SBATCH --constraint=a100", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --qos=qos_gpu_a100-dev", "#SBATCH --signal=USR1@180",
                 "#SBATCH --hint=nomultithread", "module load arch/a100",
                 f"-m submitit.core._submit {tmp_path / 's'}/.submitit/%j"):
        assert line in out, line
    assert out.rstrip().endswith("dry run: nothing was submitted")
    assert not (tmp_path / "s").exists()


def test_sweep_plan_job_and_count_drive_the_array_script(tmp_path):
    count = run_module("fidle_runs.sweep_plan", "--count", "+experiment=gtsrb_full",
                       "model=cnn_v1", cwd=tmp_path)
    assert count.stdout.strip() == "8"
    job = run_module("fidle_runs.sweep_plan", "--job", "7", "+experiment=gtsrb_full",
                     "model=cnn_v1", cwd=tmp_path)
    assert job.stdout.strip() == "data.size=48 data.mode=L-LHE model=cnn_v1 +experiment=gtsrb_full"
    wrong = run_module("fidle_runs.sweep_plan", "--job", "8", "+experiment=gtsrb_full",
                       "model=cnn_v1", cwd=tmp_path)
    assert wrong.returncode != 0
    assert "--job 8 is out of range: this sweep has 8 jobs (0 to 7)" in wrong.stderr


def test_gpu_slots_give_each_run_its_own_gpu_then_share_only_when_allowed(tmp_path):
    with claimed_gpu(tmp_path, 2, 4, sharing=True) as a, \
            claimed_gpu(tmp_path, 2, 4, sharing=True) as b, \
            claimed_gpu(tmp_path, 2, 4, sharing=True) as c:
        assert (a, b, c) == (0, 1, 0)
    with claimed_gpu(tmp_path, 2, 4, sharing=True) as again:
        assert again == 0, "slots are freed when their runs end"
    with pytest.raises(UserError, match=r"n_jobs=3 runs at once but this machine has 2 GPU\(s\): "
                                        r"add gpu_sharing=true"), \
            claimed_gpu(tmp_path, 2, 3, sharing=False):
        pass
    with claimed_gpu(tmp_path, 2, 2, sharing=False) as a, \
            claimed_gpu(tmp_path, 2, 2, sharing=False) as b:
        assert {a, b} == {0, 1}
        with pytest.raises(RuntimeError, match="every GPU slot"), \
                claimed_gpu(tmp_path, 2, 2, sharing=False):
            pass


def test_launching_imports_neither_torch_nor_lightning(tmp_path):
    """The processes that compose and launch a sweep (its runs in worker processes), summarise
    it, and report on its runs (tables only) stay light, as on a login node: run as commands."""
    sweep_dir = tmp_path / "sweep"
    launched = run_as_command("fidle_runs", [
        "-m", "+experiment=ladybug_gru", "model=mlp", "data.scale=0.02", "trainer.max_epochs=1",
        "seed=0,1", "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert "sweep " in launched.stdout and "2 completed" in launched.stdout, launched.stderr[-3000:]
    assert launched.stdout.strip().endswith("heavy: []"), launched.stdout[-2000:]
    reported = run_as_command("fidle_runs.report", [str(sweep_dir), "--no-html", "--out",
                                                     str(tmp_path / "report")], tmp_path)
    assert reported.stdout.strip().endswith("heavy: []"), reported.stderr[-3000:]
