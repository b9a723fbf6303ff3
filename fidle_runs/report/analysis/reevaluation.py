"""How a regressor's and a forecaster's analyses re-evaluate a best checkpoint on its test set,
so that both do it alike: the test inputs fed to the network BATCH at a time, and the MAE found
taken as the recorded one within RECORDED_TOLERANCE (relative)."""

BATCH = 1024
RECORDED_TOLERANCE = 1e-3  # relative, between the re-evaluated and the recorded test MAE
