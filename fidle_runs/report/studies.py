"""The hyper-parameter searches below a report's directories (hydra/sweeper=optuna_search): each
study read from the journal in its sweep directory (<sweep dir>/optuna_journal.log) as what
reports and sweep summaries show of it: its trials (parameters, value, the test value recorded
beside it, status, duration, run directory), its best trial, the best value after each trial,
and, for a search that chose on its test metric, the warning that its best trial's test value
is biased upward (fidle_runs.launch.search.objective), and its confirmation when it had one
(hydra.sweeper.confirm, the study's user attr `confirm`: its best trials run again with new
seeds, each trial's objective then summarised over its seeds; fidle_runs.launch.search.confirm).

Optuna is imported only when a journal is found: a report of grids never loads it. A search
given its own hydra.sweeper.storage elsewhere is not found here."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fidle_runs.launch.search.confirm import ATTR as CONFIRM_ATTR
from fidle_runs.launch.search.confirm import SeedRun, confirmed_values, read_seed_run
from fidle_runs.launch.search.objective import finite, on_test_set_warning
from fidle_runs.launch.search.sweeper import JOURNAL_FILE, TRIAL_STATES, trial_state
from fidle_runs.report.metric import Metric
from fidle_runs.report.run_index import walk_outputs
from fidle_runs.store.result import read_result

if TYPE_CHECKING:
    from fidle_runs.core.seed_statistics import GroupSummary


@dataclass
class TrialRow:
    number: int
    # complete, pruned, fail, diverged (failed: its training diverged), running (asked, never
    # told: its launch was stopped)
    state: str
    value: float | None  # the objective; a pruned trial's is its last reported monitor value
    params: dict[str, Any]
    duration_s: float | None  # from its ask to its tell: launch, start-up, fit, test
    run_dir: Path | None
    detail: str = ""  # why it failed or diverged
    primary: float | None = None  # its run's test value, recorded beside the objective


@dataclass
class Study:
    name: str
    sweep_dir: Path
    objective: Metric  # what the trials were chosen on: the task's monitor or its primary
    n_trials: int | None  # what the latest launch asked for (None: not recorded)
    trials: list[TrialRow]
    log_params: frozenset[str]  # parameters searched on a log scale
    journal: Path
    primary: Metric | None = None  # the test metric recorded beside (None: not recorded)
    on_test_set: bool = False  # the objective is the test metric itself
    confirm_seeds: list[int] = field(default_factory=list)  # the confirmation's new seeds
    # Each confirmed trial's seeds by trial number: its own run first, then its confirmation
    # runs (the study's user attr `confirm`); empty when the search had no confirmation.
    confirmed: dict[int, list[SeedRun]] = field(default_factory=dict)

    def confirmed_summary(self, number: int) -> tuple["GroupSummary | None", list[SeedRun]]:
        """Trial `number`'s objective over its seeds (mean, sd, 95 % interval; None when it
        was not confirmed or no seed has a value) and its seeds left out of it (failed,
        diverged)."""
        from fidle_runs.core.seed_statistics import summarize

        values, left_out = confirmed_values(self.confirmed.get(number, []))
        return (summarize(values) if values else None), left_out

    def confirmed_cells(self, number: int) -> list[str]:
        """`3.412 n=3 (+1 not averaged)` and `[3.101, 3.723]`: trial `number`'s objective over
        its seeds as the trials table shows it; empty for a trial that was not confirmed."""
        summary, left_out = self.confirmed_summary(number)
        mean = "" if summary is None else f"{self.objective.format(summary.mean)} n={summary.n}"
        if left_out:
            mean += f" (+{len(left_out)} not averaged)"
        interval = "" if summary is None or summary.interval is None else (
            f"[{self.objective.format(summary.interval.low)}, "
            f"{self.objective.format(summary.interval.high)}]")
        return [mean.strip(), interval]

    @property
    def warning(self) -> str | None:
        """The sentence a search chosen on its test set is shown with, else None."""
        return on_test_set_warning(self.objective.name) if self.on_test_set else None

    def beside(self, trial: TrialRow) -> str:
        """`test_mae 3.12`: the trial's test value, when the objective is another metric."""
        if self.on_test_set or self.primary is None or trial.primary is None:
            return ""
        return f"{self.primary.name} {self.primary.with_unit(trial.primary)}"

    def notes(self) -> list[str]:
        """The lines reports and sweep summaries add to the best trial's: its test value when
        the trials were chosen on another metric, the warning when chosen on the test set."""
        best = self.best
        beside = self.beside(best) if best else ""
        notes = [f"best trial's {beside} (recorded beside, not chosen on)"] if beside else []
        return notes + ([f"warning: {self.warning}"] if self.warning else [])

    @property
    def completed(self) -> list[TrialRow]:
        return [t for t in self.trials if t.state == "complete" and t.value is not None]

    @property
    def best(self) -> TrialRow | None:
        best = None
        for trial in self.completed:
            if best is None or self.objective.better(trial.value, best.value):
                best = trial
        return best

    def best_so_far(self) -> list[float | None]:
        """The best completed value after each trial, in trial order."""
        values, best = [], None
        for trial in self.trials:
            if trial.state == "complete" and trial.value is not None and (
                    best is None or self.objective.better(trial.value, best)):
                best = trial.value
            values.append(best)
        return values

    def counts(self) -> str:
        """`18 of 20 trials: 15 complete, 3 pruned`."""
        states = [t.state for t in self.trials]
        tally = ", ".join(f"{states.count(s)} {s}" for s in TRIAL_STATES if s in states)
        total = f" of {self.n_trials}" if self.n_trials else ""
        return f"{len(self.trials)}{total} trials: {tally or 'none yet'}"

    def trial_of(self, run_dir: Path) -> TrialRow | None:
        """The last trial that ran in `run_dir` (a trial run again keeps its folder)."""
        found = [t for t in self.trials if t.run_dir == Path(run_dir).resolve()]
        return found[-1] if found else None


def find_journals(roots: list[Path]) -> list[Path]:
    """Every search journal at or below `roots` (in the folders walk_outputs visits), sorted."""
    return sorted({(folder / JOURNAL_FILE).resolve() for folder, names, _ in walk_outputs(roots)
                   if JOURNAL_FILE in names})


def read_studies(roots: list[Path]) -> list[Study]:
    return [study for journal in find_journals(roots) for study in read_journal(journal)]


def load_optuna_studies(journal: Path) -> list[Any]:
    """The Optuna studies a journal holds (read only: no lock is taken, nothing is written)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return [optuna.load_study(study_name=summary.study_name, storage=storage)
            for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def read_journal(journal: Path) -> list[Study]:
    from optuna.distributions import FloatDistribution, IntDistribution

    studies = []
    for study in load_optuna_studies(journal):
        objective = study.user_attrs.get("objective") or {}
        direction = "max" if study.direction.name == "MAXIMIZE" else "min"
        metric = Metric(str(objective.get("name") or "objective"), direction,
                        bool(objective.get("fraction")))
        primary = study.user_attrs.get("primary")
        trials, log_params = [], set()
        for t in study.get_trials(deepcopy=False):
            duration = ((t.datetime_complete - t.datetime_start).total_seconds()
                        if t.datetime_complete and t.datetime_start else None)
            value = t.value if t.value is not None else (
                t.intermediate_values[max(t.intermediate_values)]
                if t.intermediate_values else None)
            run_dir = t.user_attrs.get("run_dir")
            trials.append(TrialRow(t.number, trial_state(t), value, dict(t.params), duration,
                                   Path(run_dir) if run_dir else None,
                                   str(t.user_attrs.get("error") or ""),
                                   t.user_attrs.get("primary")))
            log_params |= {name for name, d in t.distributions.items()
                           if isinstance(d, FloatDistribution | IntDistribution) and d.log}
        if primary is None:
            primary = primary_from_runs(trials)
        on_test = (objective["source"] == "primary" if objective.get("source") else
                   primary is not None and primary.get("name") == metric.name)
        confirm = study.user_attrs.get(CONFIRM_ATTR) or {}
        studies.append(Study(
            study.study_name, journal.parent, metric, study.user_attrs.get("n_trials"), trials,
            frozenset(log_params), journal,
            Metric(primary["name"], primary["mode"], bool(primary["fraction"]))
            if primary else None, on_test, list(confirm.get("seeds", [])),
            confirmed_runs(confirm, trials, on_test)))
    return studies


def confirmed_runs(confirm: dict[str, Any], trials: list[TrialRow],
                   on_test_set: bool) -> dict[int, list[SeedRun]]:
    """Each confirmed trial's seeds as their result.json have them, by trial number: the
    trial's own run, then its confirmation runs (in the order of the recorded seeds)."""
    seeds = list(confirm.get("seeds", []))
    by_number = {t.number: t for t in trials}
    found = {}
    for number, run_dirs in (confirm.get("trials") or {}).items():
        trial = by_number.get(int(number))
        if trial is None or trial.run_dir is None:
            continue
        found[trial.number] = [read_seed_run(trial.run_dir, on_test_set), *(
            read_seed_run(Path(run_dir), on_test_set, seed)
            for run_dir, seed in zip(run_dirs, seeds, strict=False))]
    return found


def primary_from_runs(trials: list[TrialRow]) -> dict[str, Any] | None:
    """For a study kept before each trial's test value was recorded in it: the test metric
    (name, mode, fraction) and each completed trial's value, read from its run's result.json;
    None when no run can be read."""
    found = None
    for trial in trials:
        result = read_result(trial.run_dir) if trial.run_dir else None
        if result is None or not result.primary.get("name"):
            continue
        found = found or result.primary
        if trial.state == "complete":
            trial.primary = finite(result.primary.get("value"))
    return found


def param_importances(study: Study) -> dict[str, float]:
    """Optuna's fANOVA importance of each parameter for the objective (seeded: the same
    numbers on every report); empty with fewer than 3 completed trials or one parameter."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator

    if len(study.completed) < 3:
        return {}
    (loaded,) = [s for s in load_optuna_studies(study.journal) if s.study_name == study.name]
    if len(loaded.best_trial.params) < 2:
        return {}
    try:
        found = optuna.importance.get_param_importances(
            loaded, evaluator=FanovaImportanceEvaluator(seed=0))
        return {name: float(value) for name, value in found.items()}
    except (RuntimeError, ValueError):  # every completed trial has the same value
        return {}
