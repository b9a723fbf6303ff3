"""Several small runs on one GPU (fidle_runs.hardware.gpu_slots): how many fit, the gpu_shared
launcher that launches that many, and the sweep summary saying how many shared a GPU."""

import os

import pytest
import torch
from hydra import compose, initialize_config_dir

from fidle_runs.config.conf import CONF_DIR
from fidle_runs.hardware import gpu_slots
from fidle_runs.hardware.gpu_slots import runs_sharing_a_gpu, runs_that_fit
from fidle_runs.report.sweep_summary import format_summary, summarize
from fidle_runs.store.result import RunResult
from tests.conftest import compose_train

GIB = 2**30


@pytest.mark.parametrize(("gpus", "cores", "host", "runs"), [
    ([80 * GIB], 16, 128 * GIB, 16),  # an H100 machine: one run per core, 20 would fit
    ([80 * GIB], 64, 24 * GIB, 8),  # host memory holds 8 processes
    ([141 * GIB], 64, 512 * GIB, 35),  # an H200: 35 runs of 4 GiB
    ([16 * GIB, 16 * GIB], 20, 192 * GIB, 8),  # two V100-16g: 4 each
    ([2 * GIB], 8, 64 * GIB, 1),  # a small GPU still takes one run
    ([], 16, 128 * GIB, 1),  # no GPU: one run at a time
])
def test_runs_at_once_are_sized_to_gpu_memory_cores_and_host_memory(gpus, cores, host, runs):
    assert runs_that_fit(gpus, cores, host) == runs


@pytest.mark.parametrize(("gpus", "runs"), [([], 1), ([80 * GIB], 16), ([10 * GIB] * 2, 4)])
def test_the_gpu_shared_launcher_launches_what_fits_and_the_grid_lets_runs_share(gpus, runs,
                                                                               monkeypatch):
    """The machine injected: its GPUs' memory, 16 cores, 128 GiB of host memory."""
    monkeypatch.setattr(gpu_slots, "_gpu_bytes", lambda: gpus)
    monkeypatch.setattr(gpu_slots.os, "sched_getaffinity", lambda pid: set(range(16)))
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 128 * GIB // 4096}
    monkeypatch.setattr(gpu_slots.os, "sysconf", pages.__getitem__)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=gtsrb_full", "hydra/launcher=gpu_shared"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("JoblibLauncher")
    assert launcher.n_jobs == runs
    assert cfg.gpu_sharing is True
    assert compose_train([]).gpu_sharing is False
    assert runs_sharing_a_gpu(cfg) == 1  # not inside a launched job


@pytest.mark.parametrize("visible", [None, "0,1", "GPU-5f3e2a6b-1c9d,GPU-77aa0b3c-8e21",
                                     "MIG-0c7e1f2a-4b5d"])
def test_gpu_memory_is_what_cuda_reports_for_the_visible_devices(visible, tmp_path,
                                                                 monkeypatch):
    """Asked of CUDA in a child process (here a stand-in printing what CUDA would, behind a
    stand-in nvidia-smi that lists whole GPUs): GPU and MIG UUIDs count, a MIG slice counts
    its own memory, and nvidia-smi's order and totals are not used."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "nvidia-smi").write_text("#!/bin/sh\necho 143771\necho 143771\n")
    child = tools / "python"
    sizes = "10468982784" if visible and visible.startswith("MIG-") else "85899345920 85899345920"
    child.write_text(f"#!/bin/sh\nfor s in {sizes}; do echo $s; done\n")
    for tool in (tools / "nvidia-smi", child):
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    expected = [int(s) for s in sizes.split()]
    assert gpu_slots._gpu_bytes(python=str(child)) == expected
    assert runs_that_fit(expected, 64, 512 * GIB) == (2 if len(expected) == 1 else 40)


def test_a_run_sharing_a_gpu_keeps_to_its_share_of_its_memory(monkeypatch):
    from types import SimpleNamespace

    from fidle_runs.hardware.speed import DEFAULTS, FastPath
    from fidle_runs.models.dense import mlp

    caps = []
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Injected GPU")
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda fraction, device=None: caps.append((fraction, device)))
    gpu = torch.device("cuda", 1)
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=gpu), precision="32-true")
    for sharing in (1, 4):
        FastPath(dict(DEFAULTS), mlp((4,), 2, [8]), None,
                 RunResult(speed={"runs_per_gpu": sharing}),
                 capability=lambda device: (9, 0)).setup(trainer, None, "fit")
    assert caps == [(0.25, gpu)], "a run alone on its GPU is not capped"


def test_the_summary_says_how_many_runs_shared_a_gpu(tmp_path):
    def run(model: str, runs_per_gpu: int | None) -> RunResult:
        return RunResult(status="completed", task="classification", model=model,
                         primary={"name": "test_acc", "mode": "max", "fraction": True,
                                  "value": 0.95},
                         data={"name": "set-48x48-RGB"}, epochs=16, duration_s={"fit": 30.0},
                         speed={"runs_per_gpu": runs_per_gpu})

    run("cnn_v2", 6).write(tmp_path / "model=cnn_v2")
    run("cnn_v1", None).write(tmp_path / "model=cnn_v1")
    text = format_summary(tmp_path, summarize(tmp_path, None))
    assert "cnn_v2 on set-48x48-RGB: test_acc 95.00 %, 16 epochs, 30s, GPU shared by 6 runs" \
        in text
    assert "cnn_v1 on set-48x48-RGB: test_acc 95.00 %, 16 epochs, 30s\n" in text + "\n"
