"""FIDLE GTSRB4's ImageDataGenerator, per sample and on the batch's device: rotation ±10°,
shifts ±10 %, zoom ±20 %, shear 0.1, border pixels repeated (Keras fill_mode 'nearest')."""

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, rotation_deg: float = 10.0, shift: float = 0.1,
                  zoom: float = 0.2, shear: float = 0.1) -> torch.Tensor:
    """Apply an independent random affine transform to each image of a float NCHW batch."""
    n = x.shape[0]

    def uniform(bound: float) -> torch.Tensor:
        return (torch.rand(n, device=x.device) * 2 - 1) * bound

    angle = uniform(math.radians(rotation_deg))
    scale = 1 + uniform(zoom)
    sh = uniform(shear)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = cos / scale
    theta[:, 0, 1] = (-sin + sh * cos) / scale
    theta[:, 1, 0] = sin / scale
    theta[:, 1, 1] = (cos + sh * sin) / scale
    theta[:, 0, 2] = uniform(2 * shift)
    theta[:, 1, 2] = uniform(2 * shift)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
