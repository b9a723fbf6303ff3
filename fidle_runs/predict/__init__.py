"""`python -m fidle_runs.predict`: a trained run used on new inputs as a user has them.
May import report and every layer below it."""
