"""How loggers treat a resumed run's `purge_step` (the checkpoint's step): TensorBoard's
SummaryWriter and our CSV drop what the killed attempt logged from that step on; the tracking
loggers (MLflow, W&B) take it only to know that they continue a run, and keep every step."""

import inspect

from pytorch_lightning.loggers import Logger, TensorBoardLogger

from fidle_runs.loggers.resumable_csv import ResumableCSVLogger


def takes_purge_step(logger_class: type) -> bool:
    return (issubclass(logger_class, TensorBoardLogger)
            or "purge_step" in inspect.signature(logger_class).parameters)


def drops_purged_steps(logger: Logger) -> bool:
    return isinstance(logger, TensorBoardLogger | ResumableCSVLogger)
