"""`python -m fidle_runs.fetch_weights <arch> [<arch> ...] [--weights-name NAME] [--dir DIR]`:
torchvision's pretrained weights of each architecture downloaded where a `model=pretrained`
run finds them, on a machine with internet (a cluster's login node; runs never download).

The default place is torch's cache (`$TORCH_HOME/hub/checkpoints`, ~/.cache/torch/hub/
checkpoints), where torchvision itself looks; `--dir` a shared folder, which runs search when
`paths.weights_dirs` names it (FIDLE_WEIGHTS_DIR=<dir> does). Each file keeps torchvision's
name, and its sha256 is checked against the hash in that name, downloading (torch.hub's check)
and again once written; a file already there and intact is kept, a damaged one replaced."""

import argparse
from pathlib import Path
from typing import Any

import torch

from fidle_runs.core.command_line import user_errors
from fidle_runs.core.errors import UserError, one_line
from fidle_runs.models.pretrained.torchvision_nets import file_name, torchvision_weights
from fidle_runs.models.pretrained.weights import (
    WeightsFile,
    checked_file,
    hash_prefix,
    torch_cache_dir,
)

PROG = "python -m fidle_runs.fetch_weights"
AGAIN = f"run {PROG} again"


def fetch(entry: Any, folder: Path) -> tuple[WeightsFile, bool]:
    """The weights `entry` of torchvision as an intact file in `folder`, and whether it was
    downloaded (False: it was there already)."""
    path = folder / file_name(entry)
    if path.is_file():
        try:
            return checked_file(path, "downloading it again"), False
        except UserError as e:
            print(e, flush=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(entry.url, str(path), hash_prefix=hash_prefix(path.name))
    except RuntimeError as e:  # torch.hub's hash check: the download is not the file named
        raise UserError(f"{entry.url} downloaded damaged ({one_line(e)}); {AGAIN}") from None
    except OSError as e:  # URLError included: no internet, a proxy, a full disk
        raise UserError(f"cannot download {entry.url} to {folder} ({one_line(e)}): run {PROG} "
                        "on a machine with internet (a login node) and a folder you may write"
                        ) from None
    return checked_file(path, AGAIN), True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("archs", nargs="+", metavar="arch",
                        help="torchvision classification architectures (resnet18, "
                             "mobilenet_v3_small...), as model.net.arch names them")
    parser.add_argument("--weights-name", default="DEFAULT",
                        help="which of their weights, as model.net.weights_name (default: "
                             "DEFAULT, torchvision's recommended)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="folder to write them to (default: torch's cache, "
                             f"{torch_cache_dir()})")
    args = parser.parse_intermixed_args(argv)
    folder = (args.dir or torch_cache_dir()).expanduser()
    with user_errors(PROG):
        entries = {arch: torchvision_weights(arch, args.weights_name, ("", "--weights-name "))
                   for arch in dict.fromkeys(args.archs)}
        for arch, entry in entries.items():
            found, fetched = fetch(entry, folder)
            size = found.path.stat().st_size / 1e6
            print(f"{arch}: {found.path} ({entry.name}, {size:.1f} MB, sha256 "
                  f"{found.sha256[:16]}..., {'fetched' if fetched else 'already there, intact'})",
                  flush=True)
    if args.dir is not None:
        print(f"runs find them with paths.weights_dirs naming {folder} (e.g. "
              f"FIDLE_WEIGHTS_DIR={folder}) or with model.net.weights=<file>")


if __name__ == "__main__":
    main()
