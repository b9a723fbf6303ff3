"""Loading CIFAR's pickled batches without letting a pickle run code.

A pickle names the functions it calls when loaded; an arbitrary file could name `os.system`.
CIFAR's files (Python 2's cPickle, or a Python 3 re-save) only ever name numpy's array and
scalar reconstruction, numpy's dtype, `_codecs.encode` (Python 3's protocol 2 writes bytes with
it) and builtin containers: the unpickler here resolves exactly those and refuses any other name.
"""

import builtins
import codecs
import io
import pickle
from typing import Any

import numpy as np

_CONTAINERS = ("dict", "list", "tuple", "set", "frozenset")


def _allowed() -> dict[tuple[str, str], Any]:
    """(module, name) -> object, under numpy 1's and numpy 2's module names alike."""
    reconstruct = np.zeros(0).__reduce__()[0]
    scalar = np.uint8(0).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray,
                                           ("numpy", "dtype"): np.dtype,
                                           ("_codecs", "encode"): codecs.encode}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    for module in ("builtins", "__builtin__"):
        allowed.update({(module, name): getattr(builtins, name) for name in _CONTAINERS})
    return allowed


ALLOWED = _allowed()


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names something a CIFAR file never holds."""


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None


def load_cifar_pickle(raw: bytes) -> Any:
    """The object pickled in `raw`, Python 2's byte strings read as latin-1 text (as
    torchvision does). Raises RefusedGlobal for a name outside ALLOWED, and pickle's own errors
    (UnpicklingError, EOFError...) for a damaged stream."""
    return _CifarUnpickler(io.BytesIO(raw), encoding="latin1").load()
