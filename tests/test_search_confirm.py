"""A search's confirmation (hydra.sweeper.confirm, fidle_runs.launch.search.confirm): once the
study has its trials, its best trials run again with new seeds through the same launcher, are
recorded in the study (never as trials), summarised over their seeds with the same numbers
numpy and scipy give, the winner's curse measured; a relaunch trains nothing; bad values are one
line. The search is test_search.py's: FIDLE BHPD1's network on scikit-learn's diabetes set."""

import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from scipy import stats

from fidle_runs.core.errors import UserError
from fidle_runs.launch.search.confirm import (
    ConfirmOptions,
    SeedRun,
    choose_trials,
    confirm_jobs,
    confirm_options,
    curse_line,
    new_seeds,
    summary_line,
)
from fidle_runs.launch.search.objective import Objective
from fidle_runs.report.report import build_report
from fidle_runs.report.tables import trials_table
from fidle_runs.store.result import read_result
from tests.conftest import run_module
from tests.test_search import SEARCH, run_dirs, search, study_of

CONFIRM = ("hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2",
           "hydra.sweeper.confirm.top_k=2", "hydra.sweeper.confirm.seeds=2")
NUMBER = r"(-?[0-9.e+-]+)"


def t_interval(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, sample sd and the 95 % Student-t interval of the mean, computed here."""
    x = np.asarray(values, dtype=np.float64)
    mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
    half = float(stats.t.ppf(0.975, x.size - 1)) * sd / math.sqrt(x.size)
    return mean, sd, mean - half, mean + half


def test_the_best_trials_are_confirmed_with_new_seeds_and_a_relaunch_trains_nothing(tmp_path):
    tic = time.perf_counter()
    sweep_dir = tmp_path / "sweep"
    proc = search(sweep_dir, *CONFIRM, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = study_of(sweep_dir)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3, "no trial added"
    chosen = sorted(trials, key=lambda t: (t.value, t.number))[:2]  # val_mae: min
    record = study.user_attrs["confirm"]
    assert record["seeds"] == [1, 2]  # the trials ran with the config's seed, 0
    assert list(record["trials"]) == [str(t.number) for t in chosen]
    assert len(run_dirs(sweep_dir)) == 3 + 4
    confirmed = {}
    for trial in chosen:
        own = read_result(Path(trial.user_attrs["run_dir"]))
        assert own.seed == 0 and not any(o.startswith("seed=") for o in own.overrides)
        dirs = [Path(p) for p in record["trials"][str(trial.number)]]
        results = [read_result(d) for d in dirs]
        assert [r.status for r in results] == ["completed"] * 2
        assert [r.seed for r in results] == [own.seed + 1, own.seed + 2]
        assert [r.overrides for r in results] == [[*own.overrides, f"seed={s}"] for s in (1, 2)]
        assert len(set(dirs)) == 2 and all(d.parent == sweep_dir.resolve() for d in dirs)
        values = [own.monitor["best"], *(r.monitor["best"] for r in results)]
        tests = [own.primary["value"], *(r.primary["value"] for r in results)]
        confirmed[trial.number] = values
        line = re.search(
            rf"^search sweep: confirm trial #{trial.number}: val_mae search value {NUMBER}; over "
            rf"its 3 seeds \(the trial's run and the new seeds 1, 2\) mean {NUMBER} \[{NUMBER}, "
            rf"{NUMBER}\] \(95 %\), sd {NUMBER}; test test_mae mean {NUMBER} \[{NUMBER}, "
            rf"{NUMBER}\]$", proc.stdout, re.MULTILINE)
        assert line, proc.stdout[-3000:]
        shown = [float(g) for g in line.groups()]
        mean, sd, low, high = t_interval(values)
        test_mean, _, test_low, test_high = t_interval(tests)
        assert shown == pytest.approx([trial.value, mean, low, high, sd, test_mean, test_low,
                                       test_high], rel=1e-5)
        print(line.group(0))
    best = chosen[0]
    curse = f"search sweep: winner's curse: the best trial's search value {best.value:.6g} " \
        f"exceeds its confirmed mean {np.mean(confirmed[best.number]):.6g} by " \
        f"{np.mean(confirmed[best.number]) - best.value:.6g} (minimize val_mae: lower is better"
    assert curse in proc.stdout
    print(next(line for line in proc.stdout.splitlines() if "winner's curse" in line))

    # The report: the confirmed trials' mean and interval beside their search values.
    (shown_study,) = build_report([sweep_dir]).studies
    header, body = trials_table(shown_study)
    at = header.index("confirmed mean")
    assert header[at + 1] == "95 % interval"
    for trial in trials:
        row = body[trial.number]
        if trial.number in confirmed:
            mean, _, low, high = t_interval(confirmed[trial.number])
            assert row[at] == f"{mean:.4g} n=3" and row[at + 1] == f"[{low:.4g}, {high:.4g}]"
        else:
            assert row[at:at + 2] == ["", ""]

    updated = {p: read_result(p).updated for p in run_dirs(sweep_dir)}
    again = search(sweep_dir, *CONFIRM, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Launching" not in again.stdout
    assert again.stdout.count("is done (completed)") == 4
    assert {p: read_result(p).updated for p in run_dirs(sweep_dir)} == updated
    assert len(study_of(sweep_dir).trials) == 3
    assert curse in again.stdout
    print(f"measured: {time.perf_counter() - tic:.1f} s")


def test_a_bad_confirmation_stops_the_search_in_one_line(tmp_path):
    proc = run_module(*SEARCH, "hydra.sweeper.confirm.top_k=-1",
                      f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "fidle_runs: error: hydra.sweeper.confirm.top_k=-1 is invalid: it must be an integer "
        ">= 0 (0: no confirmation), e.g. hydra.sweeper.confirm.top_k=3")
    assert not (tmp_path / "sweep").exists(), "nothing launched"


def test_sweep_plan_names_the_confirmation_runs(tmp_path):
    plan = run_module("fidle_runs.sweep_plan", "+experiment=diabetes_dnn",
                      "+hparams_search=bhpd_optuna", "seed=5", "hydra.sweeper.confirm.top_k=3",
                      "hydra.sweeper.confirm.seeds=2", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "confirm: the best 3 trials x 2 new seeds (seed 6, 7) = 6 more runs once the 20 " \
        "trials are finished" in plan.stdout
    bad = run_module("fidle_runs.sweep_plan", "+experiment=diabetes_dnn",
                     "+hparams_search=bhpd_optuna", "hydra.sweeper.confirm.seeds=two",
                     cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "fidle_runs.sweep_plan: error: hydra.sweeper.confirm.seeds='two' is invalid: it must be "
        "an integer >= 0 (0: no confirmation), e.g. hydra.sweeper.confirm.seeds=3")


def trial(number: int, value: float | None, state: TrialState = TrialState.COMPLETE):
    frozen = create_trial(state=state, value=value, params={"optimizer.lr": 0.01},
                          distributions={"optimizer.lr": FloatDistribution(1e-4, 1e-1)})
    frozen.number = number
    return frozen


def test_the_confirmed_trials_are_the_best_complete_ones_ties_by_number():
    trials = [trial(0, 3.0), trial(1, 1.0), trial(2, None, TrialState.FAIL),
              trial(3, 1.0), trial(4, 5.0), trial(5, None, TrialState.PRUNED),
              trial(6, float("inf"))]
    assert [t.number for t in choose_trials(trials, 3, "min")] == [1, 3, 0]
    assert [t.number for t in choose_trials(trials, 2, "max")] == [4, 0]
    assert [t.number for t in choose_trials(trials, 10, "max")] == [4, 0, 1, 3]
    assert choose_trials(trials[2:3], 2, "min") == []
    # Seeds other than the trials' own; a seed on the command line is replaced, not repeated.
    assert new_seeds(7, 3) == [8, 9, 10]
    jobs = confirm_jobs([(3, ["optimizer.lr=0.01"])], ["seed=7", "trainer.max_epochs=1"],
                        [8, 9])
    assert [j.overrides for j in jobs] == [["trainer.max_epochs=1", "optimizer.lr=0.01",
                                            f"seed={s}"] for s in (8, 9)]
    assert [(j.trial, j.seed) for j in jobs] == [(3, 8), (3, 9)]
    assert jobs[0].job_dir == "optimizer.lr=0.01,seed=8,trainer.max_epochs=1"


def test_confirmation_options_are_checked_in_one_line():
    assert confirm_options(None) == ConfirmOptions(0, 0) and not ConfirmOptions(2, 0).on
    assert confirm_options({"top_k": 2, "seeds": 3}).on
    for options, message in [
            ({"top_k": -1, "seeds": 2}, "hydra.sweeper.confirm.top_k=-1 is invalid"),
            ({"top_k": 1, "seeds": 1.5}, "hydra.sweeper.confirm.seeds=1.5 is invalid"),
            ({"top_k": True}, "hydra.sweeper.confirm.top_k=True is invalid"),
            ({"top": 2}, "hydra.sweeper.confirm.top is unknown: use top_k"),
            (3, "hydra.sweeper.confirm=3 is invalid")]:
        with pytest.raises(UserError, match=re.escape(message)) as e:
            confirm_options(options)
        assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="seed cannot be searched too"):
        confirm_options({"top_k": 1, "seeds": 1}, ["optimizer.lr", "seed"])



def test_failed_and_diverged_seeds_are_named_never_averaged_and_the_curse_follows_the_mode():
    goal = Objective("monitor", "val_acc", "max", True,
                     {"name": "test_acc", "mode": "max", "fraction": True})
    runs = [SeedRun(0, Path("own"), "completed", 0.90, 0.88),
            SeedRun(1, Path("a"), "completed", 0.86, 0.85),
            SeedRun(2, Path("b"), "diverged", why="the training loss is nan at epoch 2"),
            SeedRun(3, Path("c"), "failed", why="no readable result.json in c")]
    mean, sd, low, high = t_interval([0.90, 0.86])
    test_mean, _, test_low, test_high = t_interval([0.88, 0.85])
    assert summary_line(4, 0.90, runs, goal) == (
        f"confirm trial #4: val_acc search value 0.9; over its 4 seeds (the trial's run and the "
        f"new seeds 1, 2, 3) mean {mean:.6g} [{low:.6g}, {high:.6g}] (95 %), sd {sd:.6g}; test "
        f"test_acc mean {test_mean:.6g} [{test_low:.6g}, {test_high:.6g}]; 2 not averaged: seed 2 "
        f"diverged (the training loss is nan at epoch 2); seed 3 failed (no readable "
        f"result.json in c)")
    # Higher is better: the search value 0.90 beats the mean 0.88 by 0.02.
    assert curse_line(0.90, runs, goal).startswith(
        f"winner's curse: the best trial's search value 0.9 exceeds its confirmed mean "
        f"{mean:.6g} by {0.90 - mean:.6g} (maximize val_acc: higher is better, > 0 is optimistic; "
        f"the new seeds alone, mean 0.86, by {0.90 - 0.86:.6g})")
    lone = [runs[0], runs[2]]
    assert summary_line(4, 0.90, lone, goal).endswith(
        "mean 0.9 (one seed: no interval); test test_acc mean 0.88; 1 not averaged: seed 2 "
        "diverged (the training loss is nan at epoch 2)")
    assert curse_line(0.90, [runs[2]], goal) is None
