"""Array manipulation (concatenate, stack, split, tile, repeat, pad, roll, ...), creation ranges
(arange, linspace, eye, identity) and take/nonzero. Argument handling only: numerics are in Rust."""
import numbers

import numpy as _onp

from ..base import MXNetValueError
from ..device import as_device
from .multiarray import as_array, dtype_name, from_numpy, invoke, ndarray

__all__ = [
    "concatenate", "concat", "stack", "vstack", "row_stack", "hstack", "dstack", "column_stack", "split",
    "array_split", "hsplit", "vsplit", "dsplit", "tile", "repeat", "pad", "roll", "arange", "linspace", "eye",
    "identity", "take", "nonzero", "flatnonzero", "tril", "triu", "diagonal", "trace", "append",
]


def _is_int(v):
    return isinstance(v, (numbers.Integral, _onp.integer)) and not isinstance(v, (bool, _onp.bool_))


def _ints(v):
    if isinstance(v, ndarray):
        v = v.asnumpy()
    if isinstance(v, _onp.ndarray):
        return tuple(int(x) for x in v.reshape(-1))
    if _is_int(v):
        return (int(v),)
    return tuple(int(x) for x in v)


def _arrays(seq, name):
    if isinstance(seq, ndarray):
        seq = list(seq)
    arrs = [as_array(a) for a in seq]
    if not arrs:
        raise MXNetValueError(f"{name}: need at least one array")
    first = next((a for a in seq if isinstance(a, ndarray)), arrs[0])
    return [a.to_device(first.device) for a in arrs]


def _creation_device(out, device, ctx):
    if device is None and ctx is None:
        dev = as_device(None)
    else:
        dev = as_device(device, ctx)
    return out.to_device(dev)


# --- joining


def concatenate(seq, axis=0, out=None, dtype=None, casting="same_kind"):
    """Join arrays along an existing axis (``axis=None`` joins the flattened arrays)."""
    arrs = _arrays(seq, "concatenate")
    res = invoke("concatenate", arrs, axis=None if axis is None else int(axis))
    if dtype is not None:
        res = res.astype(dtype, copy=False)
    if out is not None:
        out[...] = res
        return out
    return res


def concat(*seq, dim=1, axis=None, **kwargs):
    """MXNet 1.x ``concat(*arrays, dim=1)``; also accepts a single list."""
    if len(seq) == 1 and isinstance(seq[0], (list, tuple)):
        seq = seq[0]
    return concatenate(seq, axis=dim if axis is None else axis)


def stack(arrays, axis=0, out=None):
    arrs = _arrays(arrays, "stack")
    res = invoke("stack", arrs, axis=int(axis))
    if out is not None:
        out[...] = res
        return out
    return res


def _atleast(a, n):
    a = as_array(a)
    if a.ndim >= n:
        return a
    if n == 2:
        return a.reshape((1,) * (2 - a.ndim) + a.shape)
    if a.ndim == 0:
        return a.reshape((1, 1, 1))
    if a.ndim == 1:
        return a.reshape((1, a.shape[0], 1))
    return a.reshape(a.shape + (1,))


def vstack(tup, out=None):
    return concatenate([_atleast(a, 2) for a in _arrays(tup, "vstack")], axis=0, out=out)


row_stack = vstack


def hstack(tup, out=None):
    arrs = [_atleast(a, 1) for a in _arrays(tup, "hstack")]
    return concatenate(arrs, axis=0 if arrs[0].ndim == 1 else 1, out=out)


def dstack(tup):
    return concatenate([_atleast(a, 3) for a in _arrays(tup, "dstack")], axis=2)


def column_stack(tup):
    arrs = []
    for a in _arrays(tup, "column_stack"):
        arrs.append(a.reshape((a.size, 1)) if a.ndim < 2 else a)
    return concatenate(arrs, axis=1)


def append(arr, values, axis=None):
    arr = as_array(arr)
    values = as_array(values, like=arr)
    return concatenate([arr, values], axis=axis)


# --- splitting


def _split(name, ary, indices_or_sections, axis):
    ary = as_array(ary)
    if _is_int(indices_or_sections):
        res = invoke(name, [ary], sections=int(indices_or_sections), axis=int(axis))
    else:
        res = invoke(name, [ary], indices=_ints(indices_or_sections), axis=int(axis))
    return list(res) if isinstance(res, tuple) else [res]


def split(ary, indices_or_sections, axis=0):
    """Split into equal sections (an int) or at the given indices; the pieces are views."""
    return _split("split", ary, indices_or_sections, axis)


def array_split(ary, indices_or_sections, axis=0):
    """Like ``split``, but sections need not divide the axis equally."""
    return _split("array_split", ary, indices_or_sections, axis)


def hsplit(ary, indices_or_sections):
    ary = as_array(ary)
    return split(ary, indices_or_sections, axis=1 if ary.ndim > 1 else 0)


def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=0)


def dsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=2)


# --- repetition, padding, rolling


def tile(A, reps):
    return invoke("tile", [as_array(A)], reps=_ints(reps))


def repeat(a, repeats, axis=None):
    return invoke("repeat", [as_array(a)], repeats=_ints(repeats), axis=None if axis is None else int(axis))


def _pad_width(pad_width, ndim):
    pw = _onp.asarray(pad_width.asnumpy() if isinstance(pad_width, ndarray) else pad_width)
    if pw.dtype.kind not in "iu":
        if pw.size and not _onp.all(_onp.equal(_onp.mod(pw, 1), 0)):
            raise MXNetValueError("pad: `pad_width` must be of integral type.")
        pw = pw.astype(_onp.int64)
    try:
        pw = _onp.broadcast_to(pw, (ndim, 2))
    except ValueError:
        raise MXNetValueError(
            f"pad: pad_width {pad_width!r} cannot be broadcast to shape ({ndim}, 2) for an array of {ndim} dimensions"
        ) from None
    return tuple(int(v) for v in pw.reshape(-1))


def pad(x, pad_width, mode="constant", **kwargs):
    """NumPy's ``pad`` with modes constant (``constant_values`` a scalar), edge, reflect, symmetric, wrap."""
    x = as_array(x)
    value = kwargs.pop("constant_values", 0)
    if kwargs.pop("reflect_type", "even") != "even":
        raise MXNetValueError("pad: only reflect_type='even' is supported")
    if kwargs:
        raise MXNetValueError(f"pad: unsupported keyword arguments {sorted(kwargs)}")
    if isinstance(value, ndarray):
        value = value.item()
    v = _onp.asarray(value)
    if v.size != 1:
        if not _onp.all(v == v.reshape(-1)[0]):
            raise MXNetValueError("pad: only a single scalar constant_values is supported")
        value = v.reshape(-1)[0]
    return invoke("pad", [x], pad_width=_pad_width(pad_width, x.ndim), mode=str(mode),
                  constant_values=float(value))


def roll(a, shift, axis=None):
    return invoke("roll", [as_array(a)], shift=_ints(shift), axis=None if axis is None else _ints(axis))


# --- creation


def arange(start, stop=None, step=1, dtype=None, device=None, ctx=None):
    """Evenly spaced values in ``[start, stop)``; the default dtype is float32 (MXNet's)."""
    if stop is None:
        start, stop = 0, start
    res = invoke("arange", [], start=float(start), stop=float(stop), step=float(step),
                 dtype=dtype_name(dtype) or "float32")
    return _creation_device(res, device, ctx)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, device=None, ctx=None):
    if axis != 0:
        raise MXNetValueError("linspace: only axis=0 is supported")
    num = int(num)
    if num < 0:
        raise MXNetValueError(f"Number of samples, {num}, must be non-negative.")
    res = invoke("linspace", [], start=float(start), stop=float(stop), num=num, endpoint=bool(endpoint),
                 dtype=dtype_name(dtype) or "float32")
    res = _creation_device(res, device, ctx)
    if retstep:
        div = (num - 1) if endpoint else num
        step = (float(stop) - float(start)) / div if div > 0 else float("nan")
        return res, step
    return res


def eye(N, M=None, k=0, dtype=None, device=None, ctx=None, **kwargs):
    res = invoke("eye", [], N=int(N), M=None if M is None else int(M), k=int(k),
                 dtype=dtype_name(dtype) or "float32")
    return _creation_device(res, device, ctx)


def identity(n, dtype=None, device=None, ctx=None):
    return eye(n, dtype=dtype, device=device, ctx=ctx)


# --- take, nonzero, triangles, diagonals


def _index_arg(indices, device):
    """Indices as an ndarray on ``device``: integer sequences as int64, 0-d kept 0-d."""
    if isinstance(indices, ndarray):
        return indices.to_device(device)
    a = _onp.asarray(indices)
    if a.dtype.kind not in "iub" and a.size == 0:
        a = a.astype(_onp.int64)
    if a.dtype.kind in "iu":
        a = a.astype(_onp.int64)
    res = from_numpy(a, device=device)
    return res.reshape(()) if a.ndim == 0 and res.ndim != 0 else res


def take(a, indices, axis=None, mode="raise", out=None):
    """Elements of ``a`` at ``indices`` along ``axis`` (the flattened array when None).

    ``mode`` is 'raise' (NumPy's default: negative indices count from the end, others out of range
    raise IndexError), 'clip' or 'wrap'."""
    a = as_array(a)
    if mode not in ("raise", "clip", "wrap"):
        raise MXNetValueError(f"take: mode {mode!r} is not one of 'raise', 'clip', 'wrap'")
    idx = _index_arg(indices, a.device)
    res = invoke("take", [a, idx], axis=None if axis is None else int(axis), mode=mode)
    if out is not None:
        out[...] = res
        return out
    return res


def nonzero(a):
    """The indices of the non-zero elements, a tuple of int64 arrays (one a dimension)."""
    res = invoke("nonzero", [as_array(a)])
    return res if isinstance(res, tuple) else (res,)


def flatnonzero(a):
    return nonzero(as_array(a).reshape(-1))[0]


def tril(m, k=0):
    return invoke("tril", [as_array(m)], k=int(k))


def triu(m, k=0):
    return invoke("triu", [as_array(m)], k=int(k))


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal as a view (writes go through to ``a``); it becomes the last dimension."""
    return invoke("diagonal", [as_array(a)], offset=int(offset), axis1=int(axis1), axis2=int(axis2))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    d = diagonal(a, offset, axis1, axis2)
    res = invoke("sum", [d], axis=(-1,), keepdims=False, dtype=dtype_name(dtype))
    if out is not None:
        out[...] = res
        return out
    return res
