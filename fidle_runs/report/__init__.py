"""Reports over many runs (GTSRB7 and beyond): `python -m fidle_runs.report <dir> [<dir> ...]`.
May import run and every layer below it; never evaluate, predict or export."""
