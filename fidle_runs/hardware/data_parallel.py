"""Which process of a data-parallel run this is, and whether a Slurm job's tasks match the
trainer's devices.

Data-parallel training runs one process per device: Slurm starts them (`srun`, one task per GPU,
`--ntasks-per-node` = `trainer.devices`, `--nodes` = `trainer.num_nodes`), or Lightning does on one
machine. Every process runs the same command, but the run directory has one owner: rank 0 alone
clears, writes (config.yaml, result.json), logs and requeues; the other ranks train and stay
quiet. The rank is read from the environment, so it is known before Lightning starts.
"""

import logging
import os

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from fidle_runs.core.errors import UserError


def process_rank() -> int:
    """This process's global rank (0 outside data-parallel runs), from what its launcher set:
    `RANK` (torchrun, Lightning's processes); else the node's rank (`NODE_RANK`, `GROUP_RANK`)
    and the local one (`LOCAL_RANK`), so that on a node other than the first even the local
    rank 0 is not the lead (Lightning sets no `LOCAL_RANK` in its first process of a node);
    else Slurm's task id (`SLURM_PROCID`)."""
    rank = _number("RANK")
    if rank is not None:
        return rank
    local, node = _number("LOCAL_RANK"), _number("NODE_RANK", "GROUP_RANK")
    if local is not None or node is not None:
        local, node = local or 0, node or 0
        per_node = _number("LOCAL_WORLD_SIZE") or local + 1
        return node * per_node + local
    return _number("SLURM_PROCID") or 0


def _number(*names: str) -> int | None:
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.isdigit():
            return int(value)
    return None


def is_lead_process() -> bool:
    """True in the process that owns the run directory (rank 0)."""
    return process_rank() == 0


def quiet_other_ranks() -> None:
    """Let only rank 0 say what the run does: the other ranks log errors only, so that every
    line of the run's log appears once."""
    if process_rank() != 0:
        logging.getLogger("fidle_runs").setLevel(logging.ERROR)


def check_slurm_layout(cfg: DictConfig) -> None:
    """Inside a Slurm job step, refuse tasks that do not match `trainer.devices` and
    `trainer.num_nodes` (one task per device), before any process waits for the others."""
    env = os.environ
    if "SLURM_NTASKS" not in env or env.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return
    devices = cfg.trainer.get("devices", 1)
    nodes = cfg.trainer.get("num_nodes", 1)
    tasks = int(env["SLURM_NTASKS"])
    per_node = env.get("SLURM_NTASKS_PER_NODE", "").split("(")[0]
    slurm_nodes = int(env.get("SLURM_NNODES", "1"))
    if not isinstance(devices, int):
        if tasks == 1:
            return  # one process: Lightning's own choice of devices ("auto", a list) stands
        raise UserError(f"trainer.devices={devices} in a Slurm job of {tasks} tasks: give the "
                        "number of devices per node, one task each, e.g. "
                        f"trainer.devices={tasks // slurm_nodes}")
    if tasks > 1 and not per_node:
        raise UserError(f"this Slurm job runs {tasks} tasks without --ntasks-per-node: submit "
                        f"with --nodes={slurm_nodes} --ntasks-per-node={tasks // slurm_nodes} "
                        "(one task per device), not --ntasks")
    if per_node and int(per_node) != devices and (tasks > 1 or devices > 1):
        raise UserError(f"this Slurm job runs {per_node} task(s) per node but "
                        f"trainer.devices={devices}: data-parallel training runs one task per "
                        f"device; set trainer.devices={per_node}, or submit with "
                        f"--ntasks-per-node={devices} --gres=gpu:{devices} (the hydra/launcher "
                        "presets follow trainer.devices)")
    if slurm_nodes != nodes and (tasks > 1 or nodes > 1):
        raise UserError(f"this Slurm job has {slurm_nodes} node(s) but "
                        f"trainer.num_nodes={nodes}: set trainer.num_nodes={slurm_nodes}, or "
                        f"submit with --nodes={nodes} (the hydra/launcher presets follow "
                        "trainer.num_nodes)")


def check_local_sweep(cfg: DictConfig) -> None:
    """Refuse data-parallel runs in a sweep outside Slurm: Lightning starts the other processes
    by running the command line again, and a sweep's command line would run the whole sweep in
    each of them."""
    if "SLURM_NTASKS" in os.environ or not HydraConfig.initialized():
        return
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    devices = cfg.trainer.get("devices", 1)
    several = (isinstance(devices, int) and devices > 1) or (
        not isinstance(devices, int | str) and len(devices) > 1)
    if several or cfg.trainer.get("num_nodes", 1) > 1:
        raise UserError(f"trainer.devices={devices} in a sweep on this machine: Lightning starts "
                        "the other processes of a data-parallel run by running the command "
                        "again, which would run the whole sweep in each; launch the sweep on "
                        "Slurm (hydra/launcher=slurm or a jeanzay preset: one task per device), "
                        "or run each configuration alone without -m")
