"""`python -m fidle_runs.report <dir> [<dir> ...] [--out DIR]`: every run found below the
directories (single runs, local or Slurm sweeps, finished or still running) in one report."""

import argparse
import datetime as dt
from pathlib import Path

from fidle_runs.report.report import build_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fidle_runs.report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="run, sweep or output directories")
    parser.add_argument("--out", type=Path, default=None,
                        help="where report.md, runs.csv and report.json go "
                             "(default: outputs/reports/<date>_<time>)")
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        parser.error(f"not a directory: {', '.join(missing)}")
    report = build_report(args.dirs)
    if not report.rows:
        parser.error(f"no run found below {', '.join(map(str, args.dirs))} (a run directory "
                     "holds result.json, config.yaml or fidle_runs.log)")
    print(report.text(), end="")
    out = args.out or Path("outputs") / "reports" / f"{dt.datetime.now():%Y-%m-%d_%H-%M-%S}"
    written = report.write(out)
    print(f"\nwritten: {', '.join(str(p) for p in written)}")


if __name__ == "__main__":
    main()
