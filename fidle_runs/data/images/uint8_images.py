"""What every family that stores images as uint8 NCHW shares: batches become floats in [0, 1]
on their device, exports are traced with made-up uint8 images, and training batches take
FIDLE GTSRB4's augmentation when the family's `augment_images` says so."""

import torch

from fidle_runs.data.augment import random_affine
from fidle_runs.data.tensor_batches import example_images, network_input


class UInt8Images:
    """Mixed into an InMemoryDataModule whose samples are uint8 images."""

    augment_images = False

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        return network_input(x)

    def example_samples(self, shape: tuple[int, ...], n: int,
                        generator: torch.Generator) -> torch.Tensor:
        return example_images(shape, n, generator)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return random_affine(x) if self.augment_images else x
