"""MLflow and Weights & Biases loggers for runs on compute nodes without internet.

Both write offline by default: MLflow into a file store shared by all runs under the output root,
W&B into offline run folders that `wandb sync` uploads later from a login node. Both keep one
tracked run per run directory: its id is stored in the run directory, so a resumed run (from
last.ckpt: train.py passes `purge_step`) continues it, while a fresh start gets a new one and
discards what an attempt killed before its first checkpoint had begun. Neither service can drop
the steps that a killed attempt logged after its last checkpoint, as TensorBoard and the CSV log
do: those are logged again by the resumed run.

Their packages are optional extras: `check_packages` names the missing one before a run starts.
"""

import importlib
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from lightning_fabric.loggers.logger import rank_zero_experiment
from omegaconf import DictConfig
from pytorch_lightning.loggers import MLFlowLogger, WandbLogger

from fidle_runs.core import atomic
from fidle_runs.core.errors import UserError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient
    from wandb.sdk.wandb_run import Run

log = logging.getLogger(__name__)

MLFLOW_RUN_ID = "mlflow_run_id"
WANDB_RUN_ID = "wandb_run_id"
# The optional package each logger needs; its pip extra has the same name.
PACKAGES = {MLFlowLogger: "mlflow", WandbLogger: "wandb"}


def check_packages(cfg: DictConfig) -> None:
    """Refuse, in one line, a logger whose package is not installed."""
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        if logger_cfg is None:
            continue
        try:
            logger_class = hydra.utils.get_class(logger_cfg._target_)
        except Exception:
            continue  # config.build reports a bad target with the key to fix
        for base, package in PACKAGES.items():
            if issubclass(logger_class, base) and not _importable(package):
                raise UserError(f"logger={name} needs the {package} package: "
                                f"pip install 'fidle_runs[{package}]'")


def _importable(package: str) -> bool:
    try:
        importlib.import_module(package)
    except ModuleNotFoundError as e:
        if e.name != package:
            raise  # installed but broken: its own error says more
        return False
    return True


class ResumableMLFlowLogger(MLFlowLogger):
    """MLflow's logger with a file store under `save_dir` (unless given a `tracking_uri`) and a
    run named after the run directory, continued when the run directory resumes."""

    def __init__(self, run_dir: str, save_dir: str, purge_step: int | None = None,
                 run_name: str | None = None, tracking_uri: str | None = None,
                 **kwargs: Any) -> None:
        if tracking_uri is None:
            tracking_uri = f"file:{Path(save_dir).resolve()}"
            # MLflow 3 keeps its file store behind this opt-in, favouring a database; but SQLite
            # on a cluster's shared file system, written by a sweep's jobs at once, would lock.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        super().__init__(tracking_uri=tracking_uri, run_name=run_name or Path(run_dir).name,
                         **kwargs)
        self._id_file = Path(run_dir) / MLFLOW_RUN_ID
        stored = _read_id(self._id_file)
        if stored is None:
            return
        if purge_step is None:
            self._discard(stored)
        elif self._exists(stored):
            self._run_id = stored
        else:
            log.warning("MLflow run %s of %s is not in %s: the resumed run starts a new one",
                        stored, run_dir, tracking_uri)

    @property
    @rank_zero_experiment
    def experiment(self) -> "MlflowClient":
        if self._initialized:
            return super().experiment
        if self._run_id is None and self._experiment_id is None:
            self._experiment_id = _experiment_id(self._mlflow_client, self._experiment_name,
                                                 self._artifact_location)
        client = super().experiment
        atomic.write_text(self._id_file, self._run_id)
        return client

    def _exists(self, run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            return self._mlflow_client.get_run(run_id).info.lifecycle_stage == "active"
        except MlflowException:
            return False

    def _discard(self, run_id: str) -> None:
        """Delete (MLflow's soft delete) the run of an attempt that checkpointed nothing."""
        if self._exists(run_id):
            log.info("deleting MLflow run %s, started by an attempt killed before its first "
                     "checkpoint", run_id)
            self._mlflow_client.delete_run(run_id)


def _experiment_id(client: "MlflowClient", name: str, artifact_location: str | None) -> str:
    """The experiment's id, creating it if needed: a sweep's first runs may race to create it."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException:
            found = client.get_experiment_by_name(name)  # created meanwhile by another run
            if found is None:
                raise
    return found.experiment_id


class ResumableWandbLogger(WandbLogger):
    """W&B's logger writing into `<save_dir>/wandb/`, with a run named after the run directory,
    continued when the run directory resumes (Lightning passes W&B resume="allow": a resumed
    offline run writes a new folder with the same id, and `wandb sync` uploads such folders one
    after the other into the one run)."""

    def __init__(self, run_dir: str, save_dir: str, purge_step: int | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        self._id_file = Path(run_dir) / WANDB_RUN_ID
        stored = _read_id(self._id_file)
        if stored is not None and purge_step is None:
            _remove_offline_runs(Path(save_dir) / "wandb", stored)
        run_id = stored if stored is not None and purge_step is not None else secrets.token_hex(4)
        Path(save_dir).mkdir(parents=True, exist_ok=True)  # else W&B falls back to /tmp
        super().__init__(name=name or Path(run_dir).name, save_dir=save_dir, id=run_id, **kwargs)
        self._wandb_init.pop("anonymous", None)  # always passed by Lightning, obsolete for W&B

    @property
    @rank_zero_experiment
    def experiment(self) -> "Run":
        if self._experiment is not None:
            return super().experiment
        run = super().experiment
        atomic.write_text(self._id_file, run.id)
        return run

    def finalize(self, status: str) -> None:
        """Close a failed run as failed (a completed one is closed by run_record, after its
        final record): a later run of the same process must not find it still open."""
        super().finalize(status)
        if status == "failed" and self._experiment is not None:
            self._experiment.finish(exit_code=1)


def _remove_offline_runs(wandb_dir: Path, run_id: str) -> None:
    """Remove the offline folders of an attempt that checkpointed nothing, so that `wandb sync`
    does not upload it."""
    for folder in wandb_dir.glob(f"offline-run-*-{run_id}"):
        log.info("removing %s, left by an attempt killed before its first checkpoint", folder)
        shutil.rmtree(folder)


def _read_id(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
