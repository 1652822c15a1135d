"""Advanced indexing (integer arrays, boolean masks, mixed with basic items) for
``ndarray.__getitem__`` / ``__setitem__``.

The key is turned into a flat integer code (four ints an item, see ``ops/index.rs``) plus the index
arrays; one call into Rust does the gather (recorded by autograd) or the in-place write."""
import numbers

import numpy as _onp

from ..base import MXNetIndexError
from .multiarray import as_array, from_numpy, invoke, ndarray

__all__ = ["advanced_getitem", "advanced_setitem"]

_NONE = -(2**63)
_INT_DTYPES = ("uint8", "int8", "int32", "int64")
_BAD_KEY = (
    "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and integer or boolean arrays "
    "are valid indices"
)


def _slice_code(s):
    def one(v):
        if v is None:
            return _NONE
        try:
            return int(v.__index__())
        except (AttributeError, TypeError):
            raise MXNetIndexError(_BAD_KEY) from None

    return [1, one(s.start), one(s.stop), one(s.step)]


def _index_array(k, device):
    """An index item that is an array (or a sequence): an ndarray of integer or bool dtype."""
    if isinstance(k, ndarray):
        if k._t.dtype != "bool" and k._t.dtype not in _INT_DTYPES:
            # MXNet casts float index arrays (``np.array([0, 1])`` is float32 in MXNet) to integers.
            k = k.astype("int64")
        return k.to_device(device)
    a = _onp.asarray(k)
    if a.dtype.kind == "b":
        res = from_numpy(a, dtype="bool", device=device)
    elif a.dtype.kind in "iu" or a.size == 0:
        res = from_numpy(a, dtype="int64", device=device)
    else:
        raise MXNetIndexError("arrays used as indices must be of integer (or boolean) type")
    # keep 0-d arrays 0-d
    return res.reshape(()) if a.ndim == 0 and res.ndim != 0 else res


def _parse(arr, key):
    """The flat key code and the index arrays of ``key``."""
    if isinstance(key, tuple):
        items = key
    else:
        items = (key,)
    code = []
    arrays = []
    dev = arr.device
    for k in items:
        if k is None:
            code += [2, 0, 0, 0]
        elif k is Ellipsis:
            code += [3, 0, 0, 0]
        elif isinstance(k, slice):
            code += _slice_code(k)
        elif isinstance(k, (bool, _onp.bool_)):
            code += [4, 0, 0, 0]
            arrays.append(from_numpy(_onp.asarray(bool(k)), dtype="bool", device=dev).reshape(()))
        elif isinstance(k, (numbers.Integral, _onp.integer)):
            code += [0, int(k), 0, 0]
        elif isinstance(k, ndarray) and k.ndim == 0 and k._t.dtype in _INT_DTYPES:
            code += [0, int(k.item()), 0, 0]
        elif isinstance(k, (ndarray, _onp.ndarray, list, tuple)):
            code += [4, 0, 0, 0]
            arrays.append(_index_array(k, dev))
        else:
            raise MXNetIndexError(_BAD_KEY)
    return code, arrays


def advanced_getitem(arr, key):
    """``arr[key]`` for a key with index arrays or boolean masks: a new array (recorded by autograd)."""
    code, arrays = _parse(arr, key)
    return invoke("advanced_index", [arr] + arrays, key=code)


def advanced_setitem(arr, key, value):
    """``arr[key] = value`` in place; ``value`` broadcasts to the indexed shape and is cast to
    ``arr``'s dtype. Repeated indices: the last write wins."""
    code, arrays = _parse(arr, key)
    v = value if isinstance(value, ndarray) else as_array(value, like=arr)
    v = v.to_device(arr.device)
    invoke("advanced_setitem", [arr, v] + arrays, key=code)
