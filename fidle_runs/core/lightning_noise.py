"""Lightning's (and DDP's) messages that are not a user's business in a fidle_runs run, silenced
one by one by their text (never by category or module): each says why it does not apply here.
Warnings that matter still show."""

import logging
import warnings

# (message start, why it is noise here)
WARNINGS = (
    (r".*does not have many workers", "our loaders index in-memory tensors: workers would only "
     "add process overhead"),
    (r"The number of training batches \(\d+\) is smaller than the logging interval",
     "the task modules log per epoch, not per step"),
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", "inside Lightning's own code"),
    (r"The `srun` command is available on your system but is not used",
     "fidle_runs launches Slurm jobs itself (fidle_runs.launch.requeue, the sbatch scripts)"),
    (r"Checkpoint directory .* exists and is not empty",
     "a resumed run's own checkpoints (fidle_runs.store.run_dir owns that folder)"),
    (r"(?s)Grad strides do not match bucket view strides.*grad.sizes\(\) = \[\d+, 1, ",
     "data-parallel training of a convolution over one input channel (GTSRB L, MNIST): the "
     "gradient's size-1 dimension has another stride, the memory layout is the same"),
)
# Lightning's INFO lines that repeat what our own lines say or advertise a service.
INFO_LINES = (
    "💡 Tip:",  # advertisements for Lightning's cloud services
    "GPU available:", "TPU available:", "HPU available:",  # our run line names the devices
    "`Trainer.fit` stopped:",  # the epoch lines and "completed" say it
    "Restoring states from the checkpoint path",  # "resuming from <last.ckpt>" says it
    "Restored all states from the checkpoint",
    "Loaded model weights from the checkpoint",
)
LIGHTNING_INFO_LOGGERS = ("pytorch_lightning.utilities.rank_zero",
                          "lightning_fabric.utilities.rank_zero")


class _DropLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(INFO_LINES)


def silence() -> None:
    """Install the filters (idempotent)."""
    for message, _why in WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for name in LIGHTNING_INFO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropLines) for f in logger.filters):
            logger.addFilter(_DropLines())

