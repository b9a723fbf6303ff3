"""A run's saved predictions: for each split it was scored on (`test`, and `val` where its task
chooses something on validation), the targets and the network's raw outputs (logits for a
classifier, values for a regressor or forecaster) of every sample, in the split's order, as one
.npz in `predictions/` (not compressed: logits barely compress, and reports read them faster).
Written once, atomically, by the process that tests the run; every test metric of result.json
is computed from them, and the report computes from them what result.json does not hold (a
metric added later, per-class tables, intervals, paired tests) without torch or the
checkpoint."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fidle_runs.core.atomic import replacing

PREDICTIONS_DIR = Path("predictions")
FORMAT = 1


@dataclass(frozen=True)
class SavedPredictions:
    outputs: np.ndarray  # (n, ...) float32: what the network gave for each sample
    targets: np.ndarray  # (n, ...) as the task compares them (class ids, values)


def predictions_path(run_dir: Path, split: str) -> Path:
    return Path(run_dir) / PREDICTIONS_DIR / f"{split}.npz"


def write_predictions(run_dir: Path, split: str, predictions: SavedPredictions) -> Path:
    """Save a split's predictions (outputs as float32: a few MB for GTSRB's 12,630 x 43)."""
    path = predictions_path(run_dir, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, keep_suffix=True) as tmp:
        np.savez(tmp, format=np.int64(FORMAT),
                            outputs=np.asarray(predictions.outputs, dtype=np.float32),
                            targets=np.asarray(predictions.targets))
    return path


def read_predictions(run_dir: Path, split: str) -> SavedPredictions | None:
    """A split's saved predictions; None for a run that saved none (made before they were
    saved, or not tested) or whose file is unreadable."""
    path = predictions_path(run_dir, split)
    try:
        with np.load(path) as saved:
            if int(saved["format"]) != FORMAT:
                return None
            return SavedPredictions(saved["outputs"], saved["targets"])
    except (OSError, KeyError, ValueError):
        return None
