"""Where fidle_runs' modules moved when its top level was regrouped into packages (core, store,
config, run, launch, hardware). A run saved before names the old dotted paths in its config.yaml
(the trainer's checkpoint plugin, `fidle_runs.checkpoint_io.AtomicCheckpointIO`): every saved
config is read through `current_paths`, so such a run resumes, is skipped when complete, and is
rebuilt by evaluate, predict, export and the report."""

from typing import Any

MOVED_MODULES = {
    "fidle_runs.errors": "fidle_runs.core.errors",
    "fidle_runs.atomic": "fidle_runs.core.atomic",
    "fidle_runs.strict_json": "fidle_runs.core.strict_json",
    "fidle_runs.storage": "fidle_runs.core.storage",
    "fidle_runs.progress": "fidle_runs.core.progress",
    "fidle_runs.lightning_noise": "fidle_runs.core.lightning_noise",
    "fidle_runs.result": "fidle_runs.store.result",
    "fidle_runs.run_dir": "fidle_runs.store.run_dir",
    "fidle_runs.checkpoint_io": "fidle_runs.store.checkpoint_io",
    "fidle_runs.config": "fidle_runs.config.conf",
    "fidle_runs.assemble": "fidle_runs.run.assemble",
    "fidle_runs.train": "fidle_runs.run.train",
    "fidle_runs.rebuild": "fidle_runs.run.rebuild",
    "fidle_runs.prepare": "fidle_runs.run.prepare_sets",
    "fidle_runs.requeue": "fidle_runs.launch.requeue",
    "fidle_runs.slurm_presets": "fidle_runs.launch.slurm_presets",
    "fidle_runs.writable_outputs": "fidle_runs.launch.writable_outputs",
    "fidle_runs.sweep_plan": "fidle_runs.launch.sweep_plan",
    "fidle_runs.search": "fidle_runs.launch.search",
    "fidle_runs.speed": "fidle_runs.hardware.speed",
    "fidle_runs.cpu_allocator": "fidle_runs.hardware.cpu_allocator",
    "fidle_runs.gpu_slots": "fidle_runs.hardware.gpu_slots",
    "fidle_runs.data_parallel": "fidle_runs.hardware.data_parallel",
    "fidle_runs.sweep_summary": "fidle_runs.report.sweep_summary",
}


def current_path(dotted: str) -> str:
    """`fidle_runs.checkpoint_io.AtomicCheckpointIO` -> `fidle_runs.store.checkpoint_io.
    AtomicCheckpointIO`; a path that did not move is returned as it is."""
    for old, new in MOVED_MODULES.items():
        if dotted.startswith(old + "."):
            return new + dotted[len(old):]
    return dotted


def current_paths(config: Any) -> Any:
    """A saved config (plain containers) with every `_target_` that names a moved module
    replaced by its current path."""
    if isinstance(config, dict):
        return {key: current_path(value) if key == "_target_" and isinstance(value, str)
                else current_paths(value) for key, value in config.items()}
    if isinstance(config, list):
        return [current_paths(value) for value in config]
    return config
