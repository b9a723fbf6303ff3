"""`python -m fidle_runs.prepare`, kept for that command (fidle_runs.run.prepare_sets)."""

from fidle_runs.run.prepare_sets import main

if __name__ == "__main__":
    main()
