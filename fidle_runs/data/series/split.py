"""The chronological split of a series: train, then validation, then test, in time order (FIDLE
LADYB1 and SYNOP2: the first `train_prop` of the steps trains, the rest tests)."""

from dataclasses import dataclass

from fidle_runs.core.errors import UserError


@dataclass(frozen=True)
class Parts:
    """The steps [start, stop) of each part; `val` is empty when validation is the test set."""

    train: range
    val: range
    test: range


def chronological_parts(steps: int, train_prop: float, val_fraction: float, val_on_test: bool,
                        needs: int) -> Parts:
    """The parts of a series of `steps`: test = the steps after the first `train_prop`, and
    validation = the last `val_fraction` of those (none under `val_on_test`); each part needs
    `needs` steps (one window and its targets)."""
    if steps < needs:
        raise UserError(f"the series has {steps} steps, fewer than one window and its horizon "
                        f"({needs} steps): shorten data.window or data.horizon")
    fit = int(steps * train_prop)
    n_val = 0 if val_on_test else round(fit * val_fraction)
    parts = Parts(range(0, fit - n_val), range(fit - n_val, fit), range(fit, steps))
    named = {"train": parts.train, "test": parts.test}
    if not val_on_test:
        named["validation"] = parts.val
    short = {name: len(part) for name, part in named.items() if len(part) < needs}
    if short:
        sizes = ", ".join(f"{name} {n}" for name, n in short.items())
        raise UserError(f"the series' {steps} steps are too short for its parts ({sizes} steps; "
                        f"each needs one window and its horizon, {needs} steps): shorten "
                        "data.window or data.horizon, or change data.train_prop, "
                        "data.val_fraction or data.scale")
    return parts
