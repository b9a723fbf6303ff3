"""Launching runs: sweep job folders and resolvers, Slurm presets and requeue, the Optuna
search, a sweep's plan, checking outputs are writable. May import hardware, config, store,
core; never run, report or the commands."""
