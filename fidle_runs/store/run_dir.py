"""The run directory's lifecycle: one run per directory, identified by its config.

- A completed run is never overwritten (rerun=true sets it aside first).
- A run that trained something (an epoch checkpointed, or completed) resumes only with the config
  it was started with; one that never completed an epoch may start again with another config.
- What a killed attempt left behind is cleared before the next one starts: logs and checkpoints
  of an attempt that checkpointed nothing, checkpoints that last.ckpt does not name, temporary
  files of interrupted writes.
- Paths under the run's own folders are compared relative to them, so a moved or copied run
  directory resumes; where data is looked for or cached is no part of the run (run_identity).
- result.json records the run's checkpoints relative to the run directory, and a recorded
  checkpoint is always read in the directory its result.json was found in (checkpoint_path): a
  moved, copied or set-aside run uses its own files.
- A torn last.ckpt (a crashed node, a full quota, an interrupted copy) is replaced by the most
  advanced intact checkpoint beside it, with a warning saying how many epochs are trained again,
  and kept as `last.ckpt.torn-<time>`; with none intact, the run stops with one line. Nothing is
  deleted.
"""

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fidle_runs.core import atomic
from fidle_runs.core.errors import UserError
from fidle_runs.store.moved_code import current_paths
from fidle_runs.store.result import FINISHED, RunResult

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = Path(CHECKPOINT_DIR) / "last.ckpt"
# Top-level keys that say how to launch, not what the run is (`search`: which study a trial
# reports to, fidle_runs.launch.search.pruning).
NOT_PART_OF_THE_RUN = ("rerun", "gpu_sharing", "speed", "search")
LOG_FILE = "fidle_runs.log"  # hydra.job.name + .log, written by Hydra's job logging
LAUNCH_MARK = ".launched"  # touched by each sweep job when its launch reaches it
# `paths` entries under which a run's own files, its data caches or the datasets tree lie;
# values below them are compared relative.
RELOCATABLE_ROOTS = ("run_dir", "output_root", "data_dir", "datasets_dir")
# Keys of the `data` group that say only where data is looked for or cached, or how a prepared
# image set is read (from memory or disk: the same batches in the same order); see run_identity.
DATA_LOCATIONS = ("datasets_dir", "download_dir", "prepared_dir", "synthetic_dir", "search_dirs",
                  "read_from", "memory_share", "loader_workers")
# Keys of `model.net` that say only where weights files are looked for: the file found is named
# by its sha256 in result.json.
WEIGHTS_LOCATIONS = ("weights_dirs",)
# result.json's `data` keys that a resumed run's data must match (check_same_data).
RESUMED_DATA_KEYS = ("name", "family", "source", "shape", "n_outputs", "n_train", "n_val",
                     "n_test")
# Callbacks that watch a run without changing what it trains (a progress display, the learning
# rate logged, the stop on a non-finite loss): a run resumes under other settings of theirs, and
# a run saved before one of them existed resumes with it.
WATCHING_CALLBACKS = ("progress", "learning_rate_monitor", "divergence")


def mark_launched(run_dir: Path) -> None:
    """Record that a launch of a sweep reached this job (its summary lists only those jobs)."""
    path = Path(run_dir) / LAUNCH_MARK
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def launched_since(run_dir: Path, when: dt.datetime) -> bool:
    try:
        return (Path(run_dir) / LAUNCH_MARK).stat().st_mtime >= when.timestamp()
    except OSError:
        return False


def last_checkpoint(run_dir: Path) -> Path | None:
    path = Path(run_dir) / LAST_CHECKPOINT
    return path if path.is_file() else None


def recorded_checkpoints(run_dir: Path, best: str | None) -> dict[str, str | None]:
    """result.json's `checkpoints` block: the best checkpoint (`best`, as Lightning names it)
    and last.ckpt, each relative to the run directory, so that the record stays true once the
    directory is moved, copied or set aside."""
    last = last_checkpoint(run_dir)
    return {"best": checkpoint_record(run_dir, Path(best)) if best else None,
            "last": checkpoint_record(run_dir, last) if last else None}


def checkpoint_record(run_dir: Path, path: Path) -> str:
    """`path` as result.json records it: relative to the run directory
    (`checkpoints/best-epoch003-val_acc0.9120.ckpt`); absolute only for a file outside it."""
    try:
        return Path(path).resolve().relative_to(Path(run_dir).resolve()).as_posix()
    except ValueError:
        return str(path)


def checkpoint_path(run_dir: Path, recorded: str | None) -> Path | None:
    """The file of a checkpoint result.json records (None when it records none), in `run_dir`,
    the directory that result.json was found in: a relative record below it, an absolute one
    (written before records were relative) by its name in its checkpoints/ folder. Never the
    absolute place itself: once the run is moved, copied or set aside (rerun=true) that is
    another directory's file, or none."""
    if not recorded:
        return None
    path = Path(recorded)
    return Path(run_dir) / (Path(CHECKPOINT_DIR) / path.name if path.is_absolute() else path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's state, its tensors mapped from the file rather than read (cheap for a
    large one). Raises UserError when the file is torn or is no checkpoint."""
    import pickle
    import zipfile

    import torch  # the report reads this module's names without loading torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError,
            zipfile.BadZipFile) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} is torn or is not a checkpoint ({reason})") from None


def resume_point(run_dir: Path, trained: int, lead: bool) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint to resume from and its state: last.ckpt, or when it is torn the most
    advanced intact checkpoint beside it. None when there is no last.ckpt. `trained`: epochs the
    run's result.json counts. The lead process keeps the torn file's bytes under another name
    (a hard link: every rank still finds last.ckpt torn and decides alike, and the new last.ckpt
    that replaces it leaves them)."""
    last = last_checkpoint(run_dir)
    if last is None:
        return None
    try:
        return last, read_checkpoint(last)
    except UserError as torn:
        intact = []
        for path in sorted(last.parent.glob("*.ckpt")):
            if path != last:
                try:
                    intact.append((read_checkpoint(path)["global_step"], path))
                except (UserError, KeyError):
                    continue
        if not intact:
            raise UserError(f"{torn}, and no intact checkpoint is beside it: restore it from a "
                            "copy to resume, or move the run directory away and launch again to "
                            "start over") from None
        _, path = max(intact)
        state = read_checkpoint(path)
        kept = last.with_name(f"{last.name}.torn-{dt.datetime.now():%Y-%m-%d_%H-%M-%S}")
        if lead:
            _keep_copy(last, kept)
        epochs = int(state["epoch"]) + 1
        log.warning("%s; resuming from %s (epoch %d): %d epoch(s) are trained again; the torn "
                    "file is kept as %s", torn, path.name, epochs, max(trained - epochs, 0),
                    kept.name)
        return path, state


def _keep_copy(path: Path, kept: Path) -> None:
    try:
        os.link(path, kept)
    except OSError:
        shutil.copy2(path, kept)


def read_saved_config(run_dir: Path) -> DictConfig:
    """The config.yaml a run saved, its `_target_`s read at their current paths (a run saved
    before the code moved names the old ones: fidle_runs.store.moved_code)."""
    saved = OmegaConf.to_container(OmegaConf.load(Path(run_dir) / CONFIG_FILE))
    return OmegaConf.create(current_paths(saved))


def check_same_run(run_dir: Path, cfg: DictConfig, previous: RunResult | None) -> None:
    """Refuse `cfg` when the directory holds a run that trained something with another config."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return
    difference = _first_difference(run_identity(read_saved_config(run_dir)), run_identity(cfg))
    if difference is None:
        return
    key, before, now = difference
    trained = last_checkpoint(run_dir) is not None or (
        previous is not None and (previous.status in FINISHED or previous.epochs > 0))
    if not trained:
        log.warning("%s held a run started with %s=%r that never completed an epoch: starting "
                    "again with %s=%r", run_dir, key, before, key, now)
        return
    if previous is not None and previous.status in FINISHED and cfg.get("rerun", False):
        return
    raise UserError(f"{run_dir} holds a run started with {key}={before!r}, not {now!r}: resume "
                    "it with its own config, choose another hydra.run.dir, or rerun=true to set "
                    "it aside and train this config there")


def run_identity(cfg: DictConfig) -> dict[str, Any]:
    """What makes a run this run: its resolved config without the launch keys, `paths`, the
    data keys that only say where data is looked for or cached (DATA_LOCATIONS), the folders
    searched for a network's weights (WEIGHTS_LOCATIONS) and the callbacks that only watch it
    (WATCHING_CALLBACKS), with every
    path under the run directory, the output root, the data cache or the datasets tree written
    relative to it (`${paths.run_dir}/checkpoints`).

    Where things are looked for changes with the machine and the account (FIDLE_DATASETS_DIR,
    $SCRATCH) and says nothing of what is trained: the data read there is named by the keys
    that stay (`source`, `size`, `scale`, the seeds...), a resumed run's data is checked against
    the preprocessing its checkpoint kept (InMemoryDataModule.load_state_dict), and `evaluate`
    names a data file or sample counts other than those result.json recorded. `raw_dir`, `path`
    and `h5_file` stay: they name which files are the data, not where a named set is found
    (relative to the datasets tree when they lie in it)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    paths = config.get("paths") or {}
    roots = sorted(((str(paths[k]).rstrip("/"), f"${{paths.{k}}}") for k in RELOCATABLE_ROOTS
                    if paths.get(k)), key=lambda root: -len(root[0]))

    def relative(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: relative(v) for k, v in value.items()}
        if isinstance(value, list):
            return [relative(v) for v in value]
        if isinstance(value, str):
            for root, name in roots:
                if value == root or value.startswith(root + "/"):
                    return name + value[len(root):]
        return value

    identity = {k: relative(v) for k, v in config.items()
                if k not in NOT_PART_OF_THE_RUN and k != "paths"}
    if isinstance(identity.get("data"), dict):
        identity["data"] = {k: v for k, v in identity["data"].items()
                            if k not in DATA_LOCATIONS}
    model = identity.get("model")
    if isinstance(model, dict):
        # No init_from is what every run did before the key existed.
        model = {k: v for k, v in model.items() if not (k == "init_from" and v is None)}
        if isinstance(model.get("net"), dict):
            model["net"] = {k: v for k, v in model["net"].items() if k not in WEIGHTS_LOCATIONS}
        identity["model"] = model
    if isinstance(identity.get("callbacks"), dict):
        identity["callbacks"] = {k: v for k, v in identity["callbacks"].items()
                                 if k not in WATCHING_CALLBACKS}
    primary = (identity.get("task") or {}).get("primary")
    if isinstance(primary, dict):
        # Older configs listed the primary metric's baselines here; the task module names
        # them now, and they never changed what a run trains.
        identity["task"] = {**identity["task"],
                            "primary": {k: v for k, v in primary.items() if k != "baselines"}}
    return identity


def group_id(cfg: DictConfig) -> str:
    """What the runs that differ only by their seed share, and runs of any other difference
    never do: a short hash of run_identity without `seed`. The report groups seeds by it."""
    identity = run_identity(cfg)
    identity.pop("seed", None)
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_same_data(run_dir: Path, trained_on: dict[str, Any], loaded: dict[str, Any]) -> None:
    """Refuse to resume a run on data other than what it trained on. Where the data is looked
    for is no part of a run (run_identity), so what was loaded is checked instead: the
    set, its source (real or synthetic: `data.source=auto` takes whichever it finds) and
    its counts, as result.json recorded them. A family's kept preprocessing is checked
    apart, against the checkpoint (InMemoryDataModule.load_state_dict)."""
    for key in RESUMED_DATA_KEYS:
        if key in trained_on and trained_on[key] != loaded.get(key):
            raise UserError(f"{run_dir} was trained on data with {key}={trained_on[key]!r}, "
                            f"but the data found now has {key}={loaded.get(key)!r}: resume it "
                            "where its data is (FIDLE_DATASETS_DIR, data.raw_dir), or move the "
                            "directory away and launch again to start over")


def _first_difference(a: Any, b: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            found = _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found is not None:
                return found
        return None
    return None if a == b else (prefix.rstrip("."), a, b)


def save_config(run_dir: Path, cfg: DictConfig) -> None:
    """Write the composed config, resolved (what the run really used)."""
    atomic.write_text(Path(run_dir) / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))


def check_still_resumable(run_dir: Path, previous: RunResult | None) -> None:
    """Before a fresh start (no last.ckpt): refuse when the directory says epochs were trained,
    since starting over would overwrite them."""
    if previous is not None and previous.epochs > 0 and previous.status not in FINISHED:
        raise UserError(f"{run_dir} holds {previous.epochs} trained epoch(s) but no "
                        f"{LAST_CHECKPOINT} to resume from: put it back to resume, or move the "
                        "directory away and launch again to start over")


def clear_unfinished_attempt(run_dir: Path, outputs: list[Path]) -> None:
    """Before a fresh start (no last.ckpt, check_still_resumable passed): empty the folders in
    `outputs` (logs, checkpoints) that an attempt killed before its first checkpoint wrote to,
    so that no step is logged twice. The folders themselves stay: one may be a link to, or a
    mount of, another disk."""
    run_dir = Path(os.path.abspath(run_dir))
    for output in outputs:
        output = Path(os.path.abspath(output))
        if output == run_dir or run_dir not in output.parents or not output.is_dir():
            continue
        entries = list(output.iterdir())
        if entries:
            log.info("emptying %s, written by an attempt killed before its first checkpoint",
                     output)
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def clear_unreferenced_checkpoints(checkpoint: Path, state: dict[str, Any]) -> None:
    """Remove the checkpoints beside `checkpoint` (last.ckpt, whose loaded `state` is given)
    that its callback state does not name: a best checkpoint saved by an attempt killed before it
    updated last.ckpt."""
    named = {checkpoint.name}
    for callback_state in (state.get("callbacks") or {}).values():
        if isinstance(callback_state, dict) and "best_k_models" in callback_state:
            paths = [callback_state.get("best_model_path"), callback_state.get("last_model_path"),
                     *callback_state["best_k_models"]]
            named.update(Path(p).name for p in paths if p)
    for path in checkpoint.parent.glob("*.ckpt"):
        if path.name not in named:
            log.info("removing %s: saved by an attempt killed before last.ckpt named it", path)
            path.unlink()


def clear_temporaries(*folders: Path) -> None:
    """Remove the temporary files of writes a kill interrupted in the run's own folders."""
    for folder in folders:
        atomic.remove_temporaries(Path(folder))


def set_aside(run_dir: Path) -> Path:
    """Move a finished run's files into `<run_dir>/replaced-<time>/` so the directory can hold a
    fresh run (rerun=true) without destroying the old one. The open log file stays in place."""
    aside = Path(run_dir) / f"replaced-{dt.datetime.now():%Y-%m-%d_%H-%M-%S-%f}"
    aside.mkdir()
    for entry in Path(run_dir).iterdir():
        if entry != aside and entry.name != LOG_FILE and not entry.name.startswith("replaced-"):
            entry.rename(aside / entry.name)
    return aside
