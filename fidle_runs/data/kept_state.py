"""What a datamodule computes from its training data and a run keeps (z-score statistics, a
vocabulary): Lightning saves it in every checkpoint (LightningDataModule.state_dict, under the
datamodule class's name) and hands it back on resume, test and prediction (load_state_dict).

Kept as plain Python values only, so a checkpoint holding it still loads with
torch.load(weights_only=True)."""

import math
from typing import Any

PLAIN = (str, int, float, bool, type(None))
# Statistics recomputed from the same data on another machine may differ in their last bits.
REL_TOL = 1e-9


def check_plain(state: Any, where: str = "kept state") -> None:
    """Refuse (TypeError: a family's bug, not the user's) anything but plain values, lists and
    dicts with str keys."""
    if isinstance(state, dict):
        for key, value in state.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: key {key!r} is not a str")
            check_plain(value, f"{where}.{key}")
    elif isinstance(state, list):
        for i, value in enumerate(state):
            check_plain(value, f"{where}[{i}]")
    elif not isinstance(state, PLAIN):
        raise TypeError(f"{where} is a {type(state).__name__}: a kept state holds plain values")


def first_difference(kept: Any, found: Any, where: str = "") -> str | None:
    """Where two kept states differ, as `key: kept != found`; None when they agree (floats to
    REL_TOL)."""
    if isinstance(kept, dict) and isinstance(found, dict):
        for key in sorted(set(kept) | set(found)):
            difference = first_difference(kept.get(key), found.get(key), f"{where}{key}.")
            if difference:
                return difference
        return None
    if isinstance(kept, list) and isinstance(found, list) and len(kept) == len(found):
        for i, (a, b) in enumerate(zip(kept, found, strict=True)):
            difference = first_difference(a, b, f"{where.rstrip('.')}[{i}].")
            if difference:
                return difference
        return None
    same = (math.isclose(kept, found, rel_tol=REL_TOL)
            if isinstance(kept, float) and isinstance(found, float) else kept == found)
    return None if same else f"{where.rstrip('.')}: {kept!r} != {found!r}"
