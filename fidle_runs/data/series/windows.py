"""A series' windows as views: the samples of a part are strided views of one tensor, never
copies, so a series served as windows of any length costs about the series' own memory."""

import torch

from fidle_runs.data.placement import Pair


def window_count(steps: int, window: int, horizon: int, stride: int) -> int:
    """Windows of `window` steps followed by `horizon` target steps, starting every `stride`
    steps, within `steps` (v2's TimeseriesGenerator: steps - window for horizon 1, stride 1)."""
    return max(0, (steps - window - horizon) // stride + 1)


def windows(series: torch.Tensor, targets: torch.Tensor, part: range, window: int, horizon: int,
            stride: int) -> Pair:
    """x (N, window, features) and y (N, horizon, targets), views on `series` (T, features) and
    `targets` (T, targets): window i covers the part's steps start + i * stride onwards and its
    targets are the `horizon` steps right after it, all inside the part."""
    n = window_count(len(part), window, horizon, stride)
    steps = series[part.start:part.stop]
    x = steps.unfold(0, window, stride).transpose(1, 2)[:n]
    ahead = targets[part.start + window:part.stop]
    y = ahead.unfold(0, horizon, stride).transpose(1, 2)[:n]
    return x, y
