"""A search trial's side of pruning: after each epoch's validation, the run reports its
monitor (val_acc, val_mae: the task's, in the objective's direction) to its trial in the study,
and stops when the study's pruner says so; the run is then recorded as pruned (result.json
status `pruned`, fidle_runs.run.train), and the sweeper tells the study so.

The sweeper sets the run's `search` key for each trial of a search with a pruner:
`{storage: <journal file>, study: <name>, trial_id: <id>, pruner: {name, ...}}`; outside such a
search it is null and no callback is added. `search` is not part of what makes the run (it is
in fidle_runs.store.run_dir.NOT_PART_OF_THE_RUN): a trial run again resumes in the same folder.
"""

import logging
import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from fidle_runs.launch.search.pruners import make_pruner

log = logging.getLogger("fidle_runs.launch.search")


class ReportToStudy(pl.Callback):
    """Reports `metric` at each epoch's end to the trial `trial_id`, stops the run when the
    trial should be pruned; `pruned` then says where: {epoch, metric, value}."""

    def __init__(self, storage: str, study: str, trial_id: int, pruner: dict[str, Any],
                 metric: str) -> None:
        self.storage, self.study_name, self.trial_id = storage, study, trial_id
        self.pruner, self.metric = pruner, metric
        self.pruned: dict[str, Any] | None = None
        self._trial: Any = None

    def _open_trial(self) -> Any:
        import optuna

        from fidle_runs.launch.search.sweeper import open_journal

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=self.study_name,
                                  storage=open_journal(Path(self.storage)),
                                  pruner=make_pruner(self.pruner))
        return optuna.trial.Trial(study, self.trial_id)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch = trainer.current_epoch + 1
        prune, value = False, None
        if trainer.is_global_zero:
            found = trainer.callback_metrics.get(self.metric)
            value = None if found is None else float(found)
            if value is not None and math.isfinite(value):
                if self._trial is None:
                    self._trial = self._open_trial()
                self._trial.report(value, step=epoch)
                # After its last epoch a run has trained all it will: it is tested, not pruned.
                prune = epoch < trainer.max_epochs and bool(self._trial.should_prune())
        prune = trainer.strategy.broadcast(prune, src=0)
        if prune:
            self.pruned = {"epoch": epoch, "metric": self.metric,
                           "value": None if value is None else round(value, 6)}
            trainer.should_stop = True
            log.info("pruned by the search after epoch %d: %s %s", epoch, self.metric, value)


def study_reporter(cfg: DictConfig) -> ReportToStudy | None:
    """The run's ReportToStudy when it is a trial of a search with a pruner, else None."""
    search = OmegaConf.select(cfg, "search")
    if not search:
        return None
    return ReportToStudy(str(search.storage), str(search.study), int(search.trial_id),
                         OmegaConf.to_container(search.pruner, resolve=True),
                         str(cfg.task.monitor.name))
