"""Which loggers take a `purge_step`: those that drop, when a run resumes, what its killed attempt
logged from the checkpoint's step on (TensorBoard's SummaryWriter, our CSV). The tracking loggers
(MLflow, W&B) keep it."""

import inspect

from pytorch_lightning.loggers import TensorBoardLogger


def purges(logger_class: type) -> bool:
    return (issubclass(logger_class, TensorBoardLogger)
            or "purge_step" in inspect.signature(logger_class).parameters)
