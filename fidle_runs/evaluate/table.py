"""An evaluation as a table: one block per run, one row per split, the task's loss, primary
metric and its baselines (result.json and --json hold every metric), and on the test row the
value the run recorded at training."""

from typing import Any

from fidle_runs.report.metric import Metric
from fidle_runs.report.tables import text_table
from fidle_runs.store.result import RunResult


def columns(result: RunResult) -> list[Metric]:
    """The measures shown: loss, the primary's, its baselines' (without their stage)."""
    primary = Metric(result.primary["name"], result.primary["mode"],
                     bool(result.primary.get("fraction")))
    names = ["loss", primary.measure,
             *(name.split("_", 1)[1] for name in result.primary.get("baselines") or {})]
    return [Metric(name, primary.mode if name != "loss" else "min",
                   primary.fraction and name != "loss") for name in dict.fromkeys(names)]


def format_block(run_label: str, result: RunResult, entry: dict[str, Any],
                 counts: dict[str, int], recorded: bool) -> str:
    shown = columns(result)
    epoch = entry.get("epoch")
    lines = [f"{run_label}: {result.model} on {(result.data or {}).get('name', '?')}, "
             f"{entry['which']} checkpoint{f' (epoch {epoch})' if epoch else ''}"]
    header = ["split", "samples", *(m.title for m in shown), "recorded at training"]
    rows = []
    for split, metrics in entry["splits"].items():
        values = [m.format(metrics.get(f"{split}_{m.name}")) for m in shown]
        trained = ""
        if split == "test" and result.primary.get("value") is not None:
            trained = f"{result.primary['name']} {shown[1].format(result.primary['value'])}"
        # FIDLE validates on the test set (data.val_on_test): then val is test, said so.
        name = "val (test set)" if split == "val" and result.data.get("val_on_test") else split
        rows.append([name, str(counts.get(split, "")), *values, trained])
    lines += ["  " + line for line in text_table((header, rows)).splitlines()]
    for change in entry["data_changes"]:
        lines.append(f"  WARNING: {change}")
    if not recorded:
        lines.append(f"  not recorded in result.json: the run is {result.status} (its training "
                     "writes that file); evaluate it again once it has completed")
    return "\n".join(lines)
