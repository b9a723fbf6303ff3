"""`python -m fidle_runs.predict`: a trained run used on new inputs as a user has them."""
