"""Reductions, scans and sorting of ``mx.np``: argument handling only, the numerics are in Rust."""
import numbers

from ..base import MXNetValueError
from .multiarray import as_array, dtype_name, invoke, ndarray

__all__ = [
    "sum", "mean", "prod", "max", "amax", "min", "amin", "argmax", "argmin", "std", "var", "all", "any",
    "cumsum", "sort", "argsort", "unique", "average", "nansum",
]

def _axis(axis):
    """None, or a tuple of ints (a single int becomes a tuple of one)."""
    if axis is None:
        return None
    if isinstance(axis, numbers.Integral):
        return (int(axis),)
    if isinstance(axis, ndarray):
        axis = axis.tolist()
    return tuple(int(a) for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))


def _one_axis(axis, name):
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        raise MXNetValueError(f"{name}: axis must be an integer or None, not {axis!r}")
    return int(axis)


def _store(res, out):
    if out is None:
        return res
    out[...] = res
    return out


def _no_where(name, where):
    if where is not None and where is not True:
        raise NotImplementedError(f"{name}: the 'where' argument is not supported")


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Sum of elements over the given axes (``numpy.sum``); bool and small ints sum as int64."""
    _no_where("sum", where)
    res = invoke("sum", [as_array(a)], axis=_axis(axis), keepdims=keepdims, dtype=dtype_name(dtype))
    if initial is not None:
        res = res + initial
    return _store(res, out)


def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    """Arithmetic mean (``numpy.mean``). Integer arrays give float32 (MXNet's default float)."""
    _no_where("mean", where)
    return _store(invoke("mean", [as_array(a)], axis=_axis(axis), keepdims=keepdims, dtype=dtype_name(dtype)), out)


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Product of elements (``numpy.prod``); the product of nothing is 1."""
    _no_where("prod", where)
    res = invoke("prod", [as_array(a)], axis=_axis(axis), keepdims=keepdims, dtype=dtype_name(dtype))
    if initial is not None:
        res = res * initial
    return _store(res, out)


def _extreme(name, a, axis, out, keepdims, initial, where):
    _no_where(name, where)
    a = as_array(a)
    if initial is not None:
        raise NotImplementedError(f"{name}: the 'initial' argument is not supported")
    return _store(invoke(name, [a], axis=_axis(axis), keepdims=keepdims), out)


def max(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """Maximum (``numpy.max``). NaN propagates; an empty reduction raises ValueError. The gradient
    is split evenly between tied maxima."""
    return _extreme("max", a, axis, out, keepdims, initial, where)


def min(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """Minimum (``numpy.min``). NaN propagates; an empty reduction raises ValueError. The gradient
    is split evenly between tied minima."""
    return _extreme("min", a, axis, out, keepdims, initial, where)


amax = max
amin = min


def argmax(a, axis=None, out=None, keepdims=False):
    """Index (int64) of the first maximum along ``axis`` (None: of the flattened array)."""
    return _store(invoke("argmax", [as_array(a)], axis=_one_axis(axis, "argmax"), keepdims=keepdims), out)


def argmin(a, axis=None, out=None, keepdims=False):
    """Index (int64) of the first minimum along ``axis`` (None: of the flattened array)."""
    return _store(invoke("argmin", [as_array(a)], axis=_one_axis(axis, "argmin"), keepdims=keepdims), out)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None):
    """Variance with ``ddof`` (``numpy.var``). Integer arrays give float32."""
    _no_where("var", where)
    res = invoke("var", [as_array(a)], axis=_axis(axis), keepdims=keepdims, ddof=int(ddof), dtype=dtype_name(dtype))
    return _store(res, out)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None):
    """Standard deviation with ``ddof`` (``numpy.std``). Integer arrays give float32."""
    _no_where("std", where)
    res = invoke("std", [as_array(a)], axis=_axis(axis), keepdims=keepdims, ddof=int(ddof), dtype=dtype_name(dtype))
    return _store(res, out)


def all(a, axis=None, out=None, keepdims=False, where=None):
    """Whether every element is true (``numpy.all``), as a bool array."""
    _no_where("all", where)
    return _store(invoke("all", [as_array(a)], axis=_axis(axis), keepdims=keepdims), out)


def any(a, axis=None, out=None, keepdims=False, where=None):
    """Whether some element is true (``numpy.any``), as a bool array."""
    _no_where("any", where)
    return _store(invoke("any", [as_array(a)], axis=_axis(axis), keepdims=keepdims), out)


def cumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum along ``axis`` (None: of the flattened array); small ints accumulate as int64."""
    res = invoke("cumsum", [as_array(a)], axis=_one_axis(axis, "cumsum"), dtype=dtype_name(dtype))
    return _store(res, out)


def sort(a, axis=-1, kind=None, order=None, descending=False, stable=None):
    """Sorted copy along ``axis`` (None: the flattened array). NaN sorts last. Stable."""
    if order is not None:
        raise NotImplementedError("sort: the 'order' argument is not supported")
    return invoke("sort", [as_array(a)], axis=_one_axis(axis, "sort"), descending=bool(descending))


def argsort(a, axis=-1, kind=None, order=None, descending=False, stable=None):
    """Indices (int64) that sort ``a`` along ``axis`` (None: the flattened array); stable."""
    if order is not None:
        raise NotImplementedError("argsort: the 'order' argument is not supported")
    return invoke("argsort", [as_array(a)], axis=_one_axis(axis, "argsort"), descending=bool(descending))


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, equal_nan=True):
    """Sorted distinct elements of the flattened array, with optionally the index of each one's
    first occurrence, the inverse (shaped like ``ar``) and the counts (all int64)."""
    if axis is not None:
        raise NotImplementedError("unique: only axis=None is supported")
    res = invoke(
        "unique", [as_array(ar)],
        return_index=bool(return_index), return_inverse=bool(return_inverse), return_counts=bool(return_counts),
    )
    return res


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """Weighted average (``numpy.average``); without weights, the mean."""
    a = as_array(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        if returned:
            n = a.size if axis is None else _prod_dims(a.shape, _axis(axis))
            return avg, avg * 0 + float(n)
        return avg
    w = as_array(weights, like=a)
    if w.shape != a.shape:
        if axis is None or w.ndim != 1 or not isinstance(axis, numbers.Integral):
            raise MXNetValueError(
                f"average: weights of shape {w.shape} need axis (an int) when a has shape {a.shape}"
            )
        ax = int(axis) % a.ndim
        if w.shape[0] != a.shape[ax]:
            raise MXNetValueError(f"average: length of weights {w.shape[0]} differs from axis {ax} of {a.shape}")
        w = w.reshape((1,) * ax + (w.shape[0],) + (1,) * (a.ndim - ax - 1))
        w = w * (a * 0 + 1)
    scl = sum(w, axis=axis, keepdims=keepdims)
    avg = sum(a * w, axis=axis, keepdims=keepdims) / scl
    if returned:
        return avg, scl
    return avg


def _prod_dims(shape, axes):
    n = 1
    for ax in axes:
        n *= shape[ax]
    return n


def nansum(a, axis=None, dtype=None, out=None, keepdims=False):
    """Sum treating NaN as zero (``numpy.nansum``)."""
    from . import where, isnan

    a = as_array(a)
    if a._t.dtype in ("float16", "bfloat16", "float32", "float64"):
        a = where(isnan(a), 0, a)
    return sum(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims)
