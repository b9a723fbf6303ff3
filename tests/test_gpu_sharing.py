"""Several small runs on one GPU (fidle_runs.gpu_slots): how many fit, the gpu_shared launcher
that launches that many, and the sweep summary saying how many shared a GPU."""

import pytest
from hydra import compose, initialize_config_dir

from fidle_runs.config import CONF_DIR
from fidle_runs.gpu_slots import runs_sharing_a_gpu, runs_that_fit
from fidle_runs.result import RunResult
from fidle_runs.sweep_summary import format_summary, summarize
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


def test_the_gpu_shared_launcher_launches_what_fits_and_the_grid_lets_runs_share():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=gtsrb_full", "hydra/launcher=gpu_shared"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("JoblibLauncher")
    assert launcher.n_jobs == 1  # this machine has no GPU
    assert cfg.gpu_sharing is True
    assert compose_train([]).gpu_sharing is False
    assert runs_sharing_a_gpu(cfg) == 1  # not inside a launched job


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
