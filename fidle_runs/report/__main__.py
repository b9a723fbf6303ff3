"""`python -m fidle_runs.report <dir> [<dir> ...] [--out DIR]`: every run found below the
directories (single runs, local or Slurm sweeps, finished or still running) in one report."""

import argparse
import datetime as dt
import time
from pathlib import Path

from fidle_runs.core import atomic
from fidle_runs.core.errors import UserError
from fidle_runs.report.report import build_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fidle_runs.report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="run, sweep or output directories")
    parser.add_argument("--out", type=Path, default=None,
                        help="where report.html, report.md, runs.csv and report.json go "
                             "(default: outputs/reports/<date>_<time>)")
    parser.add_argument("--metric", default=None,
                        help="rank by this test metric (test_balanced_acc, test_f1_macro, "
                             "test_rmse...) instead of each run's primary one: recorded, or "
                             "computed from the run's saved test predictions")
    parser.add_argument("--no-html", action="store_true",
                        help="tables and exports only: no figures, no checkpoint evaluation")
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        parser.error(f"not a directory: {', '.join(missing)}")
    start = time.perf_counter()
    try:
        report = build_report(args.dirs, args.metric)
    except UserError as e:
        parser.error(str(e))
    if not report.rows:
        parser.error(f"no run found below {', '.join(map(str, args.dirs))} (a run directory "
                     "holds result.json, config.yaml or fidle_runs.log)")
    read_s = time.perf_counter() - start
    print(report.text(), end="")
    out = args.out or Path("outputs") / "reports" / f"{dt.datetime.now():%Y-%m-%d_%H-%M-%S}"
    written = report.write(out)
    print(f"\n{len(report.rows)} runs read in {read_s:.2f} s")
    if not args.no_html:
        from fidle_runs.report.html_page import render_html

        start = time.perf_counter()
        page, timings = render_html(report, args.dirs)
        html_file = out / "report.html"
        atomic.write_text(html_file, page)
        written.insert(0, html_file)
        print(f"HTML in {time.perf_counter() - start:.1f} s: learning curves of "
              f"{timings.curves_read} runs read in {timings.curves_s:.1f} s")
        for line in timings.analyses:
            print(f"best run, {line}")
    print(f"written: {', '.join(str(p) for p in written)}")


if __name__ == "__main__":
    main()
