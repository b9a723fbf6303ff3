"""A CSV log that holds the whole run in one `metrics.csv`, across kills and resumes.

Lightning's CSVLogger deletes an existing metrics.csv when it starts. Here a resumed run keeps the
rows logged before its checkpoint and appends its own: rows at steps from `purge_step` on (the
checkpoint's global step) belong to work the resumed run does again, so they are dropped, as
TensorBoard's `purge_step` drops them from the events. Each epoch is then in the file once.
"""

import csv
import io
from pathlib import Path
from typing import Any

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from fidle_runs.core import atomic


class ResumableCSVLogger(CSVLogger):
    def __init__(self, *args: Any, purge_step: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.purge_step = purge_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(self.log_dir, self.purge_step)
        return self._experiment


class _AppendingWriter(ExperimentWriter):
    def __init__(self, log_dir: str, purge_step: int | None) -> None:
        self.purge_step = purge_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        if self.purge_step is None or not self._fs.isfile(self.metrics_file_path):
            super()._check_log_dir_exists()
            return
        with open(self.metrics_file_path, newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            kept = [row for row in reader if _step(row) < self.purge_step]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=header)
        writer.writeheader()
        writer.writerows(kept)
        atomic.write_text(Path(self.metrics_file_path), text.getvalue())
        self.metrics_keys = header


def _step(row: dict[str, str]) -> int:
    try:
        return int(float(row.get("step") or 0))
    except ValueError:
        return 0
