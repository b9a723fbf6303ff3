"""Backbones (plain nn.Modules sized from the data's shape) and the LightningModule around them.
Imports nothing of fidle_runs outside itself."""
