"""Datasets: raw readers, synthetic generator, preparation to H5, and Lightning DataModules."""
