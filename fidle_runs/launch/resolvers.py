"""The resolvers conf/ uses for values known only at launch: run and job folder names, the output
root and task layout on Slurm, Jean Zay's QOS and account, the runs that share a GPU."""

from omegaconf import OmegaConf

from fidle_runs.hardware import gpu_slots
from fidle_runs.launch import slurm_presets
from fidle_runs.launch.job_dirs import run_name, sweep_job_dir


def register_resolvers() -> None:
    resolvers = {"fidle_run_name": run_name, "fidle_job_dir": sweep_job_dir,
                 "fidle_output_root": slurm_presets.output_root,
                 "fidle_tasks_per_node": slurm_presets.tasks_per_node,
                 "jeanzay_qos": slurm_presets.jeanzay_qos,
                 "jeanzay_account": slurm_presets.jeanzay_account,
                 "fidle_gpu_runs": gpu_slots.runs_at_once_here}
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            # Cached: a sweep's jobs (even requeued ones) resolve the launch-time value.
            OmegaConf.register_new_resolver(name, resolver, use_cache=True)
