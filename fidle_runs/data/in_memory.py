"""The LightningDataModule every dataset family shares: the whole data in memory as tensors, the
common options (`data.scale`, `data.batch_size`, `data.val_fraction`, `data.val_on_test`), a
seeded validation split, batches by tensor indexing, the preprocessing a run keeps in its
checkpoints, and the `data` block of result.json.

A family (fidle_runs/data/<family>/) only says how to read its data (`load`), what its samples
are (`dims`, `class_names`, `example_samples`), how a batch becomes network input
(`network_input`), and where it needs to, how validation is cut from train (`split_validation`:
series cut it in time order), what it computed from its training data that a later run must
reuse (`kept_state`), and how raw inputs become its samples for a prediction (`read_inputs`, in
the family's inputs.py).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytorch_lightning as pl
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.inputs import InputRequest, Inputs
from fidle_runs.data.kept_state import check_plain, first_difference
from fidle_runs.data.placement import Pair, Placement
from fidle_runs.data.subsets import subset_indices


@dataclass
class Splits:
    """A family's data as read: train and test samples and targets, and optionally the groups
    of train samples that must not be split between training and validation (GTSRB's tracks:
    ~30 views of one physical sign)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    groups: np.ndarray | None = None


class InMemoryDataModule(pl.LightningDataModule):
    family: ClassVar[str] = ""  # the folder of fidle_runs/data the family lives in
    task: ClassVar[str] = ""  # the task its targets are for (conf/task/<task>.yaml)
    # True when `load` already applies data.scale (GTSRB prepares a file per scale).
    loads_scaled: ClassVar[bool] = False
    # How result.json's `val_split` names samples and groups ("random images", "by track").
    sample_noun: ClassVar[str] = "samples"
    group_noun: ClassVar[str] = "group"
    # True when `announced_shape` is right before loading (images of a configured size), so a
    # network that cannot take it is refused before anything is written (run.preflight).
    announces_shape: ClassVar[bool] = False

    def __init__(self, batch_size: int = 64, val_fraction: float = 0.1, val_on_test: bool = False,
                 split_seed: int = 0, scale: float = 1.0, subset_seed: int = 0) -> None:
        super().__init__()
        check_option("scale", scale, isinstance(scale, int | float) and 0 < scale <= 1,
                     "in (0, 1], e.g. 0.2")
        check_option("batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 1,
                      "an integer >= 1, e.g. 64")
        check_option("val_fraction", val_fraction,
                     isinstance(val_fraction, int | float) and 0 <= val_fraction < 1,
                     "in [0, 1), e.g. 0.1")
        if not val_on_test and val_fraction == 0:
            raise UserError("data.val_fraction=0 leaves no validation set: set data.val_fraction "
                            "> 0 or data.val_on_test=true")
        self.batch_size, self.val_fraction, self.val_on_test = batch_size, val_fraction, val_on_test
        self.split_seed, self.scale, self.subset_seed = split_seed, scale, subset_seed
        self.tensors: dict[str, Pair] = {}
        self.val_split = ""
        self.shuffle_seed = 0
        # Where the data lives while training (speed.data_on; fidle_runs.hardware.speed sets it).
        self.placement = Placement()

    # What a family provides.
    @property
    def name(self) -> str:
        """The dataset's name in reports (`set-24x24-L`, `mnist`)."""
        raise NotImplementedError

    @property
    def source(self) -> str:
        """Where the data came from: `real`, `synthetic`..."""
        return "real"

    def check_source(self) -> None:
        """Refuse, before a run writes anything, raw data that cannot be read (a folder of the
        wrong layout); nothing by default."""

    def load(self) -> Splits:
        """Read the family's (prepared) data."""
        raise NotImplementedError

    @property
    def n_outputs(self) -> int:
        """Outputs the network must have (classes; 1 for a binary classifier)."""
        raise NotImplementedError

    def classifier_outputs(self, classes: list[str]) -> int:
        """`n_outputs` of a classifier among `classes`, known once the data is loaded: one
        logit for two classes (binary cross-entropy, fidle_runs.tasks.classification), one
        output per class otherwise."""
        if not classes:
            raise NotImplementedError(f"{type(self).__name__} knows its classes once loaded")
        return 1 if len(classes) == 2 else len(classes)

    @property
    def class_names(self) -> list[str] | None:
        return None

    def class_pictures(self) -> np.ndarray | None:
        """One uint8 picture (H, W, C) per class for reports, where the family has them."""
        return None

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        """A batch as stored -> what the network sees (on the batch's device)."""
        return x

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Training batches only, after network_input; none by default."""
        return x

    def example_samples(self, shape: tuple[int, ...], n: int,
                        generator: torch.Generator) -> torch.Tensor:
        """`n` made-up samples of `shape` as this family stores them (dtype, and values the
        network accepts), to trace an export and check it against the run (fidle_runs.export):
        float32 z-scores by default."""
        return torch.randn((n, *shape), generator=generator)

    @property
    def data_file(self) -> Path | None:
        """The file the data was read from, where there is one."""
        return None

    def extras(self) -> dict[str, Any]:
        """The family's own keys of result.json's `data` block."""
        return {}

    def task_arguments(self) -> dict[str, Any]:
        """What the task's module must know of the loaded data beyond its dims, as plain values
        (they are kept in every checkpoint's hyper-parameters): forecasting's target names and
        units, where the targets are among the inputs. None by default."""
        return {}

    def kept_state(self) -> dict[str, Any]:
        """What the family computed from its training data and must apply the same way to any
        later input (z-score statistics, a vocabulary), as plain values (fidle_runs.data.
        kept_state); empty for families that keep nothing (then checkpoints hold none)."""
        return {}

    def install_kept_state(self, state: dict[str, Any]) -> None:
        """Take a checkpoint's kept state where the data is not loaded (a prediction)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no state")

    def read_inputs(self, request: InputRequest) -> Inputs:
        """Raw inputs as a user has them -> samples as this family stores them, transformed as
        its training data was (fidle_runs.data.inputs; the family's inputs.py)."""
        raise UserError(f"{self.name} data cannot read inputs for a prediction yet: its family "
                        f"({self.family}) has no input reader (fidle_runs/data/{self.family}/"
                        "inputs.py)")

    def split_validation(self, splits: Splits) -> tuple[Pair, Pair]:
        """Train and validation from the family's train split; sets `val_split`. By default
        `carve_validation`'s samples validate; series cut theirs in time order
        (fidle_runs.data.series)."""
        val, self.val_split = self.carve_validation(splits.y_train.numpy(), splits.groups)
        is_val = torch.zeros(len(splits.y_train), dtype=torch.bool)
        is_val[torch.from_numpy(val)] = True
        return ((splits.x_train[~is_val], splits.y_train[~is_val]),
                (splits.x_train[is_val], splits.y_train[is_val]))

    def carve_validation(self, labels: np.ndarray,
                         groups: np.ndarray | None = None) -> tuple[np.ndarray, str]:
        """Which samples of the train split (`labels`, one per sample) validate, as sorted
        indices, and how they were chosen (result.json's `val_split`): a seeded random split, by
        group when the family gives groups (by sample where too few groups per class)."""
        if groups is not None:
            val = validation_indices(labels, groups, self.val_fraction, self.split_seed)
            if len(val):
                return np.sort(val.numpy()), f"by {self.group_noun}"
        val = validation_indices(labels, None, self.val_fraction, self.split_seed)
        return np.sort(val.numpy()), f"random {self.sample_noun}"

    def training_rows(self, labels: np.ndarray,
                      groups: np.ndarray | None = None) -> np.ndarray:
        """The samples of the train split (`labels`, one per sample, as `load` returns them)
        that the network trains on, sorted: all of them under val_on_test, else those
        `carve_validation` leaves. A family that fits preprocessing on its data (a table's
        encoding, a text's vocabulary) fits it on exactly these in `load`, so that validation
        stays unseen data; it applies data.scale itself (`loads_scaled`), because the rows
        named here are those of the train split `load` returns."""
        rows = np.arange(len(labels))
        if self.val_on_test:
            return rows
        return np.setdiff1d(rows, self.carve_validation(labels, groups)[0])

    # What every family shares.
    @property
    def dims(self) -> dict[str, Any]:
        """What the network is sized from: one sample's shape and the outputs (before the data
        is loaded, the shape the family's config announces)."""
        in_shape = (tuple(self.tensors["train"][0].shape[1:]) if self.tensors
                    else self.announced_shape())
        return {"in_shape": in_shape, "n_outputs": self.n_outputs}

    def announced_shape(self) -> tuple[int, ...]:
        """One sample's shape as the config says it will be, before loading."""
        raise NotImplementedError(f"{type(self).__name__} knows its sample shape once loaded")

    def setup(self, stage: str | None = None) -> None:
        if self.tensors:
            return
        # The run's seed (seed_everything runs before setup): batch order follows it on every
        # rank, whatever each rank reseeds later for its own dropout and augmentation.
        self.shuffle_seed = torch.initial_seed()
        splits = self.load()
        if len(splits.y_train) == 0 or len(splits.y_test) == 0:
            raise UserError(f"{self.name} holds {len(splits.y_train)} train and "
                            f"{len(splits.y_test)} test samples: it cannot train")
        if self.scale < 1 and not self.loads_scaled:
            train = subset_indices(len(splits.y_train), self.scale, self.subset_seed)
            test = subset_indices(len(splits.y_test), self.scale, self.subset_seed + 1)
            splits = Splits(splits.x_train[train], splits.y_train[train], splits.x_test[test],
                            splits.y_test[test],
                            None if splits.groups is None else splits.groups[train])
        self.tensors["test"] = (splits.x_test, splits.y_test)
        if self.val_on_test:
            self.val_split = "test set"
            self.tensors["train"] = (splits.x_train, splits.y_train)
            self.tensors["val"] = (splits.x_test, splits.y_test)
            return
        self.tensors["train"], self.tensors["val"] = self.split_validation(splits)

    def state_dict(self) -> dict[str, Any]:
        """Lightning's hook: what every checkpoint keeps of the data (the family's kept state)."""
        state = self.kept_state()
        check_plain(state, f"{type(self).__name__}.kept_state()")
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Lightning's hook on resume and test (after setup): a checkpoint whose kept state is
        not what this data gives was trained on other data, and is refused. Where no data is
        loaded (a prediction from a checkpoint), the kept state is installed."""
        if not state_dict:
            return
        if not self.tensors:
            self.install_kept_state(state_dict)
            return
        difference = first_difference(state_dict, self.kept_state())
        if difference:
            raise UserError(f"the checkpoint was trained on other {self.name} data than "
                            f"data.* gives now (kept {difference}): restore the data it was "
                            "trained on, or start a new run in another hydra.run.dir")

    def describe(self) -> dict[str, Any]:
        """The `data` block of result.json: generic keys, then the family's own."""
        path = self.data_file
        return {"name": self.name, "family": self.family, "source": self.source,
                "scale": float(self.scale), "val_on_test": bool(self.val_on_test),
                "val_split": self.val_split, "shape": list(self.dims["in_shape"]),
                "n_outputs": self.n_outputs, "n_train": len(self.tensors["train"][1]),
                "n_val": 0 if self.val_on_test else len(self.tensors["val"][1]),
                "n_test": len(self.tensors["test"][1]),
                "file": str(path.resolve()) if path else None,
                "file_mib": round(path.stat().st_size / 2**20, 2) if path else None,
                **self.extras()}

    def train_dataloader(self) -> Iterable:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> Iterable:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> Iterable:
        return self._loader("test", shuffle=False)

    def _loader(self, split: str, shuffle: bool) -> Iterable:
        """This process's batches, on its device or from host memory (fidle_runs.data.placement):
        under data-parallel training each rank takes its slice of every global batch
        (`data.batch_size` per rank); see EpochBatchSampler."""
        rank, world_size, device = ((self.trainer.global_rank, self.trainer.world_size,
                                     self.trainer.strategy.root_device)
                                    if self.trainer is not None else (0, 1, torch.device("cpu")))
        return self.placement.loader(self.tensors, split, device, self.batch_size, shuffle,
                                     self.shuffle_seed, rank, world_size)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        x, y = batch
        x = self.network_input(x)
        if self.trainer is not None and self.trainer.training:
            x = self.augment(x)
        return x, y


def check_option(name: str, value: Any, ok: bool, expected: str) -> None:
    """One line naming the `data.<name>` override to fix."""
    if not ok:
        raise UserError(f"data.{name}={value!r} is invalid: it must be {expected}")


def validation_indices(labels: np.ndarray, groups: np.ndarray | None, fraction: float,
                       seed: int) -> torch.Tensor:
    """Indices of a seeded validation split of about `fraction` of the samples.

    When samples come in groups of near-copies (GTSRB's tracks of ~30 views of one sign), a
    split by sample puts near-copies of training samples in validation and inflates its
    accuracy. So when groups are known, whole groups go to validation, per label (stochastic
    rounding keeps the expected fraction), and every label keeps at least one group for training.
    """
    n = len(labels)
    if groups is None or (groups < 0).any():
        generator = torch.Generator().manual_seed(seed)
        return torch.randperm(n, generator=generator)[: max(1, round(n * fraction))]
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        label_groups = np.unique(groups[labels == label])
        k = min(len(label_groups) - 1, int(len(label_groups) * fraction + rng.random()))
        chosen.append(rng.choice(label_groups, size=k, replace=False))
    return torch.from_numpy(np.flatnonzero(np.isin(groups, np.concatenate(chosen))))
