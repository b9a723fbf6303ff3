"""scripts/benchmark_gpu.py's plain loop, which runs inside the runner's fit between two of its
epochs: it must leave the runner's random state as it found it and keep its compile time apart."""

import functools
import importlib.util
import sys

import pytest
import torch

from fidle_runs.launch.resolvers import register_resolvers
from tests.conftest import REPO


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_gpu",
                                                  REPO / "scripts" / "benchmark_gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchmark_gpu"] = module
    spec.loader.exec_module(module)
    register_resolvers()
    return module


def _plain_loop(benchmark, tmp_path, compile_setting):
    cfg = benchmark.compose_run(["+experiment=gtsrb_cnn", "data.size=24", "data.mode=L",
                                 "data.batch_size=16"])
    generator = torch.Generator().manual_seed(0)
    tensors = {split: (torch.randint(0, 256, (n, 1, 24, 24), dtype=torch.uint8,
                                     generator=generator),
                       torch.randint(0, 43, (n,), generator=generator))
               for split, n in (("train", 48), ("val", 16))}
    loop = benchmark.PlainLoop(cfg, tmp_path)
    speed = {"channels_last": False, "compile": compile_setting, "precision": "32-true",
             "data_on": "host"}
    return loop, tensors, speed


def test_plain_epochs_leave_the_runners_random_state_as_it_was(benchmark, tmp_path):
    """cnn_v1's dropout draws in every plain epoch, and the loop seeds itself in its setup:
    neither may move the runner's generator (its own dropout and augmentation)."""
    loop, tensors, speed = _plain_loop(benchmark, tmp_path, False)
    torch.manual_seed(123)
    runner_state = torch.get_rng_state()
    loop.setup(tensors, torch.device("cpu"), speed)
    assert torch.equal(torch.get_rng_state(), runner_state)
    loop.epoch()
    loop.epoch()
    assert torch.equal(torch.get_rng_state(), runner_state)
    assert not torch.equal(loop.rng, runner_state), "the loop draws from a state of its own"


def test_the_plain_networks_compile_time_is_its_own(benchmark, tmp_path, monkeypatch):
    """The process's compile time holds both networks'; the loop counts its own, which
    `interleaved` takes out of the runner's compile_s (eager backend: Dynamo only, fast)."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    torch._dynamo.reset()  # what earlier tests compiled in this process would be reused
    loop, tensors, speed = _plain_loop(benchmark, tmp_path, True)
    before = benchmark.compile_seconds()
    loop.setup(tensors, torch.device("cpu"), speed)
    loop.epoch()
    spent = benchmark.compile_seconds() - before
    assert 0 < loop.compile_s == pytest.approx(spent, abs=1e-6)
