"""Pretrained networks (`model=pretrained`): torchvision's classification architectures by name
or a package's network through a Hydra factory, their weights found on local disk (never
downloaded during a run), checked and loaded safely, their head replaced for the data's
classes, behind an input adapter that feeds them what their weights expect.

Imports fidle_runs.core and fidle_runs.config besides torch and torchvision; never data, tasks
or run."""
