"""The record a completed run leaves in its loggers beside its curves: the hyper-parameters that
define it and its final metrics, i.e. its row in TensorBoard's HParams table and in MLflow's and
W&B's run tables, where a sweep's runs are compared. The CSV log keeps epochs only: result.json is
the file-side record.
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import yaml
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger

from fidle_runs.core import atomic
from fidle_runs.store.result import RESULT_FILE, RunResult
from fidle_runs.store.run_dir import CONFIG_FILE

# Data options that say where files are or how to make them, not what the run learns from
# (besides `*_dir` and `*_file` paths), and `name`, recorded as `data`.
NOT_DATA_HYPERPARAMETERS = ("name", "download", "prepare_workers")


def record_run(trainer: pl.Trainer, cfg: DictConfig, result: RunResult) -> None:
    """Send the record of a completed run to each of `trainer`'s loggers that keeps one, at the
    run's last step; a W&B run is then closed. Called once, when the run completes (a resumed
    run's earlier attempts record nothing)."""
    params = run_hyperparameters(cfg, result)
    metrics = final_metrics(result)
    step = trainer.global_step
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            _tensorboard_hparams(logger, params, metrics, set(trainer.logged_metrics), step)
            logger.finalize("success")  # flushes the events: a sweep's process goes on
            # Lightning wrote this file, empty, when fit ended, and does not write it twice.
            atomic.write_text(Path(logger.log_dir) / logger.NAME_HPARAMS_FILE,
                              yaml.safe_dump(params, sort_keys=False))
        elif isinstance(logger, MLFlowLogger | WandbLogger):
            logger.log_hyperparams(params)
            logger.log_metrics(metrics, step=step)
        if isinstance(logger, MLFlowLogger):
            client, run_id = logger.experiment, logger.run_id
            client.log_text(run_id, OmegaConf.to_yaml(cfg, resolve=True), CONFIG_FILE)
            client.log_dict(run_id, asdict(result), RESULT_FILE)
        elif isinstance(logger, WandbLogger):
            logger.experiment.finish()


def _tensorboard_hparams(logger: TensorBoardLogger, params: dict[str, Any],
                         metrics: dict[str, float], logged: set[str], step: int) -> None:
    """The run's row of TensorBoard's HParams table. Its columns are read from the scalars of
    those names: what the test logged is there already, so only the rest is added (the scores
    of the saved predictions, the monitor's best); Lightning's log_hyperparams would log every
    metric a second time."""
    from torch.utils.tensorboard.summary import hparams

    logger.log_metrics({k: v for k, v in metrics.items() if k not in logged}, step)
    writer = logger.experiment._get_file_writer()
    for summary in hparams(params, metrics):
        writer.add_summary(summary, step)


def run_hyperparameters(cfg: DictConfig, result: RunResult) -> dict[str, Any]:
    """What defines the run, flat: names (task, model, data, optimizer and scheduler classes),
    then the options of each under the key that overrides them (`model.net.widths`,
    `data.batch_size`, `optimizer.lr`...). Lists of scalars are written as text."""
    model = _container(cfg.model)
    data = _container(cfg.data)
    optimizer = _container(cfg.optimizer)
    scheduler = _container(cfg.get("scheduler"))
    return {"task": cfg.task.name, "model": cfg.model.name,
            **_options(model.get("net") or {}, "model.net"),
            "data": result.data.get("name") or data.get("name"),
            **_options(data, "data", skip=NOT_DATA_HYPERPARAMETERS),
            "optimizer": _class_name(optimizer), **_options(optimizer, "optimizer"),
            "scheduler": _class_name(scheduler) if scheduler else "none",
            **_options(scheduler, "scheduler"),
            "trainer.max_epochs": cfg.trainer.max_epochs, "seed": cfg.get("seed")}


def final_metrics(result: RunResult) -> dict[str, float]:
    """The test metrics, and the best value of the monitor as `best_<monitor>` (best_val_acc)."""
    metrics = {name: value for name, value in result.metrics.items() if value is not None}
    if result.monitor.get("best") is not None:
        metrics[f"best_{result.monitor['name']}"] = result.monitor["best"]
    return metrics


def _container(node: DictConfig | None) -> dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True) if node else {}


def _class_name(node: dict[str, Any]) -> str:
    return str(node.get("_target_", "")).rsplit(".", 1)[-1]


def _options(node: dict[str, Any], prefix: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    options = {}
    for key, value in node.items():
        if key.startswith("_") or key in skip or key.endswith(("_dir", "_file")):
            continue
        if isinstance(value, list) and all(_is_scalar(v) for v in value):
            value = str(value)
        if _is_scalar(value):
            options[f"{prefix}.{key}"] = value
    return options


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
