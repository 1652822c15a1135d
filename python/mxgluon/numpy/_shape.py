"""Shape functions that return views: reshape, transpose, swapaxes, moveaxis, broadcast_to,
expand_dims, squeeze, flip, ravel."""
import numbers

from ..base import MXNetValueError
from .multiarray import as_array, invoke

__all__ = [
    "reshape", "transpose", "swapaxes", "moveaxis", "broadcast_to", "broadcast_arrays", "expand_dims",
    "squeeze", "flip", "fliplr", "flipud", "ravel", "flatten", "shape", "ndim", "size", "atleast_1d",
    "atleast_2d", "atleast_3d",
]


def _ints(v):
    if isinstance(v, numbers.Integral):
        return (int(v),)
    return tuple(int(x) for x in v)


def reshape(a, newshape, order="C"):
    """A view with a new shape when the layout allows, else a copy; one dimension may be -1."""
    if order != "C":
        raise MXNetValueError("reshape: only order='C' is supported")
    return invoke("reshape", [as_array(a)], newshape=_ints(newshape))


def transpose(a, axes=None):
    return invoke("transpose", [as_array(a)], axes=None if axes is None else _ints(axes))


def swapaxes(a, axis1, axis2):
    a = as_array(a)
    perm = list(range(a.ndim))
    i, j = axis1 % a.ndim if a.ndim else 0, axis2 % a.ndim if a.ndim else 0
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


def moveaxis(a, source, destination):
    a = as_array(a)
    src = [s % a.ndim for s in _ints(source)]
    dst = [d % a.ndim for d in _ints(destination)]
    if len(src) != len(dst):
        raise MXNetValueError("moveaxis: source and destination must have the same number of elements")
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def broadcast_to(array, shape):
    return invoke("broadcast_to", [as_array(array)], shape=_ints(shape))


def broadcast_arrays(*args):
    import numpy as _onp

    arrs = [as_array(a) for a in args]
    shape = _onp.broadcast_shapes(*[a.shape for a in arrs])
    return [broadcast_to(a, shape) for a in arrs]


def expand_dims(a, axis):
    a = as_array(a)
    for ax in sorted(_ints(axis)):
        a = invoke("expand_dims", [a], axis=ax)
    return a


def squeeze(a, axis=None):
    return invoke("squeeze", [as_array(a)], axis=None if axis is None else _ints(axis))


def flip(m, axis=None):
    return invoke("flip", [as_array(m)], axis=() if axis is None else _ints(axis))


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def ravel(a, order="C"):
    return reshape(a, (-1,), order)


def flatten(a, order="C"):
    """A flat copy (``ndarray.flatten``)."""
    return reshape(a, (-1,), order).copy()


def shape(a):
    return as_array(a).shape


def ndim(a):
    return as_array(a).ndim


def size(a, axis=None):
    a = as_array(a)
    return a.size if axis is None else a.shape[axis]


def atleast_1d(*arys):
    res = [as_array(a) if as_array(a).ndim >= 1 else reshape(a, (1,)) for a in arys]
    return res[0] if len(res) == 1 else res


def atleast_2d(*arys):
    res = []
    for a in arys:
        a = as_array(a)
        res.append(a if a.ndim >= 2 else reshape(a, (1,) * (2 - a.ndim) + a.shape))
    return res[0] if len(res) == 1 else res


def atleast_3d(*arys):
    res = []
    for a in arys:
        a = as_array(a)
        if a.ndim == 0:
            a = reshape(a, (1, 1, 1))
        elif a.ndim == 1:
            a = reshape(a, (1, a.shape[0], 1))
        elif a.ndim == 2:
            a = reshape(a, a.shape + (1,))
        res.append(a)
    return res[0] if len(res) == 1 else res
