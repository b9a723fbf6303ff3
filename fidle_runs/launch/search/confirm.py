"""A search's confirmation (`hydra.sweeper.confirm: {top_k, seeds}`, off by default): the
winner's curse, measured.

The best of n trials is the best of n noisy draws, so its search value is optimistic. Once the
study has its n_trials finished (only then), the top_k complete trials (by the objective, in its
direction; ties by trial number) are run again with the same overrides and `seeds` new seeds:
seed + 1 ... seed + seeds, `seed` being the composed config's (the seed the trials ran with).
They go through the sweep's launcher in batches of n_jobs, in job folders named as the trials'
are (fidle_runs.launch.job_dirs.sweep_job_dir: the seed override makes them distinct), without
the pruner's link. They are not trials of the study (never asked or told): its user attr
`confirm` ({"seeds": [...], "trials": {"<trial number>": [run dir, ...]}}) says where they are.
A relaunch launches none whose result.json says completed, diverged or failed.

Each confirmed trial is then summarised over its seeds, its own run and the new ones: the
objective (result.json's `monitor.best`, or `primary.value` with objective=primary) and the test
metric (`primary.value`), mean, sd and Student-t interval (fidle_runs.core.seed_statistics,
imported only then: Hydra imports the sweeper, and so this module, in every run);
failed or diverged seeds are counted and named, never averaged. The last line compares the best
trial's search value with its confirmed mean.

This module chooses the trials, builds the jobs, reads their results and writes the summary;
the sweeper hands it its launcher. It may import core, store and the launch layer's job_dirs and
search.objective; never the sweeper, which imports it.
"""

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.utils import JobReturn
from omegaconf import DictConfig, OmegaConf

from fidle_runs.core.errors import UserError
from fidle_runs.launch.job_dirs import job_run_dir, sweep_job_dir
from fidle_runs.launch.search.objective import DIRECTIONS, Objective, finite
from fidle_runs.store.result import read_result

if TYPE_CHECKING:
    from fidle_runs.core.seed_statistics import GroupSummary

log = logging.getLogger("fidle_runs.launch.search")
ATTR = "confirm"  # the study's user attr that records the confirmation runs
# A confirmation run in one of these states is done: a relaunch does not launch it again (the
# runner itself would train a failed run again).
DONE = ("completed", "diverged", "failed")
Launch = Callable[..., Sequence[JobReturn]]


@dataclass(frozen=True)
class ConfirmOptions:
    """`hydra.sweeper.confirm`: how many of the best trials run again (`top_k`) and with how
    many new seeds each (`seeds`); on only when both are > 0."""

    top_k: int = 0
    seeds: int = 0

    @property
    def on(self) -> bool:
        return self.top_k > 0 and self.seeds > 0


def confirm_options(config: Any, searched: Sequence[str] = ()) -> ConfirmOptions:
    """`hydra.sweeper.confirm` checked, each bad value a one-line UserError; `searched`, the
    searched keys, may not hold `seed`, which the confirmation sets itself."""
    options = OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) \
        else config
    if options is None:
        return ConfirmOptions()
    if not isinstance(options, dict):
        raise UserError(f"hydra.sweeper.confirm={options!r} is invalid: it must be "
                        f"{{top_k: <trials>, seeds: <new seeds each>}}, e.g. "
                        f"hydra.sweeper.confirm='{{top_k:3,seeds:4}}'")
    unknown = sorted(set(options) - {"top_k", "seeds"})
    if unknown:
        raise UserError(f"hydra.sweeper.confirm.{unknown[0]} is unknown: use top_k (the best "
                        f"trials run again) and seeds (the new seeds each)")
    confirm = ConfirmOptions(*(non_negative_int(f"hydra.sweeper.confirm.{key}",
                                                options.get(key, 0))
                               for key in ("top_k", "seeds")))
    if confirm.on and "seed" in searched:
        raise UserError("hydra.sweeper.confirm runs trials again with new seeds: seed cannot be "
                        "searched too (hydra.sweeper.params.seed); drop one")
    return confirm


def non_negative_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError(f"{key}={value!r} is invalid: it must be an integer >= 0 (0: no "
                        f"confirmation), e.g. {key}=3")
    return value


def choose_trials(trials: Sequence[Any], top_k: int, mode: str) -> list[Any]:
    """The `top_k` complete trials with a finite value, best first in the objective's direction
    (`mode` max or min), ties by trial number; fewer when fewer completed."""
    from optuna.trial import TrialState

    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None
                and math.isfinite(t.value)]
    sign = -1.0 if mode == "max" else 1.0
    return sorted(complete, key=lambda t: (sign * t.value, t.number))[:top_k]


def new_seeds(seed: int, count: int) -> list[int]:
    """seed + 1 ... seed + count: none is the trials' own `seed`."""
    return [seed + i for i in range(1, count + 1)]


@dataclass(frozen=True)
class ConfirmJob:
    """One trial's overrides run again with a new seed, and the job folder that names."""

    trial: int
    seed: int
    overrides: list[str]
    job_dir: str


def confirm_jobs(chosen: Sequence[tuple[int, list[str]]], fixed: Sequence[str],
                 seeds: Sequence[int]) -> list[ConfirmJob]:
    """Each chosen (trial number, its overrides) with each of `seeds`: the command line's
    overrides and the trial's, a `seed=` among them replaced by the new one."""
    jobs = []
    for number, overrides in chosen:
        kept = [o for o in [*fixed, *overrides] if o.split("=", 1)[0].lstrip("+~") != "seed"]
        for seed in seeds:
            job = [*kept, f"seed={seed}"]
            jobs.append(ConfirmJob(number, seed, job, sweep_job_dir(job)))
    return jobs


@dataclass(frozen=True)
class SeedRun:
    """One seed of a confirmed trial as its result.json has it: `status` completed (then
    `value`, the objective, and `test`, the test metric) or why not (`why`)."""

    seed: int | None
    run_dir: Path
    status: str
    value: float | None = None
    test: float | None = None
    why: str = ""


def read_seed_run(run_dir: Path, on_test_set: bool, seed: int | None = None) -> SeedRun:
    """The seed's run from its result.json: its objective's value (`primary.value` when the
    search chose on the test set, else `monitor.best`) and its test value (`primary.value`);
    its seed is the run's own when `seed` is not given."""
    result = read_result(run_dir)
    if result is not None and seed is None:
        seed = result.seed
    if result is None:
        return SeedRun(seed, run_dir, "failed", why=f"no readable result.json in {run_dir}")
    if result.status != "completed":
        return SeedRun(seed, run_dir, result.status, why=result.error or result.status)
    value = finite(result.primary.get("value") if on_test_set else result.monitor.get("best"))
    if value is None:
        return SeedRun(seed, run_dir, "failed", why="no finite objective value")
    return SeedRun(seed, run_dir, "completed", value, finite(result.primary.get("value")))


def confirmed_values(runs: Sequence[SeedRun]) -> tuple[list[float], list[SeedRun]]:
    """The objective values of the completed seeds, and the seeds that are not averaged."""
    return ([r.value for r in runs if r.value is not None],
            [r for r in runs if r.value is None])


def _number(value: float) -> str:
    return f"{value:.6g}"


def _spread(summary: "GroupSummary") -> str:
    """`mean 3.1 [2.9, 3.3] (95 %), sd 0.08`, or `mean 3.1 (one seed: no interval)`."""
    text = f"mean {_number(summary.mean)}"
    if summary.interval is None:
        return text + " (one seed: no interval)"
    return (f"{text} [{_number(summary.interval.low)}, {_number(summary.interval.high)}] "
            f"(95 %), sd {_number(summary.sd)}")


def summary_line(number: int, search_value: float, runs: Sequence[SeedRun],
                 goal: Objective) -> str:
    """`confirm trial #3: val_mae search value 3.1; over its 3 seeds (the trial's run and the new
    seeds 1, 2) mean 3.4 [2.9, 3.9] (95 %), sd 0.2; test test_mae mean 3.5 [3.0, 4.0]`, then
    the seeds not averaged, by seed and why."""
    from fidle_runs.core.seed_statistics import summarize

    values, left_out = confirmed_values(runs)
    new = ", ".join(str(r.seed) for r in runs[1:])
    text = (f"confirm trial #{number}: {goal.name} search value {_number(search_value)}; "
            f"over its {len(runs)} seeds (the trial's run and the new seeds {new}) ")
    if values:
        text += _spread(summarize(values))
        tests = [r.test for r in runs if r.value is not None and r.test is not None]
        if tests:
            test = summarize(tests)
            text += f"; test {goal.primary['name']} mean {_number(test.mean)}"
            if test.interval is not None:
                text += f" [{_number(test.interval.low)}, {_number(test.interval.high)}]"
    else:
        text += "no value"
    if left_out:
        text += f"; {len(left_out)} not averaged: " + "; ".join(
            f"seed {r.seed} {r.status} ({r.why})" for r in left_out)
    return text


def curse_line(search_value: float, runs: Sequence[SeedRun], goal: Objective) -> str | None:
    """`winner's curse: the best trial's search value v exceeds its confirmed mean m by d (...)`:
    d is how much better the search value is than the mean, in the objective's direction (> 0:
    the search value was optimistic), and the same against the new seeds alone, which the
    search's choice did not see; None without a confirmed value."""
    from fidle_runs.core.seed_statistics import summarize

    values, _ = confirmed_values(runs)
    if not values:
        return None
    sign = 1.0 if goal.mode == "max" else -1.0
    mean = summarize(values).mean
    text = (f"winner's curse: the best trial's search value {_number(search_value)} exceeds its "
            f"confirmed mean {_number(mean)} by {_number(sign * (search_value - mean))} "
            f"({DIRECTIONS[goal.mode]} {goal.name}: "
            f"{'higher' if goal.mode == 'max' else 'lower'} is better, > 0 is optimistic")
    fresh, _ = confirmed_values(runs[1:])
    if fresh:
        fresh_mean = summarize(fresh).mean
        text += (f"; the new seeds alone, mean {_number(fresh_mean)}, by "
                 f"{_number(sign * (search_value - fresh_mean))}")
    return text + ")"


def confirm(study: Any, options: ConfirmOptions, overrides_of: Callable[[Any], list[str]],
            fixed: Sequence[str], seed: int, sweep_dir: Path, goal: Objective, launch: Launch,
            n_jobs: int) -> list[Sequence[JobReturn]]:
    """Runs the confirmation of a finished study (the caller checks it is) through `launch`
    (the launcher's, `launch(jobs, initial_job_idx=...)`), n_jobs at once, those already done
    skipped, records where their runs are in the study and prints its summary; the launcher's
    returns, batch by batch."""
    chosen = choose_trials(study.get_trials(deepcopy=False), options.top_k, goal.mode)
    if not chosen:
        print(f"search {study.study_name}: confirm: no complete trial to confirm", flush=True)
        return []
    seeds = new_seeds(seed, options.seeds)
    jobs = confirm_jobs([(t.number, overrides_of(t)) for t in chosen], fixed, seeds)
    found = [read_result(sweep_dir / job.job_dir) for job in jobs]
    done = [(job, result.status) for job, result in zip(jobs, found, strict=True)
            if result is not None and result.status in DONE]
    todo = [job for job, result in zip(jobs, found, strict=True)
            if result is None or result.status not in DONE]
    log.info("search %s: confirming trial(s) %s with seeds %s: %d of %d run(s) to launch",
             study.study_name, ", ".join(f"#{t.number}" for t in chosen),
             ", ".join(map(str, seeds)), len(todo), len(jobs))
    for job, status in done:
        log.info("search %s: confirm trial #%d seed %d is done (%s) in %s", study.study_name,
                 job.trial, job.seed, status, sweep_dir / job.job_dir)
    returns: list[Sequence[JobReturn]] = []
    run_dirs: dict[tuple[int, int], Path] = {}
    first = len(study.get_trials(deepcopy=False))
    for start in range(0, len(todo), n_jobs):
        batch = todo[start:start + n_jobs]
        results = launch([j.overrides for j in batch], initial_job_idx=first + start)
        run_dirs |= {(j.trial, j.seed): (job_run_dir(r) or sweep_dir / j.job_dir).resolve()
                     for j, r in zip(batch, results, strict=True)}
        returns.append(results)

    def where(job: ConfirmJob) -> Path:
        return run_dirs.get((job.trial, job.seed)) or (sweep_dir / job.job_dir).resolve()

    study.set_user_attr(ATTR, {"seeds": seeds, "trials": {
        str(t.number): [str(where(j)) for j in jobs if j.trial == t.number] for t in chosen}})
    confirmed = {}
    for trial in chosen:
        own = trial.user_attrs.get("run_dir")
        runs = [read_seed_run(Path(own), goal.on_test_set, seed) if own else
                SeedRun(seed, sweep_dir, "failed", why="the trial recorded no run directory")]
        runs += [read_seed_run(where(j), goal.on_test_set, j.seed) for j in jobs
                 if j.trial == trial.number]
        confirmed[trial.number] = runs
        print(f"search {study.study_name}: {summary_line(trial.number, trial.value, runs, goal)}",
              flush=True)
    curse = curse_line(chosen[0].value, confirmed[chosen[0].number], goal)
    if curse:
        print(f"search {study.study_name}: {curse}", flush=True)
    return returns
