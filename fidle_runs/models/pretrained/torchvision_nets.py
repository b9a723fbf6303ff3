"""torchvision's classification architectures by name, built as torchvision builds them for
their pretrained weights, with those weights read from a local file instead of downloaded.

torchvision's builders, given weights, size the network for the weights' classes and build a
few architectures otherwise than by default: GoogLeNet and Inception v3 with the auxiliary
classifiers their files hold and with the input re-normalisation their original weights were
trained with; the auxiliary classifiers are dropped once loaded, so that the network gives one
output in training as in evaluation; the vision transformers for the image size of the weights.
The same is done here so that the official files load strictly."""

import difflib
from pathlib import Path
from typing import Any

import torchvision
from torch import nn
from torchvision.models import get_model, get_model_weights, list_models

from fidle_runs.core.errors import UserError
from fidle_runs.models.pretrained.backbone import Backbone
from fidle_runs.models.pretrained.head import last_layer
from fidle_runs.models.pretrained.weights import (
    explicit_file,
    find_in,
    load_into,
    read_state_dict,
    search_dirs,
)

FETCH = "python -m fidle_runs.fetch_weights"
AUXILIARY = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}


def architectures() -> list[str]:
    """The names of torchvision's classification architectures."""
    return list_models(module=torchvision.models)


def torchvision_weights(arch: str, weights_name: str,
                        keys: tuple[str, str] = ("model.net.arch=", "model.net.weights_name=")
                        ) -> Any:
    """The weights entry (`ResNet18_Weights.IMAGENET1K_V1`) of `arch` named `weights_name`
    (DEFAULT: torchvision's recommended one); a UserError naming close architectures or the
    weights `arch` has, each value shown after its `keys` (how the user gave it)."""
    known = architectures()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=5, cutoff=0.5)
        hint = f"close names: {', '.join(close)}" if close else f"e.g. {', '.join(known[:5])}"
        raise UserError(f"{keys[0]}{arch}: torchvision {torchvision.__version__} has no "
                        f"classification architecture of that name ({hint}; "
                        "torchvision.models.list_models() lists them)")
    entries = get_model_weights(arch)
    try:
        return entries[weights_name]
    except KeyError:
        raise UserError(f"{keys[1]}{weights_name}: {arch} has no such weights; "
                        f"choose DEFAULT or one of {', '.join(e.name for e in entries)}"
                        ) from None


def file_name(weights: Any) -> str:
    """The name torch.hub gives the downloaded file: the last part of the weights' URL."""
    return weights.url.rsplit("/", 1)[-1]


def fetch_hint(arch: str) -> str:
    """What to run where the internet is reachable to get `arch`'s weights."""
    return f"run `{FETCH} {arch}` on a machine with internet (a login node)"


def untrained(arch: str, weights: Any) -> nn.Module:
    """`arch` with random weights, shaped as torchvision shapes it for `weights`."""
    arguments: dict[str, Any] = {}
    categories = weights.meta.get("categories")
    if categories is not None:
        arguments["num_classes"] = len(categories)
    if arch in AUXILIARY:
        arguments.update(aux_logits=True, transform_input=True, init_weights=False)
    if arch.startswith("vit_"):
        arguments["image_size"] = weights.meta["min_size"][0]
    if arch.startswith("maxvit_"):
        arguments["input_size"] = weights.meta["min_size"]
    return get_model(arch, weights=None, **arguments)


def torchvision_backbone(arch: str, weights_name: str, weights: str | Path | None,
                         weights_dirs: list[str | None] | None) -> Backbone:
    """`arch` with its `weights_name` weights read from the file `weights`, or else from
    torchvision's file name in torch's cache or in `weights_dirs`; never downloaded."""
    entry = torchvision_weights(arch, weights_name)
    hint = fetch_hint(arch)
    found = (explicit_file(weights, hint) if weights is not None
             else find_in(file_name(entry), search_dirs(weights_dirs), hint))
    net = untrained(arch, entry)
    load_into(net, read_state_dict(found), found, arch)
    for name in AUXILIARY.get(arch, ()):
        setattr(net, name, None)
        net.aux_logits = False
    expected = entry.transforms()
    return Backbone(net=net, head=last_layer(net), size=int(expected.crop_size[0]),
                    mean=tuple(expected.mean), std=tuple(expected.std),
                    record={"arch": arch, "weights_name": entry.name, "file": str(found.path),
                            "sha256": found.sha256})
