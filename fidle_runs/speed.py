"""The fast path: what a run does to train small networks fast on a GPU, from the `speed` block of
conf/train.yaml, and what result.json's `speed` block records of it.

- On a CPU: freed memory stays in the process (fidle_runs.cpu_allocator), instead of every
  step mapping its activations afresh.
- Data: in the GPU's memory when it fits, else in pinned host memory (`speed.data_on`,
  fidle_runs.data.placement).
- Mixed precision the GPU has: `trainer=gpu` asks for bf16-mixed; a GPU without bf16 units
  (before Ampere: V100) gets 16-mixed, float16 with loss scaling, instead.
- Channels-last memory layout for networks with convolutions on a GPU (`speed.channels_last`):
  the weights are converted once and each input on its way in, so cuDNN's NHWC kernels run
  without layout transposes.
- `torch.compile` (`speed.compile`), of the network in place (`nn.Module.compile`): checkpoint
  keys stay those of the plain network, so reports and resumes load them as before. Compiling
  takes its time during the first steps of each stage; `speed.compile_s` reports it apart
  (the compiler's own account).

None of these changes what is trained: a run can resume with other values (run_dir's
NOT_PART_OF_THE_RUN).
"""

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from fidle_runs.cpu_allocator import keep_freed_memory
from fidle_runs.data.in_memory import InMemoryDataModule
from fidle_runs.data.placement import Placement
from fidle_runs.errors import UserError
from fidle_runs.gpu_slots import runs_sharing_a_gpu
from fidle_runs.result import RunResult

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
    precision = str(cfg.trainer.get("precision", "32-true"))
    chosen = mixed_precision(precision, torch.cuda.get_device_capability() if on_gpu else None)
    if chosen != precision:
        log.warning("%s has no bf16 units: trainer.precision=%s instead of %s",
                    torch.cuda.get_device_name(), chosen, precision)
        with open_dict(cfg):
            cfg.trainer.precision = chosen
    result.speed = {"device": None, "data_on": None, "channels_last": False,
                    "precision": chosen, "compile": settings["compile"], "compile_s": None,
                    "runs_per_gpu": runs_sharing_a_gpu(cfg) if on_gpu else None}
    return [FastPath(settings, net, datamodule, result)]


def speed_up_network(net: nn.Module, device: torch.device, settings: dict[str, Any]) -> bool:
    """Channels-last layout (returns whether it applies) and compilation, in place."""
    convolutional = any(isinstance(m, nn.Conv2d) for m in net.modules())
    channels_last = convolutional and (settings["channels_last"] is True or (
        settings["channels_last"] == "auto" and device.type == "cuda"))
    if channels_last:
        net.to(memory_format=torch.channels_last)
        net.register_forward_pre_hook(_channels_last_input)
    if settings["compile"]:
        net.compile(**({} if settings["compile"] is True else {"mode": settings["compile"]}))
    return channels_last


def _channels_last_input(module: nn.Module, args: tuple) -> tuple:
    x, *rest = args
    return (x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x, *rest)


def compile_seconds() -> float:
    """Time this process has spent compiling with torch.compile (the compiler's own account:
    Dynamo's frame and backward compilations)."""
    from torch._dynamo.utils import calculate_time_spent

    return calculate_time_spent().get("total_wall_time", 0.0)


class FastPath(pl.Callback):
    def __init__(self, settings: dict[str, Any], net: nn.Module,
                 datamodule: InMemoryDataModule, result: RunResult) -> None:
        self.settings, self.net, self.datamodule, self.result = settings, net, datamodule, result
        self.applied = False
        self.compile_before = 0.0
        self.matmul_before: str | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        device = trainer.strategy.root_device
        if device.type == "cuda" and "mixed" in str(trainer.precision):
            # The float32 matrix products left under mixed precision on TF32 tensor cores; a
            # 32-true run keeps full float32. Process-wide: given back at each stage's
            # teardown, so the next run of a reused worker (joblib, a benchmark) starts as it
            # should.
            self.matmul_before = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("high")
        if self.applied:  # fit, then test: once
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
        self.result.speed.update(
            device=torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
            channels_last=speed_up_network(self.net, device, self.settings))

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
        if self.settings["compile"]:
            self.result.speed["compile_s"] = round(compile_seconds() - self.compile_before, 2)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record_compile_time()

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record_compile_time()

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record_compile_time()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.matmul_before is not None:
            torch.set_float32_matmul_precision(self.matmul_before)
            self.matmul_before = None
