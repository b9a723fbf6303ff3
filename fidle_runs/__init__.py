"""fidle_runs: train many models on many datasets, locally or on Slurm, and compare the results."""

__version__ = "0.1.0"
