"""A classifier run's predictions on its test set, computed from its best checkpoint with the
data and network rebuilt from its config.yaml (fidle_runs.run.assemble, as training built them),
and cached in the run directory with the dataset's class names and pictures (for texts: the
mistaken texts and every test text's length), so the next report
is fast. The cache is keyed by the checkpoint's, the config's and the data file's size and time;
torch is imported only when it is missing or stale."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fidle_runs.report.analysis_cache import CACHE_DIR, cache_key, read_arrays, write_arrays
from fidle_runs.run.rebuild import rebuild_run, run_checkpoint
from fidle_runs.store.result import RunResult

CACHE_FILE = CACHE_DIR / "test_predictions.npz"
CACHE_VERSION = 3
KEPT_MISTAKES = 32  # misclassified samples kept for the report's mosaic: the most confident
BATCH = 512


@dataclass
class Predictions:
    checkpoint: Path
    y_true: np.ndarray  # (n,) class ids of the test samples
    y_pred: np.ndarray  # (n,) predicted class ids
    confidence: np.ndarray  # (n,) probability of the predicted class
    mistakes: np.ndarray  # test indices of the kept mistakes, most confident first
    mistake_images: np.ndarray | None  # (k, H, W, C) uint8; None when samples are no images
    class_names: list[str]  # the dataset's (the class ids as text where it has none)
    class_pictures: np.ndarray | None  # (classes, h, w, C) uint8, where the dataset has them
    mistake_texts: list[str] | None = None  # the kept mistakes as text, for text data
    lengths: np.ndarray | None = None  # (n,) tokens of each test text before padding
    from_cache: bool = False

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean())


def run_predictions(result: RunResult, run_dir: Path) -> Predictions:
    """Predictions of the run's best checkpoint (its last one when the best was deleted) on the
    test set it was trained for. Raises UserError saying what is missing."""
    checkpoint = run_checkpoint(result.checkpoints, run_dir)
    data = result.data or {}
    cache = run_dir / CACHE_FILE
    key = cache_key(run_dir, checkpoint, data, CACHE_VERSION)
    cached = read_arrays(cache, key)
    if cached is not None:
        texts = cached.get("mistake_texts")
        return Predictions(checkpoint, cached["y_true"], cached["y_pred"], cached["confidence"],
                           cached["mistakes"], cached.get("mistake_images"),
                           cached["class_names"].tolist(), cached.get("class_pictures"),
                           None if texts is None else texts.tolist(), cached.get("lengths"),
                           from_cache=True)
    p = _evaluate(run_dir, checkpoint, data)
    texts = None if p.mistake_texts is None else np.array(p.mistake_texts, dtype=str)
    optional = {name: value for name, value in (("mistake_images", p.mistake_images),
                                                ("class_pictures", p.class_pictures),
                                                ("mistake_texts", texts),
                                                ("lengths", p.lengths))
                if value is not None}
    write_arrays(cache, key, {"y_true": p.y_true, "y_pred": p.y_pred,
                              "confidence": p.confidence, "mistakes": p.mistakes,
                              "class_names": np.array(p.class_names, dtype=str), **optional})
    return p


def _evaluate(run_dir: Path, checkpoint: Path, data: dict[str, Any]) -> Predictions:
    """The rebuilt run's predictions of its test set, with the input training gave it."""
    import torch

    from fidle_runs.data.images.on_disk import rows_of

    run = rebuild_run(run_dir, data, checkpoint)
    datamodule, task = run.datamodule, run.task
    x, y = datamodule.tensors["test"]  # in memory, or on disk (read a batch at a time)
    probabilities = []
    with torch.inference_mode():
        for batch in x.split(BATCH):
            probabilities.append(task.probabilities(task(datamodule.network_input(batch))))
    confidence, y_pred = torch.cat(probabilities).max(dim=1)
    n_classes = probabilities[0].shape[1]
    y_true = y.numpy().astype(np.int64)
    y_pred, confidence = y_pred.numpy(), confidence.numpy().astype(np.float32)
    wrong = np.flatnonzero(y_pred != y_true)
    mistakes = wrong[np.argsort(-confidence[wrong], kind="stable")][:KEPT_MISTAKES]
    is_text = hasattr(datamodule, "test_texts")
    return Predictions(checkpoint, y_true, y_pred, confidence, mistakes,
                       _pictures(rows_of(x, torch.from_numpy(mistakes)).numpy()),
                       list(datamodule.class_names or [str(c) for c in range(n_classes)]),
                       datamodule.class_pictures(),
                       datamodule.test_texts(mistakes) if is_text else None,
                       np.asarray(datamodule.test_lengths()) if is_text else None)


def _pictures(samples: np.ndarray) -> np.ndarray | None:
    """Stored samples as (N, H, W, C) uint8 pictures: images stored channels first (C, H, W)
    or grey (H, W); None for samples that are no images (tables, token ids, series)."""
    if samples.dtype != np.uint8:
        return None
    if samples.ndim == 3:
        return samples[..., None]
    if samples.ndim == 4 and samples.shape[1] in (1, 3):
        return np.ascontiguousarray(samples.transpose(0, 2, 3, 1))
    if samples.ndim == 4 and samples.shape[-1] in (1, 3):
        return samples
    return None
