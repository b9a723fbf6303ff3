"""`python -m fidle_runs.predict <run> [inputs ...] [--text "..."] [--steps N] [--json]`: a
trained run's predictions for inputs as a user has them: image files (GTSRB, MNIST-like runs),
CSV rows (tables), texts (--text or text files), recent history (series, --steps ahead).

The run is rebuilt from its directory without its data (fidle_runs.run.rebuild: config.yaml, the
checkpoint, the preprocessing it kept); its family reads the inputs as its training data was
read (fidle_runs/data/<family>/inputs.py). Nothing is written."""

import time
from pathlib import Path

from fidle_runs.core import strict_json
from fidle_runs.core.command_line import get_args_parser, user_errors
from fidle_runs.core.errors import UserError
from fidle_runs.data.inputs import InputRequest
from fidle_runs.predict.forecast import forecast
from fidle_runs.predict.network import BATCH, device_for
from fidle_runs.predict.present import PRESENTERS, Records, table
from fidle_runs.run.rebuild import CHECKPOINTS, load_run
from fidle_runs.tasks.base import task_outputs

PROG = "python -m fidle_runs.predict"
TOP = 5


def predict(run_dir: Path, request: InputRequest, which: str = "best", device: str = "cpu",
            steps: int | None = None, top: int = TOP, batch: int = BATCH) -> tuple[str, Records]:
    """The run's task name and its predictions for the request's inputs."""
    result, run = load_run(run_dir, which, load_data=False)
    family = (result.data or {}).get("family")
    if request.texts and family != "text":
        raise UserError(f"--text is for runs on texts; {run_dir} was trained on {family} data: "
                        "give it files instead")
    if steps is not None and result.task != "forecasting":
        raise UserError(f"--steps is for forecasting runs; {run_dir} is a {result.task} run")
    inputs = run.datamodule.read_inputs(request)
    where = device_for(device)
    if result.task == "forecasting":
        run.task.to(where)
        out = forecast(run.task, inputs.x.to(where), steps or run.task.horizon).cpu()
    else:
        out = task_outputs(run.task, run.datamodule, inputs.x, where, batch)
    return result.task, PRESENTERS[result.task](run.task, run.datamodule, inputs, out, top, steps)


def main(argv: list[str] | None = None) -> None:
    parser = get_args_parser(PROG, __doc__, CHECKPOINTS,
                             json_help="print the predictions as JSON")
    parser.add_argument("run", type=Path, help="the run directory (outputs/runs/<run>)")
    parser.add_argument("inputs", nargs="*", type=Path,
                        help="image files, CSV files of rows or of recent history, text files")
    parser.add_argument("--text", action="append", default=[],
                        help="a text to classify (repeat for several)")
    parser.add_argument("--steps", type=int, default=None,
                        help="forecasting: steps ahead (default: the run's horizon; more are "
                             "iterated where the run's forecasts can be fed back)")
    parser.add_argument("--top", type=int, default=TOP, help="classes shown per input")
    parser.add_argument("--batch", type=int, default=BATCH, help="inputs per network call")
    # Files and --text may come in any order.
    args = parser.parse_intermixed_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps {args.steps}: give a number of steps >= 1")
    if args.top < 1 or args.batch < 1:
        parser.error("--top and --batch must be >= 1")
    start = time.perf_counter()
    with user_errors(PROG):
        task, records = predict(args.run, InputRequest(list(args.inputs), list(args.text)),
                                args.checkpoint, args.device, args.steps, args.top, args.batch)
    if args.json:
        print(strict_json.dumps(records))
        return
    print(table(task, records))
    print(f"{len(records)} input(s) predicted by {args.run} ({args.checkpoint} checkpoint) "
          f"on {args.device} in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
