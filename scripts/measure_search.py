"""A hyper-parameter search measured against FIDLE's defaults, and what a trial costs beyond
its training. By default FIDLE MNIST1's network (conf/hparams_search/mnist_optuna.yaml: Adam's
learning rate and the hidden widths) on the real MNIST, 20 trials, beside mnist_dnn with FIDLE's
hyper-parameters (lr 1e-3, widths 100-100), both on our split (validation held out of train):

    .venv/bin/python scripts/measure_search.py --mnist-dir ~/.cache/fidle_runs/test-data/mnist
        [--trials 20] [--jobs 1] [--seed 0] [--out outputs/measure_search] [--quick]

Prints the default run's test and validation accuracy, every trial's parameters and both
values, the search's choice (the best trial on validation, its objective) beside the trial the
test set would have chosen (how much choosing on the test set flatters its number), and a
trial's overhead: its wall time from the study's ask to its tell minus the fit and test its
result.json records (process start-up, composing the config, reading the data, building the
network, the journal's writes), as a share of the trial.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fidle_runs.launch.search.sweeper import JOURNAL_FILE, open_journal  # noqa: E402
from fidle_runs.store.result import read_result  # noqa: E402


def run(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"measure_search: {' '.join(command)} failed:\n{done.stdout[-3000:]}"
                 f"{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", type=Path, required=True, help="MNIST's IDX files")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1, help="trials at once")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's and the runs' seed")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "measure_search")
    parser.add_argument("--quick", action="store_true", help="2 epochs on 10%% of the data")
    args = parser.parse_args()
    import optuna

    data = [f"data.raw_dir={args.mnist_dir.resolve()}", f"seed={args.seed}",
            "callbacks.progress.style=lines"]
    data += ["trainer.max_epochs=2", "data.scale=0.1"] if args.quick else []
    out = args.out.resolve()
    default_dir = out / "default"
    default_s = run([sys.executable, "-m", "fidle_runs", "+experiment=mnist_dnn", *data,
                     f"hydra.run.dir={default_dir}"])
    sweep_dir = out / "search"
    search_s = run([sys.executable, "-m", "fidle_runs", "-m", "+experiment=mnist_dnn",
                    "+hparams_search=mnist_optuna", *data, f"hydra.sweeper.n_trials={args.trials}",
                    f"hydra.sweeper.n_jobs={args.jobs}", f"hydra.sweeper.sampler.seed={args.seed}",
                    f"hydra.sweep.dir={sweep_dir}"])
    study = optuna.load_study(study_name=sweep_dir.name,
                              storage=open_journal(sweep_dir / JOURNAL_FILE))
    default = read_result(default_dir)
    test, val = default.primary["name"], default.monitor["name"]
    print(f"default (FIDLE MNIST1: lr 0.001, widths [100,100]): {test} "
          f"{default.primary['value']:.4f}, best {val} {default.monitor['best']:.4f}, "
          f"{default_s:.1f} s")
    walls, overheads, completed = [], [], []
    for trial in study.trials:
        result = read_result(Path(trial.user_attrs["run_dir"]))
        wall = (trial.datetime_complete - trial.datetime_start).total_seconds()
        trained = result.duration_s.get("fit", 0.0) + result.duration_s.get("test", 0.0)
        walls.append(wall)
        overheads.append(wall - trained)
        if trial.state.name == "COMPLETE":
            completed.append((trial, result))
        params = " ".join(trial.user_attrs["overrides"])
        print(f"  trial {trial.number:>2} {trial.state.name.lower():<8} best {val} "
              f"{result.monitor['best']}, {test} {result.primary['value']}, {wall:.1f} s "
              f"({wall - trained:.2f} s overhead): {params}")
    # The search's choice (on validation) beside the trial the test set would have chosen: how
    # much choosing on the test set flatters the reported number.
    objective = study.user_attrs["objective"]["name"]
    for block, key in (("monitor", "best"), ("primary", "value")):
        metric = getattr(default, block)
        pick = max if metric["mode"] == "max" else min
        trial, result = pick(completed, key=lambda done: getattr(done[1], block)[key])
        choice = " (the search's choice)" if metric["name"] == objective else ""
        print(f"best trial on {metric['name']}: #{trial.number}{choice} "
              f"({' '.join(trial.user_attrs['overrides'])}): {test} "
              f"{result.primary['value']:.4f} "
              f"({result.primary['value'] - default.primary['value']:+.4f} vs default), best "
              f"{val} {result.monitor['best']:.4f} "
              f"({result.monitor['best'] - default.monitor['best']:+.4f} vs default)")
    share = sum(overheads) / sum(walls)
    print(f"{len(walls)} trials in {search_s:.1f} s (the command), trials {sum(walls):.1f} s; a "
          f"trial's overhead beyond fit and test: median {statistics.median(overheads):.2f} s, "
          f"{100 * share:.1f} % of the trials' time; the command beyond its trials "
          f"{search_s - sum(walls):.1f} s")


if __name__ == "__main__":
    main()
