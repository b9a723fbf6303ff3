"""Datasets: raw readers, synthetic generator, preparation to H5, and Lightning DataModules.
May import fidle_runs.core (and the package version) only."""
