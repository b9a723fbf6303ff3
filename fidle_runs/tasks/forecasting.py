"""Forecasting: from a window of past steps, the next `horizon` steps of the series' features
(FIDLE's LADYB and SYNOP). The network outputs horizon x features values, compared with the
targets flattened the same way: a regression on every predicted value, with its metrics."""

from fidle_runs.tasks.regression import Regression


class Forecasting(Regression):
    """Targets (batch, horizon, features) or (batch, features) are flattened per sample."""
