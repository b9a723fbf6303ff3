"""`python -m fidle_runs.evaluate <run or directory> [...] [--splits train,val,test]
[--checkpoint best|last] [--device cpu|cuda] [--json]`: a trained run's checkpoint scored
again on its splits, for one run or every run below a directory (a sweep, outputs/).

Each run is rebuilt from its directory (fidle_runs.run.rebuild: config.yaml, the checkpoint, its
data loaded as training loaded it) and scored with the task's metrics by Lightning's test loop.
The numbers go into the run's result.json under `evaluation` (fidle_runs.evaluate.record);
a data file that changed since training is named beside them."""

import sys
from pathlib import Path
from typing import Any

from fidle_runs.core import strict_json
from fidle_runs.core.command_line import get_args_parser, user_errors
from fidle_runs.core.errors import UserError
from fidle_runs.evaluate.data_changes import data_changes
from fidle_runs.evaluate.record import evaluation_entry, record_evaluation
from fidle_runs.evaluate.splits import evaluate_splits, parse_splits
from fidle_runs.evaluate.table import format_block
from fidle_runs.report.run_index import find_run_dirs
from fidle_runs.run.rebuild import CHECKPOINTS, load_run
from fidle_runs.store.result import FINISHED

PROG = "python -m fidle_runs.evaluate"


def evaluate_run(run_dir: Path, splits: list[str], which: str,
                 device: str) -> tuple[Any, dict[str, Any], dict[str, int], bool]:
    """Evaluate one run; returns its result, the evaluation entry (the splits asked), samples
    per split, and whether the entry was recorded in its result.json (merged with the splits
    recorded before)."""
    result, run = load_run(run_dir, which, load_data=True)
    scored = evaluate_splits(run.datamodule, run.task, splits, device)
    counts = {split: len(run.datamodule.tensors[split][1]) for split in scored}
    changes = data_changes(result.data or {}, run.datamodule.describe(), result.updated,
                           run.data_difference)
    entry = evaluation_entry(run_dir, run.checkpoint, run.epoch, device, changes, scored)
    recorded = result.status in FINISHED
    if recorded:
        record_evaluation(run_dir, which, entry)
    return result, {**entry, "which": which}, counts, recorded


def run_dirs(paths: list[Path]) -> list[Path]:
    """The runs the paths name: a run directory itself, or every run below a directory."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise UserError(f"{path} is not a directory: give a run directory or a directory "
                            "of runs (a sweep, outputs/)")
        below = find_run_dirs([path])
        if not below:
            raise UserError(f"{path} is no run and holds none (a run directory holds "
                            "result.json, config.yaml and checkpoints/)")
        found += [d for d in below if d not in found]
    return found


def main(argv: list[str] | None = None) -> None:
    parser = get_args_parser(PROG, __doc__, CHECKPOINTS, json_help="print the evaluations as "
                             "JSON (every metric) instead of tables")
    parser.add_argument("paths", nargs="+", type=Path, help="run, sweep or output directories")
    parser.add_argument("--splits", default="train,val,test",
                        help="comma-separated among train, val, test (default: all three)")
    args = parser.parse_args(argv)
    with user_errors(PROG):
        splits = parse_splits(args.splits)
        dirs = run_dirs(args.paths)
        failed, out = 0, []
        for run_dir in dirs:
            try:
                result, entry, counts, recorded = evaluate_run(run_dir, splits, args.checkpoint,
                                                               args.device)
            except UserError as e:
                if len(dirs) == 1:
                    raise
                print(f"{run_dir}: not evaluated: {e}", file=sys.stderr)
                failed += 1
                continue
            if args.json:
                out.append({"run_dir": str(run_dir), "recorded": recorded, **entry})
            else:
                print(format_block(str(run_dir), result, entry, counts, recorded), flush=True)
    if args.json:
        print(strict_json.dumps(out))
    if failed:
        raise SystemExit(f"{PROG}: {failed} of {len(dirs)} runs could not be evaluated")

if __name__ == "__main__":
    main()
