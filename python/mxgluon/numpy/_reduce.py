"""Reductions, scans and sorting of ``mx.np``."""
import numbers

from .multiarray import as_array, dtype_name, invoke

__all__ = ["sum"]


def _axis(axis):
    if axis is None:
        return None
    if isinstance(axis, numbers.Integral):
        return (int(axis),)
    return tuple(int(a) for a in axis)


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    res = invoke("sum", [as_array(a)], axis=_axis(axis), keepdims=keepdims, dtype=dtype_name(dtype))
    if initial is not None:
        res = res + initial
    if out is not None:
        out[...] = res
        return out
    return res
