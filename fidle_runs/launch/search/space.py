"""A search space as written in conf/hparams_search/*.yaml (`hydra.sweeper.params`), checked
against the composed config, as Optuna distributions, and a trial's parameters as the Hydra
overrides of its run.

    hydra:
      sweeper:
        params:
          optimizer.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
          model.net.widths: {type: categorical, choices: [[100, 100], [256, 128]]}
          model.net.dim: {type: int, low: 16, high: 64, step: 16}
          model: {type: categorical, choices: [cnn_v1, cnn_v2]}   # a config group

Optuna's categorical choices must be None, bool, int, float or str: a space whose choices are
lists or mappings is searched over their override text (`[100,100]`), which is also what the
trial's parameter shows. Optuna is imported by the functions that need it, not at import time:
Hydra imports this module (through hydra_plugins.fidle_runs_search) in every run.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from fidle_runs.core.errors import UserError

TYPES = ("float", "int", "categorical")
KEYS = {"float": {"type", "low", "high", "log", "step"},
        "int": {"type", "low", "high", "log", "step"},
        "categorical": {"type", "choices"}}
EXAMPLE = ("e.g. optimizer.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true} "
           "(conf/hparams_search/mnist_optuna.yaml)")
_ABSENT = object()
PRIMITIVE = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class SearchSpace:
    distributions: dict[str, Any]  # key -> optuna distribution, in the file's order
    encoded: frozenset[str]        # categorical keys searched over their choices' override text

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """The Hydra overrides of a trial with these parameters, in the space's order."""
        return [f"{key}={params[key] if key in self.encoded else override_value(params[key])}"
                for key in self.distributions]


def parse_space(params: Any, config: DictConfig,
                group_options: Callable[[str], list[str]] | None = None) -> SearchSpace:
    """Check `hydra.sweeper.params` and turn it into Optuna distributions; every key must be in
    the composed `config` (a value or a config group; `group_options(group)` lists a group's
    options), every distribution well formed. Raises UserError naming what to fix."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(params, DictConfig):
        params = OmegaConf.to_container(params, resolve=True)
    if not params:
        raise UserError(f"the search space hydra.sweeper.params is empty: give each searched "
                        f"key a distribution, {EXAMPLE}")
    if not isinstance(params, Mapping):
        raise UserError(f"the search space hydra.sweeper.params must map keys to "
                        f"distributions, not {params!r}: {EXAMPLE}")
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    distributions: dict[str, Any] = {}
    encoded = set()
    for key, spec in params.items():
        where = f"hydra.sweeper.params.{key}"
        _check_key(str(key), config, choices)
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise UserError(f"{where}={spec!r} is not a distribution: write a mapping with a "
                            f"type ({'|'.join(TYPES)}), {EXAMPLE}")
        kind = spec["type"]
        if kind not in TYPES:
            raise UserError(f"{where}: unknown distribution type {kind!r}: use one of "
                            f"{', '.join(TYPES)}")
        unknown = set(spec) - KEYS[kind]
        if unknown:
            raise UserError(f"{where}: {kind} takes {', '.join(sorted(KEYS[kind]))}, not "
                            f"{', '.join(sorted(map(str, unknown)))}")
        try:
            if kind == "categorical":
                values = spec.get("choices")
                if not isinstance(values, list) or not values:
                    raise UserError(f"{where}: a categorical needs a non-empty list of "
                                    f"choices, e.g. choices: [adam, rmsprop]")
                if key in choices and group_options is not None:
                    _check_group_choices(str(key), values, group_options(str(key)))
                if all(isinstance(v, PRIMITIVE) for v in values):
                    distributions[key] = CategoricalDistribution(values)
                else:
                    encoded.add(key)
                    distributions[key] = CategoricalDistribution(
                        [override_value(v) for v in values])
            else:
                missing = [b for b in ("low", "high") if b not in spec]
                if missing:
                    raise UserError(f"{where}: a {kind} needs low and high (missing "
                                    f"{', '.join(missing)})")
                bounds = (spec["low"], spec["high"])
                number = int if kind == "int" else (int, float)
                if not all(isinstance(b, number) and not isinstance(b, bool) for b in bounds):
                    raise UserError(f"{where}: low and high of a {kind} must be "
                                    f"{'integers' if kind == 'int' else 'numbers'}, not "
                                    f"{bounds[0]!r} and {bounds[1]!r}")
                if kind == "int":
                    distributions[key] = IntDistribution(
                        bounds[0], bounds[1], log=bool(spec.get("log", False)),
                        step=spec.get("step", 1))
                else:
                    distributions[key] = FloatDistribution(
                        float(bounds[0]), float(bounds[1]), log=bool(spec.get("log", False)),
                        step=spec.get("step"))
        except (ValueError, TypeError) as e:  # Optuna's own checks (low > high, log with step)
            raise UserError(f"{where}: {e}") from None
    return SearchSpace(distributions, frozenset(encoded))


def _check_key(key: str, config: DictConfig, choices: Mapping[str, Any]) -> None:
    if key.startswith(("+", "~", "hydra.", "hydra/")):
        raise UserError(f"hydra.sweeper.params.{key}: a search sets keys of the run's config "
                        f"(optimizer.lr, model, model.net.widths...), not {key}")
    if key in choices:
        return
    found = OmegaConf.select(config, key, default=_ABSENT, throw_on_resolution_failure=False)
    if found is _ABSENT:
        raise UserError(f"hydra.sweeper.params.{key}: {key} is not in the config this search "
                        f"runs (see it with --cfg job); fix the key or choose the experiment "
                        f"that has it")


def _check_group_choices(group: str, values: list[Any], options: list[str]) -> None:
    unknown = [v for v in values if v not in options]
    if unknown:
        raise UserError(f"hydra.sweeper.params.{group}: {', '.join(map(str, unknown))} is not "
                        f"a {group} config: choose among {'|'.join(sorted(options))}")


def override_value(value: Any) -> str:
    """`value` as Hydra's override grammar writes it (`[100,100]`, `true`, `null`, `0.001`)."""
    if isinstance(value, ListConfig | DictConfig):
        value = OmegaConf.to_container(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    plain = text and all(c.isalnum() or c in "._-/" for c in text)
    return text if plain else "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
