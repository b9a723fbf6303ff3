"""Hydra instantiates sweepers only from the `hydra_plugins` namespace package (it checks the
`_target_`'s module): this is where conf/hydra/sweeper/optuna_search.yaml points. The logic is
fidle_runs.launch.search.sweeper; importing this stays light (Hydra scans it in every run)."""

from fidle_runs.launch.search.sweeper import OptunaSearch


class OptunaSearchSweeper(OptunaSearch):
    """fidle_runs' Optuna search (fidle_runs.launch.search.sweeper.OptunaSearch)."""
