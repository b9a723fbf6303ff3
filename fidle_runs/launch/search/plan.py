"""A search's plan, as `python -m fidle_runs.sweep_plan` prints it without running anything: the
objective (and the test metric recorded beside it, or the warning that the choice is made on
the test set), the number of trials and how many run at once, the sampler, the pruner, where the
study is kept, the space, each distribution checked as the sweeper checks it, and the
confirmation runs the search adds at its end (hydra.sweeper.confirm)."""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fidle_runs.launch.search.confirm import confirm_options, new_seeds
from fidle_runs.launch.search.objective import DIRECTIONS, on_test_set_warning, search_objective
from fidle_runs.launch.search.space import parse_space
from fidle_runs.launch.search.sweeper import JOURNAL_FILE, checked_pruner

SWEEPER = "hydra_plugins.fidle_runs_search.OptunaSearchSweeper"


def is_search(cfg: DictConfig) -> bool:
    """The composed config (with `hydra`) runs an Optuna search (hydra/sweeper=optuna_search)."""
    return OmegaConf.select(cfg, "hydra.sweeper._target_") == SWEEPER


def search_plan(cfg: DictConfig) -> list[str]:
    """The plan's lines; UserError where the search would refuse to start."""
    sweeper = cfg.hydra.sweeper
    space = parse_space(sweeper.params, cfg)
    goal = search_objective(cfg)
    sampler = OmegaConf.to_container(sweeper.sampler, resolve=True) if sweeper.sampler else {}
    pruner = checked_pruner(sweeper.get("pruner"), cfg, goal.mode)
    sweep_dir = Path(cfg.hydra.sweep.dir)
    storage = sweeper.storage or str(sweep_dir / JOURNAL_FILE)
    beside = ("warning: " + on_test_set_warning(goal.name) if goal.on_test_set else
              f"the best trial is chosen on validation ({goal.name}); each trial's "
              f"{goal.primary['name']} is recorded beside it")
    lines = [f"search: {sweeper.n_trials} trials, {sweeper.n_jobs} at once, "
             f"{DIRECTIONS[goal.mode]} {goal.name} (task {cfg.task.name}, hydra.sweeper."
             f"objective={goal.source}), sampler {_options(sampler) or 'tpe'}",
             beside,
             "pruner " + (f"{_options(pruner)} on {cfg.task.monitor.name} per epoch" if pruner
                          else "none"),
             f"study {sweeper.study_name or sweep_dir.name} in {storage} (a relaunch continues it)",
             "space:"]
    lines += [f"  {key}: {_distribution(d)}" for key, d in space.distributions.items()]
    confirm = confirm_options(sweeper.get("confirm"), list(space.distributions))
    if confirm.on:
        seeds = ", ".join(map(str, new_seeds(int(cfg.get("seed") or 0), confirm.seeds)))
        lines.append(f"confirm: the best {confirm.top_k} trials x {confirm.seeds} new seeds "
                     f"(seed {seeds}) = {confirm.top_k * confirm.seeds} more runs once the "
                     f"{sweeper.n_trials} trials are finished, each trial's objective then "
                     f"summarised over its seeds")
    else:
        lines.append("confirm none (hydra.sweeper.confirm.top_k and .seeds > 0 run the best "
                     "trials again with new seeds)")
    return lines


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" if k != "name" else str(v) for k, v in options.items())


def _distribution(distribution: Any) -> str:
    """`float in [0.0001, 0.01], log scale`, `int in [32, 256] step 32`, `one of a, b`."""
    if hasattr(distribution, "choices"):
        return "one of " + ", ".join(map(str, distribution.choices))
    kind = "int" if type(distribution).__name__.startswith("Int") else "float"
    text = f"{kind} in [{distribution.low:g}, {distribution.high:g}]"
    if getattr(distribution, "step", None):
        text += f" step {distribution.step:g}"
    return text + (", log scale" if distribution.log else "")
