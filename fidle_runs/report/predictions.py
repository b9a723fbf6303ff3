"""A classifier run's predictions on its test set, computed from its best checkpoint with the
data and network rebuilt from its config.yaml (fidle_runs.assemble, as training built them),
and cached in the run directory with the dataset's class names and pictures, so the next report
is fast. The cache is keyed by the checkpoint's, the config's and the data file's size and time;
torch is imported only when it is missing or stale."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fidle_runs.atomic import temporary_path
from fidle_runs.errors import UserError
from fidle_runs.result import RunResult
from fidle_runs.run_dir import CONFIG_FILE, LAST_CHECKPOINT

CACHE_FILE = Path("report_cache") / "test_predictions.npz"
CACHE_VERSION = 2
KEPT_MISTAKES = 32  # misclassified samples kept for the report's mosaic: the most confident
BATCH = 512
SCHEMA_1_OUTPUTS = 43  # result.json before tasks recorded no n_outputs: GTSRB's classes


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
    from_cache: bool = False

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean())


def run_predictions(result: RunResult, run_dir: Path) -> Predictions:
    """Predictions of the run's best checkpoint (its last one when the best was deleted) on the
    test set it was trained for. Raises UserError saying what is missing."""
    checkpoint = _checkpoint(result, run_dir)
    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise UserError(f"it has no {CONFIG_FILE} to rebuild its data and network from")
    data = result.data or {}
    data_file = Path(data["file"]) if data.get("file") else None
    if data_file is not None and not data_file.is_file():
        raise UserError(f"its data file {data_file} is gone: prepare it again (run the same "
                        "data config) to see the analysis")
    cache = run_dir / CACHE_FILE
    key = json.dumps({"version": CACHE_VERSION, "checkpoint": _stamp(checkpoint),
                      "config": _stamp(config), "data": data_file and _stamp(data_file)})
    cached = _read_cache(cache, key, checkpoint)
    if cached is not None:
        return cached
    predictions = _evaluate(config, checkpoint, data)
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
                               data["mistakes"], data.get("mistake_images"),
                               data["class_names"].tolist(), data.get("class_pictures"),
                               from_cache=True)
    except (OSError, KeyError, ValueError):
        return None


def _write_cache(cache: Path, key: str, p: Predictions) -> None:
    """Best effort: a read-only run directory only costs the next report an evaluation."""
    optional = {name: value for name, value in (("mistake_images", p.mistake_images),
                                                ("class_pictures", p.class_pictures))
                if value is not None}
    tmp = temporary_path(cache)
    try:
        cache.parent.mkdir(exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez_compressed(f, key=np.array(key), y_true=p.y_true, y_pred=p.y_pred,
                                confidence=p.confidence, mistakes=p.mistakes,
                                class_names=np.array(p.class_names, dtype=str), **optional)
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)


def _evaluate(config: Path, checkpoint: Path, data: dict[str, Any]) -> Predictions:
    """Rebuild the run's data, network and task module from its config.yaml, load the
    checkpoint's weights and predict the test set with the input training gave it. The network
    is sized as result.json recorded it was trained."""
    import torch
    from omegaconf import OmegaConf

    from fidle_runs.assemble import build_datamodule, build_network, build_task_module

    cfg = OmegaConf.load(config)
    try:
        datamodule = build_datamodule(cfg)
        datamodule.setup("test")
    except UserError:
        raise
    except Exception as e:  # a family's loader fails in its own ways; one line, not a traceback
        raise UserError(f"its test set cannot be loaded again ({type(e).__name__}: {e})") from None
    x, y = datamodule.tensors["test"]
    dims = {"in_shape": tuple(data.get("shape") or datamodule.dims["in_shape"]),
            "n_outputs": data.get("n_outputs", SCHEMA_1_OUTPUTS)}
    net = build_network(cfg, dims, datamodule.name)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
        net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()
                             if k.startswith("net.")})
    except Exception as e:  # torch.load fails on a damaged file with many different errors
        raise UserError(f"its checkpoint {checkpoint} cannot be loaded ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''})") from None
    task = build_task_module(cfg, net, dims).eval()
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
    return Predictions(checkpoint, y_true, y_pred, confidence, mistakes,
                       _pictures(x[torch.from_numpy(mistakes)].numpy()),
                       list(datamodule.class_names or [str(c) for c in range(n_classes)]),
                       datamodule.class_pictures())


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
