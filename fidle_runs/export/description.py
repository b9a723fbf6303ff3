"""The sidecar `<export>.json`: what a program loading the export must know and cannot read in
the file — what its input is and how raw data becomes it (the preprocessing the run kept), what
its outputs mean (class names, target names, units or z-scores), which checkpoint it holds,
and how closely it was checked against the run. The checkpoint is named relative to the run,
as result.json names it."""

import datetime as dt
from pathlib import Path
from typing import Any

import torch

from fidle_runs import __version__
from fidle_runs.export.formats import INPUT, OUTPUT
from fidle_runs.run.rebuild import RebuiltRun
from fidle_runs.store.result import RunResult
from fidle_runs.store.run_dir import checkpoint_record


def outputs_meaning(result: RunResult, run: RebuiltRun) -> dict[str, Any]:
    """The outputs' meaning by task, with the names the task and data give them."""
    task = run.task
    if result.task == "classification":
        names = run.datamodule.class_names or [str(c) for c in range(result.data["n_outputs"])]
        if getattr(task, "binary", False):
            return {"meaning": f"the logit of class {names[1]!r} (sigmoid gives its "
                               f"probability, 1 - it that of {names[0]!r})",
                    "class_names": names}
        return {"meaning": "one logit per class (softmax gives the class probabilities)",
                "class_names": names}
    if result.task == "regression":
        return {"meaning": "the predicted value of each target, in its units",
                "target_names": list(task.target_names)}
    return {"meaning": f"{task.horizon} step(s) ahead of each target (step-major), as "
                       "z-scores: value = z * std + mean, with the target's mean and std in "
                       "preprocessing.scaling",
            "horizon": task.horizon, "target_names": list(task.target_names)}


def shape_of(tensor: torch.Tensor) -> list[Any]:
    return ["batch", *tensor.shape[1:]]


def describe_export(result: RunResult, run: RebuiltRun, run_dir: Path, fmt: str,
                    loads_with: str, example: torch.Tensor, output: torch.Tensor,
                    parity: dict[str, Any]) -> dict[str, Any]:
    family = run.datamodule.family
    return {
        "format": fmt, "loads_with": loads_with,
        "run": str(run_dir.resolve()), "task": result.task,
        "checkpoint": checkpoint_record(run_dir, run.checkpoint), "epoch": run.epoch,
        "input": {"name": INPUT, "dtype": str(example.dtype).removeprefix("torch."),
                  "shape": shape_of(example),
                  "reads": f"samples as the run's data stores them: what `python -m "
                           f"fidle_runs.predict` makes of raw inputs (fidle_runs/data/{family}/"
                           "inputs.py), with the preprocessing below"},
        "output": {"name": OUTPUT, "dtype": str(output.dtype).removeprefix("torch."),
                   "shape": shape_of(output), **outputs_meaning(result, run)},
        "data": {"name": run.datamodule.name, "family": family},
        "preprocessing": run.datamodule.kept_state(),
        "parity": parity,
        "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"fidle_runs": __version__, "torch": torch.__version__},
    }
