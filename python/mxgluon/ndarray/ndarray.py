"""MXNet 1.x's ``NDArray`` and the ``mx.nd`` functions used by code that does arithmetic.

``NDArray`` is ``mx.np.ndarray`` with 1.x methods and conventions on top:

- creation functions default to float32 (``mx.nd.array(numpy_int_array)`` is float32, as in 1.x);
- comparisons give 0/1 in the input's dtype rather than bool;
- full reductions give shape ``(1,)`` (1.x has no 0-d arrays), and ``asscalar`` reads a 1-element array;
- ``reshape`` takes 1.x's special codes 0, -1, -2, -3, -4 (the core ``Reshape`` op), ``flatten``
  collapses to 2-D, ``dot`` contracts the last axis of ``lhs`` with the first of ``rhs``.

Arithmetic operators follow ``mx.np``'s dtype rules (1.x refused mixed dtypes; mixing them here works).
All numerics are core ops; this module only handles arguments.
"""
import numbers

import numpy as _onp

from .. import _core
from ..base import MXNetError, MXNetValueError
from ..device import as_device
from ..numpy import multiarray as _ma
from ..numpy.multiarray import _binop, _wrap, dtype_name, from_numpy, ndarray

__all__ = [
    "NDArray", "array", "zeros", "ones", "full", "empty", "arange", "zeros_like", "ones_like",
    "dot", "concat", "waitall", "save", "load", "relu", "sigmoid", "tanh", "exp", "log", "sqrt",
    "square", "abs", "maximum", "minimum", "clip", "transpose", "reshape", "expand_dims",
    "broadcast_to", "broadcast_like", "broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_div",
    "broadcast_plus", "broadcast_minus", "broadcast_power", "broadcast_maximum", "broadcast_minimum",
    "broadcast_equal", "broadcast_not_equal", "broadcast_greater", "broadcast_greater_equal",
    "broadcast_lesser", "broadcast_lesser_equal", "elemwise_add", "elemwise_sub", "elemwise_mul",
    "elemwise_div", "add", "subtract", "multiply", "divide", "power", "modulo", "equal", "not_equal",
    "greater", "greater_equal", "lesser", "lesser_equal", "negative", "sum", "mean", "max", "min",
    "flatten", "Flatten", "Reshape", "stop_gradient", "BlockGrad", "squeeze", "swapaxes", "SwapAxis", "Concat",
    "Cast", "cast", "copy",
]

_REAL = "float32"  # mx_real_t
_UNARY = (
    "exp", "log", "sqrt", "square", "abs", "relu", "sigmoid", "tanh", "sin", "cos", "tan", "arcsin",
    "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "expm1", "log1p", "log2",
    "log10", "rsqrt", "cbrt", "reciprocal", "sign", "floor", "ceil", "trunc", "fix", "rint",
    "negative", "degrees", "radians", "erf", "softsign",
)
# 1.x name -> core op name where they differ.
_UNARY_CORE = {"abs": "absolute", "round": "rint"}


class NotYetImplementedError(MXNetError, NotImplementedError):
    """A 1.x feature that mxgluon does not provide yet."""


def _np():
    from .. import numpy as np

    return np


def _np_func(name, who):
    f = getattr(_np(), name, None)
    if f is None:
        raise NotYetImplementedError(f"mx.nd.{who} needs mx.np.{name}, which mxgluon does not provide yet")
    return f


def _nd(x):
    """An ``mx.np.ndarray`` result as an NDArray (same tensor, no copy); tuples and lists elementwise."""
    if isinstance(x, (tuple, list)):
        return type(x)(_nd(v) for v in x)
    if isinstance(x, ndarray) and not isinstance(x, NDArray):
        return _wrap(x._t, NDArray)
    return x


def _as_nd(x, like=None):
    if isinstance(x, NDArray):
        return x
    if isinstance(x, ndarray):
        return _nd(x)
    return array(x, ctx=like.device if like is not None else None)


def _scalar_1(res):
    """1.x has no 0-d arrays: a full reduction gives shape (1,)."""
    return res.reshape((1,)) if res.ndim == 0 else res


def _reduce_axes(data, axis, exclude):
    if axis is None or (isinstance(axis, (tuple, list)) and len(axis) == 0):
        return None
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    if exclude:
        norm = {a % data.ndim for a in axes}
        axes = tuple(i for i in range(data.ndim) if i not in norm)
    return axes


def _legacy_shape(shape, kwargs):
    if not shape and "shape" in kwargs:
        shape = kwargs.pop("shape")
    elif len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    return tuple(int(d) for d in shape)


class NDArray(ndarray):
    """MXNet 1.x's array: the same data and operators as ``mx.np.ndarray``, with 1.x methods."""

    __slots__ = ()
    __hash__ = ndarray.__hash__

    def __repr__(self):
        shape = "x".join(str(d) for d in self.shape)
        return f"\n{self.asnumpy()!s}\n<NDArray {shape} @{self.device}>"

    # --- conversion
    def asscalar(self):
        """The value of a one-element array, as a NumPy scalar."""
        if self.size != 1:
            raise MXNetValueError(f"asscalar: the array is not a scalar (shape {self.shape})")
        return self.asnumpy().reshape(-1)[0]

    def as_nd_ndarray(self):
        return self

    def tostype(self, stype):
        if stype != "default":
            raise NotYetImplementedError(f"tostype: sparse storage {stype!r} is not supported")
        return self

    @property
    def handle(self):
        return self._t

    def __setitem__(self, key, value):
        # 1.x code assigns one-element (and other leading-1) arrays into lower-dimensional slots,
        # ``x[0] = nd.array([9])``, as NumPy allows: drop the value's extra leading 1s.
        if isinstance(value, ndarray) and _ma._is_basic_key(key):
            nd_target = _wrap(_core.basic_index(self._t, _ma._basic_key(key)), ndarray).ndim
            extra = value.ndim - nd_target
            if extra > 0 and all(d == 1 for d in value.shape[:extra]):
                value = value.reshape(value.shape[extra:])
        super().__setitem__(key, value)

    # --- 1.x comparisons: 0/1 in the input's dtype
    def _cmp(self, name, o, reverse=False):
        res = _binop(name, self, o, reverse)
        if res is NotImplemented:
            return res
        dt = self._t.dtype
        if dt == "bool" and isinstance(o, ndarray):
            dt = o._t.dtype
        return res if dt == "bool" else res.astype(dt)

    def __eq__(self, o):
        if o is None:
            return False
        return self._cmp("equal", o)

    def __ne__(self, o):
        if o is None:
            return True
        return self._cmp("not_equal", o)

    def __lt__(self, o):
        return self._cmp("less", o)

    def __le__(self, o):
        return self._cmp("less_equal", o)

    def __gt__(self, o):
        return self._cmp("greater", o)

    def __ge__(self, o):
        return self._cmp("greater_equal", o)

    # --- shape
    def reshape(self, *shape, **kwargs):
        """1.x reshape: ``0`` copies a dimension, ``-1`` infers one, ``-2`` copies the rest, ``-3`` merges
        two, ``-4`` splits one into the two values after it; ``reverse=True`` matches from the right."""
        reverse = bool(kwargs.pop("reverse", False))
        shape = _legacy_shape(shape, kwargs)
        if kwargs:
            raise MXNetValueError(f"reshape: unexpected arguments {sorted(kwargs)}")
        return _ma.invoke("Reshape", [self], cls=NDArray, shape=shape, reverse=reverse)

    def flatten(self, inplace=False):
        """1.x ``Flatten``: collapse all axes but the first, giving a 2-D array."""
        if self.ndim == 0:
            return self.reshape((1, 1))
        return self.reshape((0, -1))

    def expand_dims(self, axis, inplace=False):
        return _ma.invoke("expand_dims", [self], cls=NDArray, axis=int(axis))

    def broadcast_to(self, shape):
        return broadcast_to(self, shape)

    def broadcast_like(self, other):
        return broadcast_to(self, other.shape)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return _nd(super().transpose(axes or None))

    def squeeze(self, axis=None, inplace=False):
        return squeeze(self, axis)

    def swapaxes(self, dim1, dim2):
        return swapaxes(self, dim1, dim2)

    # --- reductions (1.x: full reductions have shape (1,))
    def sum(self, axis=None, keepdims=False, exclude=False, **kwargs):
        return sum(self, axis=axis, keepdims=keepdims, exclude=exclude)

    def mean(self, axis=None, keepdims=False, exclude=False, **kwargs):
        return mean(self, axis=axis, keepdims=keepdims, exclude=exclude)

    def max(self, axis=None, keepdims=False, exclude=False, **kwargs):
        return max(self, axis=axis, keepdims=keepdims, exclude=exclude)

    def min(self, axis=None, keepdims=False, exclude=False, **kwargs):
        return min(self, axis=axis, keepdims=keepdims, exclude=exclude)

    # --- elementwise methods
    def clip(self, a_min, a_max):
        return clip(self, a_min, a_max)

    def round(self):
        return _ma.invoke("rint", [self], cls=NDArray)

    def zeros_like(self):
        return zeros_like(self)

    def ones_like(self):
        return ones_like(self)

    def copyto(self, other):
        res = super().copyto(other)
        return _nd(res)

    def as_in_context(self, context):
        return _nd(super().as_in_context(context))

    def detach(self):
        return _wrap(_core.detach(self._t), NDArray)

    def astype(self, dtype, copy=True):
        return _nd(super().astype(dtype, copy=copy))


def _unary_method(name):
    op = _UNARY_CORE.get(name, name)

    def method(self):
        return _ma.invoke(op, [self], cls=NDArray)

    method.__name__ = name
    method.__doc__ = f"Elementwise ``{name}`` (``mx.nd.{name}(self)``)."
    return method


for _n in _UNARY:
    setattr(NDArray, _n, _unary_method(_n))


# ---------------------------------------------------------------------------------------------
# Creation


def array(source_array, ctx=None, dtype=None, device=None):
    """A new NDArray from an NDArray, a NumPy array or nested lists. The dtype defaults to the
    source's for arrays of mxgluon and to float32 otherwise (NumPy arrays included, as in 1.x)."""
    dev = device if device is not None else ctx
    if isinstance(source_array, ndarray):
        out = source_array.astype(dtype) if dtype is not None else source_array.copy()
        if dev is not None:
            out = out.to_device(dev)
        return _nd(out)
    dt = dtype_name(dtype) if dtype is not None else _REAL
    a = _onp.asarray(source_array)
    if a.ndim == 0:
        a = a.reshape((1,))
    return from_numpy(a, dtype=dt, device=dev, cls=NDArray)


def _shape(shape):
    if isinstance(shape, (numbers.Integral, _onp.integer)):
        return [int(shape)]
    return [int(d) for d in shape]


def full(shape, val, ctx=None, dtype=None, out=None, device=None, **kwargs):
    dev = as_device(device, ctx)
    res = _wrap(_core.full(_shape(shape), float(val), dtype_name(dtype) or _REAL, dev._pair()), NDArray)
    if out is not None:
        out[:] = res
        return out
    return res


def zeros(shape, ctx=None, dtype=None, device=None, **kwargs):
    return full(shape, 0, ctx=ctx, dtype=dtype, device=device)


def ones(shape, ctx=None, dtype=None, device=None, **kwargs):
    return full(shape, 1, ctx=ctx, dtype=dtype, device=device)


def empty(shape, ctx=None, dtype=None, device=None):
    """A new array (its memory is always initialised, to zeros)."""
    return zeros(shape, ctx=ctx, dtype=dtype, device=device)


def zeros_like(data, **kwargs):
    return full(data.shape, 0, ctx=data.device, dtype=data._t.dtype)


def ones_like(data, **kwargs):
    return full(data.shape, 1, ctx=data.device, dtype=data._t.dtype)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None, dtype=None, device=None):
    """Evenly spaced values in ``[start, stop)``, each repeated ``repeat`` times (float32 by default)."""
    dt = dtype_name(dtype) or _REAL
    np_arange = getattr(_np(), "arange", None)
    dev = device if device is not None else ctx
    if np_arange is not None and repeat == 1:
        return _nd(np_arange(start, stop, step, dtype=dt, device=dev))
    vals = _onp.arange(start, stop, step, dtype=_ma.np_dtype(dt) if dt != "bfloat16" else "float32")
    if repeat != 1:
        vals = _onp.repeat(vals, int(repeat))
    return from_numpy(vals, dtype=dt, device=dev, cls=NDArray)


# ---------------------------------------------------------------------------------------------
# Elementwise


def _unary_fn(name):
    op = _UNARY_CORE.get(name, name)

    def f(data, out=None, name=None, **kwargs):
        res = _ma.invoke(op, [_as_nd(data)], cls=NDArray)
        return _store(res, out)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}``."
    return f


def _store(res, out):
    if out is None:
        return res
    out[:] = res
    return out


for _n in _UNARY + ("round",):
    globals()[_n] = _unary_fn(_n)
    if _n not in __all__:
        __all__.append(_n)
del _n


def _ufunc(op, lhs, rhs, compare=False):
    """1.x's broadcasting binary function: either side may be a scalar."""
    lhs_arr, rhs_arr = isinstance(lhs, ndarray), isinstance(rhs, ndarray)
    if not lhs_arr and not rhs_arr:
        lhs = array(lhs)
        lhs_arr = True
    if lhs_arr:
        a, o, rev = _as_nd(lhs), (_as_nd(rhs) if rhs_arr else rhs), False
    else:
        a, o, rev = _as_nd(rhs), lhs, True
    if compare:
        return a._cmp(op, o, rev)
    return _nd(_binop(op, a, o, rev))


def _make_binary(name, op, compare=False):
    def f(lhs, rhs, out=None, **kwargs):
        return _store(_ufunc(op, lhs, rhs, compare), out)

    f.__name__ = name
    f.__doc__ = f"``{op}`` with broadcasting; either argument may be a scalar (``mx.nd.{name}``)."
    return f


for _n, _op in {
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "true_divide",
    "true_divide": "true_divide", "power": "power", "modulo": "mod", "maximum": "maximum",
    "minimum": "minimum", "hypot": "hypot", "broadcast_add": "add", "broadcast_plus": "add",
    "broadcast_sub": "subtract", "broadcast_minus": "subtract", "broadcast_mul": "multiply",
    "broadcast_div": "true_divide", "broadcast_mod": "mod", "broadcast_power": "power",
    "broadcast_maximum": "maximum", "broadcast_minimum": "minimum", "broadcast_hypot": "hypot",
}.items():
    globals()[_n] = _make_binary(_n, _op)
for _n, _op in {
    "equal": "equal", "not_equal": "not_equal", "greater": "greater", "greater_equal": "greater_equal",
    "lesser": "less", "lesser_equal": "less_equal", "broadcast_equal": "equal",
    "broadcast_not_equal": "not_equal", "broadcast_greater": "greater",
    "broadcast_greater_equal": "greater_equal", "broadcast_lesser": "less",
    "broadcast_lesser_equal": "less_equal",
}.items():
    globals()[_n] = _make_binary(_n, _op, compare=True)
for _n in ("true_divide", "broadcast_mod", "broadcast_hypot", "hypot"):
    __all__.append(_n)
del _n, _op


def _make_elemwise(name, op):
    def f(lhs, rhs, out=None, **kwargs):
        lhs, rhs = _as_nd(lhs), _as_nd(rhs, like=lhs)
        if lhs.shape != rhs.shape:
            raise MXNetValueError(
                f"{name}: the shapes must be equal (got {lhs.shape} and {rhs.shape}); "
                f"use broadcast_{name.split('_')[1]} to broadcast"
            )
        return _store(_nd(_binop(op, lhs, rhs)), out)

    f.__name__ = name
    f.__doc__ = f"``{op}`` of two arrays of the same shape (``mx.nd.{name}``)."
    return f


for _n, _op in {"elemwise_add": "add", "elemwise_sub": "subtract", "elemwise_mul": "multiply",
                "elemwise_div": "true_divide"}.items():
    globals()[_n] = _make_elemwise(_n, _op)
del _n, _op


def clip(data, a_min, a_max, out=None, **kwargs):
    """Values limited to ``[a_min, a_max]`` (both bounds required, as in 1.x)."""
    if a_min is None or a_max is None:
        raise MXNetValueError("clip: a_min and a_max are both required")
    res = _ma.invoke("clip", [_as_nd(data)], cls=NDArray, a_min=float(a_min), a_max=float(a_max))
    return _store(res, out)


def stop_gradient(data, **kwargs):
    """The same values, with no gradient flowing back (a detached array)."""
    return _as_nd(data).detach()


BlockGrad = stop_gradient


def Cast(data, dtype, **kwargs):
    return _as_nd(data).astype(dtype)


cast = Cast


def copy(data):
    return _nd(_as_nd(data).copy())


# ---------------------------------------------------------------------------------------------
# Shapes


def reshape(data, shape=None, reverse=False, out=None, **kwargs):
    if shape is None:
        shape = kwargs.pop("newshape", None)
    if shape is None:
        raise MXNetValueError("reshape: shape is required")
    return _store(_as_nd(data).reshape(shape, reverse=reverse), out)


Reshape = reshape


def flatten(data, **kwargs):
    return _as_nd(data).flatten()


Flatten = flatten


def transpose(data, axes=None, out=None, **kwargs):
    axes = None if axes is None or len(axes) == 0 else tuple(int(a) for a in axes)
    return _store(_as_nd(data).transpose(axes), out)


def expand_dims(data, axis, out=None, **kwargs):
    return _store(_as_nd(data).expand_dims(axis), out)


def squeeze(data, axis=None, **kwargs):
    if isinstance(axis, numbers.Integral):
        axis = (axis,)
    return _ma.invoke("squeeze", [_as_nd(data)], cls=NDArray, axis=None if axis is None else tuple(axis))


def swapaxes(data, dim1=0, dim2=0, **kwargs):
    data = _as_nd(data)
    perm = list(range(data.ndim))
    i, j = dim1 % data.ndim, dim2 % data.ndim
    perm[i], perm[j] = perm[j], perm[i]
    return data.transpose(perm)


SwapAxis = swapaxes


def broadcast_to(data, shape, out=None, **kwargs):
    """Broadcast to ``shape``; a 0 in ``shape`` keeps the input's dimension (1.x)."""
    data = _as_nd(data)
    shape = _shape(shape)
    off = len(shape) - data.ndim
    shape = tuple(data.shape[i - off] if (d == 0 and i >= off) else d for i, d in enumerate(shape))
    return _store(_ma.invoke("broadcast_to", [data], cls=NDArray, shape=shape), out)


def broadcast_like(lhs, rhs, **kwargs):
    return broadcast_to(lhs, rhs.shape)


# ---------------------------------------------------------------------------------------------
# Reductions


def sum(data, axis=None, keepdims=False, exclude=False, out=None, **kwargs):
    data = _as_nd(data)
    axes = _reduce_axes(data, axis, exclude)
    res = _ma.invoke("sum", [data], cls=NDArray, axis=axes, keepdims=bool(keepdims), dtype=None)
    return _store(_scalar_1(res), out)


def mean(data, axis=None, keepdims=False, exclude=False, out=None, **kwargs):
    data = _as_nd(data)
    axes = _reduce_axes(data, axis, exclude)
    np_mean = getattr(_np(), "mean", None)
    if np_mean is not None:
        res = _nd(np_mean(data, axis=axes, keepdims=bool(keepdims)))
    else:
        n = 1
        for a in range(data.ndim) if axes is None else axes:
            n *= data.shape[a]
        s = _ma.invoke("sum", [data], cls=NDArray, axis=axes, keepdims=bool(keepdims), dtype=None)
        res = s / n if n else s / 0.0
    return _store(_scalar_1(res), out)


def _extreme(name):
    def f(data, axis=None, keepdims=False, exclude=False, out=None, **kwargs):
        data = _as_nd(data)
        axes = _reduce_axes(data, axis, exclude)
        res = _nd(_np_func(name, name)(data, axis=axes, keepdims=bool(keepdims)))
        return _store(_scalar_1(res), out)

    f.__name__ = name
    f.__doc__ = f"The {name}imum over ``axis`` (all axes by default; ``exclude`` inverts the axes)."
    return f


max = _extreme("max")
min = _extreme("min")


# ---------------------------------------------------------------------------------------------
# Products, joins, files


def dot(lhs, rhs, transpose_a=False, transpose_b=False, **kwargs):
    """1.x ``dot``: contracts the last axis of ``lhs`` with the first axis of ``rhs`` (after the
    optional transposes, which reverse all axes)."""
    np_dot = _np_func("dot", "dot")
    lhs, rhs = _as_nd(lhs), _as_nd(rhs, like=lhs)
    if transpose_a:
        lhs = lhs.transpose()
    if transpose_b:
        rhs = rhs.transpose()
    if lhs.ndim <= 2 and rhs.ndim <= 2:
        return _nd(np_dot(lhs, rhs))
    k = lhs.shape[-1]
    if rhs.shape[0] != k:
        raise MXNetValueError(f"dot: shapes {lhs.shape} and {rhs.shape} do not align ({k} != {rhs.shape[0]})")
    res = np_dot(lhs.reshape((-1, k)), rhs.reshape((k, -1)))
    return _nd(res).reshape(lhs.shape[:-1] + rhs.shape[1:])


def concat(*data, dim=1, num_args=None, **kwargs):
    """Join arrays along ``dim`` (1.x default: 1)."""
    if len(data) == 1 and isinstance(data[0], (list, tuple)):
        data = tuple(data[0])
    concatenate = _np_func("concatenate", "concat")
    return _nd(concatenate([_as_nd(d) for d in data], axis=dim))


Concat = concat


def waitall():
    """Computation is synchronous: nothing is ever pending."""


def save(fname, data):
    """Save an NDArray, a list of NDArrays or a dict of str -> NDArray to ``fname`` in MXNet's
    binary format (loads in MXNet 1.x and 2.x). The write is atomic."""
    from ..serialization import save_arrays

    save_arrays(fname, data)


def load(fname):
    """Load a file written by ``save`` (or any MXNet array file: binary, ``.npz``, ``.npy``):
    a list of NDArrays, or a dict of str -> NDArray when the file names its arrays."""
    from ..serialization import load_arrays

    return load_arrays(fname, cls=NDArray)


__all__ += ["CTCLoss", "ctc_loss"]


def CTCLoss(data, label, data_lengths=None, label_lengths=None, use_data_lengths=False,
            use_label_lengths=False, blank_label="first", out=None, **kwargs):
    """1.x ``CTCLoss``: ``npx.ctc_loss`` (same arguments) with an NDArray result."""
    from ..numpy_extension import ctc_loss as _ctc

    data = _as_nd(data)
    res = _ctc(data, _as_nd(label, like=data), data_lengths, label_lengths, use_data_lengths,
               use_label_lengths, blank_label)
    return _store(res, out)


ctc_loss = CTCLoss
