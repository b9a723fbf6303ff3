"""`python -m fidle_runs.evaluate`: a trained run's checkpoint scored again on the splits asked,
as a table and in result.json's `evaluation` block. May import report and every layer below it."""
