"""A run on disk: result.json, the run directory's lifecycle and identity, checkpoint files.
May import fidle_runs.core only."""
