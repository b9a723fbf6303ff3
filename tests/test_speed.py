"""The fast path (fidle_runs.hardware.speed): its settings, the precision a GPU has,
channels-last and compile wiring on a CPU, and a CPU run with the data on its 'device' in
channels-last layout."""

import json

import pytest
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.hardware.cpu_allocator import keep_freed_memory
from fidle_runs.hardware.speed import DEFAULTS, mixed_precision, speed_settings, speed_up_network
from fidle_runs.models import cnn
from fidle_runs.models.dense import mlp
from fidle_runs.run.train import train
from tests.conftest import compose_train


def test_default_speed_keeps_a_cpu_run_as_it_was():
    settings = speed_settings(compose_train([]))
    assert settings == DEFAULTS == {"data_on": "auto", "channels_last": "auto", "compile": False}
    net = cnn.cnn_v1((1, 24, 24))
    assert speed_up_network(net, torch.device("cpu"), settings) is False
    assert net[0][0].weight.is_contiguous() and net._compiled_call_impl is None


@pytest.mark.parametrize(("override", "message"), [
    ("speed.data_on=gpu", r"speed.data_on='gpu' is invalid: it must be one of auto, device, host"),
    ("speed.channels_last=yes", r"speed.channels_last='yes' is invalid"),
    ("speed.compile=fast", r"speed.compile='fast' is invalid: .*reduce-overhead"),
    ("+speed.cudagraphs=true", r"speed.cudagraphs is not a speed setting"),
])
def test_bad_speed_settings_are_one_line_naming_the_key(override, message):
    with pytest.raises(UserError, match=message):
        speed_settings(compose_train([override]))


@pytest.mark.parametrize(("precision", "capability", "chosen"), [
    ("bf16-mixed", (9, 0), "bf16-mixed"),  # H100
    ("bf16-mixed", (8, 0), "bf16-mixed"),  # A100
    ("bf16-mixed", (7, 0), "16-mixed"),  # V100: float16 with loss scaling
    ("32-true", (7, 0), "32-true"),
    ("bf16-mixed", None, "bf16-mixed"),  # not a GPU
])
def test_mixed_precision_is_the_one_the_gpu_has(precision, capability, chosen):
    assert mixed_precision(precision, capability) == chosen


def test_channels_last_and_compile_keep_the_checkpoint_keys():
    net = cnn.cnn_v2((3, 48, 48))
    keys = list(net.state_dict())
    settings = {"data_on": "auto", "channels_last": True, "compile": "max-autotune"}
    assert speed_up_network(net, torch.device("cpu"), settings) is True
    conv = net[0][0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert net._compiled_call_impl is not None and list(net.state_dict()) == keys
    dense = mlp((1, 28, 28), 10)
    on_gpu = {**settings, "channels_last": "auto", "compile": False}
    assert speed_up_network(dense, torch.device("cuda", 0), on_gpu) is False  # no convolution


def test_channels_last_network_computes_what_the_plain_one_does():
    torch.manual_seed(0)
    plain = cnn.cnn_v3((3, 24, 24)).eval()
    fast = cnn.cnn_v3((3, 24, 24)).eval()
    fast.load_state_dict(plain.state_dict())
    assert speed_up_network(fast, torch.device("cpu"), {**DEFAULTS, "channels_last": True})
    convolutions = [m for m in fast.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(
        m.weight.is_contiguous(memory_format=torch.channels_last) and not m.weight.is_contiguous()
        for m in convolutions), "the network is channels-last, not the plain one again"
    seen = []
    convolutions[0].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x = torch.rand(5, 3, 24, 24)
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-4, atol=1e-5)
    assert seen[0].is_contiguous(memory_format=torch.channels_last), "its input too"


def test_a_cpu_run_on_its_device_in_channels_last_records_its_speed(small_run, tmp_path):
    result = train(small_run("speed.data_on=device", "speed.channels_last=true",
                             "trainer=cpu", "trainer.max_epochs=1"))
    assert result.status == "completed" and result.metrics["test_acc"] > 0.05
    recorded = json.loads((tmp_path / "run" / "result.json").read_text())["speed"]
    assert recorded == {"device": "cpu", "data_on": "device", "channels_last": True,
                        "precision": "32-true", "compile": False, "compile_s": None,
                        "compiled": None, "runs_per_gpu": None}


def test_cpu_training_keeps_freed_memory_in_the_process(monkeypatch):
    """The fast path sets the allocator up for a CPU run (once, for fit and test), not for a GPU
    run; glibc accepts both allocator settings (mallopt answers 1 for each)."""
    from fidle_runs.hardware import speed
    from fidle_runs.store.result import RunResult

    calls = []
    monkeypatch.setattr(speed, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Injected GPU")
    for device, expected in ((torch.device("cpu"), [1]), (torch.device("cuda", 0), [])):
        calls.clear()
        trainer = _Trainer(device, "32-true")
        fast = speed.FastPath(dict(DEFAULTS), mlp((4,), 2, [8]), None, RunResult(speed={}),
                              capability=lambda device: (9, 0))
        for stage in ("fit", "test"):
            fast.setup(trainer, None, stage)
            fast.teardown(trainer, None, stage)
        assert calls == expected, device
    monkeypatch.undo()
    assert keep_freed_memory()


@pytest.mark.parametrize(("precision", "during"), [("bf16-mixed", "high"),
                                                   ("32-true", "highest")])
def test_tf32_only_under_mixed_precision_and_only_while_the_run_lasts(precision, during,
                                                                      monkeypatch):
    """The float32 matmul precision is process-wide: a 32-true run keeps full float32, and a
    mixed-precision run gives the setting back, so a reused worker's next run starts clean.
    The GPU is injected (root device, device name)."""
    from types import SimpleNamespace

    from fidle_runs.hardware.speed import FastPath
    from fidle_runs.store.result import RunResult

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Injected GPU")
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 0)),
                              precision=precision)
    result = RunResult(speed={})
    fast = FastPath(dict(DEFAULTS), mlp((4,), 2, [8]), None, result,
                    capability=lambda device: (9, 0))
    torch.set_float32_matmul_precision("highest")
    for stage in ("fit", "test"):
        fast.setup(trainer, None, stage)
        assert torch.get_float32_matmul_precision() == during
        fast.teardown(trainer, None, stage)
        assert torch.get_float32_matmul_precision() == "highest"
    assert result.speed["device"] == "Injected GPU"


@pytest.mark.parametrize(("precision", "expected"), [("bf16-mixed", True), ("16-mixed", True),
                                                     ("32-true", False)])
def test_channels_last_by_default_only_under_mixed_precision_on_a_gpu(precision, expected):
    """Full float32 (a V100's 32-true, or any GPU's, with TF32 off) keeps NCHW under `auto`."""
    net = cnn.cnn_v1((3, 24, 24))
    assert speed_up_network(net, torch.device("cuda", 0), dict(DEFAULTS), precision) is expected
    assert net[0][0].weight.is_contiguous(memory_format=torch.channels_last) is expected


class _Trainer:
    """What the fast path reads of a trainer on an injected GPU: its strategy's root device and
    precision plugin (trainer.precision is the plugin's, as in Lightning)."""

    def __init__(self, device: torch.device, precision: str) -> None:
        from types import SimpleNamespace

        from pytorch_lightning.plugins.precision import MixedPrecision, Precision

        plugin = (MixedPrecision(precision, "cpu") if "mixed" in precision else Precision())
        self.strategy = SimpleNamespace(root_device=device, precision_plugin=plugin)

    @property
    def precision(self) -> str:
        return self.strategy.precision_plugin.precision


@pytest.mark.parametrize(("capability", "chosen"), [((7, 0), "16-mixed"), ((9, 0), "bf16-mixed")])
def test_bf16_falls_back_by_the_capability_of_the_runs_own_gpu(capability, chosen, monkeypatch):
    """The run's device (cuda:1 here), asked once the trainer has chosen it: not device 0, and
    not before the trainer exists."""
    from fidle_runs.hardware.speed import FastPath
    from fidle_runs.store.result import RunResult

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Injected GPU")
    asked = []

    def capability_of(device: torch.device) -> tuple[int, int]:
        asked.append(device)
        return capability

    trainer = _Trainer(torch.device("cuda", 1), "bf16-mixed")
    result = RunResult(speed={"precision": "bf16-mixed"})
    fast = FastPath(dict(DEFAULTS), mlp((4,), 2, [8]), None, result, capability=capability_of)
    fast.setup(trainer, None, "fit")
    fast.teardown(trainer, None, "fit")
    assert asked == [torch.device("cuda", 1)]
    assert trainer.precision == result.speed["precision"] == chosen


def _compiled_run(net: torch.nn.Module, result) -> None:
    """A run's use of its network through the fast path on a CPU: fit (training steps, then
    validation without gradients, of two batch sizes), then test."""
    from fidle_runs.hardware.speed import FastPath

    trainer = _Trainer(torch.device("cpu"), "32-true")
    fast = FastPath({**DEFAULTS, "compile": True}, net, None, result)
    for stage in ("fit", "test"):
        fast.setup(trainer, None, stage)
        net.train()
        net(torch.randn(8, 4)).sum().backward()
        with torch.no_grad():
            net.eval()
            net(torch.randn(8, 4))
            net(torch.randn(3, 4))
        fast.teardown(trainer, None, stage)


@pytest.fixture
def eager_backend(monkeypatch):
    """torch.compile through its graph capture (Dynamo, whose caches and limits are what is
    tested) with the eager backend: no code generation, so the test takes a second."""
    import functools

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))


def test_every_network_of_a_process_runs_compiled(eager_backend):
    """All compiled modules share Module._call_impl's recompile limit (8): without a fresh
    compiler per run, the third or fourth network of a reused worker runs eagerly."""
    from fidle_runs.store.result import RunResult

    compiled = []
    for width in range(6):
        result = RunResult(speed={})
        _compiled_run(mlp((4,), 2, [8 + width]), result)
        compiled.append(result.speed["compiled"])
    assert compiled == [True] * 6


def test_a_network_the_compiler_gave_up_on_is_recorded_eager(eager_backend, caplog):
    from fidle_runs.store.result import RunResult

    result = RunResult(speed={})
    # Dynamo's own way to change a setting for a while (its config module is no plain module).
    with torch._dynamo.config.patch(recompile_limit=1):
        _compiled_run(mlp((4,), 2, [8]), result)
    assert result.speed["compiled"] is False
    assert "ran the network eagerly" in caplog.text
