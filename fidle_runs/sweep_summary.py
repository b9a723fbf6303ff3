"""`python -m fidle_runs.sweep_summary`, kept for that command (fidle_runs.report.sweep_summary)."""

from fidle_runs.report.sweep_summary import main

if __name__ == "__main__":
    main()
