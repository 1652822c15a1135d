"""Array creation: ``array``, ``zeros``, ``ones``, ``full``, ``empty`` and the ``_like`` forms."""
import numbers

import numpy as _onp

from .. import _core
from ..device import as_device
from .multiarray import _wrap, dtype_name, from_numpy, ndarray

__all__ = ["from_dlpack", "array", "asarray", "zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "empty_like"]


def from_dlpack(x):
    """An array copied from a DLPack capsule or from any object with ``__dlpack__`` (NumPy, PyTorch, ...)."""
    return _wrap(_core.from_dlpack(x))


def _shape(shape):
    if isinstance(shape, (numbers.Integral, _onp.integer)):
        return [int(shape)]
    return [int(d) for d in shape]


def array(object, dtype=None, device=None, ctx=None, copy=True, ndmin=0):
    """An array from nested sequences, a NumPy array, a scalar or another ndarray.

    The default dtype is float32 for Python floats and nested lists (MXNet's default), otherwise the
    dtype of the NumPy array or ndarray given."""
    dev = device if device is not None else ctx
    if isinstance(object, ndarray):
        out = object.astype(dtype) if dtype is not None else object.copy()
        out = out.to_device(dev) if dev is not None else out
    else:
        if dtype is None and not isinstance(object, (_onp.ndarray, _onp.generic)):
            a = _onp.asarray(object)
            if a.dtype.kind == "f":
                dtype = "float32"
            elif a.dtype.kind == "b":
                dtype = "bool"
            elif a.dtype.kind in "iu":
                dtype = "int64" if isinstance(object, (numbers.Integral, _onp.integer)) else "float32"
            object = a
        out = from_numpy(object, dtype=dtype, device=dev)
    while out.ndim < ndmin:
        out = out.reshape((1,) + out.shape)
    return out


def asarray(obj, dtype=None, device=None, ctx=None):
    """Like ``array`` but returns an ndarray argument itself when no conversion is needed."""
    dev = device if device is not None else ctx
    if isinstance(obj, ndarray) and (dtype is None or dtype_name(dtype) == obj._t.dtype) and (dev is None or as_device(dev) == obj.device):
        return obj
    return array(obj, dtype=dtype, device=dev)


def full(shape, fill_value, dtype=None, order="C", device=None, ctx=None, out=None):
    if dtype is None:
        if isinstance(fill_value, ndarray):
            dtype = fill_value._t.dtype
            fill_value = fill_value.item()
        elif isinstance(fill_value, (bool, _onp.bool_)):
            dtype = "bool"
        elif isinstance(fill_value, (numbers.Integral, _onp.integer)):
            dtype = "int64"
        else:
            dtype = "float32"
    t = _core.full(_shape(shape), float(fill_value), dtype_name(dtype), as_device(device, ctx)._pair())
    res = _wrap(t)
    if out is not None:
        out[...] = res
        return out
    return res


def zeros(shape, dtype=None, order="C", device=None, ctx=None):
    return full(shape, 0, dtype or "float32", device=device, ctx=ctx)


def ones(shape, dtype=None, order="C", device=None, ctx=None):
    return full(shape, 1, dtype or "float32", device=device, ctx=ctx)


def empty(shape, dtype=None, order="C", device=None, ctx=None):
    """A new array; its contents are zeros (memory is always initialised)."""
    return zeros(shape, dtype=dtype, device=device, ctx=ctx)


def full_like(a, fill_value, dtype=None, order="C", subok=True, shape=None, device=None, ctx=None):
    return full(shape if shape is not None else a.shape, fill_value, dtype or a._t.dtype, device=device or ctx or a.device)


def zeros_like(a, dtype=None, order="C", subok=True, shape=None, device=None, ctx=None):
    return full_like(a, 0, dtype, shape=shape, device=device, ctx=ctx)


def ones_like(a, dtype=None, order="C", subok=True, shape=None, device=None, ctx=None):
    return full_like(a, 1, dtype, shape=shape, device=device, ctx=ctx)


def empty_like(prototype, dtype=None, order="C", subok=True, shape=None, device=None, ctx=None):
    return zeros_like(prototype, dtype, shape=shape, device=device, ctx=ctx)
