"""What a run learns: one LightningModule per task (classification, regression, forecasting),
each owning its loss and metrics. The names a run is monitored and ranked by are written once
per task, in conf/task/<task>.yaml. Imports nothing of fidle_runs outside itself."""
