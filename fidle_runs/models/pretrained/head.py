"""A pretrained network's classification head: found by its attribute path (`fc`,
`classifier.1`, `_fc`) or as the network's last Linear or Conv2d layer, and replaced by a
fresh layer of the same kind with one output per class of the data."""

from torch import nn

from fidle_runs.core.errors import UserError

LAYERS = (nn.Linear, nn.Conv2d)


def layer_paths(net: nn.Module) -> list[str]:
    """The attribute paths of `net`'s Linear and Conv2d layers, in the order they were made."""
    return [name for name, module in net.named_modules() if isinstance(module, LAYERS)]


def last_layer(net: nn.Module) -> str | None:
    """The path of `net`'s last Linear or Conv2d layer: the head of torchvision's classifiers
    (GoogLeNet's and Inception's auxiliary classifiers dropped first)."""
    paths = layer_paths(net)
    return paths[-1] if paths else None


def replace_head(net: nn.Module, path: str, n_outputs: int, net_name: str) -> None:
    """Put a new, randomly initialised layer with `n_outputs` outputs in place of the Linear or
    Conv2d layer at `path`; a path that names no such layer is a UserError listing the last
    layers `net_name` has."""
    try:
        old = net.get_submodule(path)
    except AttributeError:
        old = None
    if not isinstance(old, LAYERS):
        what = "has no module" if old is None else f"has a {type(old).__name__}, no Linear or " \
                                                   "Conv2d layer, at"
        raise UserError(f"model.net.head={path}: {net_name} {what} {path}; its last layers are "
                        f"{', '.join(layer_paths(net)[-3:]) or 'none'}")
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, n_outputs, bias=old.bias is not None)
    else:
        new = nn.Conv2d(old.in_channels, n_outputs, old.kernel_size, old.stride, old.padding,
                        old.dilation, bias=old.bias is not None)
    parent, _, name = path.rpartition(".")
    setattr(net.get_submodule(parent), name, new)
