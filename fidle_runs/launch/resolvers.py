"""The resolvers conf/ uses for values known only at launch: run and job folder names, the output
root and task layout on Slurm, Jean Zay's QOS and account, the runs that share a GPU, and the
direction of a task's primary metric, which its task module declares (`SCORES`)."""

import hydra
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
                 "fidle_gpu_runs": gpu_slots.runs_at_once_here,
                 "fidle_score_mode": score_mode, "fidle_score_fraction": score_fraction}
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            # Cached: a sweep's jobs (even requeued ones) resolve the launch-time value.
            OmegaConf.register_new_resolver(name, resolver, use_cache=True)


def score_mode(task_target: str, name: str) -> str | None:
    """`max` or `min`: how the task module `task_target` declares test metric `name`
    (`test_f1_macro`, or a target's `test_mae_MEDV`); None when it declares no such score, which
    fidle_runs.run.assemble.check_primary refuses in one line."""
    declared = declared_score(task_target, name)
    return declared[0] if declared else None


def score_fraction(task_target: str, name: str) -> bool | None:
    """Whether the task declares metric `name`'s values fractions (shown as %)."""
    declared = declared_score(task_target, name)
    return declared[1] if declared else None


def declared_score(task_target: str, name: str) -> tuple[str, bool] | None:
    """(mode, fraction) of a test metric from the task module's SCORES: the score itself
    (`test_acc`: acc), or the score of one target (`test_mae_MEDV`: mae)."""
    scores = getattr(hydra.utils.get_class(task_target), "SCORES", {})
    measure = str(name).removeprefix("test_")
    if measure in scores:
        return scores[measure]
    prefixes = [score for score in scores if measure.startswith(f"{score}_")]
    return scores[max(prefixes, key=len)] if prefixes else None
