"""`python -m fidle_runs.sweep_plan [overrides]`: what a sweep would launch, without launching it.

Takes the overrides of `python -m fidle_runs -m ...` and prints the jobs Hydra's basic sweeper
would make (experiment-defined sweeper params included), or for a search
(`+hparams_search=...`) its plan (fidle_runs.launch.search.plan), and, with a Slurm launcher
(`hydra/launcher=slurm|jeanzay_*`), the submitit parameters and the sbatch script it would
submit. slurm/array.sbatch uses `--count` (number of jobs) and `--job N` (overrides of job N).
"""

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from fidle_runs.config.conf import CONF_DIR
from fidle_runs.core.command_line import user_errors
from fidle_runs.launch.job_dirs import sweep_job_dir
from fidle_runs.launch.resolvers import register_resolvers
from fidle_runs.launch.search.plan import is_search, search_plan

SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
# Keys the hydra-submitit-launcher hands to submitit.AutoExecutor unprefixed (BaseQueueConf).
BASE_QUEUE_KEYS = {"timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb",
                   "nodes", "name", "stderr_to_stdout"}


def expand(overrides: list[str]) -> tuple[DictConfig, list[list[str]]]:
    """The composed config (with `hydra`) and the override list of each job, in job order.

    The config is composed from the overrides that are not sweeps: the experiment they choose
    may define `hydra.sweeper.params`, which come first and are overridden by the command line,
    as in Hydra's BasicSweeper.
    """
    register_resolvers()
    parser = OverridesParser.create()
    parsed = parser.parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=fixed, return_hydra_config=True)
    if is_search(cfg):  # its params are distributions; its trials are drawn as it runs
        return cfg, []
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    defined = [f"{key}={value}" for key, value in params.items()]
    batches = BasicSweeper.split_arguments(parser.parse_overrides(defined + overrides), None)
    return cfg, [list(job) for job in batches[0]]


def submitit_parameters(launcher: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(executor init parameters, job parameters) exactly as the hydra-submitit-launcher builds
    them from `hydra.launcher`."""
    params = OmegaConf.to_container(launcher, resolve=True)
    params.pop("_target_", None)
    init = {"folder": params.pop("submitit_folder"),
            "slurm_max_num_timeout": params.pop("max_num_timeout")}
    job = {key if key in BASE_QUEUE_KEYS else f"slurm_{key}": value
           for key, value in params.items()}
    return init, job


def sbatch_script(cfg: DictConfig, n_jobs: int) -> str:
    """The sbatch script submitit would write for a sweep of `n_jobs` runs (built here without
    an executor, which needs srun on the machine)."""
    from submitit.slurm.slurm import SlurmExecutor, _convert_mem, _make_sbatch_string

    init, job = submitit_parameters(cfg.hydra.launcher)
    renamed = SlurmExecutor._equivalence_dict()
    sbatch = {renamed.get(key, key.removeprefix("slurm_")): value for key, value in job.items()}
    if sbatch.get("mem") is not None:
        sbatch["mem"] = _convert_mem(sbatch["mem"])
    folder = str(Path(init["folder"]).absolute())  # as submitit's executor makes it
    command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(folder)}"
    return _make_sbatch_string(command=command, folder=folder, map_count=n_jobs, **sbatch)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fidle_runs.sweep_plan",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--count", action="store_true", help="print the number of jobs only")
    parser.add_argument("--job", type=int, help="print the overrides of job N only (from 0)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    cfg, jobs = expand(args.overrides)
    if is_search(cfg):
        print_search(cfg, args.count or args.job is not None)
        return
    if args.count:
        print(len(jobs))
        return
    if args.job is not None:
        if not 0 <= args.job < len(jobs):
            raise SystemExit(f"fidle_runs.sweep_plan: error: --job {args.job} is out of range: "
                             f"this sweep has {len(jobs)} jobs (0 to {len(jobs) - 1})")
        print(shlex.join(jobs[args.job]))
        return
    print(f"{len(jobs)} jobs, sweep directory {cfg.hydra.sweep.dir}")
    for number, job in enumerate(jobs):
        print(f"  #{number}: {shlex.join(job)}\n       in {sweep_job_dir(job)}/")
    launcher = cfg.hydra.launcher
    print(f"launcher: {launcher._target_}")
    if launcher._target_ == SLURM_LAUNCHER:
        init, job = submitit_parameters(launcher)
        print("submitit executor:", init)
        print("submitit parameters:", job)
        print(f"sbatch script (written to {Path(init['folder']).parent}/):")
        print(sbatch_script(cfg, len(jobs)))
    print("dry run: nothing was submitted")


def print_search(cfg: DictConfig, as_array: bool) -> None:
    if as_array:
        raise SystemExit("fidle_runs.sweep_plan: error: a search draws its trials as it runs, "
                         "from the process that launches them (python -m fidle_runs -m ...): it "
                         "cannot be a job array (--count, --job); use a Slurm launcher preset")
    with user_errors("fidle_runs.sweep_plan"):
        lines = search_plan(cfg)
    print("\n".join(lines))
    print(f"launcher: {cfg.hydra.launcher._target_}")
    print("dry run: nothing was run")
