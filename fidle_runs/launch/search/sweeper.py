"""`hydra/sweeper=optuna_search`: a hyper-parameter search with Optuna (ask and tell) through
whatever launcher the sweep has (basic, local_parallel, gpu_shared, the Slurm presets).

Why our own sweeper and not hydra-optuna-sweeper: that plugin pins optuna<3 and its SQLite
storage breaks with SQLAlchemy 2; a Hydra Sweeper is Hydra's documented extension point, and a
current Optuna's ask-and-tell API is all it needs.

How it runs (`sweep`):
- the study lives in the sweep directory: `<sweep dir>/optuna_journal.log` (Optuna's journal
  file storage, made for shared file systems, where SQLite locks badly), named after the sweep
  directory; only this process writes it, the trials never touch it;
- the objective (fidle_runs.launch.search.objective) is the task's monitor in its direction, a
  trial's value its result.json's `monitor.best` (the best validation value), so the test set
  plays no part in the choice; each trial's test value (`primary.value`) is kept beside it in
  the trial's user attr `primary`; `objective=primary` searches on the test value instead, and
  says so; a study continues only with the objective it was started with;
- each round asks up to `n_jobs` trials, launches them as one batch through the launcher and
  tells each its value, or FAIL when the job raised, its result.json says failed or diverged
  (user attr `error` the reason, `diverged` true for the latter) or holds no finite value (the
  search goes on); `n_trials` counts the trials of the study, finished or running, those of an
  earlier launch run again included, so a relaunch (the same command, the same
  hydra.sweep.dir, or a requeued Slurm job whose sweep dir is named after the job) only runs
  what is missing, and trains nothing once the study is complete;
- a trial asked but never told (its launch was killed) is launched again with its parameters:
  the same overrides give the same job directory (fidle_runs.launch.job_dirs.sweep_job_dir),
  where the
  run resumes from its last.ckpt, and is told as the same trial number;
- a seeded sampler gives the same trials twice; a relaunch seeds it with seed + the number of
  trials already in the study, so it does not repeat the first launch's draws;
- with a pruner (`hydra.sweeper.pruner`, off by default) each trial's run also gets the `search`
  key, which study and trial it reports its validation monitor to after each epoch
  (fidle_runs.launch.search.pruning): the trials then write to the journal too (its file lock
  is made for that), and a run its pruner stopped is told PRUNED;
- with `hydra.sweeper.confirm` (off by default), once the study has its n_trials finished, its
  best trials run again with new seeds, through the same launcher, and the search value of the
  best is compared with its mean over them (fidle_runs.launch.search.confirm).
"""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from fidle_runs.core.errors import UserError, one_line
from fidle_runs.launch.job_dirs import job_run_dir, sweep_job_dir
from fidle_runs.launch.search.confirm import ConfirmOptions, confirm, confirm_options
from fidle_runs.launch.search.objective import (
    DIRECTIONS,
    Objective,
    check_same_objective,
    finite,
    on_test_set_warning,
    search_objective,
)
from fidle_runs.launch.search.pruners import make_pruner, pruner_options
from fidle_runs.launch.search.space import SearchSpace, override_value, parse_space

log = logging.getLogger("fidle_runs.launch.search")
JOURNAL_FILE = "optuna_journal.log"
SAMPLERS = ("tpe", "random")


class OptunaSearch(Sweeper):
    """The sweeper's logic; Hydra instantiates its subclass in hydra_plugins.fidle_runs_search
    (Hydra only accepts sweepers from the hydra_plugins package). Hydra passes every key of
    conf/hydra/sweeper/optuna_search.yaml; `objective` is read back from the composed config by
    fidle_runs.launch.search.objective.search_objective, as sweep_plan reads it."""

    def __init__(self, params: Any = None, n_trials: Any = 20, n_jobs: Any = 1,
                 sampler: Any = None, storage: str | None = None,
                 study_name: str | None = None, pruner: Any = None,
                 objective: str = "monitor", confirm: Any = None) -> None:
        super().__init__()
        self.params = params
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.sampler_config = sampler
        self.storage = storage
        self.study_name = study_name
        self.pruner = pruner
        self.confirm = confirm
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        try:
            return self._sweep(arguments)
        except UserError as e:
            raise SystemExit(f"fidle_runs: error: {e}") from None

    # -- the search -----------------------------------------------------------------------

    def _sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        space = parse_space(self.params, self.config, lambda g: loader.get_group_options(g))
        n_trials = positive_int("hydra.sweeper.n_trials", self.n_trials)
        n_jobs = positive_int("hydra.sweeper.n_jobs", self.n_jobs)
        confirming = confirm_options(self.confirm, list(space.distributions))
        fixed = fixed_overrides(arguments, space, loader)
        goal = search_objective(self.config)
        pruner = checked_pruner(self.pruner, self.config, goal.mode)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        journal = Path(self.storage) if self.storage else sweep_dir / JOURNAL_FILE
        storage = open_journal(journal)
        study = load_study(storage, self.study_name or sweep_dir.name, goal, self.config)
        link = StudyLink(str(journal.resolve()), study.study_name, pruner)
        # What readers of the study (the report, sweep summaries) show it with.
        study.set_user_attr("objective", goal.study_attrs())
        study.set_user_attr("primary", goal.primary)
        study.set_user_attr("n_trials", n_trials)
        seed, sampler = make_sampler(self.sampler_config, len(study.trials))
        study.sampler = sampler
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        log.info("search %s: %s %s (task %s), %d trials, %d at once, sampler %s seed %s, "
                 "pruner %s, storage %s", study.study_name, DIRECTIONS[goal.mode], goal.name,
                 self.config.hydra.runtime.choices.get("task", "?"), n_trials, n_jobs,
                 type(sampler).__name__, seed, (pruner or {}).get("name"), journal)
        if goal.on_test_set:
            log.warning("search %s: %s", study.study_name, on_test_set_warning(goal.name))
        returns = self._rounds(study, space, fixed, link, sweep_dir, n_trials, n_jobs, goal)
        return returns + self._confirm(study, confirming, space, fixed, sweep_dir, n_trials,
                                       n_jobs, goal)

    def _rounds(self, study: Any, space: SearchSpace, fixed: list[str], link: "StudyLink",
                sweep_dir: Path, n_trials: int, n_jobs: int,
                goal: Objective) -> list[Sequence[JobReturn]]:
        import optuna
        from optuna.trial import TrialState

        # Trials asked by an earlier launch and never told: launched again, same parameters.
        pending = [(optuna.trial.Trial(study, t._trial_id), trial_overrides(t, space))
                   for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
        if pending:
            log.info("search %s: %d trial(s) of an earlier launch never finished (%s): they "
                     "run again with the same parameters", study.study_name, len(pending),
                     ", ".join(f"#{t.number}" for t, _ in pending))
        returns: list[Sequence[JobReturn]] = []
        while True:
            batch, pending = pending[:n_jobs], pending[n_jobs:]
            # The trials run again are in the study already: only what it lacks is asked.
            missing = n_trials - len(study.get_trials(deepcopy=False))
            for _ in range(max(0, min(n_jobs - len(batch), missing))):
                trial = study.ask(space.distributions)
                overrides = space.overrides(trial.params)
                trial.set_user_attr("overrides", overrides)
                trial.set_user_attr("job_dir", sweep_job_dir([*fixed, *overrides]))
                batch.append((trial, overrides))
            if not batch:
                break
            jobs = [[*fixed, *link.overrides(trial), *overrides] for trial, overrides in batch]
            try:
                self.validate_batch_is_legal(jobs)
            except Exception as e:
                raise UserError(f"trial #{batch[0][0].number} cannot be composed: "
                                f"{one_line(e)}") from None
            tic = time.perf_counter()
            results = self.launcher.launch(jobs, initial_job_idx=batch[0][0].number)
            log.info("search %s: %d trial(s) ran in %.1fs", study.study_name, len(batch),
                     time.perf_counter() - tic)
            for (trial, _), ret in zip(batch, results, strict=True):
                self._tell(study, trial, ret, sweep_dir, goal)
                log_progress(study, trial.number, n_trials, goal)
            returns.append(results)
        log_best(study, n_trials, goal)
        return returns

    def _confirm(self, study: Any, options: ConfirmOptions, space: SearchSpace,
                 fixed: list[str], sweep_dir: Path, n_trials: int, n_jobs: int,
                 goal: Objective) -> list[Sequence[JobReturn]]:
        """The confirmation runs (fidle_runs.launch.search.confirm), only once the study has its
        n_trials finished: a trial left running (its launch was stopped) resumes first."""
        from optuna.trial import TrialState

        if not options.on:
            return []
        trials = study.get_trials(deepcopy=False)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if running or len(trials) < n_trials:
            log.warning("search %s: the confirmation waits for the study's %d trials to finish "
                        "(%d running): launch the search again", study.study_name, n_trials,
                        running)
            return []
        seed = int(OmegaConf.select(self.config, "seed", default=0) or 0)
        return confirm(study, options, lambda t: trial_overrides(t, space), fixed, seed,
                       sweep_dir, goal, self.launcher.launch, n_jobs)

    def _tell(self, study: Any, trial: Any, ret: JobReturn, sweep_dir: Path,
              goal: Objective) -> None:
        from optuna.trial import TrialState

        run_dir = job_run_dir(ret) or sweep_dir / trial.user_attrs["job_dir"]
        trial.set_user_attr("run_dir", str(run_dir.resolve()))
        outcome = trial_outcome(ret, run_dir, goal)
        if outcome.primary is not None:
            trial.set_user_attr("primary", outcome.primary)
        if outcome.state == "interrupted":  # stays running, a relaunch resumes it
            log.warning("trial #%d (%s) was interrupted: launch the search again to resume it",
                        trial.number, run_dir)
        elif outcome.state == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
            log.info("trial #%d pruned: %s in %s", trial.number, outcome.why, run_dir)
        elif outcome.state in ("failed", "diverged"):
            trial.set_user_attr("error", outcome.why)
            if outcome.state == "diverged":
                trial.set_user_attr("diverged", True)
            log.warning("trial #%d %s (%s): %s", trial.number, outcome.state, run_dir,
                        outcome.why)
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, outcome.value)
            log.info("trial #%d: %s in %s", trial.number, outcome.value, run_dir)


class StudyLink:
    """What a trial's run needs to report to its trial (fidle_runs.launch.search.pruning), as the
    `search` override of its job; nothing when the search has no pruner."""

    def __init__(self, storage: str, study: str, pruner: dict[str, Any] | None) -> None:
        self.storage, self.study, self.pruner = storage, study, pruner

    def overrides(self, trial: Any) -> list[str]:
        if self.pruner is None:
            return []
        link = {"storage": self.storage, "study": self.study, "trial_id": trial._trial_id,
                "pruner": self.pruner}
        return [f"search={override_value(link)}"]


def checked_pruner(config: Any, run_config: DictConfig, mode: str) -> dict[str, Any] | None:
    """The pruner's options (None: no pruning), checked: Optuna builds it, and the task's
    monitor, which trials report, goes the objective's way (the pruner compares the two)."""
    options = pruner_options(config)
    if options is None:
        return None
    make_pruner(options)
    monitor = OmegaConf.select(run_config, "task.monitor")
    if monitor is None or monitor.get("mode") != mode:
        raise UserError(f"hydra.sweeper.pruner needs the task's monitor (task.monitor, reported "
                        f"each epoch) to go the objective's way ({mode}), not "
                        f"{None if monitor is None else monitor.get('mode')}: drop the pruner "
                        f"or fix task.monitor.mode")
    return options


def positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{key}={value!r} is invalid: it must be an integer >= 1, "
                        f"e.g. {key}=20")
    return value


def fixed_overrides(arguments: list[str], space: SearchSpace, loader: Any) -> list[str]:
    """The command line's overrides, which every trial shares: single values only."""
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
    fixed = []
    for override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override():
            raise UserError(f"{override.input_line}: a search takes one value per key on the "
                            f"command line; search {key} in hydra.sweeper.params instead")
        if override.key_or_group in space.distributions:
            raise UserError(f"{key} is both searched (hydra.sweeper.params) and set on the "
                            f"command line ({override.input_line}): drop one")
        fixed.append(override.input_line)
    return fixed


def open_journal(path: Path) -> Any:
    """Optuna's journal file storage at `path`, or a UserError when it cannot be written."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as e:
        raise UserError(f"the search's storage {path} cannot be written ({e.strerror or e}): "
                        f"choose a writable hydra.sweep.dir=... or hydra.sweeper.storage=...") \
            from None
    return JournalStorage(JournalFileBackend(str(path)))


def load_study(storage: Any, name: str, goal: Objective, config: DictConfig) -> Any:
    """The study `name` in `storage`, made if new; refused when it was made for another
    objective or direction."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=name,
                                direction=DIRECTIONS[goal.mode], load_if_exists=True)
    check_same_objective(study.user_attrs.get("objective"), goal, name, config)
    stored = study.direction.name.lower()
    if stored != DIRECTIONS[goal.mode]:
        raise UserError(f"the study {name} in this storage was made to {stored} its objective, "
                        f"this search's objective {goal.name} is to {DIRECTIONS[goal.mode]}: "
                        f"use another hydra.sweep.dir")
    return study


def make_sampler(config: Any, trials_before: int) -> tuple[int | None, Any]:
    """The sampler `{name: tpe|random, seed, ...its own options}`; a seeded one is seeded with
    seed + the number of trials already in the study (a relaunch draws new values)."""
    import optuna

    options = OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) \
        else dict(config or {})
    name = options.pop("name", "tpe")
    seed = options.pop("seed", None)
    if name not in SAMPLERS:
        raise UserError(f"hydra.sweeper.sampler.name={name!r} is unknown: use "
                        f"{' or '.join(SAMPLERS)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise UserError(f"hydra.sweeper.sampler.seed={seed!r} is invalid: it must be an integer")
    cls = optuna.samplers.TPESampler if name == "tpe" else optuna.samplers.RandomSampler
    seed_now = None if seed is None else seed + trials_before
    try:
        return seed, cls(seed=seed_now, **options)
    except TypeError as e:
        raise UserError(f"hydra.sweeper.sampler: {e}") from None


def trial_overrides(trial: Any, space: SearchSpace) -> list[str]:
    stored = trial.user_attrs.get("overrides")
    return list(stored) if stored else space.overrides(trial.params)


@dataclass(frozen=True)
class Outcome:
    """What a trial's job and run came to: `state` completed (told `value`), failed or
    diverged (told FAIL, `why` the reason), pruned (`why` where) or interrupted (left running,
    resumable); `primary` the run's test value, recorded beside the objective."""

    state: str
    value: float | None = None
    why: str | None = None
    primary: float | None = None


def trial_outcome(ret: JobReturn, run_dir: Path, goal: Objective) -> Outcome:
    """The trial's outcome from its job and its run's result.json. Only a finite value of the
    objective's metric, in the objective's direction, is ever a trial's value."""
    from fidle_runs.store.result import read_result

    result = read_result(run_dir)
    if result is not None and result.status == "diverged":
        return Outcome("diverged", why=result.error or "training diverged")
    if ret.status != JobStatus.COMPLETED:
        return Outcome("failed", why=(one_line(ret._return_value)
                                      if isinstance(ret._return_value, BaseException)
                                      else "job failed"))
    if result is None:
        return Outcome("failed", why=f"no readable result.json in {run_dir}")
    if result.status in ("interrupted", "running"):
        return Outcome("interrupted")
    if result.status == "pruned":
        where = result.pruned or {}
        return Outcome("pruned", why=(f"after epoch {where.get('epoch')}, {where.get('metric')} "
                                      f"{where.get('value')}"))
    if result.status != "completed":
        return Outcome("failed", why=result.error or f"run {result.status}")
    primary = finite(result.primary.get("value"))
    metric = result.primary if goal.on_test_set else result.monitor
    value = finite(metric.get("value" if goal.on_test_set else "best"))
    if metric.get("mode") not in (None, goal.mode):
        return Outcome("failed", why=(f"the run's {goal.source} metric {metric.get('name')} is "
                                      f"to {metric.get('mode')}, the search's to {goal.mode}"),
                       primary=primary)
    if value is None:
        return Outcome("failed", why=(f"no finite {goal.source} metric value "
                                      f"({metric.get('name')}="
                                      f"{metric.get('value' if goal.on_test_set else 'best')})"),
                       primary=primary)
    return Outcome("completed", value, primary=primary)


def scored(trial: Any, goal: Objective) -> str:
    """`val_acc 0.9807 (test_acc 0.9791)`: a completed trial's objective and, when that is not
    the test metric, its test value beside it."""
    text = f"{goal.name} {trial.value:.6g}"
    primary = trial.user_attrs.get("primary")
    if not goal.on_test_set and primary is not None:
        text += f" ({goal.primary['name']} {primary:.6g})"
    return text


# A trial's states as they are shown, in the order they are counted (trial_state).
TRIAL_STATES = ("complete", "pruned", "fail", "diverged", "running")


def trial_state(trial: Any) -> str:
    """complete, pruned, running, fail, or diverged (a failed trial whose training diverged)."""
    return "diverged" if trial.user_attrs.get("diverged") else trial.state.name.lower()


def log_progress(study: Any, number: int, n_trials: int, goal: Objective) -> None:
    """`trial 7 of 20 complete: val_acc 0.97 (test_acc 0.96); best so far val_acc 0.98 (trial
    #3, test_acc 0.97)` after each trial's tell."""
    from optuna.trial import TrialState

    trial = study.get_trials(deepcopy=False)[number]
    state = trial_state(trial)
    if trial.state == TrialState.COMPLETE:
        state += f": {scored(trial, goal)}"
    elif trial.state == TrialState.FAIL:
        state += f" ({trial.user_attrs.get('error')})"
    try:
        best = study.best_trial
    except ValueError:
        so_far = "none completed so far"
    else:
        so_far = f"best so far {scored(best, goal)} (trial #{best.number})"
    print(f"search {study.study_name}: trial {number + 1} of {n_trials} {state}; {so_far}",
          flush=True)


def log_best(study: Any, n_trials: int, goal: Objective) -> None:
    """The study's trials by state and its best trial, at the end of a launch; the warning
    when the choice was made on the test set."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    states = [trial_state(t) for t in trials]
    summary = ", ".join(f"{states.count(s)} {s}" for s in TRIAL_STATES
                        if s != "diverged" or s in states)
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    if not completed:
        print(f"search {study.study_name}: {len(trials)} of {n_trials} trials ({summary}), "
              "none completed", flush=True)
        return
    best = study.best_trial
    params = " ".join(best.user_attrs.get("overrides", [f"{k}={v}" for k, v in
                                                         best.params.items()]))
    print(f"search {study.study_name}: {len(trials)} of {n_trials} trials ({summary}); best "
          f"trial #{best.number}: {scored(best, goal)} with {params} in "
          f"{best.user_attrs.get('run_dir', '?')}", flush=True)
    if goal.on_test_set:
        print(f"search {study.study_name}: warning: {on_test_set_warning(goal.name)}",
              flush=True)
