"""A run's predictions on its test set, computed from its best checkpoint and cached in the run
directory (keyed by the checkpoint's and the test set's size and time), so the next report is
fast. Torch is imported only when the cache is missing or stale."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fidle_runs.atomic import temporary_path
from fidle_runs.errors import UserError
from fidle_runs.result import RunResult
from fidle_runs.run_dir import CONFIG_FILE, LAST_CHECKPOINT

CACHE_FILE = Path("report_cache") / "test_predictions.npz"
CACHE_VERSION = 1
KEPT_MISTAKES = 32  # misclassified images kept for the report's grid: the most confident ones
BATCH = 512


@dataclass
class Predictions:
    checkpoint: Path
    y_true: np.ndarray  # (n,) class ids of the test images
    y_pred: np.ndarray  # (n,) predicted class ids
    confidence: np.ndarray  # (n,) softmax probability of the predicted class
    mistakes: np.ndarray  # test indices of the kept mistakes, most confident first
    mistake_images: np.ndarray  # (k, H, W, C) uint8
    meta_images: np.ndarray  # (43, h, w, 3) uint8: each class's pictogram
    from_cache: bool = False

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean())


def run_predictions(result: RunResult, run_dir: Path, n_classes: int) -> Predictions:
    """Predictions of the run's best checkpoint (its last one when the best was deleted) on the
    test set it was trained for. Raises UserError saying what is missing."""
    checkpoint = _checkpoint(result, run_dir)
    test_set = Path((result.data or {}).get("file") or "")
    if not test_set.is_file():
        raise UserError(f"its test set {test_set or '(unknown)'} is gone: prepare it again (run "
                        "the same data config) to see the analysis")
    cache = run_dir / CACHE_FILE
    key = json.dumps({"version": CACHE_VERSION, "checkpoint": _stamp(checkpoint),
                      "test_set": _stamp(test_set)})
    cached = _read_cache(cache, key, checkpoint)
    if cached is not None:
        return cached
    predictions = _evaluate(run_dir, checkpoint, test_set, n_classes)
    _write_cache(cache, key, predictions)
    return predictions


def _checkpoint(result: RunResult, run_dir: Path) -> Path:
    best = (result.checkpoints or {}).get("best")
    if best and Path(best).is_file():
        return Path(best)
    last = run_dir / LAST_CHECKPOINT
    if last.is_file():
        return last
    raise UserError("it has no checkpoint left (best and last.ckpt deleted)")


def _stamp(path: Path) -> list:
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _read_cache(cache: Path, key: str, checkpoint: Path) -> Predictions | None:
    try:
        with np.load(cache) as data:
            if str(data["key"]) != key:
                return None
            return Predictions(checkpoint, data["y_true"], data["y_pred"], data["confidence"],
                               data["mistakes"], data["mistake_images"], data["meta_images"],
                               from_cache=True)
    except (OSError, KeyError, ValueError):
        return None


def _write_cache(cache: Path, key: str, p: Predictions) -> None:
    """Best effort: a read-only run directory only costs the next report an evaluation."""
    tmp = temporary_path(cache)
    try:
        cache.parent.mkdir(exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez_compressed(f, key=np.array(key), y_true=p.y_true, y_pred=p.y_pred,
                                confidence=p.confidence, mistakes=p.mistakes,
                                mistake_images=p.mistake_images, meta_images=p.meta_images)
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)


def _evaluate(run_dir: Path, checkpoint: Path, test_set: Path, n_classes: int) -> Predictions:
    """Rebuild the run's network from its config.yaml, load the checkpoint's weights and
    predict the test set with the input training gave it."""
    import torch
    from omegaconf import OmegaConf

    from fidle_runs.config import build
    from fidle_runs.data.gtsrb.h5 import load_arrays
    from fidle_runs.data.tensor_batches import images_to_tensor, network_input

    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise UserError(f"it has no {CONFIG_FILE} to rebuild its network from")
    cfg = OmegaConf.load(config)
    arrays = load_arrays(test_set, ("x_test", "y_test", "x_meta"))
    images = arrays["x_test"]
    x = images_to_tensor(images)
    net = build(cfg.model.net, "model.net")(in_shape=tuple(x.shape[1:]), n_outputs=n_classes)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
        net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()
                             if k.startswith("net.")})
    except Exception as e:  # torch.load fails on a damaged file with many different errors
        raise UserError(f"its checkpoint {checkpoint} cannot be loaded ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''})") from None
    net.eval()
    probabilities = []
    with torch.inference_mode():
        for batch in x.split(BATCH):
            probabilities.append(net(network_input(batch)).softmax(dim=1))
    confidence, y_pred = torch.cat(probabilities).max(dim=1)
    y_true = arrays["y_test"].astype(np.int64)
    y_pred, confidence = y_pred.numpy(), confidence.numpy().astype(np.float32)
    wrong = np.flatnonzero(y_pred != y_true)
    mistakes = wrong[np.argsort(-confidence[wrong], kind="stable")][:KEPT_MISTAKES]
    return Predictions(checkpoint, y_true, y_pred, confidence, mistakes, images[mistakes],
                       arrays["x_meta"])
