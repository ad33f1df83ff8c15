"""Read pickled numpy checkpoints without letting the pickle run code.

A pickle names the callables that rebuild its objects, and the stock unpickler imports
and calls whatever it names: a tampered checkpoint could run anything. This unpickler
admits numpy's array reconstruction and nothing else, and the result must be nested
dicts of string keys whose leaves are plain numeric arrays (object arrays could smuggle
other objects through the admitted classes).
"""

from __future__ import annotations

import io
import pickle

import numpy as np

from backend.errors import WeightsError

ADMITTED = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)

Arrays = dict[str, "Arrays | np.ndarray"]


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ADMITTED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which is not a numpy array")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("it refers to external objects")


def load_arrays(data: bytes, source: str) -> Arrays:
    """Nested dicts of float arrays from pickle bytes; ``source`` names them in errors."""
    try:
        tree = _ArraysOnly(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise WeightsError(f"{source}: refused as a weights file: {exc}") from exc
    _check(tree, source, "")
    return tree


def _check(node: object, source: str, where: str) -> None:
    if isinstance(node, np.ndarray):
        if node.dtype.kind != "f":
            raise WeightsError(f"{source}: {where or 'top'} holds {node.dtype} data, not floats")
        return
    if not isinstance(node, dict) or not all(isinstance(k, str) for k in node):
        raise WeightsError(f"{source}: {where or 'top'} is not a dict of named arrays")
    for key, value in node.items():
        _check(value, source, f"{where}/{key}")
