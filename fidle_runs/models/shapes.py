"""The input shapes a network builder accepts, checked with a one-line error a user can act on.

`in_shape` is the shape of one sample without the batch dimension: (channels, height, width) for
images, (n_features,) for tables, (window, n_features) for series.
"""

import math
import operator
from collections.abc import Sequence


def image_shape(net: str, in_shape: Sequence[int]) -> tuple[int, int, int]:
    """`in_shape` as (channels, height, width), or ValueError saying `net` needs images."""
    shape = _sizes(net, in_shape)
    if len(shape) != 3:
        raise ValueError(f"{net} needs images (channels, height, width), got in_shape {shape}")
    return shape[0], shape[1], shape[2]


def series_shape(net: str, in_shape: Sequence[int]) -> tuple[int, int]:
    """`in_shape` as (window, features), or ValueError saying `net` needs series."""
    shape = _sizes(net, in_shape)
    if len(shape) != 2:
        raise ValueError(f"{net} needs series (window, features), got in_shape {shape}")
    return shape[0], shape[1]


def flat_size(net: str, in_shape: Sequence[int]) -> int:
    """Number of values in one sample once flattened (any number of dimensions)."""
    return math.prod(_sizes(net, in_shape))


def _sizes(net: str, in_shape: Sequence[int]) -> tuple[int, ...]:
    try:
        shape = tuple(operator.index(d) for d in in_shape)
    except TypeError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ValueError(f"{net} needs an in_shape of positive integer sizes, got {in_shape!r}")
    return shape
