"""A trained run rebuilt from its directory: its data and network from config.yaml (through
fidle_runs.assemble, as training built them), the network sized as result.json recorded it was
trained, a checkpoint's weights, and the task's module around it, ready to predict. The one way
the report (and later evaluation and prediction) bring a run back."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fidle_runs.errors import UserError
from fidle_runs.run_dir import CONFIG_FILE, LAST_CHECKPOINT

SCHEMA_1_OUTPUTS = 43  # result.json before tasks recorded no n_outputs: GTSRB's classes


@dataclass
class RebuiltRun:
    datamodule: Any  # InMemoryDataModule, its test split loaded
    task: Any  # TaskModule in eval mode, the checkpoint's weights in its network
    checkpoint: Path


def run_checkpoint(checkpoints: dict[str, Any] | None, run_dir: Path) -> Path:
    """The run's best checkpoint, its last one when the best was deleted; UserError when none
    is left."""
    best = (checkpoints or {}).get("best")
    if best and Path(best).is_file():
        return Path(best)
    last = run_dir / LAST_CHECKPOINT
    if last.is_file():
        return last
    raise UserError("it has no checkpoint left (best and last.ckpt deleted)")


def rebuild_run(run_dir: Path, data: dict[str, Any], checkpoint: Path) -> RebuiltRun:
    """The run of `run_dir` whose result.json records `data`, with `checkpoint`'s weights.
    Raises UserError naming what cannot be rebuilt (config, data, checkpoint)."""
    import torch
    from omegaconf import OmegaConf

    from fidle_runs.assemble import build_datamodule, build_network, build_task_module

    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise UserError(f"it has no {CONFIG_FILE} to rebuild its data and network from")
    cfg = OmegaConf.load(config)
    try:
        datamodule = build_datamodule(cfg)
        datamodule.setup("test")
    except UserError:
        raise
    except Exception as e:  # a family's loader fails in its own ways; one line, not a traceback
        raise UserError(f"its test set cannot be loaded again ({type(e).__name__}: {e})") from None
    dims = {"in_shape": tuple(data.get("shape") or datamodule.dims["in_shape"]),
            "n_outputs": data.get("n_outputs", SCHEMA_1_OUTPUTS)}
    net = build_network(cfg, dims, datamodule.name)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
        net.load_state_dict({k.removeprefix("net."): v for k, v in state.items()
                             if k.startswith("net.")})
    except Exception as e:  # torch.load fails on a damaged file with many different errors
        raise UserError(f"its checkpoint {checkpoint} cannot be loaded ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''})") from None
    task = build_task_module(cfg, net, datamodule, dims["n_outputs"]).eval()
    return RebuiltRun(datamodule, task, checkpoint)
