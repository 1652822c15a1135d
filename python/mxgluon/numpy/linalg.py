"""``mx.np.linalg``: norms (built from mx.np reductions and ufuncs)."""
import numbers

from ..base import MXNetValueError
from .multiarray import as_array

__all__ = ["norm"]

_INF = float("inf")


def _np():
    from .. import numpy as np

    return np


def _reduce(name, x, axis, keepdims=False):
    f = getattr(_np(), name, None)
    if f is None:
        raise MXNetValueError(f"norm: this ord needs mx.np.{name}, which is not available yet")
    return f(x, axis=axis, keepdims=keepdims)


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, numbers.Integral):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < ndim:
            raise MXNetValueError(f"norm: axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise MXNetValueError(f"norm: duplicate axes in {axis!r}")
    return tuple(out)


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms (``ord`` None/2, 1, inf, -inf, 0 or any p) over one axis, matrix norms
    (``ord`` None/'fro', 1, -1, inf, -inf) over two; like ``numpy.linalg.norm``."""
    np = _np()
    x = as_array(x)
    if x.dtype != "bfloat16" and x.dtype.kind != "f":
        x = x.astype("float32")
    if axis is None and ord is None:
        # The 2-norm of the flattened array (Frobenius for matrices).
        r = np.sqrt(np.sum(x * x, keepdims=keepdims))
        return r
    if axis is None and x.ndim not in (1, 2):
        raise MXNetValueError(f"norm: an ord needs a 1-D or 2-D array or an axis, got {x.ndim} dimensions")
    axes = _axes(axis, x.ndim)
    if len(axes) == 1:
        if isinstance(ord, str):
            raise MXNetValueError(f"norm: invalid norm order {ord!r} for vectors")
        ax = axes
        if ord is None or ord == 2:
            return np.sqrt(np.sum(x * x, axis=ax, keepdims=keepdims))
        if ord == _INF:
            return _reduce("max", np.abs(x), ax, keepdims)
        if ord == -_INF:
            return _reduce("min", np.abs(x), ax, keepdims)
        if ord == 0:
            return np.sum((x != 0).astype(x.dtype), axis=ax, keepdims=keepdims)
        if ord == 1:
            return np.sum(np.abs(x), axis=ax, keepdims=keepdims)
        p = float(ord)
        return np.sum(np.abs(x) ** p, axis=ax, keepdims=keepdims) ** (1.0 / p)
    if len(axes) == 2:
        row, col = axes
        if ord is None or ord == "fro":
            return np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdims))
        if ord in (1, -1, _INF, -_INF):
            red = "max" if ord in (1, _INF) else "min"
            if ord in (1, -1):
                s_axis, m_axis = row, col
            else:
                s_axis, m_axis = col, row
            s = np.sum(np.abs(x), axis=s_axis)
            if m_axis > s_axis:
                m_axis -= 1
            r = _reduce(red, s, m_axis)
            if keepdims:
                shape = list(x.shape)
                shape[row] = 1
                shape[col] = 1
                r = r.reshape(tuple(shape))
            return r
        raise MXNetValueError(f"norm: matrix norm ord={ord!r} is not supported (use None, 'fro', 1, -1, inf, -inf)")
    raise MXNetValueError(f"norm: axis must name one or two axes, got {axis!r}")
