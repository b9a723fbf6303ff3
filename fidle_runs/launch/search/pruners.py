"""A search's pruner as written in `hydra.sweeper.pruner` (null: no pruning), as an Optuna
pruner. The sweeper builds it once to check it; each trial builds it again from the same
mapping (fidle_runs.launch.search.pruning), since an Optuna study does not store its pruner.

    hydra:
      sweeper:
        pruner: {name: median, n_startup_trials: 5, n_warmup_steps: 2}

A step is an epoch; the value pruned on is the task's monitor (val_acc, val_mae), which goes in
the same direction as the objective (conf/task/<task>.yaml).
"""

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fidle_runs.core.errors import UserError

# name -> Optuna's class, in optuna.pruners
PRUNERS = {"median": "MedianPruner", "percentile": "PercentilePruner",
           "successive_halving": "SuccessiveHalvingPruner", "hyperband": "HyperbandPruner",
           "threshold": "ThresholdPruner"}
EXAMPLE = "e.g. hydra.sweeper.pruner={name:median,n_warmup_steps:2}"


def pruner_options(config: Any) -> dict[str, Any] | None:
    """The pruner's mapping {name, ...Optuna's options}, or None when pruning is off."""
    if config is None:
        return None
    options = OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) \
        else config
    if not isinstance(options, Mapping) or "name" not in options:
        raise UserError(f"hydra.sweeper.pruner={config!r} is not a pruner: give a mapping with "
                        f"a name ({'|'.join(PRUNERS)}), {EXAMPLE}, or null for none")
    return dict(options)


def make_pruner(options: Mapping[str, Any]) -> Any:
    """Optuna's pruner for `options` ({name, ...its keyword arguments})."""
    import optuna

    options = dict(options)
    name = options.pop("name")
    if name not in PRUNERS:
        raise UserError(f"hydra.sweeper.pruner.name={name!r} is unknown: use one of "
                        f"{', '.join(PRUNERS)}")
    try:
        return getattr(optuna.pruners, PRUNERS[name])(**options)
    except (TypeError, ValueError) as e:
        raise UserError(f"hydra.sweeper.pruner ({name}): {e}") from None
