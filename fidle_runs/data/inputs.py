"""What `python -m fidle_runs.predict` hands a datamodule, and what the datamodule's family gives
back: raw inputs as a user has them (files, texts) become samples as the family stores them, so
that the family's own `network_input` then makes them what the network saw in training.

Each family reads its inputs in its own files (`fidle_runs/data/<family>/inputs.py`), through
its datamodule's `read_inputs`."""

from dataclasses import dataclass, field
from pathlib import Path

import torch


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
