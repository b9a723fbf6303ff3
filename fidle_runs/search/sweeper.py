"""`hydra/sweeper=optuna_search`: a hyper-parameter search with Optuna (ask and tell) through
whatever launcher the sweep has (basic, local_parallel, gpu_shared, the Slurm presets).

Why our own sweeper and not hydra-optuna-sweeper: that plugin pins optuna<3 and its SQLite
storage breaks with SQLAlchemy 2 (../shared/reference/environment.md); a Hydra Sweeper is
Hydra's documented extension point, and a current Optuna's ask-and-tell API is all it needs.

How it runs (`sweep`):
- the study lives in the sweep directory: `<sweep dir>/optuna_journal.log` (Optuna's journal
  file storage, made for shared file systems, where SQLite locks badly), named after the sweep
  directory; only this process writes it, the trials never touch it;
- the objective is the run's primary metric in the task's direction, both from the task's
  config (`task.primary: {name, mode}`); a trial's value is its result.json's `primary.value`;
  `objective=monitor` searches on the task's monitor instead (`task.monitor`, the best
  validation value, result.json's `monitor.best`), which keeps the test set out of the choice;
- each round asks up to `n_jobs` trials, launches them as one batch through the launcher and
  tells each its value, or FAIL when the job raised or its result.json says failed (the search
  goes on); `n_trials` counts the trials of the study, finished or running, so a relaunch
  (the same command, the same hydra.sweep.dir, or a requeued Slurm job whose sweep dir is named
  after the job) only runs what is missing, and trains nothing once the study is complete;
- a trial asked but never told (its launch was killed) is launched again with its parameters:
  the same overrides give the same job directory (fidle_runs.config.sweep_job_dir), where the
  run resumes from its last.ckpt, and is told as the same trial number;
- a seeded sampler gives the same trials twice; a relaunch seeds it with seed + the number of
  trials already in the study, so it does not repeat the first launch's draws;
- with a pruner (`hydra.sweeper.pruner`, off by default) each trial's run also gets the `search`
  key, which study and trial it reports its validation monitor to after each epoch
  (fidle_runs.search.pruning): the trials then write to the journal too (its file lock is made
  for that), and a run its pruner stopped is told PRUNED.
"""

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from fidle_runs.config import sweep_job_dir
from fidle_runs.errors import UserError, one_line
from fidle_runs.search.pruners import make_pruner, pruner_options
from fidle_runs.search.space import SearchSpace, override_value, parse_space

log = logging.getLogger("fidle_runs.search")
JOURNAL_FILE = "optuna_journal.log"
SAMPLERS = ("tpe", "random")
DIRECTIONS = {"max": "maximize", "min": "minimize"}
OBJECTIVES = ("primary", "monitor")


class OptunaSearch(Sweeper):
    """The sweeper's logic; Hydra instantiates its subclass in hydra_plugins.fidle_runs_search
    (Hydra only accepts sweepers from the hydra_plugins package). Hydra passes every key of
    conf/hydra/sweeper/optuna_search.yaml; `objective` is read back from the composed config by
    `objective()`, as sweep_plan reads it."""

    def __init__(self, params: Any = None, n_trials: Any = 20, n_jobs: Any = 1,
                 sampler: Any = None, storage: str | None = None,
                 study_name: str | None = None, pruner: Any = None,
                 objective: str = "primary") -> None:
        super().__init__()
        self.params = params
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.sampler_config = sampler
        self.storage = storage
        self.study_name = study_name
        self.pruner = pruner
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self.source = "primary"

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
        fixed = fixed_overrides(arguments, space, loader)
        name, mode = objective(self.config)
        pruner = checked_pruner(self.pruner, self.config, mode)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        journal = Path(self.storage) if self.storage else sweep_dir / JOURNAL_FILE
        storage = open_journal(journal)
        study = load_study(storage, self.study_name or sweep_dir.name, mode)
        link = StudyLink(str(journal.resolve()), study.study_name, pruner)
        # What readers of the study (the report, sweep summaries) show it with.
        study.set_user_attr("objective", {"name": name, "mode": mode,
                                          "fraction": objective_is_fraction(self.config, name)})
        study.set_user_attr("n_trials", n_trials)
        seed, sampler = make_sampler(self.sampler_config, len(study.trials))
        study.sampler = sampler
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        log.info("search %s: %s %s (task %s), %d trials, %d at once, sampler %s seed %s, "
                 "pruner %s, storage %s", study.study_name, DIRECTIONS[mode], name,
                 self.config.hydra.runtime.choices.get("task", "?"), n_trials, n_jobs,
                 type(sampler).__name__, seed, (pruner or {}).get("name"), journal)
        self.source = objective_source(self.config)
        return self._rounds(study, space, fixed, link, sweep_dir, n_trials, n_jobs, mode)

    def _rounds(self, study: Any, space: SearchSpace, fixed: list[str], link: "StudyLink",
                sweep_dir: Path, n_trials: int, n_jobs: int,
                mode: str) -> list[Sequence[JobReturn]]:
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
            counted = len(study.get_trials(deepcopy=False)) - len(batch) - len(pending)
            for _ in range(max(0, min(n_jobs - len(batch), n_trials - counted))):
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
                self._tell(study, trial, ret, sweep_dir, mode)
                log_progress(study, trial.number, n_trials)
            returns.append(results)
        log_best(study, n_trials)
        return returns

    def _tell(self, study: Any, trial: Any, ret: JobReturn, sweep_dir: Path, mode: str) -> None:
        from optuna.trial import TrialState

        output_dir = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir", default=None) \
            if ret.hydra_cfg is not None else None
        run_dir = Path(output_dir) if output_dir else sweep_dir / trial.user_attrs["job_dir"]
        trial.set_user_attr("run_dir", str(run_dir.resolve()))
        state, value, error = trial_outcome(ret, run_dir, mode, self.source)
        if state == "interrupted":  # stays running, a relaunch resumes it
            log.warning("trial #%d (%s) was interrupted: launch the search again to resume it",
                        trial.number, run_dir)
        elif state == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
            log.info("trial #%d pruned: %s in %s", trial.number, error, run_dir)
        elif state == "failed":
            trial.set_user_attr("error", error)
            log.warning("trial #%d failed (%s): %s", trial.number, run_dir, error)
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)
            log.info("trial #%d: %s in %s", trial.number, value, run_dir)


class StudyLink:
    """What a trial's run needs to report to its trial (fidle_runs.search.pruning), as the
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


def objective(config: DictConfig) -> tuple[str, str]:
    """The metric searched on and its mode: the task's primary (conf/task/<task>.yaml
    `primary`, the test value) or, with hydra.sweeper.objective=monitor, its monitor (the best
    validation value)."""
    which = objective_source(config)
    name = OmegaConf.select(config, f"task.{which}.name")
    mode = OmegaConf.select(config, f"task.{which}.mode")
    if not name or mode not in DIRECTIONS:
        raise UserError(f"the task config has no {which} metric to search on (task.{which}: "
                        f"name={name!r}, mode={mode!r}): it needs task.{which}.name and "
                        f"task.{which}.mode=min|max")
    return name, mode


def objective_source(config: DictConfig) -> str:
    """`primary` or `monitor` (hydra.sweeper.objective)."""
    which = OmegaConf.select(config, "hydra.sweeper.objective", default=None) or "primary"
    if which not in OBJECTIVES:
        raise UserError(f"hydra.sweeper.objective={which!r} is unknown: use primary (the "
                        f"task's test metric) or monitor (its best validation value)")
    return which


def objective_is_fraction(config: DictConfig, name: str) -> bool:
    """Whether the objective's values are fractions (shown as %): the primary's `fraction`,
    for the monitor too when it measures the same (val_acc for test_acc)."""
    primary = OmegaConf.select(config, "task.primary.name") or ""
    fraction = bool(OmegaConf.select(config, "task.primary.fraction", default=False))
    return fraction and name.split("_", 1)[-1] == primary.split("_", 1)[-1]


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


def load_study(storage: Any, name: str, mode: str) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=name, direction=DIRECTIONS[mode],
                                load_if_exists=True)
    stored = study.direction.name.lower()
    if stored != DIRECTIONS[mode]:
        raise UserError(f"the study {name} in this storage was made to {stored} its objective, "
                        f"this task's primary metric is to {DIRECTIONS[mode]}: use another "
                        f"hydra.sweep.dir")
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


def trial_outcome(ret: JobReturn, run_dir: Path, mode: str,
                  source: str = "primary") -> tuple[str, float | None, str | None]:
    """(state, value, why) of a trial from its job and its run's result.json: ("completed",
    primary.value (or monitor.best, `source` monitor), None), ("failed", None, why), ("pruned",
    None, where) or ("interrupted", None, None) (resumable)."""
    from fidle_runs.result import read_result

    if ret.status != JobStatus.COMPLETED:
        return "failed", None, (one_line(ret._return_value)
                                if isinstance(ret._return_value, BaseException) else "job failed")
    result = read_result(run_dir)
    if result is None:
        return "failed", None, f"no readable result.json in {run_dir}"
    if result.status in ("interrupted", "running"):
        return "interrupted", None, None
    if result.status == "pruned":
        where = result.pruned or {}
        return "pruned", None, (f"after epoch {where.get('epoch')}, {where.get('metric')} "
                                f"{where.get('value')}")
    if result.status != "completed":
        return "failed", None, result.error or f"run {result.status}"
    metric = result.primary if source == "primary" else result.monitor
    value = metric.get("value" if source == "primary" else "best")
    if metric.get("mode") not in (None, mode):
        return "failed", None, (f"the run's {source} metric {metric.get('name')} is to "
                                f"{metric.get('mode')}, the search's to {mode}")
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "failed", None, f"no {source} metric value ({metric.get('name')}={value})"
    return "completed", float(value), None


def log_progress(study: Any, number: int, n_trials: int) -> None:
    """`trial 7 of 20 complete: 0.97; best so far 0.98 (trial #3)` after each trial's tell."""
    trial = study.get_trials(deepcopy=False)[number]
    state = trial.state.name.lower()
    value = f": {trial.value:.6g}" if trial.value is not None and state == "complete" else ""
    try:
        best = f"best so far {study.best_value:.6g} (trial #{study.best_trial.number})"
    except ValueError:
        best = "none completed so far"
    print(f"search {study.study_name}: trial {number + 1} of {n_trials} {state}{value}; {best}",
          flush=True)


def log_best(study: Any, n_trials: int) -> None:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in
              (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    if not completed:
        print(f"search {study.study_name}: {len(trials)} of {n_trials} trials ({summary}), "
              "none completed", flush=True)
        return
    best = study.best_trial
    params = " ".join(best.user_attrs.get("overrides", [f"{k}={v}" for k, v in
                                                         best.params.items()]))
    print(f"search {study.study_name}: {len(trials)} of {n_trials} trials ({summary}); best "
          f"trial #{best.number}: {best.value:.6g} with {params} in "
          f"{best.user_attrs.get('run_dir', '?')}", flush=True)
