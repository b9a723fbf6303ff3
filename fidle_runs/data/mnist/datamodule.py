"""MNIST and Fashion-MNIST as FIDLE's MNIST1/MNIST2 and LMNIST1/2 read them: 60,000 train and
10,000 test 28x28 grey images of 10 classes, from the original files wherever the user has them
(fidle_runs.data.mnist.locate), served from memory as uint8 and scaled to [0, 1] per batch."""

from pathlib import Path
from typing import Any

import numpy as np
import torch

from fidle_runs.data.images.uint8_images import UInt8Images
from fidle_runs.data.in_memory import InMemoryDataModule, Splits, check_option
from fidle_runs.data.inputs import InputRequest, Inputs
from fidle_runs.data.mnist.classes import CLASSES
from fidle_runs.data.mnist.inputs import read_grey_images
from fidle_runs.data.mnist.locate import NAMES, load_arrays
from fidle_runs.data.mnist.split import IMAGE_SIZE, N_CLASSES

SOURCES = ("auto", "real")


class MNISTDataModule(UInt8Images, InMemoryDataModule):
    family = "mnist"
    task = "classification"
    sample_noun = "images"
    announces_shape = True

    def __init__(self, name: str = "mnist", source: str = "auto", raw_dir: str | None = None,
                 datasets_dir: str | None = None, download: bool = False,
                 download_dir: str = "outputs/data/torchvision", batch_size: int = 512,
                 val_fraction: float = 0.1, val_on_test: bool = False, split_seed: int = 0,
                 scale: float = 1.0, subset_seed: int = 0) -> None:
        super().__init__(batch_size, val_fraction, val_on_test, split_seed, scale, subset_seed)
        check_option("name", name, name in NAMES, f"one of {', '.join(NAMES)}")
        check_option("source", source, source in SOURCES,
                     f"one of {', '.join(SOURCES)} ({name} has no synthetic set)")
        self.dataset, self.raw_dir, self.datasets_dir = name, raw_dir, datasets_dir
        self.download, self.download_dir = download, Path(download_dir)
        self.origin = ""

    def load(self) -> Splits:
        arrays, self.origin = load_arrays(self.dataset, self.raw_dir, self.datasets_dir,
                                          self.download, self.download_dir)
        return Splits(_images(arrays["x_train"]), torch.from_numpy(arrays["y_train"]),
                      _images(arrays["x_test"]), torch.from_numpy(arrays["y_test"]))

    @property
    def name(self) -> str:
        return self.dataset

    def announced_shape(self) -> tuple[int, int, int]:
        return (1, IMAGE_SIZE, IMAGE_SIZE)

    @property
    def n_outputs(self) -> int:
        return N_CLASSES

    @property
    def class_names(self) -> list[str]:
        return list(CLASSES[self.dataset])

    def class_pictures(self) -> np.ndarray | None:
        """The first test image of each class, (10, 28, 28, 1)."""
        if not self.tensors:
            return None
        x, y = self.tensors["test"]
        first = [int(torch.nonzero(y == c)[0]) for c in range(N_CLASSES) if (y == c).any()]
        return x[first].permute(0, 2, 3, 1).numpy()

    def read_inputs(self, request: InputRequest) -> Inputs:
        return read_grey_images(request.paths, self.dataset)

    def extras(self) -> dict[str, Any]:
        return {"origin": self.origin}


def _images(images: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28), kept as uint8 in memory."""
    return torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)
