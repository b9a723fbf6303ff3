"""How a table's feature columns become the network's inputs, learnt from the rows that train
only (the train split less validation, which stays unseen data) and kept with the run
(fidle_runs.data.kept_state), so that evaluation and later predictions encode rows as training
did:

- numeric columns are z-scored with the train rows' mean and standard deviation (pandas'
  `std()`, ddof 1, as FIDLE's BHPD and Wine notebooks compute it);
- text (categorical) columns are one-hot encoded over the categories the train rows have, in
  sorted order (`sex=female`, `sex=male`); a category the train rows lack is encoded as none of
  them, with a warning naming it;
- with `missing="median"`, a missing number takes the train median, and each column with missing
  train values gains an is-missing indicator (`age_missing`: fastai's FillMissing); a missing
  category is a category of its own. With `missing="error"` (the default) rows with missing
  features are refused before anything is fitted (fidle_runs.data.tables.checks).
"""

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fidle_runs.core.errors import UserError

log = logging.getLogger(__name__)
MISSING = ("error", "median")
MISSING_CATEGORY = "(missing)"


def is_categorical(column: pd.Series) -> bool:
    """Text or categories, not numbers (booleans count as numbers 0 and 1)."""
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def categories_of(column: pd.Series) -> pd.Series:
    """A categorical column's values as the strings its one-hot columns are named by."""
    return column.map(lambda v: MISSING_CATEGORY if pd.isna(v) else str(v))


@dataclass(frozen=True)
class TableEncoding:
    """`numeric`: [{name, mean, std, median, indicator}], `categorical`: [{name, categories}],
    in the order of `columns` (the raw feature columns a row must have)."""

    columns: list[str]
    numeric: list[dict[str, Any]]
    categorical: list[dict[str, Any]]
    missing: str

    @classmethod
    def fit(cls, train: pd.DataFrame, columns: list[str], missing: str) -> "TableEncoding":
        numeric, categorical = [], []
        for name in columns:
            column = train[name]
            if is_categorical(column):
                categorical.append({"name": name,
                                    "categories": sorted(set(categories_of(column)))})
                continue
            values = column.astype("float64")
            std = float(values.std())
            if not std > 0:
                present = values.dropna()
                value = f"{float(present.iloc[0]):g}" if len(present) else "no value"
                raise UserError(f"feature {name!r} is constant over the {len(values)} train rows "
                                f"({value}): it cannot be z-scored (its standard deviation is "
                                "0); leave it out of data.features")
            numeric.append({"name": name, "mean": float(values.mean()), "std": std,
                            "median": float(values.median()),
                            "indicator": bool(values.isna().any())})
        return cls(list(columns), numeric, categorical, missing)

    @property
    def feature_names(self) -> list[str]:
        """The encoded columns the network sees, in order: numbers, indicators, one-hots."""
        names = [c["name"] for c in self.numeric]
        names += [f"{c['name']}_missing" for c in self.numeric if c["indicator"]]
        names += [f"{c['name']}={v}" for c in self.categorical for v in c["categories"]]
        return names

    def apply(self, frame: pd.DataFrame, source: str) -> np.ndarray:
        """Rows (any order of columns, extra columns ignored) -> (rows, features) float32."""
        absent = [name for name in self.columns if name not in frame.columns]
        if absent:
            raise UserError(f"{source} lacks the column(s) {', '.join(map(repr, absent))} the "
                            f"run was trained with ({', '.join(self.columns)})")
        parts = []
        for c in self.numeric:
            values = self._numbers(frame[c["name"]], c["name"], source)
            parts.append(((values.fillna(c["median"]) - c["mean"]) / c["std"]).to_numpy())
        parts += [frame[c["name"]].isna().to_numpy(dtype="float64")
                  for c in self.numeric if c["indicator"]]
        for c in self.categorical:
            values = categories_of(frame[c["name"]])
            unseen = sorted(set(values) - set(c["categories"]))
            if unseen:
                log.warning("%s: column %r has categories the train rows lack (%s, %d rows): "
                            "they are encoded as none of the known ones", source, c["name"],
                            ", ".join(map(repr, unseen[:5])), int(values.isin(unseen).sum()))
            parts += [(values == v).to_numpy(dtype="float64") for v in c["categories"]]
        if not parts:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.stack(parts, axis=1).astype(np.float32)

    def _numbers(self, column: pd.Series, name: str, source: str) -> pd.Series:
        values = pd.to_numeric(column, errors="coerce")
        bad = values.isna() & column.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise UserError(f"{source}: column {name!r} holds {column.iloc[row]!r} (row {row}), "
                            "not a number, where the run was trained on numbers")
        if self.missing == "error" and values.isna().any():
            raise UserError(f"{source}: column {name!r} has {int(values.isna().sum())} missing "
                            "values, and the run was trained with data.missing=error: fill them")
        return values.astype("float64")

    def state(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "numeric": [dict(c) for c in self.numeric],
                "categorical": [dict(c) for c in self.categorical], "missing": self.missing}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "TableEncoding":
        return cls(list(state["columns"]), [dict(c) for c in state["numeric"]],
                   [dict(c) for c in state["categorical"]], str(state["missing"]))
