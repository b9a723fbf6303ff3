"""Hyper-parameter searches with Optuna: `+hparams_search=<name>` (conf/hparams_search/), run by
our Hydra sweeper `hydra/sweeper=optuna_search` (fidle_runs.launch.search.sweeper)."""
