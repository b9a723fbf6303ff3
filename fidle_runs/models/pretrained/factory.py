"""A backbone that a package ships: any network factory reachable by Hydra `_target_`
(`model.net.factory: {_target_: some.package.make_net, ...}`), its weights read from a
state-dict file (`model.net.weights`). The factory builds the network the file was saved from,
its original head included; the file must fit it exactly."""

from pathlib import Path

from omegaconf import DictConfig
from torch import nn

from fidle_runs.config.conf import build
from fidle_runs.core.errors import UserError
from fidle_runs.models.pretrained.backbone import Backbone
from fidle_runs.models.pretrained.weights import explicit_file, load_into, read_state_dict

FILE_HINT = "give an intact copy of it"


def factory_backbone(factory: DictConfig, weights: str | Path | None) -> Backbone:
    """The factory's network with the weights of the file `weights`; what they expect of
    their input is left to the config (the factory knows nothing of it)."""
    target = factory.get("_target_")
    if weights is None:
        raise UserError(f"model.net.weights: give the state-dict file of {target}'s network "
                        "(model.net.weights=<file>)")
    found = explicit_file(weights, FILE_HINT)
    net = build(factory, "model.net.factory")
    if not isinstance(net, nn.Module):
        raise UserError(f"model.net.factory: {target} returned a {type(net).__name__}, not a "
                        "torch network (nn.Module)")
    load_into(net, read_state_dict(found), found, f"{target}'s network")
    return Backbone(net=net, head=None, size=None, mean=None, std=None,
                    record={"factory": target, "file": str(found.path),
                            "sha256": found.sha256})
