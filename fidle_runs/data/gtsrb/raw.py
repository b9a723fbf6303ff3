"""Read a raw GTSRB in either layout users have, as lists of image paths, labels and ROIs.

- kaggle: FIDLE's `GTSRB/origine/{Train,Test,Meta}.csv` + PNG folders (comma CSVs with Path).
- official: the archives' / torchvision's `Training/000NN/GT-000NN.csv` (semicolon CSVs) + PPM,
  `Final_Test/Images/*.ppm` and `GT-final_test.csv` (the test ground truth, shipped apart).
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fidle_runs.core.errors import UserError

ROI_COLUMNS = ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")


@dataclass(frozen=True)
class RawSplit:
    paths: list[Path]
    labels: np.ndarray  # int64 (N,)
    rois: np.ndarray  # int64 (N, 4): x1, y1, x2, y2, inclusive; -1 when unknown
    tracks: np.ndarray  # int64 (N,): physical sign a train image shows (class*100000+track); -1

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class RawGTSRB:
    root: Path
    layout: str
    train: RawSplit
    test: RawSplit
    meta: RawSplit | None


def find_layout(root: Path) -> tuple[str, Path] | None:
    """(layout, base folder) of a raw GTSRB at or just below `root`, or None."""
    for base in (root, root / "origine", root / "GTSRB" / "origine"):
        if (base / "Train.csv").is_file():
            return "kaggle", base
    for base in (root, root / "GTSRB", root / "gtsrb" / "GTSRB"):
        if (base / "Training").is_dir() or (base / "Final_Training" / "Images").is_dir():
            return "official", base
    return None


def read_raw_gtsrb(root: Path, check_files: bool = True) -> RawGTSRB:
    """Read the CSVs of the raw GTSRB at `root`; with `check_files`, every image must exist."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"raw GTSRB folder {root} does not exist: fix data.raw_dir or "
                        "FIDLE_DATASETS_DIR, or use data.source=synthetic")
    found = find_layout(root)
    if found is None:
        raise UserError(f"no raw GTSRB in {root}: expected Train.csv (FIDLE/Kaggle layout) or "
                        "Training/000NN/GT-000NN.csv (official layout); fix data.raw_dir")
    layout, base = found
    if layout == "kaggle":
        raw = RawGTSRB(base, layout, _read_kaggle_csv(base, "Train.csv"),
                       _read_kaggle_csv(base, "Test.csv"), _read_kaggle_meta(base))
    else:
        raw = RawGTSRB(base, layout, _read_official_train(base), _read_official_test(base), None)
    if check_files:
        for name, split in (("train", raw.train), ("test", raw.test), ("meta", raw.meta)):
            if split is not None:
                _check_files_exist(split, name)
    return raw


def _read_rows(csv_path: Path, delimiter: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"{csv_path} lacks column(s) {', '.join(missing)}: it is not a "
                                "GTSRB annotation file; re-extract the raw set")
            return list(reader)
    except FileNotFoundError:
        raise UserError(f"{csv_path} is missing: the raw GTSRB is incomplete; "
                        "re-extract it") from None


def _split(rows: list[dict[str, str]], paths: list[Path], csv_path: Path) -> RawSplit:
    try:
        labels = np.array([int(r["ClassId"]) for r in rows], dtype=np.int64)
        rois = np.array([[int(r[c]) for c in ROI_COLUMNS] for r in rows], dtype=np.int64)
    except (ValueError, TypeError) as e:
        raise UserError(f"{csv_path} has a non-integer ClassId/ROI value ({e}): the file is "
                        "corrupt; re-extract the raw set") from None
    tracks = np.array([_track_id(path, label) for path, label in zip(paths, labels, strict=True)],
                      dtype=np.int64)
    return RawSplit(paths, labels, rois.reshape(-1, 4), tracks)


def _track_id(path: Path, label: int) -> int:
    """GTSRB names train images after their track (30 views of one physical sign):
    `<class>_<track>_<i>.png` (Kaggle) or `<track>_<i>.ppm` (official). -1 for other names."""
    parts = path.stem.split("_")
    if len(parts) in (2, 3) and all(p.isdigit() for p in parts):
        return label * 100_000 + int(parts[-2])
    return -1


def _read_kaggle_csv(base: Path, name: str) -> RawSplit:
    csv_path = base / name
    rows = _read_rows(csv_path, ",", ("ClassId", "Path", *ROI_COLUMNS))
    return _split(rows, [base / r["Path"] for r in rows], csv_path)


def _read_kaggle_meta(base: Path) -> RawSplit | None:
    csv_path = base / "Meta.csv"
    if not csv_path.is_file():
        return None
    rows = sorted(_read_rows(csv_path, ",", ("ClassId", "Path")), key=lambda r: int(r["ClassId"]))
    labels = np.array([int(r["ClassId"]) for r in rows], dtype=np.int64)
    return RawSplit([base / r["Path"] for r in rows], labels, np.full((len(rows), 4), -1),
                    np.full(len(rows), -1))


def _read_official_train(base: Path) -> RawSplit:
    images = base / "Training"
    if not images.is_dir():
        images = base / "Final_Training" / "Images"
    class_dirs = sorted(d for d in images.iterdir() if d.is_dir() and d.name.isdigit())
    if not class_dirs:
        raise UserError(f"{images} holds no class folders 000NN: re-extract the training archive")
    rows: list[dict[str, str]] = []
    paths: list[Path] = []
    for d in class_dirs:
        class_rows = _read_rows(d / f"GT-{d.name}.csv", ";", ("Filename", "ClassId", *ROI_COLUMNS))
        rows += class_rows
        paths += [d / r["Filename"] for r in class_rows]
    return _split(rows, paths, images / "000NN/GT-000NN.csv")


def _read_official_test(base: Path) -> RawSplit:
    images = base / "Final_Test" / "Images"
    candidates = [images / "GT-final_test.csv", base / "GT-final_test.csv",
                  base.parent / "GT-final_test.csv"]
    csv_path = next((p for p in candidates if p.is_file()), None)
    if csv_path is None:
        raise UserError(f"no test ground truth GT-final_test.csv next to {images} (it ships in "
                        "GTSRB_Final_Test_GT.zip): extract it into " f"{base}")
    rows = _read_rows(csv_path, ";", ("Filename", "ClassId", *ROI_COLUMNS))
    return _split(rows, [images / r["Filename"] for r in rows], csv_path)


def _check_files_exist(split: RawSplit, name: str) -> None:
    missing = [p for p in split.paths if not p.is_file()]
    if missing:
        raise UserError(f"{len(missing)} {name} image(s) listed in the CSV are missing, first "
                        f"{missing[0]}: the raw GTSRB is incomplete; re-extract it")
