"""A trained run as one file another program loads without fidle_runs: ONNX, TorchScript or a
torch.export program, checked against the run before it is kept (python -m fidle_runs.export).
May import report and every layer below it."""
