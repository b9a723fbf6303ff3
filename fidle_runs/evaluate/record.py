"""result.json's `evaluation` block: what `evaluate` measured, by checkpoint (`best`, `last`)
and split, beside the training record and never in it (the training's `metrics` stay as the run
wrote them). Written only into a finished run's result.json (a running one is rewritten by its
training at every epoch), read and replaced atomically under an exclusive lock, so that two
evaluations of one run at once keep both their entries.

    evaluation: {best: {checkpoint, epoch, evaluated, device, data_changes: [...],
                        splits: {train: {train_loss, train_acc, ...}, val: {...}, test: {...}}},
                 last: {...}}

The checkpoint is recorded relative to the run directory, as result.json's `checkpoints` are
(fidle_runs.store.run_dir.checkpoint_record). A new evaluation of the same checkpoint file at
the same epoch adds its splits to the ones recorded; another checkpoint replaces them."""

import datetime as dt
import json
from pathlib import Path
from typing import Any

from fidle_runs.core import atomic
from fidle_runs.store.result import RESULT_FILE
from fidle_runs.store.run_dir import checkpoint_path, checkpoint_record

# Beside result.json: held while it is read, merged and replaced.
LOCK_FILE = ".result.json.lock"


def evaluation_entry(run_dir: Path, checkpoint: Path, epoch: int | None, device: str,
                     changes: list[str],
                     splits: dict[str, dict[str, float]]) -> dict[str, Any]:
    return {"checkpoint": checkpoint_record(run_dir, checkpoint), "epoch": epoch,
            "evaluated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "device": device, "data_changes": changes,
            "splits": {split: dict(metrics)
                       for split, metrics in splits.items()}}


def record_evaluation(run_dir: Path, which: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Merge `entry` into `run_dir`'s result.json under evaluation[which]; the block as
    written."""
    path = Path(run_dir) / RESULT_FILE
    with atomic.exclusive_lock(Path(run_dir) / LOCK_FILE):
        record = json.loads(path.read_text())
        evaluation = dict(record.get("evaluation") or {})
        previous = evaluation.get(which) or {}
        same = (checkpoint_path(run_dir, previous.get("checkpoint"))
                == checkpoint_path(run_dir, entry["checkpoint"])
                and previous.get("epoch") == entry["epoch"])
        splits = {**previous.get("splits", {}), **entry["splits"]} if same else entry["splits"]
        evaluation[which] = {**entry, "splits": splits}
        record["evaluation"] = evaluation
        atomic.write_json(path, record)
    return evaluation[which]
