"""What `python -m fidle_runs.predict` hands a datamodule, and what the datamodule's family gives
back: raw inputs as a user has them (files, texts) become samples as the family stores them, so
that the family's own `network_input` then makes them what the network saw in training.

Each family reads its inputs in its own files (`fidle_runs/data/<family>/inputs.py`), through
its datamodule's `read_inputs`; the families that read CSV files (tables, series) go through
`read_csv_files`."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.tables.read import read_table


@dataclass
class InputRequest:
    """The command line's inputs: files (images, CSV, texts), `--text` strings."""

    paths: list[Path] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


@dataclass
class Inputs:
    """Samples as the family stores them (uint8 images, encoded rows, token ids, z-scored
    windows) and what each one is, for the output (`sign1.png`, `houses.csv row 3`)."""

    x: torch.Tensor
    labels: list[str]


def read_csv_files(paths: list[Path], none_given: str, expected: str,
                   samples: Callable[[Path, pd.DataFrame], Inputs]) -> Inputs:
    """The samples of every CSV of `paths` (each read as a table, its separator sniffed:
    fidle_runs.data.tables.read), `samples(path, frame)` of each, in order. UserError
    `none_given` when no path is given, and naming the `expected` files for one that is none."""
    if not paths:
        raise UserError(none_given)
    parts = []
    for path in map(Path, paths):
        if not path.is_file():
            raise UserError(f"{path}: no such file; give {expected}")
        parts.append(samples(path, read_table(path)))
    return Inputs(torch.cat([part.x for part in parts]),
                  [label for part in parts for label in part.labels])
