"""MXNet 1.x's tensor operators under their ``mx.nd`` names: slicing and joining (``slice_axis``,
``SliceChannel``, ``stack``), indexing (``take``, ``pick``, ``gather_nd``, ``one_hot``), sorting
(``topk``, ``sort``, ``argsort``, ``argmax``), reductions with ``axis``/``keepdims``/``exclude``
(``prod``, ``nansum``, ``norm``, ``moments``), ``batch_dot`` and the small layout ops.

Each is argument handling over the core ops that ``mx.np`` and ``mx.npx`` use, with 1.x's argument
names and defaults and NDArray results (index results are float32, as 1.x gives them)."""
import builtins
import numbers

from .. import numpy as _np
from .. import numpy_extension as _npx
from ..base import MXNetValueError
from ..numpy.multiarray import from_numpy, invoke
from .ndarray import NDArray, _as_nd, _nd, _reduce_axes, _scalar_1, _store, _ufunc
from .ndarray import max as _max, min as _min, sum as _sum

__all__ = [
    "split", "SliceChannel", "slice_axis", "slice", "slice_like", "reshape_like", "broadcast_axis",
    "broadcast_axes", "broadcast_logical_and", "broadcast_logical_or", "broadcast_logical_xor", "logical_not",
    "stack", "tile", "repeat", "flip", "reverse", "where", "take", "batch_take", "pick", "one_hot", "gather_nd",
    "topk", "sort", "argsort", "argmax", "argmin", "argmax_channel", "prod", "nansum", "nanprod", "norm",
    "moments", "sum_axis", "max_axis", "min_axis", "batch_dot", "add_n", "ElementWiseSum", "diag",
    "shape_array", "size_array", "depth_to_space", "space_to_depth", "eye", "linspace", "identity",
]

_INDEX_DTYPE = "float32"  # 1.x's index results (argmax, argsort, topk) are float32 by default


def _axis_tuple(axis):
    return (int(axis),) if isinstance(axis, numbers.Integral) else tuple(int(a) for a in axis)


def _norm_axis(op, axis, ndim):
    if not -ndim <= axis < ndim:
        raise MXNetValueError(f"{op}: axis {axis} is out of range for an array of {ndim} dimensions")
    return axis % ndim


# ---------------------------------------------------------------------------------------------
# Slicing, joining, layout


def split(data, num_outputs, axis=1, squeeze_axis=False, out=None, **kwargs):
    """Split along ``axis`` into ``num_outputs`` equal parts (a list; one part is returned alone);
    ``squeeze_axis`` drops the split axis, which must then have ``num_outputs`` entries."""
    res = invoke("SliceChannel", [_as_nd(data)], num_outputs=int(num_outputs), axis=int(axis),
                 squeeze_axis=bool(squeeze_axis))
    return list(res) if isinstance(res, tuple) else res


SliceChannel = split


def slice_axis(data, axis, begin, end, out=None, **kwargs):
    """``data`` between ``begin`` and ``end`` (None: the end) along ``axis``; negative values count
    from the end, and the range must not be empty."""
    data = _as_nd(data)
    ax = _norm_axis("slice_axis", int(axis), data.ndim)
    n = data.shape[ax]
    b = int(begin) + n if int(begin) < 0 else int(begin)
    e = n if end is None else (int(end) + n if int(end) < 0 else int(end))
    if not 0 <= b < e <= n:
        raise MXNetValueError(f"slice_axis: begin {begin} and end {end} do not give a non-empty range of "
                              f"axis {axis} (size {n}) of shape {data.shape}")
    key = (builtins.slice(None),) * ax + (builtins.slice(b, e),)
    return _store(data[key], out)


def slice(data, begin, end, step=(), out=None, **kwargs):
    """``data[begin[0]:end[0]:step[0], ...]``: one entry an axis from the first (None keeps that
    bound's default); axes past the given ones are kept whole."""
    data = _as_nd(data)
    begin, end = tuple(begin), tuple(end)
    step = tuple(step) if step else (None,) * len(begin)
    if not len(begin) == len(end) == len(step) or len(begin) > data.ndim:
        raise MXNetValueError(f"slice: begin {begin}, end {end} and step {step} must have the same length, "
                              f"at most the {data.ndim} dimensions of shape {data.shape}")
    if any(s == 0 for s in step):
        raise MXNetValueError(f"slice: step {step} must not contain 0")
    key = tuple(builtins.slice(b, e, s) for b, e, s in zip(begin, end, step))
    res = data[key]
    if 0 in res.shape[:len(key)]:
        raise MXNetValueError(f"slice: begin {begin}, end {end}, step {step} give an empty slice of {data.shape}")
    return _store(res, out)


def slice_like(data, shape_like, axes=(), **kwargs):
    """``data`` cut to the dimensions of ``shape_like`` along ``axes`` (all of them when empty)."""
    data = _as_nd(data)
    axes = [_norm_axis("slice_like", a, data.ndim) for a in _axis_tuple(axes)] if axes else range(data.ndim)
    key = [builtins.slice(None)] * data.ndim
    for a in axes:
        if a >= shape_like.ndim or shape_like.shape[a] > data.shape[a]:
            raise MXNetValueError(f"slice_like: shape {shape_like.shape} does not fit inside {data.shape} "
                                  f"along axis {a}")
        key[a] = builtins.slice(0, shape_like.shape[a])
    return data[tuple(key)]


def reshape_like(lhs, rhs, lhs_begin=None, lhs_end=None, rhs_begin=None, rhs_end=None, **kwargs):
    """``lhs`` reshaped so that its dimensions ``[lhs_begin, lhs_end)`` become ``rhs``'s
    ``[rhs_begin, rhs_end)`` (by default, all of ``lhs`` takes ``rhs``'s shape)."""
    lhs = _as_nd(lhs)
    lb, le = builtins.slice(lhs_begin, lhs_end).indices(lhs.ndim)[:2]
    rb, re_ = builtins.slice(rhs_begin, rhs_end).indices(rhs.ndim)[:2]
    shape = lhs.shape[:lb] + rhs.shape[rb:re_] + lhs.shape[le:]
    size = 1
    for d in shape:
        size *= d
    if size != lhs.size:
        raise MXNetValueError(f"reshape_like: cannot reshape {lhs.shape} to {shape} (from {rhs.shape}): "
                              "the sizes differ")
    return lhs.reshape(shape)


def broadcast_axis(data, axis=(), size=(), out=None, **kwargs):
    """Broadcast the size-1 dimensions ``axis`` of ``data`` to ``size``."""
    data = _as_nd(data)
    axis, size = _axis_tuple(axis), _axis_tuple(size)
    if len(axis) != len(size):
        raise MXNetValueError(f"broadcast_axis: axis {axis} and size {size} must have the same length")
    shape = list(data.shape)
    for a, s in zip(axis, size):
        a = _norm_axis("broadcast_axis", a, data.ndim)
        if shape[a] != 1:
            raise MXNetValueError(f"broadcast_axis: axis {a} of shape {data.shape} has size {shape[a]}, not 1")
        shape[a] = s
    return _store(_nd(_np.broadcast_to(data, tuple(shape))), out)


broadcast_axes = broadcast_axis


def _logical(name, op):
    def f(lhs, rhs, out=None, **kwargs):
        return _store(_ufunc(op, lhs, rhs, compare=True), out)

    f.__name__ = name
    f.__doc__ = f"``{op}`` with broadcasting, as 0/1 in the input's dtype (``mx.nd.{name}``)."
    return f


broadcast_logical_and = _logical("broadcast_logical_and", "logical_and")
broadcast_logical_or = _logical("broadcast_logical_or", "logical_or")
broadcast_logical_xor = _logical("broadcast_logical_xor", "logical_xor")


def logical_not(data, out=None, **kwargs):
    """1 where ``data`` is 0, else 0, in the input's dtype."""
    data = _as_nd(data)
    return _store(_np.logical_not(data).astype(data._t.dtype), out)


def stack(*data, axis=0, num_args=None, out=None, **kwargs):
    """Join arrays of one shape along a new axis ``axis``."""
    if len(data) == 1 and isinstance(data[0], (list, tuple)):
        data = tuple(data[0])
    return _store(_nd(_np.stack([_as_nd(d) for d in data], axis=axis)), out)


def tile(data, reps, out=None, **kwargs):
    return _store(_nd(_np.tile(_as_nd(data), reps)), out)


def repeat(data, repeats, axis=None, out=None, **kwargs):
    """Each element repeated ``repeats`` times along ``axis`` (None: of the flattened array)."""
    return _store(_nd(_np.repeat(_as_nd(data), int(repeats), axis=axis)), out)


def flip(data, axis, out=None, **kwargs):
    """``data`` reversed along ``axis`` (an int or a tuple)."""
    return _store(_nd(_np.flip(_as_nd(data), _axis_tuple(axis))), out)


reverse = flip


def where(condition, x, y, out=None, **kwargs):
    """``x`` where ``condition`` is non-zero, else ``y``. ``x`` and ``y`` have one shape; the
    condition has that shape too, or is 1-D and picks whole rows (along the first axis)."""
    x, y = _as_nd(x), _as_nd(y)
    condition = _as_nd(condition, like=x)
    if x.shape != y.shape:
        raise MXNetValueError(f"where: x {x.shape} and y {y.shape} must have the same shape")
    if condition.shape != x.shape:
        if condition.ndim != 1 or x.ndim < 1 or condition.shape[0] != x.shape[0]:
            raise MXNetValueError(f"where: condition {condition.shape} must have the shape of x {x.shape} or be "
                                  f"1-D of its first dimension ({x.shape[0] if x.ndim else None})")
        condition = condition.reshape(condition.shape + (1,) * (x.ndim - 1))
    return _store(_nd(_np.where(condition, x, y)), out)


# ---------------------------------------------------------------------------------------------
# Indexing


def take(a, indices, axis=0, mode="clip", out=None, **kwargs):
    """Slices of ``a`` along ``axis`` at ``indices`` (any dtype; fractions are truncated): the result
    has shape ``a.shape[:axis] + indices.shape + a.shape[axis+1:]``. ``mode`` 'clip' clamps indices
    into range, 'wrap' wraps them, 'raise' rejects out-of-range ones."""
    a = _as_nd(a)
    if mode not in ("clip", "wrap", "raise"):
        raise MXNetValueError(f"take: mode {mode!r} is not one of 'clip', 'wrap', 'raise'")
    return _store(invoke("take", [a, _as_nd(indices, like=a)], cls=NDArray, axis=int(axis), mode=mode), out)


def batch_take(a, indices, out=None, **kwargs):
    """``a[i, indices[i]]`` for each row of the 2-D ``a`` (indices clipped into range)."""
    return _store(_npx.pick(_as_nd(a), _as_nd(indices, like=a), axis=-1, mode="clip"), out)


def pick(data, index, axis=-1, mode="clip", keepdims=False, out=None, **kwargs):
    """``data`` picked along ``axis`` at ``index`` (of the data shape without ``axis``)."""
    data = _as_nd(data)
    return _store(_npx.pick(data, _as_nd(index, like=data), axis=axis, mode=mode, keepdims=keepdims), out)


def one_hot(indices, depth, on_value=1.0, off_value=0.0, dtype="float32", out=None, **kwargs):
    """Rows of ``depth`` values: ``on_value`` at each index, ``off_value`` elsewhere (and for indices
    out of range)."""
    return _store(_npx.one_hot(_as_nd(indices), depth, on_value, off_value, dtype), out)


def gather_nd(data, indices, out=None, **kwargs):
    """``data[indices[0], indices[1], ..., indices[M-1]]``: the first axis of ``indices`` (M entries)
    indexes the first M axes of ``data``; the result has shape ``indices.shape[1:] + data.shape[M:]``."""
    data = _as_nd(data)
    indices = _as_nd(indices, like=data)
    if indices.ndim < 1 or indices.shape[0] > data.ndim:
        raise MXNetValueError(f"gather_nd: indices {indices.shape} must index at most the {data.ndim} axes of "
                              f"data {data.shape} along its first axis")
    key = tuple(indices[i] for i in range(indices.shape[0]))
    return _store(data[key], out)


# ---------------------------------------------------------------------------------------------
# Sorting and arg-reductions (index results as float32)


def topk(data, axis=-1, k=1, ret_typ="indices", is_ascend=False, dtype=_INDEX_DTYPE, out=None, **kwargs):
    """The ``k`` largest (``is_ascend``: smallest) along ``axis``; ``ret_typ`` 'indices', 'value',
    'mask' or 'both' (a list [values, indices])."""
    res = _npx.topk(_as_nd(data), axis=axis, k=k, ret_typ=ret_typ, is_ascend=is_ascend, dtype=dtype)
    return list(res) if isinstance(res, tuple) else _store(res, out)


def sort(data, axis=-1, is_ascend=True, out=None, **kwargs):
    """Sorted along ``axis`` (None: the flattened array), ascending unless ``is_ascend`` is False."""
    return _store(_nd(_np.sort(_as_nd(data), axis=axis, descending=not is_ascend)), out)


def argsort(data, axis=-1, is_ascend=True, dtype=_INDEX_DTYPE, out=None, **kwargs):
    """The indices that sort ``data`` along ``axis``, as ``dtype`` (float32 by default)."""
    res = _np.argsort(_as_nd(data), axis=axis, descending=not is_ascend)
    return _store(_nd(res.astype(dtype)), out)


def _arg_extreme(name):
    def f(data, axis=None, keepdims=False, out=None, **kwargs):
        res = getattr(_np, name)(_as_nd(data), axis=axis, keepdims=bool(keepdims))
        return _store(_scalar_1(_nd(res.astype(_INDEX_DTYPE))), out)

    f.__name__ = name
    f.__doc__ = (f"The index of the first {name[3:]}imum along ``axis`` (None: of the flattened array), "
                 "as float32.")
    return f


argmax = _arg_extreme("argmax")
argmin = _arg_extreme("argmin")


def argmax_channel(data, out=None, **kwargs):
    """``argmax(data, axis=1)``: the channel of the maximum, as float32."""
    return argmax(data, axis=1, out=out)


# ---------------------------------------------------------------------------------------------
# Reductions with 1.x's axis/keepdims/exclude (full reductions give shape (1,))


def _reduction(name, fn, doc):
    def f(data, axis=None, keepdims=False, exclude=False, out=None, **kwargs):
        data = _as_nd(data)
        return _store(_scalar_1(_nd(fn(data, _reduce_axes(data, axis, exclude), bool(keepdims)))), out)

    f.__name__ = name
    f.__doc__ = doc
    return f


def _nan_to(data, value):
    if data._t.dtype in ("float16", "bfloat16", "float32", "float64"):
        return _np.where(_np.isnan(data), value, data)
    return data


prod = _reduction("prod", lambda d, ax, kd: _np.prod(d, axis=ax, keepdims=kd),
                  "The product over ``axis`` (all axes by default; ``exclude`` inverts the axes).")
nansum = _reduction("nansum", lambda d, ax, kd: _np.sum(_nan_to(d, 0), axis=ax, keepdims=kd),
                    "The sum over ``axis``, NaN counted as 0.")
nanprod = _reduction("nanprod", lambda d, ax, kd: _np.prod(_nan_to(d, 1), axis=ax, keepdims=kd),
                     "The product over ``axis``, NaN counted as 1.")


def norm(data, ord=2, axis=None, out_dtype=None, keepdims=False, out=None, **kwargs):
    """The L2 (``ord=2``) or L1 (``ord=1``) norm over ``axis`` (all axes by default; several axes
    are treated as one flat vector)."""
    data = _as_nd(data)
    if ord not in (1, 2):
        raise MXNetValueError(f"norm: ord must be 1 or 2, got {ord!r}")
    axes = _reduce_axes(data, axis, False)
    if ord == 2:
        res = _np.sqrt(_np.sum(data * data, axis=axes, keepdims=bool(keepdims)))
    else:
        res = _np.sum(_np.abs(data), axis=axes, keepdims=bool(keepdims))
    if out_dtype is not None:
        res = res.astype(out_dtype)
    return _store(_scalar_1(_nd(res)), out)


def moments(data, axes=None, keepdims=False, **kwargs):
    """The mean and the (biased) variance over ``axes``, a list of two arrays."""
    data = _as_nd(data)
    axes = _reduce_axes(data, axes, False)
    return [_scalar_1(_nd(_np.mean(data, axis=axes, keepdims=bool(keepdims)))),
            _scalar_1(_nd(_np.var(data, axis=axes, keepdims=bool(keepdims))))]


sum_axis, max_axis, min_axis = _sum, _max, _min  # the 1.x names of sum, max, min


# ---------------------------------------------------------------------------------------------
# Products, sums of arrays, diagonals, shapes


def batch_dot(lhs, rhs, transpose_a=False, transpose_b=False, forward_stype=None, out=None, **kwargs):
    """Matrix products of the 3-D (or more) ``lhs`` and ``rhs`` batch by batch, each optionally
    transposed in its last two axes."""
    lhs = _as_nd(lhs)
    res = invoke("batch_dot", [lhs, _as_nd(rhs, like=lhs)], cls=NDArray, transpose_a=bool(transpose_a),
                 transpose_b=bool(transpose_b))
    return _store(res, out)


def add_n(*args, out=None, **kwargs):
    """The elementwise sum of arrays of one shape."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    if not args:
        raise MXNetValueError("add_n: needs at least one array")
    arrs = [_as_nd(a) for a in args]
    for a in arrs[1:]:
        if a.shape != arrs[0].shape:
            raise MXNetValueError(f"add_n: the shapes must be equal (got {arrs[0].shape} and {a.shape})")
    res = arrs[0]
    for a in arrs[1:]:
        res = res + a
    return _store(res if len(arrs) > 1 else res.copy(), out)


ElementWiseSum = add_n


def diag(data, k=0, axis1=0, axis2=1, out=None, **kwargs):
    """For 1-D ``data``: the square matrix with ``data`` on its ``k``-th diagonal. Otherwise: the
    ``k``-th diagonal of the ``axis1``/``axis2`` planes, as the last axis."""
    data = _as_nd(data)
    k = int(k)
    if data.ndim != 1:
        return _store(_nd(_np.diagonal(data, offset=k, axis1=axis1, axis2=axis2)), out)
    n = data.shape[0] + builtins.abs(k)
    padded = _np.pad(data, (0, builtins.abs(k)))
    # Row i of the matrix holds data[i] at column i + k (k >= 0); column j holds data[j] at row j - k.
    vec = padded.reshape((n, 1)) if k >= 0 else padded.reshape((1, n))
    return _store(_nd(_np.eye(n, k=k, dtype=data._t.dtype, device=data.device) * vec), out)


def shape_array(data, **kwargs):
    """The shape of ``data`` as a 1-D int64 array."""
    return from_numpy(list(data.shape), dtype="int64", device=data.device, cls=NDArray)


def size_array(data, **kwargs):
    """The number of elements of ``data`` as a 1-element int64 array."""
    return from_numpy([data.size], dtype="int64", device=data.device, cls=NDArray)


def _check_blocks(op, data, dims):
    if data.ndim != 4:
        raise MXNetValueError(f"{op}: data must be 4-D (N, C, H, W), got shape {data.shape}")
    for what, axis, m in dims:
        d = data.shape[axis]
        if m < 1 or d % m:
            raise MXNetValueError(f"{op}: {what} {d} of shape {data.shape} is not a multiple of {m}")


def depth_to_space(data, block_size, **kwargs):
    """(N, C, H, W) -> (N, C / b^2, H * b, W * b): blocks of the depth moved into space."""
    data = _as_nd(data)
    b = int(block_size)
    _check_blocks("depth_to_space", data, [("channels", 1, b * b)])
    n, c, h, w = data.shape
    x = data.reshape((n, b, b, c // (b * b), h, w)).transpose((0, 3, 4, 1, 5, 2))
    return x.reshape((n, c // (b * b), h * b, w * b))


def space_to_depth(data, block_size, **kwargs):
    """(N, C, H, W) -> (N, C * b^2, H / b, W / b): blocks of space moved into the depth."""
    data = _as_nd(data)
    b = int(block_size)
    _check_blocks("space_to_depth", data, [("height", 2, b), ("width", 3, b)])
    n, c, h, w = data.shape
    x = data.reshape((n, c, h // b, b, w // b, b)).transpose((0, 3, 5, 1, 2, 4))
    return x.reshape((n, c * b * b, h // b, w // b))


# ---------------------------------------------------------------------------------------------
# Creation with 1.x's defaults


def eye(N, M=0, k=0, ctx=None, dtype="float32", device=None, **kwargs):
    """An N x M (M=0: N x N) matrix with ones on the ``k``-th diagonal."""
    return _nd(_np.eye(N, M or None, k, dtype=dtype, device=device if device is not None else ctx))


def linspace(start, stop, num, endpoint=True, ctx=None, dtype="float32", device=None, **kwargs):
    """``num`` evenly spaced values from ``start`` to ``stop`` (included with ``endpoint``)."""
    return _nd(_np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype,
                            device=device if device is not None else ctx))


def identity(data, out=None, **kwargs):
    """A copy of ``data``."""
    return _store(_as_nd(data).copy(), out)


# ---------------------------------------------------------------------------------------------
# NDArray methods that are these functions (1.x spellings: float32 indices, shape-(1,) reductions)


def _method(fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__ = fn.__name__
    method.__doc__ = f"Same as ``mx.nd.{fn.__name__}(self, ...)``."
    return method


for _fn in (split, slice_axis, slice, slice_like, reshape_like, broadcast_axes, tile, repeat, flip, take,
            pick, one_hot, topk, sort, argsort, argmax, argmin, argmax_channel, prod, nansum, nanprod, norm,
            diag, depth_to_space, space_to_depth):
    setattr(NDArray, _fn.__name__, _method(_fn))
del _fn
