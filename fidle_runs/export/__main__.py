"""`python -m fidle_runs.export <run> [--format onnx|torchscript|exported] [--out FILE]`: a
trained run's network as one file another program loads without fidle_runs, with a sidecar
`<file>.json` saying what its input and outputs are.

The export takes samples as the run's data stores them (uint8 images, int64 id sequences,
float32 encoded rows or z-scored windows: what `python -m fidle_runs.predict` makes of raw
inputs), for any batch size. It is written to `<run>/export/model.<onnx|ts|pt2>` by default,
under a temporary name, and kept only once, loaded back (ONNX Runtime, torch.jit.load,
torch.export.load), it gives the run's outputs within fidle_runs.export.parity's tolerance."""

import time
from pathlib import Path

from fidle_runs.core.command_line import get_args_parser, user_errors
from fidle_runs.export.export_run import export_run
from fidle_runs.export.formats import FORMATS
from fidle_runs.run.rebuild import CHECKPOINTS

PROG = "python -m fidle_runs.export"


def main(argv: list[str] | None = None) -> None:
    parser = get_args_parser(PROG, __doc__, CHECKPOINTS, device=False)
    parser.add_argument("run", type=Path, help="the run directory (outputs/runs/<run>)")
    parser.add_argument("--format", choices=list(FORMATS), default="onnx")
    parser.add_argument("--out", type=Path, default=None,
                        help="the file to write (default: <run>/export/model.<suffix>)")
    parser.add_argument("--force", action="store_true", help="replace an existing export")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with user_errors(PROG):
        done = export_run(args.run, args.format, args.out, args.checkpoint, args.force)
    d = done.description
    check = d["parity"]
    print(f"exported {args.run} ({args.checkpoint} checkpoint, epoch {d['epoch']}) to "
          f"{done.path} ({args.format}, {done.path.stat().st_size / 2**10:.0f} KiB) in "
          f"{time.perf_counter() - start:.1f} s")
    print(f"it takes {d['input']['name']} {d['input']['dtype']} {_shape(d['input'])} and gives "
          f"{d['output']['name']} {_shape(d['output'])}: {d['output']['meaning']}")
    print(f"loaded back, it gives the run's outputs within {check['max_abs_difference']:.2g} "
          f"on batches of {' and '.join(map(str, check['batch_sizes']))} "
          f"({check['tolerance']}); {done.sidecar} describes it")


def _shape(tensor: dict) -> str:
    return "(" + ", ".join(map(str, tensor["shape"])) + ")"


if __name__ == "__main__":
    main()
