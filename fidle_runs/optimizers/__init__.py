"""Optimizers FIDLE's Keras notebooks use whose PyTorch namesake computes something else.
Imports nothing of fidle_runs outside itself."""
