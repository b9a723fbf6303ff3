"""Hyper-parameter searches (hydra/sweeper=optuna_search, conf/hparams_search/): trials through
the launcher, the study in the sweep directory's journal, relaunches that continue it, failing
trials that do not stop it, seeded samplers, and bad input in one line. The searches run FIDLE
BHPD1's network on scikit-learn's bundled diabetes set (offline, under a second a trial)."""

import math
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from fidle_runs.config import CONF_DIR
from fidle_runs.errors import UserError
from fidle_runs.report.html_page import render_html
from fidle_runs.report.report import build_report
from fidle_runs.result import read_result
from fidle_runs.search.pruners import make_pruner, pruner_options
from fidle_runs.search.space import override_value, parse_space
from fidle_runs.search.sweeper import (
    JOURNAL_FILE,
    checked_pruner,
    make_sampler,
    objective,
    open_journal,
    positive_int,
)
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
    assert objective(cfg) == (cfg.task.primary.name, mode)  # the task's, never written here
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
    for trial in trials:  # each trial's value is its run's primary metric
        result = results[trial.user_attrs["run_dir"]]
        assert result.status == "completed" and result.primary["name"] == "test_mae"
        assert trial.value == pytest.approx(result.primary["value"]) and trial.value > 0
        assert result.overrides[-2:] == trial.user_attrs["overrides"]
    assert len({t.params["optimizer.lr"] for t in trials}) == 6
    assert first.stdout.count("Launching 2 jobs locally") == 3
    assert f"best trial #{study.best_trial.number}: {study.best_value:.6g}" in first.stdout
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
    assert trials[0].value == read_result(run).primary["value"]
    assert len(run_dirs(sweep_dir)) == 2


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
    assert proc.stdout.splitlines()[:6] == [
        "search: 20 trials, 4 at once, maximize test_acc (task classification), sampler tpe, "
        "seed 0",
        "pruner none",
        f"study search in {tmp_path / 'search' / 'optuna_journal.log'} (a relaunch continues it)",
        "space:",
        "  optimizer.lr: float in [0.0001, 0.01], log scale",
        "  model.net.widths: one of [100,100], [256,128], [512,256], [128,128,128], [64]"]
    assert proc.stdout.rstrip().endswith("dry run: nothing was run")
    assert not (tmp_path / "search").exists(), "nothing written"
    regression = run_module("fidle_runs.sweep_plan", "+experiment=diabetes_dnn",
                            "+hparams_search=bhpd_optuna", cwd=tmp_path)
    assert "minimize test_mae (task regression)" in regression.stdout
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
    values = [t.value for t in study.trials]
    for n in range(6):
        best = min(values[:n + 1])
        assert f"search sweep: trial {n + 1} of 6 complete: {values[n]:.6g}; best so far " \
            f"{best:.6g} (trial #{values.index(best)})" in first.stdout
    summary = first.stdout[first.stdout.index("sweep " + str(cwd / "sweep") + ":"):]
    assert summary.count("trial ") >= 6 and "trial 1 of 6, best so far " in summary
    best = study.best_trial
    assert f"search sweep, 6 of 6 trials: 6 complete; best trial #{best.number}: test_mae " \
        f"{best.value:.4g} with " in summary


def test_report_of_a_search_shows_its_trials_best_trial_history_and_importance(six_trials):
    cwd, _ = six_trials
    study = study_of(cwd / "sweep")
    report = build_report([cwd / "sweep"])
    (shown,) = report.studies
    assert shown.name == "sweep" and shown.n_trials == 6 and len(shown.trials) == 6
    assert shown.objective.name == "test_mae" and shown.objective.mode == "min"
    assert shown.best.number == study.best_trial.number
    assert shown.best.value == pytest.approx(study.best_value)
    assert shown.best.run_dir == Path(study.best_trial.user_attrs["run_dir"])
    assert [t.params for t in shown.trials] == [t.params for t in study.trials]
    assert all(t.state == "complete" and 0 < t.duration_s < 120 for t in shown.trials)
    assert shown.best_so_far()[-1] == pytest.approx(study.best_value)
    text = report.text()
    assert "Search sweep (" in text and "6 of 6 trials: 6 complete; minimize test_mae" in text
    assert f"trial #{study.best_trial.number}: test_mae {study.best_value:.4g} with " in text
    lines = text[text.index("Search sweep"):].splitlines()
    assert lines[1].split()[:6] == ["trial", "status", "test_mae", "optimizer", "optimizer.lr",
                                    "duration"]
    assert lines[3 + study.best_trial.number].startswith(f"{study.best_trial.number}*")
    exported = report.json()["studies"][0]
    assert exported["best_trial"] == study.best_trial.number and len(exported["trials"]) == 6
    page, _ = render_html(report, [cwd / "sweep"])
    for alt in ("optimisation history, search sweep", "slice plots, search sweep",
                "parameter importance, search sweep"):
        assert f'alt="{alt}"' in page
    assert "Best trial trial #" in page and 'href="#search"' in page


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
            assert trial.value == pytest.approx(result.primary["value"])
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


def test_objective_monitor_searches_on_the_best_validation_value(tmp_path):
    proc = search(tmp_path / "sweep", "hydra.sweeper.n_trials=2", "hydra.sweeper.objective=monitor",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "minimize val_mae (task regression)" in proc.stdout + proc.stderr
    study = study_of(tmp_path / "sweep")
    assert study.user_attrs["objective"] == {"name": "val_mae", "mode": "min", "fraction": False}
    for trial in study.trials:
        result = read_result(Path(trial.user_attrs["run_dir"]))
        assert trial.value == result.monitor["best"] != result.primary["value"]
    cfg, _ = compose_search("mnist_dnn", "mnist_optuna", "hydra.sweeper.objective=monitor")
    assert objective(cfg) == ("val_acc", "max")
    with pytest.raises(UserError, match=r"hydra\.sweeper\.objective='test' is unknown: use "
                                        r"primary .* or monitor"):
        objective(compose_search("mnist_dnn", "mnist_optuna", "hydra.sweeper.objective=test")[0])
