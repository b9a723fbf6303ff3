"""What launching costs, on this machine: per-run overhead locally and on Slurm, the time to
submit a 24-run sweep, requeue-to-resume, and a scaled-down gtsrb_full grid run sequentially
next to the same grid run two at a time.

    python scripts/benchmark_sweep.py [--skip-slurm] [--grid-scale 0.25] [--grid-epochs 1]

Slurm parts need the local cluster (scripts/slurm_cluster_start.sh, root). Every run trains on
the small synthetic set; the data is prepared before anything is timed. Prints one line per
number, and the ratios at the end.
"""

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fidle_runs.store.result import RunResult, read_result

REPO = Path(__file__).resolve().parent.parent
DATA = ["data.source=synthetic", "data.synthetic_fraction=0.05", "data.prepare_workers=2"]


def fidle_runs(*args: str, cwd: Path, check: bool = True) -> float:
    """Wall seconds of `python -m fidle_runs <args>`."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fidle_runs", *args], cwd=cwd,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"fidle_runs {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def trained_s(result: RunResult) -> float:
    return result.duration_s["fit"] + result.duration_s["test"]


def started_after(result: RunResult, launched: dt.datetime) -> float:
    return (dt.datetime.fromisoformat(result.started) - launched).total_seconds()


def one_run_overhead(work: Path, data_dir: Path, launcher: list[str], label: str) -> None:
    """submit -> start -> result of a 1-run sweep, and what is not training."""
    sweep = work / f"overhead-{label}"
    launched = dt.datetime.now(dt.timezone.utc)
    wall = fidle_runs("-m", "+experiment=gtsrb_cnn", *DATA, "trainer.max_epochs=1",
                      "data.scale=0.5", f"paths.data_dir={data_dir}", f"hydra.sweep.dir={sweep}",
                      *launcher, cwd=work)
    result = read_result(sweep / "0")
    print(f"{label:>6} one run: wall {wall:.1f}s, submit->start "
          f"{started_after(result, launched):.1f}s, training (fit+test) {trained_s(result):.1f}s, "
          f"overhead (wall - training) {wall - trained_s(result):.1f}s")


def squeue_count(name: str) -> int:
    out = subprocess.run(["squeue", "-h", "-r", "-n", name, "-o", "%i"], capture_output=True,
                         text=True, check=True).stdout
    return len(out.split())


def submit_24(work: Path, data_dir: Path) -> None:
    """Time until all 24 tasks of gtsrb_full are queued (held, so nothing runs), through the
    Hydra launcher and through slurm/submit_array.sh."""
    name = f"bench{os.getpid()}"
    start = time.perf_counter()
    launcher = subprocess.Popen(
        [sys.executable, "-m", "fidle_runs", "-m", "+experiment=gtsrb_full", *DATA,
         f"paths.data_dir={data_dir}", "hydra/launcher=slurm", "hydra.launcher.partition=local",
         f"hydra.launcher.name={name}", "+hydra.launcher.additional_parameters.hold=true",
         f"hydra.sweep.dir={work / 'submit24'}"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while squeue_count(name) < 24:
        if launcher.poll() is not None or time.perf_counter() - start > 300:
            raise SystemExit("the 24-run sweep was not queued")
        time.sleep(0.05)
    hydra_s = time.perf_counter() - start
    subprocess.run(["scancel", "-n", name], check=True)
    launcher.terminate()
    launcher.wait()

    env = {**os.environ, "SBATCH_PARTITION": "local", "SBATCH_HOLD": "1",
           "SBATCH_JOB_NAME": name, "FIDLE_PYTHON": sys.executable}
    start = time.perf_counter()
    subprocess.run(["bash", str(REPO / "slurm" / "submit_array.sh"), "+experiment=gtsrb_full",
                    *DATA], cwd=work, env=env, check=True, capture_output=True)
    array_s = time.perf_counter() - start
    queued = squeue_count(name)
    subprocess.run(["scancel", "-n", name], check=True)
    print(f" slurm 24-run gtsrb_full queued: {hydra_s:.1f}s through hydra/launcher=slurm, "
          f"{array_s:.1f}s through slurm/submit_array.sh ({queued} tasks)")


def requeue_to_resume(work: Path, data_dir: Path) -> None:
    """scancel --signal=USR1 (Slurm's warning) -> the requeued job resumes from last.ckpt."""
    env = {**os.environ, "SBATCH_PARTITION": "local", "FIDLE_PYTHON": sys.executable}
    job = subprocess.run(["sbatch", "--parsable", str(REPO / "slurm" / "run.sbatch"),
                          "+experiment=gtsrb_cnn", *DATA, "data.scale=0.5", "trainer.max_epochs=3",
                          f"paths.data_dir={data_dir}"], cwd=work, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    run_dir = work / "outputs" / "runs" / f"slurm-{job}"
    while not (run_dir / "checkpoints" / "last.ckpt").exists():
        time.sleep(0.05)
    signalled = time.perf_counter()
    subprocess.run(["scancel", "--signal=USR1", job], check=True)
    stopped = running_again = None
    while True:
        result = read_result(run_dir)
        now = time.perf_counter()
        if stopped is None and result.status == "interrupted":
            stopped = now
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True,
                               text=True).stdout.strip()
        if stopped is not None and running_again is None and state == "RUNNING":
            running_again = now
        if result.resumed == 1:
            break
        time.sleep(0.05)
    resumed = time.perf_counter()
    print(f" slurm requeue: signal -> run stopped {stopped - signalled:.1f}s, -> job running "
          f"again {running_again - signalled:.1f}s, -> training resumed from last.ckpt "
          f"{resumed - signalled:.1f}s")
    subprocess.run(["scancel", job], check=False)


def grid(work: Path, data_dir: Path, scale: float, epochs: int) -> None:
    """The scaled-down 24-run gtsrb_full grid, sequentially, then two runs at a time."""
    overrides = ["+experiment=gtsrb_full", *DATA, f"data.scale={scale}",
                 f"trainer.max_epochs={epochs}", f"paths.data_dir={data_dir}"]
    subprocess.run([sys.executable, "-m", "fidle_runs.prepare", *DATA, f"data.scale={scale}",
                    f"paths.data_dir={data_dir}"], cwd=work, check=True, capture_output=True)
    sequential = fidle_runs(*overrides, f"hydra.sweep.dir={work / 'grid-seq'}", cwd=work)
    parallel = fidle_runs(*overrides, "hydra/launcher=local_parallel",
                          f"hydra.sweep.dir={work / 'grid-par'}", cwd=work)
    for name in ("grid-seq", "grid-par"):
        done = [read_result(p) for p in (work / name).iterdir() if p.name.isdigit()]
        assert sum(r is not None and r.status == "completed" for r in done) == 24, name
    print(f" local gtsrb_full grid (24 runs, data.scale={scale}, {epochs} epoch(s)) on "
          f"{os.cpu_count()} cores: sequential {sequential:.0f}s, local_parallel n_jobs=2 "
          f"{parallel:.0f}s, ratio sequential/parallel {sequential / parallel:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-slurm", action="store_true")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--grid-scale", type=float, default=0.25)
    parser.add_argument("--grid-epochs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fidle-bench-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        subprocess.run([sys.executable, "-m", "fidle_runs.prepare", *DATA, "data.scale=0.5",
                        "sizes=[24]", "modes=[L]", f"paths.data_dir={data_dir}"], cwd=work,
                       check=True, capture_output=True)
        one_run_overhead(work, data_dir, [], "local")
        if not args.skip_slurm:
            one_run_overhead(work, data_dir, ["hydra/launcher=slurm",
                                              "hydra.launcher.partition=local"], "slurm")
            submit_24(work, data_dir)
            requeue_to_resume(work, data_dir)
        if not args.skip_grid:
            grid(work, data_dir, args.grid_scale, args.grid_epochs)


if __name__ == "__main__":
    main()
