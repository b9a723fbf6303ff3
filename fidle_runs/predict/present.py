"""Predictions as a user reads them, by task: records (what --json prints) and a table.
Classification: the class names and probabilities of the top classes; regression: each target's
value in its units; forecasting: each step ahead of each target, in the data's units."""

from collections.abc import Callable
from typing import Any

import torch

from fidle_runs.data.inputs import Inputs
from fidle_runs.report.tables import text_table

Records = list[dict[str, Any]]


def classification(task: Any, datamodule: Any, inputs: Inputs, out: torch.Tensor,
                   top: int, steps: int) -> Records:
    probabilities = task.probabilities(out)
    names = datamodule.class_names or [str(c) for c in range(probabilities.shape[1])]
    records = []
    for label, p in zip(inputs.labels, probabilities, strict=True):
        order = torch.argsort(p, descending=True, stable=True)[:top].tolist()
        records.append({"input": label, "class": names[order[0]], "class_id": order[0],
                        "probability": round(float(p[order[0]]), 6),
                        "top": [{"class": names[c], "class_id": c,
                                 "probability": round(float(p[c]), 6)} for c in order]})
    return records


def regression(task: Any, datamodule: Any, inputs: Inputs, out: torch.Tensor, top: int,
               steps: int) -> Records:
    names = list(task.target_names) or [f"target{i}" for i in range(out.shape[1])]
    return [{"input": label, "predictions": {n: round(float(v), 6)
                                             for n, v in zip(names, row, strict=True)}}
            for label, row in zip(inputs.labels, out.view(len(out), -1), strict=True)]


def forecasting(task: Any, datamodule: Any, inputs: Inputs, out: torch.Tensor, top: int,
                steps: int) -> Records:
    """`out`: (inputs, steps, targets) z-scored forecasts."""
    values = datamodule.unscale_targets(out)
    return [{"input": label, "forecast": [
        {"step": k, **{n: round(float(v), 6) for n, v in zip(task.target_names, step,
                                                              strict=True)}}
        for k, step in enumerate(path, start=1)]}
        for label, path in zip(inputs.labels, values, strict=True)]


PRESENTERS: dict[str, Callable[..., Records]] = {
    "classification": classification, "regression": regression, "forecasting": forecasting}


def table(task_name: str, records: Records) -> str:
    if task_name == "classification":
        return text_table((["input", "class", "probability", "next most probable"], [
            [r["input"], r["class"], _percent(r["probability"]),
             "; ".join(f"{t['class']} {_percent(t['probability'])}" for t in r["top"][1:])]
            for r in records]))
    if task_name == "regression":
        names = list(records[0]["predictions"])
        return text_table((["input", *names],
                           [[r["input"], *(f"{r['predictions'][n]:.4g}" for n in names)]
                            for r in records]))
    blocks = []
    for r in records:
        names = [k for k in r["forecast"][0] if k != "step"]
        blocks.append(f"{r['input']}:\n" + text_table(
            (["step ahead", *names],
             [[f"+{s['step']}", *(f"{s[n]:.4g}" for n in names)] for s in r["forecast"]])))
    return "\n".join(blocks)


def _percent(p: float) -> str:
    return f"{100 * p:.2f} %"
