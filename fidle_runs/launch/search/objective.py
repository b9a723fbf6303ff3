"""What a search chooses its trials on, and what it records beside: read from the composed
config, kept in the study, checked when a study is continued.

The objective is the task's monitor by default (`hydra.sweeper.objective=monitor`: the best
validation value of each trial's run, result.json's `monitor.best`), so that the test set plays
no part in the choice and the best trial's test value is an honest estimate. Each trial's test
value (the task's primary metric, result.json's `primary.value`) is recorded beside it.
`hydra.sweeper.objective=primary` chooses on the test metric itself, as FIDLE's notebooks do:
the best trial's test value is then biased upward (the best of many draws on the same test
samples), and every view of the search says so (`on_test_set_warning`).

Metric names and directions are the task's (conf/task/<task>.yaml `monitor` and `primary`),
never written here.
"""

import math
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fidle_runs.core.errors import UserError

SOURCES = ("monitor", "primary")
DIRECTIONS = {"max": "maximize", "min": "minimize"}


@dataclass(frozen=True)
class Objective:
    """The metric a search optimises (`name`, `mode`, shown as % when `fraction`), where it
    comes from (`source`: monitor, the best validation value, or primary, the test value), and
    the task's test metric recorded beside it (`primary`: name, mode, fraction)."""

    source: str
    name: str
    mode: str
    fraction: bool
    primary: dict[str, Any]

    @property
    def on_test_set(self) -> bool:
        return self.source == "primary"

    def study_attrs(self) -> dict[str, Any]:
        """The study's user attr `objective`, which readers show it with and a relaunch is
        checked against."""
        return {"name": self.name, "mode": self.mode, "fraction": self.fraction,
                "source": self.source}


def objective_source(config: DictConfig) -> str:
    """`monitor` (the default) or `primary` (hydra.sweeper.objective)."""
    which = OmegaConf.select(config, "hydra.sweeper.objective", default=None) or "monitor"
    if which not in SOURCES:
        raise UserError(f"hydra.sweeper.objective={which!r} is unknown: use monitor (the task's "
                        f"best validation value, the default) or primary (its test metric)")
    return which


def search_objective(config: DictConfig) -> Objective:
    """The search's objective from the composed config (the task's monitor or primary)."""
    source = objective_source(config)
    name = OmegaConf.select(config, f"task.{source}.name")
    mode = OmegaConf.select(config, f"task.{source}.mode")
    if not name or mode not in DIRECTIONS:
        raise UserError(f"the task config has no {source} metric to search on (task.{source}: "
                        f"name={name!r}, mode={mode!r}): it needs task.{source}.name and "
                        f"task.{source}.mode=min|max")
    primary = {"name": OmegaConf.select(config, "task.primary.name"),
               "mode": OmegaConf.select(config, "task.primary.mode"),
               "fraction": bool(OmegaConf.select(config, "task.primary.fraction",
                                                 default=False))}
    return Objective(source, name, mode, is_fraction(name, primary), primary)


def is_fraction(name: str, primary: dict[str, Any]) -> bool:
    """Whether `name`'s values are fractions (shown as %): the primary's `fraction`, for the
    monitor too when it measures the same (val_acc for test_acc)."""
    primary_name = primary.get("name") or ""
    return bool(primary.get("fraction")) and \
        name.split("_", 1)[-1] == primary_name.split("_", 1)[-1]


def on_test_set_warning(name: str) -> str:
    """The sentence every view of a search chosen on its test metric `name` carries."""
    return (f"the best trial is chosen on the test set ({name}, hydra.sweeper.objective="
            f"primary): its {name} is biased upward, not an estimate on new data; choose on the "
            f"validation monitor (hydra.sweeper.objective=monitor, the default) for an honest one")


def check_same_objective(stored: Any, objective: Objective, study: str,
                         config: DictConfig) -> None:
    """A study continues only with the objective it was started with (its user attr
    `objective`): its trials' values would not compare otherwise."""
    if not isinstance(stored, dict) or stored.get("name") in (None, objective.name):
        return
    source = stored.get("source") or next(
        (s for s in SOURCES if OmegaConf.select(config, f"task.{s}.name") == stored["name"]),
        None)
    fix = (f"relaunch it with hydra.sweeper.objective={source}" if source in SOURCES
           else "relaunch it with the task it was run with")
    raise UserError(f"the study {study} was searched on {stored['name']}, this launch searches "
                    f"on {objective.name} (hydra.sweeper.objective={objective.source}): {fix}, "
                    f"or start a new study in another hydra.sweep.dir")


def finite(value: Any) -> float | None:
    """`value` as a float when it is a finite number, else None: the only values a trial or a
    confirmation seed is given."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
