"""A weights file, found without a network and checked before use: where it is looked for, its
sha256 against the hash its name carries, its state dict read without running code from the
pickle, and its fit to the network it is for.

torch.hub names a file `<name>-<prefix of its sha256>.<ext>` and checks the prefix only when it
downloads; a file copied into a cache or a shared folder is loaded unverified there. Here the
prefix is checked every time the file is used, and the whole sha256 is kept so that a run can
record which file it started from."""

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from fidle_runs.core.errors import UserError, one_line

# torch.hub's `-<hex>.` in a file name, here of at least 6 hex digits (torch.hub's names carry 8
# or more) so that a name such as `cafe-bad.pth` is not taken for a hashed one.
HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")


@dataclass(frozen=True)
class WeightsFile:
    """A weights file whose name's hash prefix (if it has one) its content matches."""

    path: Path
    sha256: str


def torch_cache_dir() -> Path:
    """torch.hub's checkpoints folder, where torchvision itself looks for and downloads its
    files (`$TORCH_HOME/hub/checkpoints`, `~/.cache/torch/hub/checkpoints` by default)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_of(path: Path) -> str:
    """The file's sha256 in hex, read in blocks (weights files reach gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_prefix(name: str) -> str | None:
    """The sha256 prefix a file name carries (`resnet18-f37072fd.pth`: f37072fd), or None."""
    found = HASH_IN_NAME.search(name)
    return found.group(1) if found else None


def checked_file(path: Path, fetch_hint: str) -> WeightsFile:
    """`path` with its sha256, or a UserError when its content does not start with the hash its
    name carries (`fetch_hint` says how to get a good copy)."""
    digest = sha256_of(path)
    expected = hash_prefix(path.name)
    if expected is not None and not digest.startswith(expected):
        raise UserError(f"weights file {path} is damaged or not the file its name says: its "
                        f"sha256 starts {digest[:len(expected)]}, its name says {expected}; "
                        f"{fetch_hint}")
    return WeightsFile(path, digest)


def explicit_file(given: str | Path, fetch_hint: str) -> WeightsFile:
    """The file `model.net.weights` names, checked against the hash in its name."""
    path = Path(given).expanduser()
    if not path.is_file():
        raise UserError(f"model.net.weights={given}: no such file")
    return checked_file(path, fetch_hint)


def find_in(file_name: str, dirs: Sequence[Path], fetch_hint: str) -> WeightsFile:
    """`file_name` in the first of `dirs` that holds it, checked against the hash in its name.
    Found nowhere: a UserError naming every folder looked in and `fetch_hint`."""
    looked = []
    for folder in dict.fromkeys(dirs):
        if (folder / file_name).is_file():
            return checked_file(folder / file_name, fetch_hint)
        looked.append(f"{folder} ({'no such file' if folder.is_dir() else 'no such folder'})")
    raise UserError(f"weights {file_name} found nowhere: looked in {', '.join(looked)}; "
                    f"{fetch_hint}, or give model.net.weights=<file>")


def search_dirs(weights_dirs: Sequence[str | None] | None) -> list[Path]:
    """torch's cache then the configured folders (entries left unset, None or empty, skipped)."""
    return [torch_cache_dir(), *(Path(d).expanduser() for d in weights_dirs or () if d)]


def read_state_dict(weights: WeightsFile) -> dict[str, torch.Tensor]:
    """The file's state dict, read with torch's weights-only unpickler (no code from the file
    runs); a file that is no mapping of names to tensors is a UserError naming it."""
    try:
        state = torch.load(weights.path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load fails on a damaged or unsafe file with many errors
        raise UserError(f"weights file {weights.path} cannot be read as a state dict without "
                        f"running code from it ({one_line(e)})") from None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise UserError(f"weights file {weights.path} holds no state dict (a mapping of "
                        "parameter names to tensors)")
    return state  # as saved: its _metadata tells older layers' formats apart


def load_into(net: nn.Module, state: Mapping[str, torch.Tensor], weights: WeightsFile,
              net_name: str) -> None:
    """Load `state` into `net`, every parameter and buffer of it; a file made for another
    network is a UserError naming its first key that does not fit. BatchNorm's
    `num_batches_tracked` counters may be absent (files saved by older torch)."""
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    reshaped = [k for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} of the network's tensors missing from it (first "
                        f"{missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} of its tensors unknown to the network (first "
                        f"{unexpected[0]})")
    if reshaped:
        key = reshaped[0]
        problems.append(f"{len(reshaped)} of another shape (first {key}: "
                        f"{list(state[key].shape)} in the file, {list(own[key].shape)} in "
                        f"{net_name})")
    if problems:
        raise UserError(f"weights file {weights.path} is not for {net_name}: "
                        f"{', '.join(problems)}; give weights of {net_name}, or the network "
                        "of this file")
    net.load_state_dict(state, strict=False)
