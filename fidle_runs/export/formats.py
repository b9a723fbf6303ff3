"""The export formats: how each writes a model with a free batch size, and how each file is run
back as another program would run it (ONNX Runtime for ONNX, torch.jit.load, torch.export.load)
to check it against the run."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fidle_runs.core.errors import UserError

INPUT, OUTPUT = "samples", "outputs"
Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Format:
    noun: str  # what the file is, in messages
    suffixes: tuple[str, ...]  # the first is the default file's
    loads_with: str  # what a user calls to load the file
    save: Callable[[torch.nn.Module, torch.Tensor, Path], None]
    load: Callable[[Path], Runner]


def _save_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    # The TorchScript-based exporter: it needs neither onnxscript nor onnx itself, and keeps
    # recurrent layers as ONNX LSTM/GRU operators.
    torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=[INPUT],
                      output_names=[OUTPUT], dynamic_axes={INPUT: {0: "batch"},
                                                           OUTPUT: {0: "batch"}})


def _load_onnx(path: Path) -> Runner:
    """The file validated by the ONNX checker, then run under ONNX Runtime on the CPU."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise UserError("--format onnx checks the file under ONNX Runtime, which is not "
                        "installed: pip install 'fidle_runs[export]' (onnx, onnxruntime)"
                        ) from None
    onnx.checker.check_model(str(path), full_check=True)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])

    def run(samples: torch.Tensor) -> torch.Tensor:
        (out,) = session.run([OUTPUT], {INPUT: np.ascontiguousarray(samples.numpy())})
        return torch.from_numpy(out)

    return run


def _save_torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    # A LightningModule's `trainer` property raises outside a Trainer, and tracing reads every
    # attribute; Lightning's own to_torchscript raises this flag for the same reason.
    lightning = [m for m in model.modules() if hasattr(m, "_jit_is_scripting")]
    for module in lightning:
        module._jit_is_scripting = True
    try:
        torch.jit.trace(model, (example,), check_trace=False).save(str(path))
    finally:
        for module in lightning:
            module._jit_is_scripting = False


def _load_torchscript(path: Path) -> Runner:
    return torch.jit.load(str(path), map_location="cpu")


def _save_exported(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))


def _load_exported(path: Path) -> Runner:
    return torch.export.load(str(path)).module()


FORMATS: dict[str, Format] = {
    "onnx": Format("an ONNX model", (".onnx",), "onnxruntime.InferenceSession(path)",
                   _save_onnx, _load_onnx),
    "torchscript": Format("a TorchScript module", (".ts", ".pt"),
                          "torch.jit.load(path)", _save_torchscript, _load_torchscript),
    "exported": Format("a torch.export program", (".pt2",),
                       "torch.export.load(path).module()", _save_exported, _load_exported),
}
