"""A trained run rebuilt from its directory: its data and network from config.yaml (through
fidle_runs.run.assemble, as training built them), the network sized as result.json recorded it was
trained, a checkpoint's weights, and the task's module around it, ready to predict. The one way
the report, `evaluate`, `predict` and `export` bring a run back.

With its data loaded (report, evaluate), the preprocessing the data computes again is compared
with what the checkpoint kept, and a difference is reported, not silently used. Without it
(predict, export), the checkpoint's kept preprocessing (z-score statistics, a vocabulary) is
installed in the datamodule so new inputs are transformed as training did."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fidle_runs.core.errors import UserError, one_line
from fidle_runs.store.result import RunResult, read_result
from fidle_runs.store.run_dir import (
    CONFIG_FILE,
    LAST_CHECKPOINT,
    checkpoint_path,
    read_saved_config,
)

SCHEMA_1_OUTPUTS = 43  # result.json before tasks recorded no n_outputs: GTSRB's classes
CHECKPOINTS = ("best", "last")


@dataclass
class RebuiltRun:
    datamodule: Any  # InMemoryDataModule: every split loaded, or only the kept preprocessing
    task: Any  # TaskModule in eval mode, the checkpoint's weights in its network
    checkpoint: Path
    cfg: Any = None  # the run's config.yaml (DictConfig)
    epoch: int | None = None  # the checkpoint's epoch (1-based: epochs completed)
    # Where the data loaded now differs from what the checkpoint kept (`encoding.mean[0]: ...`).
    data_difference: str | None = None


def read_run(run_dir: Path) -> RunResult:
    """The result.json of a run directory; UserError naming the directory when it is no run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a directory: give a run directory "
                        "(outputs/runs/<run>, a sweep's job folder)")
    result = read_result(run_dir)
    if result is None:
        raise UserError(f"{run_dir} is no run: it holds no readable result.json (a run "
                        "directory holds result.json, config.yaml and checkpoints/)")
    return result


def run_checkpoint(checkpoints: dict[str, Any] | None, run_dir: Path) -> Path:
    """The best checkpoint of the run in `run_dir` (`checkpoints`: its result.json's record),
    its last one when the best was deleted; UserError when none is left."""
    best = checkpoint_path(run_dir, (checkpoints or {}).get("best"))
    if best is not None and best.is_file():
        return best
    last = run_dir / LAST_CHECKPOINT
    if last.is_file():
        return last
    raise UserError("it has no checkpoint left (best and last.ckpt deleted)")


def named_checkpoint(result: RunResult, run_dir: Path, which: str) -> Path:
    """The run's `best` or `last` checkpoint, as asked; UserError saying why there is none (the
    run never completed an epoch, or the file was deleted)."""
    if which not in CHECKPOINTS:
        raise UserError(f"--checkpoint {which!r}: choose one of {', '.join(CHECKPOINTS)}")
    path = (checkpoint_path(run_dir, (result.checkpoints or {}).get("best")) if which == "best"
            else Path(run_dir) / LAST_CHECKPOINT)
    if path is not None and path.is_file():
        return path
    if result.epochs == 0:
        raise UserError(f"{run_dir} never completed an epoch ({result.status}): it has no "
                        "checkpoint to use; train it first (launch its command again)")
    other = "last" if which == "best" else "best"
    raise UserError(f"{run_dir}: its {which} checkpoint {path or '(none recorded)'} is missing: "
                    f"restore it, or use --checkpoint {other}")


def load_run(run_dir: Path, which: str = "best", load_data: bool = False,
             device: str = "cpu") -> tuple[RunResult, RebuiltRun]:
    """The run of `run_dir` with its `which` checkpoint, its data loaded or not, on `device`."""
    result = read_run(run_dir)
    checkpoint = named_checkpoint(result, Path(run_dir), which)
    run = rebuild_run(Path(run_dir), result.data or {}, checkpoint, load_data)
    run.task.to(device)
    return result, run


def rebuild_run(run_dir: Path, data: dict[str, Any], checkpoint: Path,
                load_data: bool = True) -> RebuiltRun:
    """The run of `run_dir` whose result.json records `data`, with `checkpoint`'s weights, its
    data loaded (every split) or only the checkpoint's kept preprocessing installed. The data
    is loaded as training loads it, prepared first (prepare_data: a prepared set that was
    cleaned since is built again). Raises UserError naming what cannot be rebuilt (config, data,
    checkpoint)."""
    from fidle_runs.data.kept_state import first_difference
    from fidle_runs.run.assemble import build_datamodule, build_network, build_task_module

    config = run_dir / CONFIG_FILE
    if not config.is_file():
        raise UserError(f"it has no {CONFIG_FILE} to rebuild its data and network from")
    cfg = read_saved_config(run_dir)
    saved = _load_checkpoint(checkpoint)
    datamodule = build_datamodule(cfg)
    kept = saved.get(type(datamodule).__qualname__) or {}
    difference = None
    if load_data:
        try:
            datamodule.prepare_data()
            datamodule.setup("test")
        except UserError:
            raise
        except Exception as e:  # a family's loader fails in its own ways; one line
            raise UserError(f"its data cannot be loaded again ({type(e).__name__}: {e})"
                            ) from None
        difference = first_difference(kept, datamodule.kept_state()) if kept else None
    elif kept:
        datamodule.install_kept_state(kept)
    dims = {"in_shape": tuple(data.get("shape") or datamodule.dims["in_shape"]),
            "n_outputs": data.get("n_outputs", SCHEMA_1_OUTPUTS)}
    net = build_network(cfg, dims, datamodule.name)
    try:
        net.load_state_dict({k.removeprefix("net."): v for k, v in saved["state_dict"].items()
                             if k.startswith("net.")})
    except (KeyError, RuntimeError) as e:
        raise UserError(f"its checkpoint {checkpoint} does not fit the network its config "
                        f"builds ({one_line(e)})") from None
    task = build_task_module(cfg, net, datamodule, dims["n_outputs"]).eval()
    epoch = saved.get("epoch")
    return RebuiltRun(datamodule, task, checkpoint, cfg,
                      None if epoch is None else int(epoch) + 1, difference)


def _load_checkpoint(checkpoint: Path) -> dict[str, Any]:
    import torch

    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load fails on a damaged file with many different errors
        raise UserError(f"its checkpoint {checkpoint} cannot be loaded ({one_line(e)})"
                        ) from None
    if not isinstance(saved, dict) or "state_dict" not in saved:
        raise UserError(f"{checkpoint} is no Lightning checkpoint (no state_dict in it)")
    return saved
