"""Resolvers behind the Slurm launcher presets (conf/hydra/launcher/): tasks per node from the
trainer's devices, Jean Zay's QoS chosen from the time limit, its account from $IDRPROJ, and run
outputs on $SCRATCH where there is one."""

import os
from typing import NoReturn

# Jean Zay QoS per GPU kind, as IDRIS documents them: (longest job in minutes, QoS), shortest
# first.
JEANZAY_QOS = {
    "v100": [(120, "qos_gpu-dev"), (1200, "qos_gpu-t3"), (6000, "qos_gpu-t4")],
    "a100": [(120, "qos_gpu_a100-dev"), (1200, "qos_gpu_a100-t3")],
    "h100": [(120, "qos_gpu_h100-dev"), (1200, "qos_gpu_h100-t3"), (6000, "qos_gpu_h100-t4")],
}


def refuse(problem: str) -> NoReturn:
    """Stop the launch with one line. A SystemExit, not a ValueError: OmegaConf and Hydra turn an
    exception raised in a resolver into a traceback of several screens, and let a SystemExit
    through as it is."""
    raise SystemExit(f"fidle_runs: error: {problem}")


def tasks_per_node(devices: object, gpus_per_node: object) -> int:
    """Slurm tasks per node for `trainer.devices`: one task per device, as Lightning's Slurm
    environment expects. Refuses a device count Slurm cannot be asked for, and a
    `hydra.launcher.gpus_per_node` that disagrees."""
    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        refuse(f"trainer.devices={devices} under a Slurm launcher: give the number of GPUs "
               "per node, one task each, e.g. trainer.devices=1 or 4")
    if gpus_per_node is not None and gpus_per_node != devices:
        refuse(f"hydra.launcher.gpus_per_node={gpus_per_node} but trainer.devices={devices}: "
               "data-parallel training runs one task per GPU; set "
               f"trainer.devices={gpus_per_node}, or drop hydra.launcher.gpus_per_node (the "
               "presets ask for trainer.devices GPUs)")
    return devices


def jeanzay_qos(gpu: str, timeout_min: int) -> str:
    """The shortest-queue QoS that allows `timeout_min` on `gpu` (dev up to 2 h, t3 up to 20 h,
    t4 up to 100 h)."""
    if gpu not in JEANZAY_QOS:
        refuse(f"unknown Jean Zay GPU kind {gpu!r}: use one of {sorted(JEANZAY_QOS)}")
    for limit, qos in JEANZAY_QOS[gpu]:
        if int(timeout_min) <= limit:
            return qos
    longest = JEANZAY_QOS[gpu][-1][0]
    refuse(f"hydra.launcher.timeout_min={timeout_min} exceeds the longest {gpu} QoS "
           f"({longest} min): lower it; runs resume after a requeue anyway")


def jeanzay_account(gpu: str) -> str | None:
    """`<project>@<gpu>` from $IDRPROJ (Jean Zay's default project); None lets Slurm pick the
    user's default account."""
    project = os.environ.get("IDRPROJ")
    return f"{project}@{gpu}" if project else None


def output_root() -> str:
    """`$SCRATCH/fidle_runs` when $SCRATCH names an existing folder (clusters: fast, and no inode
    quota as on $WORK), else `outputs` in the launch directory; absolute, so that a run's
    config.yaml says where its data is whatever directory a report is made from."""
    scratch = os.environ.get("SCRATCH")
    if scratch and os.path.isdir(scratch):
        return os.path.join(os.path.abspath(scratch), "fidle_runs")
    return os.path.abspath("outputs")
