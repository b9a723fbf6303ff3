"""What the configs need besides YAML: where conf/ is, our resolvers, and the hyper-parameter
checks that must fail before any data is touched."""

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fidle_runs import gpu_slots, slurm_presets
from fidle_runs.errors import UserError
from fidle_runs.requeue import slurm_job
from fidle_runs.run_dir import NOT_PART_OF_THE_RUN

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
MAX_JOB_DIR = 200  # of the 255 bytes a file name may have


def run_name() -> str:
    """A run directory name unique among runs started together, and stable across a Slurm requeue.

    Under Slurm: `slurm-<job>` or `slurm-<array job>_<task>` (the ids survive a requeue).
    Elsewhere: a timestamp plus a random suffix, so runs started in the same second differ.
    """
    job = slurm_job()
    if job is not None:
        return f"slurm-{job}"
    return f"{dt.datetime.now():%Y-%m-%d_%H-%M-%S}_{secrets.token_hex(3)}"


def sweep_job_dir(overrides: Sequence[str]) -> str:
    """A sweep job's folder, named after what the job is: its overrides, sorted, without those
    that only say how or where to launch (`rerun`, `paths.*`). A sweep launched again with other
    values trains them in new folders and finds its earlier jobs by name, whatever their order.
    Names that would be too long or need escaping get a hash of the overrides instead of a
    tail."""
    kept = sorted(o for o in overrides if not _launch_only(o.split("=", 1)[0].lstrip("+~")))
    name = ",".join(kept) or "defaults"
    safe = re.sub(r"[^A-Za-z0-9._=,+-]", "_", name)
    if safe == name and len(name) <= MAX_JOB_DIR:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{safe[:MAX_JOB_DIR - 11]}-{digest}"


def _launch_only(key: str) -> bool:
    """`rerun`, `speed.compile`, `paths.data_dir`, `hydra.launcher.n_jobs`, `hydra/launcher`..."""
    return re.split(r"[./]", key)[0] in (*NOT_PART_OF_THE_RUN, "paths", "hydra")


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


def check_config(cfg: DictConfig) -> None:
    """Reject impossible hyper-parameters with the key to fix, before anything is built."""
    lr = OmegaConf.select(cfg, "optimizer.lr")
    if lr is not None and not (isinstance(lr, int | float) and lr > 0):
        raise UserError(f"optimizer.lr={lr} is invalid: the learning rate must be > 0, "
                        "e.g. optimizer.lr=0.001")
    max_epochs = OmegaConf.select(cfg, "trainer.max_epochs")
    if not (isinstance(max_epochs, int) and max_epochs >= 1):
        raise UserError(f"trainer.max_epochs={max_epochs} is invalid: it must be an integer >= 1")
    seed = cfg.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise UserError(f"seed={seed!r} is invalid: it must be an integer, e.g. seed=0")
    if "name" not in cfg.get("model", {}):
        models = "|".join(sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml")))
        raise UserError(f"the model config has no name: choose one with model={models}")


def build(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, with a UserError raised inside passed through as it is and
    any other construction error reported as the config key to fix."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        reason = f"{type(cause).__name__}: {cause}" if cause else str(e).splitlines()[0]
        raise UserError(f"cannot build {key} ({node.get('_target_')}): {reason}; fix the "
                        f"{key}.* settings") from e
