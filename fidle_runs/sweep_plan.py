"""`python -m fidle_runs.sweep_plan`, kept for that command (fidle_runs.launch.sweep_plan)."""

from fidle_runs.launch.sweep_plan import main

if __name__ == "__main__":
    main()
