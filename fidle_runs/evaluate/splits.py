"""A rebuilt run's task metrics on any of its splits. Each split is scored by Lightning's test
loop over a view of the datamodule whose test split is that split, so batches pass through
`on_after_batch_transfer` (the family's `network_input`) and the task's own metrics and
baselines exactly as the run's test did; `test_` names become the split's (`train_acc`)."""

import copy
from typing import Any

from fidle_runs.core.command_line import check_device
from fidle_runs.core.errors import UserError

SPLITS = ("train", "val", "test")


def parse_splits(text: str) -> list[str]:
    """`train,val,test` -> the splits, in that order; UserError naming an unknown one."""
    asked = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in asked if s not in SPLITS]
    if unknown or not asked:
        raise UserError(f"--splits {text!r}: choose among {', '.join(SPLITS)}, comma-separated "
                        "(e.g. --splits val,test)")
    return [s for s in SPLITS if s in asked]


def trainer_for(device: str, callbacks: list | None = None) -> Any:
    """A Lightning trainer on one device that only scores: no logger, checkpoint or bar."""
    import pytorch_lightning as pl

    from fidle_runs.core import lightning_noise

    lightning_noise.silence()
    if check_device(device) == "cpu":
        accelerator, devices = "cpu", 1
    else:
        accelerator, devices = "gpu", [int(device.partition(":")[2] or 0)]
    return pl.Trainer(accelerator=accelerator, devices=devices, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=callbacks or [])


def evaluate_splits(datamodule: Any, task: Any, splits: list[str],
                    device: str = "cpu") -> dict[str, dict[str, float]]:
    """By split, the task's metrics of `task` on it (`val_acc`, `val_loss`, ...): what its test
    logs, and the task's scores of its predictions there, as training's test computes them. A
    split the data does not have (no validation set: data.val_on_test validates on test) is left
    out."""
    from fidle_runs.callbacks.test_predictions import SaveTestPredictions

    scorer = SaveTestPredictions()
    trainer = trainer_for(device, [scorer])
    scored: dict[str, dict[str, float]] = {}
    for split in splits:
        if split not in datamodule.tensors or len(datamodule.tensors[split][1]) == 0:
            continue
        view = copy.copy(datamodule)
        view.tensors = {**datamodule.tensors, "test": datamodule.tensors[split]}
        # Rounded as training's test rounds them; the scores of the predictions are exact.
        tested = {name: round(float(value), 6)
                  for name, value in trainer.test(task, datamodule=view, verbose=False)[0].items()}
        tested.update({f"test_{name}": value for name, value in (scorer.scores or {}).items()})
        scored[split] = {f"{split}_{name.removeprefix('test_')}": float(value)
                         for name, value in sorted(tested.items())}
    return scored
