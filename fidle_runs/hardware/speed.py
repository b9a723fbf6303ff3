"""The fast path: what a run does to train small networks fast on a GPU, from the `speed` block of
conf/train.yaml, and what result.json's `speed` block records of it.

- On a CPU: freed memory stays in the process (fidle_runs.hardware.cpu_allocator), instead of every
  step mapping its activations afresh.
- Data: in the GPU's memory when it fits, else in pinned host memory (`speed.data_on`,
  fidle_runs.data.placement).
- Mixed precision the GPU has: `trainer=gpu` asks for bf16-mixed; a run whose GPU has no bf16
  units (before Ampere: V100) gets 16-mixed, float16 with loss scaling, instead. The run's own
  device decides, once the trainer has chosen it (not device 0, and no CUDA before the trainer).
- Channels-last memory layout for networks with convolutions on a GPU under mixed precision
  (`speed.channels_last`):
  the weights are converted once and each input on its way in, so cuDNN's NHWC kernels run
  without layout transposes.
- `torch.compile` (`speed.compile`), of the network in place (`nn.Module.compile`): checkpoint
  keys stay those of the plain network, so reports and resumes load them as before. Compiling
  takes its time during the first steps of each stage; `speed.compile_s` reports it apart
  (the compiler's own account). Every compiled module shares one code object
  (`Module._call_impl`) and so one recompile limit: each run starts the compiler afresh, and
  `speed.compiled` records whether the network really ran compiled (false, with a warning, when
  the compiler gave up and ran it eagerly).

None of these changes what is trained: a run can resume with other values (run_dir's
NOT_PART_OF_THE_RUN).
"""

import logging
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.plugins.precision import MixedPrecision
from torch import nn

from fidle_runs.core.errors import UserError
from fidle_runs.data.in_memory import InMemoryDataModule
from fidle_runs.data.placement import Placement
from fidle_runs.hardware.cpu_allocator import keep_freed_memory
from fidle_runs.hardware.gpu_slots import runs_sharing_a_gpu
from fidle_runs.store.result import RunResult

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {"data_on": "auto", "channels_last": "auto", "compile": False}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# Compute capability from which a GPU has bf16 units (Ampere).
BF16_CAPABILITY = (8, 0)


def speed_settings(cfg: DictConfig) -> dict[str, Any]:
    """The run's `speed` block over the defaults (runs recorded before it have none), checked."""
    given = OmegaConf.to_container(cfg.speed, resolve=True) if cfg.get("speed") else {}
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise UserError(f"speed.{unknown[0]} is not a speed setting: the settings are "
                        f"{', '.join(f'speed.{k}' for k in DEFAULTS)}")
    settings = {**DEFAULTS, **given}
    Placement(settings["data_on"])  # one line naming speed.data_on when wrong
    if settings["channels_last"] not in ("auto", True, False):
        raise UserError(f"speed.channels_last={settings['channels_last']!r} is invalid: it must "
                        "be auto, true or false")
    if settings["compile"] not in (True, False, *COMPILE_MODES):
        raise UserError(f"speed.compile={settings['compile']!r} is invalid: it must be false, "
                        f"true or a torch.compile mode ({', '.join(COMPILE_MODES)})")
    return settings


def mixed_precision(precision: str, capability: tuple[int, int] | None) -> str:
    """The trainer precision to use on a GPU of `capability` (None: not a GPU): bf16-mixed
    becomes 16-mixed (float16 with loss scaling) where the GPU has no bf16 units."""
    if capability is not None and str(precision) == "bf16-mixed" and capability < BF16_CAPABILITY:
        return "16-mixed"
    return precision


def apply_speed(cfg: DictConfig, datamodule: InMemoryDataModule, net: nn.Module,
                result: RunResult) -> list[pl.Callback]:
    """Set the run up for speed before its trainer is built (the data's placement, the
    precision the GPU has); the returned callback lays out and compiles the network once the
    trainer knows the device, and records it all in `result.speed`."""
    settings = speed_settings(cfg)
    datamodule.placement = Placement(settings["data_on"])
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    on_gpu = torch.cuda.is_available() and accelerator in ("gpu", "cuda", "auto")
    result.speed = {"device": None, "data_on": None, "channels_last": False,
                    "precision": str(cfg.trainer.get("precision", "32-true")),
                    "compile": settings["compile"], "compile_s": None, "compiled": None,
                    "runs_per_gpu": runs_sharing_a_gpu(cfg) if on_gpu else None}
    return [FastPath(settings, net, datamodule, result)]


def fall_back_from_bf16(trainer: pl.Trainer,
                        capability: Callable[[torch.device], tuple[int, int]]) -> str:
    """The trainer's precision, made 16-mixed where it asks bf16-mixed of a GPU without bf16
    units; called in a setup hook, before the strategy sets the precision up."""
    precision = str(trainer.precision)
    device = trainer.strategy.root_device
    chosen = mixed_precision(precision, capability(device) if device.type == "cuda" else None)
    if chosen != precision:
        log.warning("%s has no bf16 units: trainer.precision=%s instead of %s", device, chosen,
                    precision)
        trainer.strategy.precision_plugin = MixedPrecision(chosen, "cuda",
                                                           torch.amp.GradScaler("cuda"))
    return chosen


def speed_up_network(net: nn.Module, device: torch.device, settings: dict[str, Any],
                     precision: str = "32-true") -> bool:
    """Channels-last layout (returns whether it applies) and compilation, in place.

    `auto` lays a convolutional network out channels-last on a GPU under mixed precision only:
    that is the layout the float16/bf16 tensor cores' convolution kernels read. In full float32
    (a 32-true run keeps TF32 off) cuDNN's channels-last kernels are usually no faster than
    NCHW, and on a V100 often slower; scripts/gpu_check.py measures both on a lent GPU.
    """
    convolutional = any(isinstance(m, nn.Conv2d) for m in net.modules())
    channels_last = convolutional and (settings["channels_last"] is True or (
        settings["channels_last"] == "auto" and device.type == "cuda"
        and "mixed" in str(precision)))
    if channels_last:
        net.to(memory_format=torch.channels_last)
        net.register_forward_pre_hook(_channels_last_input)
    if settings["compile"]:
        # A fresh compiler: the previous networks of this process (a reused worker's earlier
        # runs, a benchmark's) would otherwise have spent the recompile limit all modules share.
        torch._dynamo.reset()
        net.compile(**({} if settings["compile"] is True else {"mode": settings["compile"]}))
    return channels_last


def _channels_last_input(module: nn.Module, args: tuple) -> tuple:
    x, *rest = args
    return (x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x, *rest)


class CompileWatch(logging.Handler):
    """What the compiler really did while it is attached: frames it compiled, and whether it gave
    up on a function (its recompile limit hit: that function then runs eagerly)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.frames_before = _compiled_frames()
        self.gave_up = False

    def emit(self, record: logging.LogRecord) -> None:
        if "recompile_limit" in record.getMessage():
            self.gave_up = True

    @property
    def compiled(self) -> bool:
        return not self.gave_up and _compiled_frames() > self.frames_before


def _compiled_frames() -> int:
    from torch._dynamo.utils import counters

    return counters["frames"]["ok"]


def compile_seconds() -> float:
    """Time this process has spent compiling with torch.compile (the compiler's own account:
    Dynamo's frame and backward compilations)."""
    from torch._dynamo.utils import calculate_time_spent

    return calculate_time_spent().get("total_wall_time", 0.0)


class FastPath(pl.Callback):
    def __init__(self, settings: dict[str, Any], net: nn.Module,
                 datamodule: InMemoryDataModule, result: RunResult,
                 capability: Callable[[torch.device], tuple[int, int]] = (
                     torch.cuda.get_device_capability)) -> None:
        self.settings, self.net, self.datamodule, self.result = settings, net, datamodule, result
        self.capability = capability
        self.applied = False
        self.compile_before = 0.0
        self.matmul_before: str | None = None
        self.watch: CompileWatch | None = None
        self.warned = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        device = trainer.strategy.root_device
        self.result.speed["precision"] = fall_back_from_bf16(trainer, self.capability)
        if device.type == "cuda" and "mixed" in str(trainer.precision):
            # The float32 matrix products left under mixed precision on TF32 tensor cores; a
            # 32-true run keeps full float32. Process-wide: given back at each stage's
            # teardown, so the next run of a reused worker (joblib, a benchmark) starts as it
            # should.
            self.matmul_before = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("high")
        if self.applied:  # fit, then test: once
            self._watch_compiler(True)
            return
        self.applied = True
        if device.type == "cpu":
            keep_freed_memory()
        sharing = self.result.speed.get("runs_per_gpu") or 1
        if device.type == "cuda" and sharing > 1:
            # Runs sharing a GPU each keep to their share: one that grows cannot take its
            # neighbours' memory (it fails alone, with CUDA's out-of-memory error).
            torch.cuda.set_per_process_memory_fraction(1 / sharing, device)
        if self.settings["compile"]:
            self.compile_before = compile_seconds()
            self.watch = CompileWatch()
        self.result.speed.update(
            device=torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
            channels_last=speed_up_network(self.net, device, self.settings,
                                           str(trainer.precision)))
        self._watch_compiler(True)

    def _watch_compiler(self, on: bool) -> None:
        if self.watch is not None:
            logger = logging.getLogger("torch._dynamo.convert_frame")
            (logger.addHandler if on else logger.removeHandler)(self.watch)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        speed = self.result.speed
        speed["data_on"] = self.datamodule.placement.chosen
        if trainer.strategy.root_device.type == "cpu":
            return  # nothing to say: a CPU run is as it was
        shared = (f", {speed['runs_per_gpu']} runs at once per GPU"
                  if (speed["runs_per_gpu"] or 1) > 1 else "")
        log.info("speed: %s, data in %s memory, %s, %s, compile %s%s", speed["device"],
                 "device" if speed["data_on"] == "device" else "host",
                 "channels_last" if speed["channels_last"] else "NCHW", speed["precision"],
                 speed["compile"] if speed["compile"] else "off", shared)

    def _record_compile_time(self) -> None:
        if self.watch is not None:
            self.result.speed["compile_s"] = round(compile_seconds() - self.compile_before, 2)
            self.result.speed["compiled"] = self.watch.compiled

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record_compile_time()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.matmul_before is not None:
            torch.set_float32_matmul_precision(self.matmul_before)
            self.matmul_before = None
        if self.watch is not None:
            self._watch_compiler(False)
            self._record_compile_time()
            if self.watch.gave_up and not self.warned:
                self.warned = True
                log.warning("speed.compile: the compiler reached its recompile limit and ran "
                            "the network eagerly for part of the run (result.json: "
                            "speed.compiled=false)")
