"""Optimizers FIDLE's Keras notebooks use whose PyTorch namesake computes something else."""
