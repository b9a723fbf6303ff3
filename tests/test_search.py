"""Hyper-parameter searches (hydra/sweeper=optuna_search, conf/hparams_search/): trials chosen
on the validation monitor with their test value beside, through the launcher, the study in the
sweep directory's journal, relaunches that continue it (never past n_trials, never with another
objective), failing and diverged trials that do not stop it, seeded samplers, a search chosen on
the test set that says so, and bad input in one line. The searches run FIDLE BHPD1's network on
scikit-learn's bundled diabetes set (offline, under a second a trial)."""

import json
import math
from dataclasses import asdict
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import JobReturn, JobStatus
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from fidle_runs.config.conf import CONF_DIR
from fidle_runs.core.errors import UserError
from fidle_runs.launch.search.objective import Objective, check_same_objective, search_objective
from fidle_runs.launch.search.pruners import make_pruner, pruner_options
from fidle_runs.launch.search.space import override_value, parse_space
from fidle_runs.launch.search.sweeper import (
    JOURNAL_FILE,
    OptunaSearch,
    checked_pruner,
    make_sampler,
    open_journal,
    positive_int,
    trial_outcome,
)
from fidle_runs.report.html_page import render_html
from fidle_runs.report.report import build_report
from fidle_runs.report.studies import read_journal
from fidle_runs.report.sweep_summary import search_lines
from fidle_runs.store.result import RunResult, read_result
from tests.conftest import run_module

SEARCH = ["fidle_runs", "-m", "+experiment=diabetes_dnn", "+hparams_search=bhpd_optuna",
          "trainer.max_epochs=1"]
FAMILIES = [("mnist_dnn", "mnist_optuna", "max"), ("gtsrb_cnn", "gtsrb_optuna", "max"),
            ("bhpd_dnn", "bhpd_optuna", "min"), ("diabetes_dnn", "bhpd_optuna", "min"),
            ("ladybug_gru", "ladybug_optuna", "min"), ("imdb_embedding", "imdb_optuna", "max")]


def search(sweep_dir: Path, *overrides: str, cwd: Path):
    return run_module(*SEARCH, f"paths.data_dir={cwd / 'data'}", f"hydra.sweep.dir={sweep_dir}",
                      *overrides, cwd=cwd)


def study_of(sweep_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=sweep_dir.name,
                             storage=open_journal(sweep_dir / JOURNAL_FILE))


def run_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def six_trials(tmp_path_factory):
    """A 6-trial search, 2 trials a batch, run once for the module."""
    cwd = tmp_path_factory.mktemp("search")
    proc = search(cwd / "sweep", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, proc


def compose_search(experiment: str, search_file: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"+experiment={experiment}",
                                          f"+hparams_search={search_file}", *overrides],
                      return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
        return cfg, lambda group: loader.get_group_options(group)


@pytest.mark.parametrize(("experiment", "search_file", "mode"), FAMILIES)
def test_each_family_has_a_search_that_composes(experiment, search_file, mode):
    cfg, groups = compose_search(experiment, search_file)
    assert cfg.hydra.sweeper._target_ == "hydra_plugins.fidle_runs_search.OptunaSearchSweeper"
    space = parse_space(cfg.hydra.sweeper.params, cfg, groups)
    assert "optimizer.lr" in space.distributions
    assert space.distributions["optimizer.lr"].log
    goal = search_objective(cfg)  # the task's, never written here
    assert (goal.source, goal.name, goal.mode) == ("monitor", cfg.task.monitor.name, mode)
    assert goal.primary["name"] == cfg.task.primary.name and not goal.on_test_set
    assert cfg.hydra.sweeper.n_trials == 20


def test_mnist_search_is_mnist_dnn_with_its_widths_searched():
    cfg, groups = compose_search("mnist_dnn", "mnist_optuna")
    space = parse_space(cfg.hydra.sweeper.params, cfg, groups)
    assert cfg.model.name == "mlp" and list(cfg.model.net.widths) == [100, 100]
    assert space.distributions["model.net.widths"].choices[:2] == ("[100,100]", "[256,128]")
    assert space.overrides({"optimizer.lr": 0.0003, "model.net.widths": "[256,128]"}) == \
        ["optimizer.lr=0.0003", "model.net.widths=[256,128]"]


def test_six_trial_search_completes_and_relaunched_trains_nothing(six_trials):
    cwd, first = six_trials
    sweep_dir = cwd / "sweep"
    study = study_of(sweep_dir)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert study.direction.name == "MINIMIZE"  # regression: test_mae, min
    runs = run_dirs(sweep_dir)
    assert len(runs) == 6
    results = {str(p.resolve()): read_result(p) for p in runs}
    assert study.user_attrs["objective"] == {"name": "val_mae", "mode": "min", "fraction": False,
                                             "source": "monitor"}
    for trial in trials:  # each trial's value is its run's best validation MAE, its test beside
        result = results[trial.user_attrs["run_dir"]]
        assert result.status == "completed" and result.monitor["name"] == "val_mae"
        assert trial.value == pytest.approx(result.monitor["best"]) and trial.value > 0
        assert trial.user_attrs["primary"] == pytest.approx(result.primary["value"])
        assert result.overrides[-2:] == trial.user_attrs["overrides"]
    assert len({t.params["optimizer.lr"] for t in trials}) == 6
    assert first.stdout.count("Launching 2 jobs locally") == 3
    best = study.best_trial
    assert f"best trial #{best.number}: val_mae {best.value:.6g} (test_mae " \
        f"{best.user_attrs['primary']:.6g}) with " in first.stdout
    assert "test set" not in first.stdout
    updated = {p: read_result(p).updated for p in runs}

    again = search(sweep_dir, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2", cwd=cwd)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Launching" not in again.stdout
    assert "search sweep: 6 of 6 trials (6 complete, 0 pruned, 0 fail, 0 running)" in again.stdout
    assert {p: read_result(p).updated for p in run_dirs(sweep_dir)} == updated
    assert len(study_of(sweep_dir).trials) == 6


def test_same_seed_same_trials(six_trials, tmp_path):
    cwd, _ = six_trials
    proc = search(tmp_path / "sweep", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
                  cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = [t.params for t in study_of(cwd / "sweep").trials[:2]]
    assert [t.params for t in study_of(tmp_path / "sweep").trials] == first
    # Another seed draws other values; a relaunch is seeded with seed + trials done.
    assert make_sampler({"name": "random", "seed": 0}, 0)[1]._rng.rng.random() != \
        make_sampler({"name": "random", "seed": 0}, 2)[1]._rng.rng.random()


def test_a_trial_killed_before_its_result_runs_again_as_the_same_trial(tmp_path):
    """A trial asked and never told (the search was killed) is launched again with its
    parameters, in the job directory they name, and told as the same trial number."""
    sweep_dir = tmp_path / "sweep"
    study = optuna.create_study(study_name="sweep", direction="minimize",
                                storage=open_journal(sweep_dir / JOURNAL_FILE))
    study.enqueue_trial({"optimizer": "adam", "optimizer.lr": 0.005})
    killed = study.ask({"optimizer": CategoricalDistribution(["adam", "rmsprop", "adamw"]),
                        "optimizer.lr": FloatDistribution(1e-4, 3e-2, log=True)})
    assert killed.params == {"optimizer": "adam", "optimizer.lr": 0.005}

    proc = search(sweep_dir, "hydra.sweeper.n_trials=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 trial(s) of an earlier launch never finished (#0)" in proc.stdout
    trials = study_of(sweep_dir).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert trials[0].params == {"optimizer": "adam", "optimizer.lr": 0.005}
    run = Path(trials[0].user_attrs["run_dir"])
    assert {"optimizer=adam", "optimizer.lr=0.005"} <= set(run.name.split(","))
    assert trials[0].value == read_result(run).monitor["best"]
    assert len(run_dirs(sweep_dir)) == 2


def test_a_search_killed_in_its_last_batch_ends_with_exactly_n_trials(tmp_path):
    """5 trials, 2 at once: killed while its last batch (trial #4 alone) ran, the search launched
    again runs #4 again and asks nothing more: the trial being rerun is already in the study."""
    sweep_dir = tmp_path / "sweep"
    study = optuna.create_study(study_name="sweep", direction="minimize",
                                storage=open_journal(sweep_dir / JOURNAL_FILE))
    space = {"optimizer": CategoricalDistribution(["adam", "rmsprop", "adamw"]),
             "optimizer.lr": FloatDistribution(1e-4, 3e-2, log=True)}
    for n in range(4):
        study.tell(study.ask(space), 100.0 - n)
    study.enqueue_trial({"optimizer": "adam", "optimizer.lr": 0.005})
    study.ask(space)  # trial #4, never told

    proc = search(sweep_dir, "hydra.sweeper.n_trials=5", "hydra.sweeper.n_jobs=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 trial(s) of an earlier launch never finished (#4)" in proc.stdout
    trials = study_of(sweep_dir).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    assert trials[4].params == {"optimizer": "adam", "optimizer.lr": 0.005}
    assert proc.stdout.count("Launching 1 jobs locally") == 1 and \
        "Launching 2 jobs" not in proc.stdout


def test_a_failing_trial_is_told_failed_and_the_search_goes_on(tmp_path):
    conf = tmp_path / "conf" / "hparams_search"
    conf.mkdir(parents=True)
    (conf / "failing.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna_search\n"
        "hydra:\n  sweeper:\n    n_trials: 4\n    sampler: {name: random, seed: 1}\n"
        "    params:\n      optimizer.lr: {type: categorical, choices: [0.001, -1.0]}\n")
    sweep_dir = tmp_path / "sweep"
    proc = run_module("fidle_runs", "-m", "+experiment=diabetes_dnn", "+hparams_search=failing",
                      "trainer.max_epochs=1", f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
                      f"paths.data_dir={tmp_path / 'data'}", f"hydra.sweep.dir={sweep_dir}",
                      cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]  # the sweep summary: a run failed
    trials = study_of(sweep_dir).trials
    states = [(t.params["optimizer.lr"], t.state) for t in trials]
    assert len(trials) == 4 and (-1.0, TrialState.FAIL) in states
    assert (0.001, TrialState.COMPLETE) in states
    assert all(state == (TrialState.FAIL if lr < 0 else TrialState.COMPLETE)
               for lr, state in states)
    failed = next(t for t in trials if t.state == TrialState.FAIL)
    assert "optimizer.lr=-1.0 is invalid" in failed.user_attrs["error"]
    result = read_result(Path(failed.user_attrs["run_dir"]))
    assert result.status == "failed" and "optimizer.lr=-1.0 is invalid" in result.error
    done = next(t for t in trials if t.state == TrialState.COMPLETE)
    assert math.isfinite(done.value) and done.value > 0


@pytest.mark.parametrize(("params", "message"), [
    ({}, "the search space hydra.sweeper.params is empty"),
    (None, "the search space hydra.sweeper.params is empty"),
    ("optimizer.lr=0.1", "must map keys to distributions"),
    ({"optimizer.lr": 0.1}, "hydra.sweeper.params.optimizer.lr=0.1 is not a distribution"),
    ({"optimizer.lr": {"type": "loguniform", "low": 1, "high": 2}},
     "unknown distribution type 'loguniform': use one of float, int, categorical"),
    ({"optimizer.lr": {"type": "float", "low": 1e-2}}, "needs low and high (missing high)"),
    ({"optimizer.lr": {"type": "float", "low": 1e-2, "high": 1e-4}}, "optimizer.lr: "),
    ({"optimizer.lr": {"type": "float", "low": 0.1, "high": 1, "lg": True}}, "not lg"),
    ({"model.net.width": {"type": "int", "low": 8, "high": 64}},
     "model.net.width is not in the config this search runs"),
    ({"model": {"type": "categorical", "choices": ["bhpd_dnn", "bhpd_dnn9"]}},
     "bhpd_dnn9 is not a model config"),
    ({"optimizer": {"type": "categorical", "choices": []}}, "a non-empty list of choices"),
    ({"hydra.launcher.n_jobs": {"type": "int", "low": 1, "high": 2}}, "not hydra.launcher"),
])
def test_a_bad_search_space_is_one_clear_line(params, message):
    cfg, groups = compose_search("diabetes_dnn", "bhpd_optuna")
    with pytest.raises(UserError) as e:
        parse_space(params, cfg, groups)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bad_counts_samplers_and_storage_are_one_clear_line(tmp_path):
    for value in (0, -3, "ten", True):
        with pytest.raises(UserError, match=r"hydra\.sweeper\.n_trials=.* is invalid"):
            positive_int("hydra.sweeper.n_trials", value)
    with pytest.raises(UserError, match=r"sampler\.name=.cmaes. is unknown: use tpe or random"):
        make_sampler({"name": "cmaes"}, 0)
    with pytest.raises(UserError, match=r"hydra\.sweeper\.sampler: "):
        make_sampler({"name": "random", "n_startup_trials": 3}, 0)
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"storage .*file/journal.log cannot be written"):
        open_journal(tmp_path / "file" / "journal.log")
    assert override_value("it's") == "'it\\'s'" and override_value([1, 2.5, "a"]) == "[1,2.5,a]"


def test_a_bad_search_stops_the_command_in_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    for override, message in [
            ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0 is invalid: it must be an "
                                         "integer >= 1"),
            (f"hydra.sweeper.storage={tmp_path / 'file' / 'j.log'}", "cannot be written")]:
        proc = run_module(*SEARCH, override, f"hydra.sweep.dir={tmp_path / 'sweep'}",
                          cwd=tmp_path)
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("fidle_runs: error: ") and message in last, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "sweep").exists()


def test_sweep_plan_shows_a_search_without_running_it(tmp_path):
    """The objective from the task, the sampler, the study's place, the space as the sweeper
    reads it; no trial, no journal; a search is no job array; a bad space is one line."""
    proc = run_module("fidle_runs.sweep_plan", "+experiment=mnist_dnn",
                      "+hparams_search=mnist_optuna", "hydra.sweeper.n_jobs=4",
                      f"hydra.sweep.dir={tmp_path / 'search'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[:7] == [
        "search: 20 trials, 4 at once, maximize val_acc (task classification, "
        "hydra.sweeper.objective=monitor), sampler tpe, seed 0",
        "the best trial is chosen on validation (val_acc); each trial's test_acc is recorded "
        "beside it",
        "pruner none",
        f"study search in {tmp_path / 'search' / 'optuna_journal.log'} (a relaunch continues it)",
        "space:",
        "  optimizer.lr: float in [0.0001, 0.01], log scale",
        "  model.net.widths: one of [100,100], [256,128], [512,256], [128,128,128], [64]"]
    assert proc.stdout.rstrip().endswith("dry run: nothing was run")
    assert not (tmp_path / "search").exists(), "nothing written"
    regression = run_module("fidle_runs.sweep_plan", "+experiment=diabetes_dnn",
                            "+hparams_search=bhpd_optuna", cwd=tmp_path)
    assert "minimize val_mae (task regression, hydra.sweeper.objective=monitor)" in \
        regression.stdout
    on_test = run_module("fidle_runs.sweep_plan", "+experiment=diabetes_dnn",
                         "+hparams_search=bhpd_optuna", "hydra.sweeper.objective=primary",
                         cwd=tmp_path)
    assert on_test.stdout.splitlines()[1] == (
        "warning: the best trial is chosen on the test set (test_mae, hydra.sweeper.objective="
        "primary): its test_mae is biased upward, not an estimate on new data; choose on the "
        "validation monitor (hydra.sweeper.objective=monitor, the default) for an honest one")
    pruned = run_module("fidle_runs.sweep_plan", "+experiment=diabetes_dnn",
                        "+hparams_search=bhpd_optuna",
                        "hydra.sweeper.pruner={name:median,n_warmup_steps:2}", cwd=tmp_path)
    assert "pruner median, n_warmup_steps 2 on val_mae per epoch" in pruned.stdout
    array = run_module("fidle_runs.sweep_plan", "+experiment=mnist_dnn",
                       "+hparams_search=mnist_optuna", "--count", cwd=tmp_path)
    assert array.returncode == 1 and "cannot be a job array" in array.stderr
    bad = run_module("fidle_runs.sweep_plan", "+experiment=mnist_dnn",
                     "+hparams_search=mnist_optuna",
                     "+hydra.sweeper.params.optimizer.momentum={type:gauss}", cwd=tmp_path)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert bad.stderr.startswith("fidle_runs.sweep_plan: error: ")


def test_six_trial_search_summary_says_which_trial_and_the_best_so_far(six_trials):
    cwd, first = six_trials
    study = study_of(cwd / "sweep")
    trials = study.trials
    values = [t.value for t in trials]
    for n in range(6):
        best = trials[values.index(min(values[:n + 1]))]
        assert f"search sweep: trial {n + 1} of 6 complete: val_mae {values[n]:.6g} (test_mae " \
            f"{trials[n].user_attrs['primary']:.6g}); best so far val_mae {best.value:.6g} " \
            f"(test_mae {best.user_attrs['primary']:.6g}) (trial #{best.number})" in first.stdout
    summary = first.stdout[first.stdout.index("sweep " + str(cwd / "sweep") + ":"):]
    assert summary.count("trial ") >= 6
    assert f"trial 1 of 6 (val_mae {values[0]:.4g}), best so far val_mae {values[0]:.4g}: " \
        in summary
    best = study.best_trial
    assert f"search sweep, 6 of 6 trials: 6 complete; best trial #{best.number}: val_mae " \
        f"{best.value:.4g} with " in summary
    assert f"\n  best trial's test_mae {best.user_attrs['primary']:.4g} (recorded beside, not " \
        "chosen on)" in summary
    assert "warning" not in summary


def test_report_of_a_search_shows_its_trials_best_trial_history_and_importance(six_trials):
    cwd, _ = six_trials
    study = study_of(cwd / "sweep")
    report = build_report([cwd / "sweep"])
    (shown,) = report.studies
    assert shown.name == "sweep" and shown.n_trials == 6 and len(shown.trials) == 6
    assert shown.objective.name == "val_mae" and shown.objective.mode == "min"
    assert shown.primary.name == "test_mae" and not shown.on_test_set and shown.warning is None
    assert [t.primary for t in shown.trials] == [t.user_attrs["primary"] for t in study.trials]
    assert shown.best.number == study.best_trial.number
    assert shown.best.value == pytest.approx(study.best_value)
    assert shown.best.run_dir == Path(study.best_trial.user_attrs["run_dir"])
    assert [t.params for t in shown.trials] == [t.params for t in study.trials]
    assert all(t.state == "complete" and 0 < t.duration_s < 120 for t in shown.trials)
    assert shown.best_so_far()[-1] == pytest.approx(study.best_value)
    text = report.text()
    assert "Search sweep (" in text and "6 of 6 trials: 6 complete; minimize val_mae" in text
    assert f"trial #{study.best_trial.number}: val_mae {study.best_value:.4g} with " in text
    assert f"best trial's test_mae {study.best_trial.user_attrs['primary']:.4g} (recorded " \
        "beside, not chosen on)" in text
    lines = text[text.index("Search sweep"):].splitlines()
    assert lines[1].split()[:7] == ["trial", "status", "val_mae", "test_mae", "optimizer",
                                    "optimizer.lr", "duration"]
    best_row = lines[3 + study.best_trial.number].split()
    assert best_row[0] == f"{study.best_trial.number}*"
    assert best_row[3] == f"{study.best_trial.user_attrs['primary']:.4g}", "test value beside"
    exported = report.json()["studies"][0]
    assert exported["best_trial"] == study.best_trial.number and len(exported["trials"]) == 6
    page, _ = render_html(report, [cwd / "sweep"])
    for alt in ("optimisation history, search sweep", "slice plots, search sweep",
                "parameter importance, search sweep"):
        assert f'alt="{alt}"' in page
    assert "Best trial trial #" in page and 'href="#search"' in page
    assert "<br>best trial&#x27;s test_mae " in page


@pytest.fixture(scope="module")
def pruned_search(tmp_path_factory):
    """5 trials of 4 epochs with the median pruner from the second trial on, after epoch 1."""
    cwd = tmp_path_factory.mktemp("pruned")
    overrides = ["trainer.max_epochs=4", "hydra.sweeper.n_trials=5",
                 "hydra.sweeper.pruner={name:median,n_startup_trials:1,n_warmup_steps:0}"]
    proc = search(cwd / "sweep", *overrides, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, overrides, proc


def test_pruned_trials_are_recorded_pruned_in_the_study_the_run_and_the_summary(pruned_search):
    cwd, overrides, proc = pruned_search
    sweep_dir = cwd / "sweep"
    trials = study_of(sweep_dir).trials
    states = [t.state for t in trials]
    assert states[0] == TrialState.COMPLETE  # no trial to compare the first with
    assert TrialState.PRUNED in states and TrialState.FAIL not in states
    for trial in trials:
        result = read_result(Path(trial.user_attrs["run_dir"]))
        # Every epoch's validation MAE reported to the study, under its epoch number.
        assert sorted(trial.intermediate_values) == list(range(1, result.epochs + 1))
        # The best checkpoint follows the same metric: its best is the best value reported.
        assert min(trial.intermediate_values.values()) == pytest.approx(result.monitor["best"],
                                                                        rel=1e-5)
        if trial.state == TrialState.PRUNED:
            assert result.status == "pruned" and result.epochs < 4
            assert result.pruned == {"epoch": result.epochs, "metric": "val_mae",
                                     "value": pytest.approx(
                                         trial.intermediate_values[result.epochs], rel=1e-5)}
            assert result.metrics == {} and result.primary["value"] is None  # not tested
        else:
            assert result.status == "completed" and result.pruned is None
            assert trial.value == pytest.approx(result.monitor["best"])
    n_pruned = states.count(TrialState.PRUNED)
    assert f"sweep {sweep_dir}: {5 - n_pruned} completed, 0 skipped, 0 failed, 0 interrupted, " \
        f"{n_pruned} pruned" in proc.stdout
    assert "pruned by its search after epoch " in proc.stdout  # the summary's detail
    report = build_report([sweep_dir])
    assert f"{n_pruned} pruned" in report.counts()
    assert f"{5 - n_pruned} complete, {n_pruned} pruned" in report.text()
    # Launched again: a pruned run is finished, nothing is trained again.
    updated = {p: read_result(p).updated for p in run_dirs(sweep_dir)}
    again = search(sweep_dir, *overrides, cwd=cwd)
    assert again.returncode == 0 and "Launching" not in again.stdout
    assert {p: read_result(p).updated for p in run_dirs(sweep_dir)} == updated


def test_a_pruned_run_launched_again_is_finished(pruned_search):
    """The trial's job run again (the sweeper was killed before its tell) trains nothing."""
    cwd, _, _ = pruned_search
    trial = next(t for t in study_of(cwd / "sweep").trials if t.state == TrialState.PRUNED)
    run_dir = Path(trial.user_attrs["run_dir"])
    before = read_result(run_dir)
    kept = [o for o in before.overrides if not o.startswith("search=")]
    proc = run_module("fidle_runs", *kept,
                      f"hydra.run.dir='{run_dir}'", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "already holds a pruned run" in proc.stderr + proc.stdout
    assert read_result(run_dir).updated == before.updated


def test_bad_pruners_are_one_clear_line():
    assert pruner_options(None) is None
    assert type(make_pruner({"name": "median", "n_warmup_steps": 2})).__name__ == "MedianPruner"
    with pytest.raises(UserError, match=r"pruner\.name='early' is unknown: use one of median, "):
        make_pruner({"name": "early"})
    with pytest.raises(UserError, match=r"hydra\.sweeper\.pruner \(median\): "):
        make_pruner({"name": "median", "patience": 3})
    with pytest.raises(UserError, match=r"hydra\.sweeper\.pruner='median' is not a pruner"):
        pruner_options("median")
    cfg, _ = compose_search("diabetes_dnn", "bhpd_optuna", "task.monitor.mode=max")
    with pytest.raises(UserError, match=r"needs the task's monitor .* to go the objective's way "
                                        r"\(min\), not max"):
        checked_pruner({"name": "median"}, cfg, "min")


def test_objective_primary_chooses_on_the_test_set_and_every_view_says_so(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = search(sweep_dir, "hydra.sweeper.n_trials=2", "hydra.sweeper.objective=primary",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "minimize test_mae (task regression)" in proc.stdout + proc.stderr
    study = study_of(sweep_dir)
    assert study.user_attrs["objective"] == {"name": "test_mae", "mode": "min", "fraction": False,
                                             "source": "primary"}
    for trial in study.trials:
        result = read_result(Path(trial.user_attrs["run_dir"]))
        assert trial.value == result.primary["value"] != result.monitor["best"]
    warning = "the best trial is chosen on the test set (test_mae, hydra.sweeper.objective=primary)"
    assert f"search sweep: warning: {warning}" in proc.stdout  # the search's last line
    assert f"\n  warning: {warning}" in proc.stdout  # the sweep summary's
    report = build_report([sweep_dir])
    (shown,) = report.studies
    assert shown.on_test_set and shown.warning.startswith(warning)
    assert f"warning: {warning}" in report.text() and "recorded beside" not in report.text()

    # The same study launched with the default objective is refused, in one line.
    again = search(sweep_dir, "hydra.sweeper.n_trials=3", cwd=tmp_path)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert again.stderr.strip().splitlines()[-1] == (
        "fidle_runs: error: the study sweep was searched on test_mae, this launch searches on "
        "val_mae (hydra.sweeper.objective=monitor): relaunch it with "
        "hydra.sweeper.objective=primary, or start a new study in another hydra.sweep.dir")
    assert len(study_of(sweep_dir).trials) == 2


def test_a_study_kept_before_its_objective_source_was_recorded_is_checked_by_name():
    cfg, _ = compose_search("mnist_dnn", "mnist_optuna")
    goal = search_objective(cfg)
    check_same_objective({"name": "val_acc", "mode": "max", "fraction": True}, goal, "s", cfg)
    check_same_objective(None, goal, "s", cfg)
    with pytest.raises(UserError, match=r"^the study s was searched on test_acc, this launch "
                                        r"searches on val_acc .*: relaunch it with "
                                        r"hydra\.sweeper\.objective=primary, or "):
        check_same_objective({"name": "test_acc", "mode": "max", "fraction": True}, goal, "s",
                             cfg)


def test_objective_monitor_is_the_default_and_a_bad_one_is_one_line():
    cfg, _ = compose_search("mnist_dnn", "mnist_optuna")
    assert (search_objective(cfg).name, search_objective(cfg).mode) == ("val_acc", "max")
    assert search_objective(cfg).fraction  # val_acc measures what test_acc does: shown as %
    cfg, _ = compose_search("mnist_dnn", "mnist_optuna", "hydra.sweeper.objective=primary")
    assert search_objective(cfg).name == "test_acc" and search_objective(cfg).on_test_set
    with pytest.raises(UserError, match=r"hydra\.sweeper\.objective='test' is unknown: use "
                                        r"monitor .* or primary"):
        search_objective(compose_search("mnist_dnn", "mnist_optuna",
                                        "hydra.sweeper.objective=test")[0])


GOAL = Objective("monitor", "val_mae", "min", False,
                 {"name": "test_mae", "mode": "min", "fraction": False})


def job(status: JobStatus = JobStatus.COMPLETED) -> JobReturn:
    ret = JobReturn()
    ret.status = status
    return ret


def write_result(run_dir: Path, status: str, best: float | None = 3.0,
                 test: float | None = 3.5, error: str | None = None) -> None:
    """A result.json as any writer may have left it: plain json, NaN and Infinity included."""
    result = RunResult(status=status, error=error, run_dir=str(run_dir),
                       primary={"name": "test_mae", "mode": "min", "fraction": False,
                                "value": test},
                       monitor={"name": "val_mae", "mode": "min", "best": best})
    (run_dir / "result.json").write_text(json.dumps(asdict(result)))


def test_a_diverged_run_is_a_failed_trial_with_its_reason(tmp_path):
    """Told FAIL (never a value), its reason kept, shown as diverged by the study's readers."""
    sweep_dir = tmp_path / "sweep"
    (sweep_dir / "job").mkdir(parents=True)
    reason = "the training loss is nan at epoch 3 (step 41): lower optimizer.lr"
    write_result(sweep_dir / "job", "diverged", best=None, test=None, error=reason)
    outcome = trial_outcome(job(), sweep_dir / "job", GOAL)
    assert (outcome.state, outcome.value, outcome.why) == ("diverged", None, reason)
    # A job that raised on its divergence says the same.
    assert trial_outcome(job(JobStatus.FAILED), sweep_dir / "job", GOAL).state == "diverged"

    study = optuna.create_study(study_name="sweep", direction="minimize",
                                storage=open_journal(sweep_dir / JOURNAL_FILE))
    trial = study.ask({"optimizer.lr": FloatDistribution(1e-4, 3e-2, log=True)})
    trial.set_user_attr("job_dir", "job")
    OptunaSearch()._tell(study, trial, job(), sweep_dir, GOAL)
    (told,) = study_of(sweep_dir).trials
    assert told.state == TrialState.FAIL and told.value is None
    assert told.user_attrs["error"] == reason and told.user_attrs["diverged"] is True
    (shown,) = read_journal(sweep_dir / JOURNAL_FILE)
    assert shown.trials[0].state == "diverged" and shown.trials[0].detail == reason
    assert shown.counts() == "1 trials: 1 diverged"
    assert search_lines(sweep_dir) == ["search sweep, 1 trials: 1 diverged; best none: no trial "
                                       "completed"]


@pytest.mark.parametrize(("objective", "on_test"), [("test_mae", True), ("val_mae", False)])
def test_a_study_kept_before_test_values_were_recorded_reads_them_from_its_runs(
        tmp_path, objective, on_test):
    """Its objective attr names no source and its trials no test value: the runs' result.json
    say which metric is the test one, and give each trial's."""
    (tmp_path / "run").mkdir()
    write_result(tmp_path / "run", "completed", best=3.0, test=3.5)
    study = optuna.create_study(study_name="old", direction="minimize",
                                storage=open_journal(tmp_path / JOURNAL_FILE))
    study.set_user_attr("objective", {"name": objective, "mode": "min", "fraction": False})
    trial = study.ask({"optimizer.lr": FloatDistribution(1e-4, 3e-2, log=True)})
    trial.set_user_attr("run_dir", str(tmp_path / "run"))
    study.tell(trial, 3.5 if on_test else 3.0)
    (shown,) = read_journal(tmp_path / JOURNAL_FILE)
    assert shown.on_test_set is on_test and shown.primary.name == "test_mae"
    assert shown.trials[0].primary == 3.5
    assert shown.notes() == ([f"warning: {shown.warning}"] if on_test else
                             ["best trial's test_mae 3.5 (recorded beside, not chosen on)"])


@pytest.mark.parametrize("best", [None, float("nan"), float("inf")])
def test_a_trial_without_a_finite_objective_is_failed_never_a_number(tmp_path, best):
    write_result(tmp_path, "completed", best=best, test=3.5)
    outcome = trial_outcome(job(), tmp_path, GOAL)
    assert outcome.state == "failed" and outcome.value is None
    assert outcome.why == f"no finite monitor metric value (val_mae={best})"
    assert outcome.primary == 3.5
    write_result(tmp_path, "completed", best=2.5, test=float("nan"))
    assert trial_outcome(job(), tmp_path, GOAL) == type(outcome)("completed", 2.5)
