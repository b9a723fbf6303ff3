"""Reports over many runs (GTSRB7 and beyond): `python -m fidle_runs.report <dir> [<dir> ...]`."""
