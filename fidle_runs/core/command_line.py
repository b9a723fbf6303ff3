"""What the commands on trained runs share (`python -m fidle_runs.evaluate|predict|export`,
torchvision's `get_args_parser()` in spirit): one parser builder with their common options
(which checkpoint, which device, JSON output), the check of a `--device` name, and one way to
end on a user's mistake: `<prog>: error: <one line>` and exit status 1, no traceback."""

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from fidle_runs.core.errors import UserError

DEVICE_HELP = "cpu (default), cuda or cuda:<index>"


def get_args_parser(prog: str, doc: str, checkpoints: Sequence[str], *, device: bool = True,
                    json_help: str | None = None) -> argparse.ArgumentParser:
    """A command's parser, described by the first line of its module's `doc`, with
    `--checkpoint` among `checkpoints` (the first the default), and where asked `--device`
    and `--json` (`json_help` says what it prints); the command adds its own arguments."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument("--checkpoint", choices=checkpoints, default=checkpoints[0],
                        help="the best checkpoint (the task's monitor) or last.ckpt")
    if device:
        parser.add_argument("--device", default="cpu", help=DEVICE_HELP)
    if json_help is not None:
        parser.add_argument("--json", action="store_true", help=json_help)
    return parser


def check_device(name: str) -> str:
    """`name` if it is cpu, or cuda / cuda:<index> with CUDA here; a UserError saying what to
    give instead otherwise."""
    if name == "cpu":
        return name
    if name.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: no CUDA device here; use --device cpu")
        return name
    raise UserError(f"--device {name!r}: use cpu, cuda or cuda:<index>")


@contextmanager
def user_errors(prog: str) -> Iterator[None]:
    """A UserError raised inside ends the command with `<prog>: error: <its line>` on stderr
    and exit status 1: what the user can fix, without a traceback."""
    try:
        yield
    except UserError as e:
        raise SystemExit(f"{prog}: error: {e}") from None
