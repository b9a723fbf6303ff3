"""Where a run's raw GTSRB comes from: real data when found, else the embedded synthetic set.

`auto` falls back to synthetic data with a loud warning, except inside a Slurm job: a batch job
must never train on demo data by accident.
"""

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fidle_runs.core import atomic
from fidle_runs.core.errors import UserError
from fidle_runs.core.storage import DATA_CACHE_FIX, storage_refusals
from fidle_runs.data.gtsrb.raw import RawGTSRB, find_layout, read_raw_gtsrb

log = logging.getLogger(__name__)
SOURCES = ("auto", "real", "synthetic")


@dataclass(frozen=True)
class RawSource:
    kind: str  # "real" | "synthetic"
    root: Path
    download: bool = False
    synthetic_fraction: float = 0.0
    synthetic_seed: int = 0

    @property
    def prepared_folder(self) -> str:
        """Sub-folder of the prepared sets made from this source."""
        return "real" if self.kind == "real" else f"synthetic-{self.root.name}"


def resolve_source(source: str, raw_dir: str | None, datasets_dir: str | None,
                   synthetic_dir: str, synthetic_fraction: float = 0.2, synthetic_seed: int = 0,
                   download: bool = False, data_dir_for_download: str | None = None) -> RawSource:
    """Decide where the raw data is, without touching it (no download, no generation)."""
    if source not in SOURCES:
        raise UserError(f"data.source={source!r} is not one of {', '.join(SOURCES)}")
    if source == "synthetic" and raw_dir:
        raise UserError(f"data.raw_dir={raw_dir} is not read with data.source=synthetic: drop "
                        "data.raw_dir to train on synthetic signs, or set data.source=auto to "
                        "train on it")
    raw_dir = str(Path(raw_dir).expanduser()) if raw_dir else None
    datasets_dir = str(Path(datasets_dir).expanduser()) if datasets_dir else None
    if source in ("auto", "real"):
        if raw_dir:
            if find_layout(Path(raw_dir)) is not None or download:
                return RawSource("real", Path(raw_dir), download=download)
            raise UserError(f"data.raw_dir={raw_dir} holds no raw GTSRB (Train.csv or Training/): "
                            "fix the path, or set data.download=true where internet is reachable")
        candidates = []
        if datasets_dir:
            candidates = [Path(datasets_dir) / "GTSRB" / "origine", Path(datasets_dir) / "GTSRB"]
        for candidate in candidates:
            if find_layout(candidate) is not None:
                return RawSource("real", candidate)
        if download:
            target = Path(data_dir_for_download or ".") / "GTSRB-download"
            return RawSource("real", target, download=True)
        looked = ", ".join(str(c) for c in candidates) or "nowhere: FIDLE_DATASETS_DIR is unset"
        if source == "real":
            raise UserError(f"data.source=real but no raw GTSRB found (looked in {looked}): set "
                            "FIDLE_DATASETS_DIR or data.raw_dir, or data.download=true")
        if os.environ.get("SLURM_JOB_ID"):
            raise UserError(f"no real GTSRB found (looked in {looked}) inside Slurm job "
                            f"{os.environ['SLURM_JOB_ID']}: a batch job will not train on "
                            "synthetic data by accident; set FIDLE_DATASETS_DIR or data.raw_dir, "
                            "or say data.source=synthetic")
        log.warning("*" * 78)
        log.warning("NO REAL GTSRB FOUND (looked in %s)", looked)
        log.warning("TRAINING ON SYNTHETIC TRAFFIC SIGNS: results say nothing about real GTSRB.")
        log.warning("Set FIDLE_DATASETS_DIR or data.raw_dir for real data; data.source=synthetic "
                    "silences this warning.")
        log.warning("*" * 78)
    root = Path(synthetic_dir) / f"fraction{synthetic_fraction:g}-seed{synthetic_seed}"
    return RawSource("synthetic", root, synthetic_fraction=synthetic_fraction,
                     synthetic_seed=synthetic_seed)


def source_for(data: Mapping[str, Any]) -> RawSource:
    """`resolve_source` for the settings of the `data` config group (or the DataModule's)."""
    return resolve_source(data["source"], data["raw_dir"], data["datasets_dir"],
                          data["synthetic_dir"], data["synthetic_fraction"],
                          data["synthetic_seed"], data["download"],
                          str(Path(data["prepared_dir"]).parent))


def materialize(src: RawSource, workers: int | None = None) -> RawGTSRB:
    """Make the raw data exist (generate the synthetic set, or download) and read its CSVs."""
    if src.kind == "synthetic" and not src.root.is_dir():
        _generate_synthetic(src, workers)
    elif src.download and find_layout(src.root) is None:
        download_gtsrb(src.root)
    return read_raw_gtsrb(src.root)


def download_gtsrb(root: Path) -> None:
    """The torchvision download path (needs internet): official archives into root/gtsrb/."""
    from torchvision.datasets import GTSRB

    log.info("downloading GTSRB with torchvision into %s", root)
    for split in ("train", "test"):
        try:
            GTSRB(root=str(root), split=split, download=True)
        except (OSError, RuntimeError) as e:
            raise UserError(f"GTSRB download into {root} failed ({e}): without internet, copy "
                            "the raw set there or set FIDLE_DATASETS_DIR") from None


def _generate_synthetic(src: RawSource, workers: int | None) -> None:
    from fidle_runs.core.progress import Progress
    from fidle_runs.data.gtsrb.synthetic import class_counts, write_synthetic_gtsrb

    with atomic.exclusive_lock(src.root.with_name(src.root.name + ".lock")):
        if src.root.is_dir():
            return
        # Holding the lock, we own every write of this set: what is there was left by a kill.
        atomic.remove_temporaries(src.root.parent, src.root.name)
        train, test = class_counts(src.synthetic_fraction)
        progress = Progress(sum(train) + sum(test), "generate synthetic GTSRB")
        log.info("generating a synthetic raw GTSRB (%d train / %d test images) in %s",
                 sum(train), sum(test), src.root)
        with atomic.replacing(src.root) as tmp:
            with storage_refusals(src.root, "the synthetic raw GTSRB", DATA_CACHE_FIX):
                write_synthetic_gtsrb(tmp, fraction=src.synthetic_fraction, layout="kaggle",
                                      seed=src.synthetic_seed, workers=workers,
                                      progress=progress.update)
            progress.close()
