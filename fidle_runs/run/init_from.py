"""`model.init_from=<run folder>`: a run that starts from scratch takes its first weights from
the best checkpoint of one of the user's own completed runs instead of its initialisation.

Every tensor of the new network whose name and shape match one of the source network's is
copied; the others stay as initialised (the classification head when the classes differ in
number, layers the source has not). A source of another input shape is refused: its
convolutions would fit but see other images. The source is named in result.json's
`init_from`: its folder, its checkpoint (relative to it) and that file's sha256, how many
tensors were copied and the names of those kept.

A relative folder is read from the directory the command was launched from (Hydra does not
change it: hydra.job.chdir=false). A resumed run takes its weights from its own checkpoint and
never reads its source again."""

from pathlib import Path
from typing import Any

import torch
from torch import nn

from fidle_runs.core.errors import UserError
from fidle_runs.models.pretrained.weights import sha256_of
from fidle_runs.store.result import RESULT_FILE, read_result
from fidle_runs.store.run_dir import checkpoint_path, checkpoint_record, read_checkpoint

KEY = "model.init_from"
# The task's module holds the network as `net` (fidle_runs.tasks.base): its checkpoint's keys.
NET_PREFIX = "net."


def init_from(given: str | None, net: nn.Module, shape: list[int]) -> dict[str, Any] | None:
    """Load into `net` (for samples of `shape`) the matching tensors of the best checkpoint of
    the run folder `given`; None when no source is given. Returns result.json's `init_from`
    record; a source that cannot be used is a UserError naming it and the fix."""
    if not given:
        return None
    run_dir = Path(given).expanduser()
    checkpoint = source_checkpoint(given, shape)
    state = _network_state(checkpoint, given)
    own = net.state_dict()
    matched = {name: state[NET_PREFIX + name] for name, tensor in own.items()
               if NET_PREFIX + name in state and state[NET_PREFIX + name].shape == tensor.shape}
    if not matched:
        raise UserError(f"{KEY}={given}: no tensor of its network matches this model's by name "
                        "and shape; start from a run of the same model")
    net.load_state_dict(matched, strict=False)
    return {"run": str(run_dir.resolve()), "checkpoint": checkpoint_record(run_dir, checkpoint),
            "sha256": sha256_of(checkpoint), "copied": len(matched),
            "kept_initialised": [name for name in own if name not in matched]}


def check_source(given: str, shape: list[int] | None) -> None:
    """Refuse a source that init_from would refuse, before a run writes anything: its best
    checkpoint is found and loads (its samples' shape checked when `shape` is known)."""
    _network_state(source_checkpoint(given, shape), given)


def source_checkpoint(given: str, shape: list[int] | None) -> Path:
    """The best checkpoint of the completed run folder `given`, once its samples are known to
    have `shape` (not checked when None: the data's shape is not known yet)."""
    run_dir = Path(given).expanduser()
    if not run_dir.is_dir():
        raise UserError(f"{KEY}={given}: no such folder; give the folder of one of your runs "
                        "(outputs/runs/<run>), relative to where the command is launched")
    source = read_result(run_dir)
    if source is None:
        raise UserError(f"{KEY}={given}: no readable {RESULT_FILE} there, so it is no run "
                        "folder; give the folder a run wrote its result.json in")
    if source.status != "completed":
        raise UserError(f"{KEY}={given}: that run is {source.status}, not completed"
                        f"{f' ({source.error})' if source.error else ''}; complete it (its "
                        "command launched again resumes it) or start from another run")
    trained_on = source.data.get("shape")
    if trained_on is not None and shape is not None and list(trained_on) != list(shape):
        raise UserError(f"{KEY}={given}: that run took samples of shape {tuple(trained_on)}, "
                        f"this data has {tuple(shape)}; start from a run on data of this shape "
                        "(the same image size and channels)")
    path = checkpoint_path(run_dir, source.checkpoints.get("best"))
    if path is None or not path.is_file():
        raise UserError(f"{KEY}={given}: that run has no best checkpoint "
                        f"({path or 'none recorded'}); start from a run trained with the "
                        "checkpoint callback, its checkpoints/ folder intact")
    return path


def _network_state(checkpoint: Path, given: str) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors (read without running code from it), by their module's names."""
    try:
        loaded = read_checkpoint(checkpoint)
    except UserError as e:
        raise UserError(f"{KEY}={given}: {e}; restore the file from a copy or start from "
                        "another run") from None
    state = loaded.get("state_dict") if isinstance(loaded, dict) else None
    if not isinstance(state, dict):
        raise UserError(f"{KEY}={given}: {checkpoint} holds no network weights (no state_dict); "
                        "start from another run")
    return state
