"""The table datamodules: rows of a CSV (or of scikit-learn's bundled diabetes set) split into
train and test as FIDLE does (seeded), validation carved from train (or the test set, as FIDLE
validates), features encoded with the statistics of the rows that train (train less
validation; fidle_runs.data.tables.encoding) and kept with the run, targets as the task learns
them (fidle_runs.data.tables.targets).

A member says how to read its table (`read`), its name and, for FIDLE's, where its file is.
BHPD, Wine and diabetes are regressions; a CSV's task follows the run's (`data.task`:
`${task.name}` in conf/data/csv_table.yaml), so the same file can be a classification.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.fidle_files import fidle_file
from fidle_runs.data.in_memory import InMemoryDataModule, Splits, check_option
from fidle_runs.data.inputs import InputRequest, Inputs
from fidle_runs.data.subsets import subset_indices
from fidle_runs.data.tables.checks import (
    TASKS,
    check_columns,
    check_missing_features,
    check_rows,
    check_targets,
)
from fidle_runs.data.tables.encoding import TableEncoding
from fidle_runs.data.tables.inputs import read_rows
from fidle_runs.data.tables.read import read_table
from fidle_runs.data.tables.split import test_split, train_size
from fidle_runs.data.tables.targets import class_ids, class_names, regression_targets

BHPD_FILE = Path("BHPD") / "origine" / "BostonHousing.csv"
WINE_FILE = Path("WineQuality") / "origine" / "winequality-red.csv"


class TableDataModule(InMemoryDataModule):
    family = "tables"
    task = "regression"
    sample_noun = "rows"
    loads_scaled = True  # data.scale keeps a seeded share of the table's rows, before the split

    def __init__(self, target: str | list[str], features: list[str] | None = None,
                 missing: str = "error", test_fraction: float = 0.3, split_seed: int = 0,
                 batch_size: int = 10, val_fraction: float = 0.2, val_on_test: bool = False,
                 scale: float = 1.0, subset_seed: int = 0, task: str = "regression") -> None:
        super().__init__(batch_size, val_fraction, val_on_test, split_seed, scale, subset_seed)
        check_option("test_fraction", test_fraction,
                     isinstance(test_fraction, int | float) and 0 < test_fraction < 1,
                     "in (0, 1), e.g. 0.3")
        check_option("task", task, task in TASKS, f"one of {', '.join(TASKS)}")
        self.task = task
        self.targets = [str(target)] if isinstance(target, str) else [str(t) for t in target]
        self.features = None if features is None else [str(f) for f in features]
        self.missing, self.test_fraction = missing, test_fraction
        self.encoding: TableEncoding | None = None
        self.classes: list[str] = []
        self.rows: dict[str, int] = {}
        self.raw_features: pd.DataFrame | None = None  # the kept rows' features as read
        self.test_rows: np.ndarray | None = None  # the test samples' rows in the table

    # What a member provides.
    def read(self) -> pd.DataFrame:
        raise NotImplementedError

    @property
    def source_name(self) -> str:
        """How messages name the table (its file)."""
        return str(self.data_file or self.name)

    # The base's hooks.
    @property
    def n_outputs(self) -> int:
        if self.task == "regression":
            return len(self.targets)
        return self.classifier_outputs(self.classes)

    @property
    def class_names(self) -> list[str] | None:
        return list(self.classes) if self.task == "classification" else None

    def load(self) -> Splits:
        frame, source = self.read(), self.source_name
        if self.scale < 1:
            frame = frame.iloc[np.sort(subset_indices(len(frame), self.scale, self.subset_seed))]
        features = check_columns(frame, self.features, self.targets, source)
        check_targets(frame, self.targets, self.task, source)
        check_missing_features(frame, features, self.missing, source)
        n_train = train_size(len(frame), self.test_fraction)
        n_fit = (n_train if self.val_on_test
                 else n_train - max(1, round(n_train * self.val_fraction)))
        check_rows(len(frame), n_train, n_fit, self.test_fraction,
                   None if self.val_on_test else self.val_fraction, source)
        if self.task == "classification":
            self.classes = class_names(frame[self.targets[0]])
            y = class_ids(frame[self.targets[0]], self.classes)
        else:
            y = regression_targets(frame, self.targets)
        train, test = test_split(len(frame), self.test_fraction, self.split_seed,
                                 y.numpy() if self.task == "classification" else None)
        # Fitted on the rows that train, validation carved out: it must stay unseen data.
        fit = train[self.training_rows(y[train].numpy())]
        self.encoding = TableEncoding.fit(frame.iloc[fit], features, self.missing)
        x = torch.from_numpy(self.encoding.apply(frame, source))
        self.rows = {"file": len(frame), "train": len(train), "test": len(test)}
        self.raw_features, self.test_rows = frame[features], frame.index.to_numpy()[test]
        return Splits(x[train], y[train], x[test], y[test])

    def announced_shape(self) -> tuple[int]:
        raise NotImplementedError("a table knows its encoded width once loaded")

    def task_arguments(self) -> dict[str, Any]:
        return {"target_names": list(self.targets)} if self.task == "regression" else {}

    # Kept preprocessing: how rows become inputs, and what the outputs mean.
    def kept_state(self) -> dict[str, Any]:
        if self.encoding is None:
            return {}
        return {"encoding": self.encoding.state(), "targets": list(self.targets),
                "task": self.task, "classes": list(self.classes)}

    def install_kept_state(self, state: dict[str, Any]) -> None:
        self.encoding = TableEncoding.from_state(state["encoding"])
        self.targets, self.task = list(state["targets"]), str(state["task"])
        self.classes = list(state["classes"])

    def encode_rows(self, frame: pd.DataFrame, source: str = "the rows given") -> torch.Tensor:
        """Rows as a user has them (a CSV's, with the run's feature columns) -> the network's
        inputs, encoded as the run's training rows were; `source` names them in errors."""
        if self.encoding is None:
            raise UserError(f"{self.name}: no encoding yet: load the data (setup) or a "
                            "checkpoint's state (load_state_dict) first")
        return torch.from_numpy(self.encoding.apply(frame, source))

    def read_inputs(self, request: InputRequest) -> Inputs:
        return read_rows(request.paths, self.encode_rows)

    def test_samples(self, indices: np.ndarray) -> tuple[list[str], list[list[str]]]:
        """Test samples `indices` as the table has them, for a report: header (`row`, the
        feature columns) and, per sample, its row in the table (0: the first data row) and its
        features as read."""
        if self.raw_features is None or self.test_rows is None:
            raise UserError(f"{self.name}: its test rows are not loaded (setup first)")
        rows = self.test_rows[indices]
        values = self.raw_features.loc[rows]
        return (["row", *map(str, values.columns)],
                [[str(row), *(_cell(v) for v in record)]
                 for row, record in zip(rows.tolist(), values.itertuples(index=False),
                                        strict=True)])

    def extras(self) -> dict[str, Any]:
        encoding = self.encoding
        return {"targets": list(self.targets), "test_fraction": float(self.test_fraction),
                "split_seed": self.split_seed, "missing": self.missing, "rows": self.rows,
                "features": encoding.columns if encoding else self.features,
                "categorical": [c["name"] for c in encoding.categorical] if encoding else [],
                "encoded_features": encoding.feature_names if encoding else [],
                "z_score": "the training rows' mean and standard deviation (ddof 1), "
                           "validation left out",
                "classes": self.class_names}


def _cell(value: Any) -> str:
    """A raw table value as a report shows it: numbers to 6 significant digits, gaps empty."""
    if pd.isna(value):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class CSVTableDataModule(TableDataModule):
    """Any CSV: its `target` column(s), `features` (None: every other column), `sep` (None:
    sniffed)."""

    def __init__(self, path: str, target: str | list[str], features: list[str] | None = None,
                 sep: str | None = None, missing: str = "error", test_fraction: float = 0.2,
                 split_seed: int = 0, batch_size: int = 32, val_fraction: float = 0.2,
                 val_on_test: bool = False, scale: float = 1.0, subset_seed: int = 0,
                 task: str = "regression") -> None:
        super().__init__(target, features, missing, test_fraction, split_seed, batch_size,
                         val_fraction, val_on_test, scale, subset_seed, task)
        self.path, self.sep = Path(path).expanduser(), sep

    @property
    def name(self) -> str:
        return self.path.stem

    def read(self) -> pd.DataFrame:
        return read_table(self.path, self.sep)

    @property
    def data_file(self) -> Path | None:
        return self.path


class FidleTableDataModule(TableDataModule):
    """A FIDLE table: its CSV at `data.path`, or at its place under the datasets folder."""

    relative: Path
    what: str
    sep: str | None = None

    def __init__(self, path: str | None = None, datasets_dir: str | None = None,
                 **options: Any) -> None:
        super().__init__(**options)
        self.path, self.datasets_dir = path, datasets_dir
        self.file: Path | None = None

    def read(self) -> pd.DataFrame:
        self.file = fidle_file(self.path, self.datasets_dir, self.relative, f"{self.what} CSV")
        return read_table(self.file, self.sep)

    @property
    def data_file(self) -> Path | None:
        return self.file


class BHPDDataModule(FidleTableDataModule):
    """FIDLE BHPD1/BHPD2/PBHPD1: Boston housing, 506 rows of 13 features, target `medv` (median
    value in k$); 70 % train, 30 % test."""

    relative, what = BHPD_FILE, "Boston housing (BHPD)"

    @property
    def name(self) -> str:
        return "bhpd"


class WineQualityDataModule(FidleTableDataModule):
    """FIDLE K3WINE1/LWINE1: the red Vinho Verde wines, 1,599 rows of 11 features, target
    `quality` (a grade 3-8, learnt as a value); `;`-separated; 80 % train, 20 % test. Its task
    follows the run's: task=classification learns the grades as classes."""

    relative, what, sep = WINE_FILE, "red wine quality", ";"

    @property
    def name(self) -> str:
        return "wine-quality-red"


class DiabetesDataModule(TableDataModule):
    """scikit-learn's diabetes set (Efron et al. 2004), bundled with the package: 442 patients,
    10 baseline features in their own units (age, sex, bmi, bp, s1-s6), target `progression`
    (a measure of the disease one year later); the tables family's offline data."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.file: Path | None = None

    @property
    def name(self) -> str:
        return "diabetes"

    def read(self) -> pd.DataFrame:
        from importlib.resources import files

        from sklearn.datasets import load_diabetes

        self.file = Path(str(files("sklearn.datasets.data") / "diabetes_data_raw.csv.gz"))
        frame = load_diabetes(scaled=False, as_frame=True).frame
        return frame.rename(columns={"target": "progression"})

    @property
    def data_file(self) -> Path | None:
        return self.file
