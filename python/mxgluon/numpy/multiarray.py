"""The ``ndarray`` class of ``mx.np`` and the glue between Python values and core tensors.

An ndarray wraps one core tensor (``_t``). Numerics happen in Rust: every operator here is one
call into ``mxgluon._core``. Methods that mirror ``mx.np`` functions delegate to them.
"""
import numbers

import numpy as _onp

from .. import _core
from ..base import MXNetTypeError, MXNetValueError
from ..device import Device, as_device

_binary = _core.binary
_scalar_op = _core.scalar_op
_invoke_core = _core.invoke

# Python and NumPy dtypes to our names.
_DTYPES = ("bool", "uint8", "int8", "int32", "int64", "float16", "bfloat16", "float32", "float64")


def dtype_name(dtype):
    """Our name of a dtype given as a string, a NumPy dtype or type, or a Python type."""
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in _DTYPES:
        return dtype
    if dtype is float:
        return "float32"
    if dtype is int:
        return "int64"
    if dtype is bool:
        return "bool"
    if isinstance(dtype, str) and dtype == "bfloat16":
        return "bfloat16"
    try:
        name = _onp.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in _DTYPES:
        raise MXNetTypeError(f"data type {dtype!r} is not supported by mxgluon (supported: {', '.join(_DTYPES)})")
    return name


def np_dtype(name):
    """The NumPy dtype for our dtype name (bfloat16 has none: float32 stands in)."""
    return _onp.dtype("float32" if name == "bfloat16" else name)


def _wrap(t, cls=None):
    a = object.__new__(cls or ndarray)
    a._t = t
    return a


def _wrap_out(out, cls):
    if isinstance(out, tuple):
        return tuple(_wrap(t, cls) for t in out)
    return _wrap(out, cls)


def invoke(name, inputs, cls=None, **attrs):
    """Run the core op ``name`` on ndarrays; returns an ndarray (or a tuple of them)."""
    if cls is None:
        cls = type(inputs[0]) if inputs else ndarray
    return _wrap_out(_invoke_core(name, [a._t for a in inputs], attrs), cls)


def from_numpy(obj, dtype=None, device=None, cls=None):
    """A new ndarray holding a copy of a NumPy array (or anything ``numpy.asarray`` takes)."""
    a = _onp.asarray(obj)
    name = dtype_name(dtype) if dtype is not None else None
    if name is None:
        name = dtype_name(a.dtype) if a.dtype.name in _DTYPES else _default_for(a)
    a = _onp.require(a, dtype=np_dtype(name), requirements="C")  # keeps 0-d arrays 0-d
    dev = as_device(device)
    t = _core.from_address(a.ctypes.data, "float32" if name == "bfloat16" else name, list(a.shape), dev._pair())
    if name == "bfloat16":
        t = _invoke_core("astype", [t], {"dtype": "bfloat16"})
    return _wrap(t, cls)


def _default_for(a):
    if a.dtype.kind == "f":
        return "float32" if a.dtype.itemsize <= 4 else "float64"
    if a.dtype.kind in "iu":
        return "int64" if a.dtype.itemsize >= 4 else ("int8" if a.dtype.kind == "i" else "uint8")
    if a.dtype.kind == "b":
        return "bool"
    raise MXNetTypeError(f"cannot make an mxgluon array from NumPy dtype {a.dtype}")


def as_array(x, like=None):
    """``x`` as an ndarray: ndarrays pass through, anything else is copied (on ``like``'s device)."""
    if isinstance(x, ndarray):
        return x
    dev = like.device if like is not None else None
    if isinstance(x, (bool, numbers.Integral, numbers.Real)) and not isinstance(x, _onp.ndarray):
        if like is not None:
            if isinstance(x, bool):
                dt = "bool"
            elif isinstance(x, numbers.Integral):
                dt = like.dtype if like.dtype != "bool" else "int64"
            else:
                dt = like.dtype if like._t.dtype in ("float16", "bfloat16", "float32", "float64") else "float32"
            return full_like_scalar(x, dt, dev, type(like))
        return from_numpy(x, dtype="bool" if isinstance(x, bool) else None, device=dev)
    return from_numpy(x, device=dev, cls=type(like) if like is not None else None)


def full_like_scalar(value, dtype, device, cls=None):
    return _wrap(_core.full([], float(value), dtype_name(dtype), as_device(device)._pair()), cls)


def _is_scalar(o):
    return isinstance(o, (int, float, bool)) or isinstance(o, (_onp.integer, _onp.floating, _onp.bool_))


def _py_scalar(o):
    if isinstance(o, _onp.generic):
        return o.item()
    return o


def _binop(name, a, o, reverse=False):
    if isinstance(o, ndarray):
        x, y = (o, a) if reverse else (a, o)
        return _wrap(_binary(name, x._t, y._t), type(a))
    if _is_scalar(o):
        return _wrap(_scalar_op(name, a._t, _py_scalar(o), reverse), type(a))
    if isinstance(o, (_onp.ndarray, list, tuple)):
        return _binop(name, a, as_array(o, like=a), reverse)
    return NotImplemented


def _is_basic_key(key):
    items = key if isinstance(key, tuple) else (key,)
    for k in items:
        if k is None or k is Ellipsis or isinstance(k, slice):
            continue
        if isinstance(k, (bool, _onp.bool_)):
            return False
        if isinstance(k, (numbers.Integral, _onp.integer)):
            continue
        if isinstance(k, ndarray) and k.ndim == 0 and k._t.dtype in ("uint8", "int8", "int32", "int64"):
            continue
        return False
    return True


def _basic_key(key):
    """Replace 0-d integer ndarrays in a basic key by Python ints."""
    if isinstance(key, tuple):
        return tuple(int(k.item()) if isinstance(k, ndarray) else k for k in key)
    return int(key.item()) if isinstance(key, ndarray) else key


class ndarray:
    """An n-dimensional array on a device (``mx.np.ndarray``), following NumPy's semantics."""

    __slots__ = ("_t", "__weakref__")
    # NumPy defers to our reflected operators.
    __array_priority__ = 1000.0

    def __init__(self, *args, **kwargs):
        raise MXNetTypeError("create arrays with mx.np.array, mx.np.zeros, ... rather than ndarray(...)")

    # --- attributes
    @property
    def shape(self):
        return self._t.shape

    @property
    def dtype(self):
        return np_dtype(self._t.dtype) if self._t.dtype != "bfloat16" else "bfloat16"

    @property
    def ndim(self):
        return self._t.ndim

    @property
    def size(self):
        return self._t.size

    @property
    def itemsize(self):
        return {"bool": 1, "uint8": 1, "int8": 1, "float16": 2, "bfloat16": 2, "int32": 4, "float32": 4}.get(self._t.dtype, 8)

    @property
    def nbytes(self):
        return self.size * self.itemsize

    @property
    def strides(self):
        return tuple(self._t.strides)

    @property
    def device(self):
        return Device(*self._t.device)

    ctx = device
    context = device

    @property
    def T(self):
        return self.transpose()

    @property
    def stype(self):
        return "default"

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __hash__(self):
        return id(self)

    # --- conversion
    def asnumpy(self):
        """A NumPy copy of the data."""
        if self._t.dtype == "bfloat16":
            return self.astype("float32").asnumpy()
        t = self._t if self._t.device[0] == "cpu" else _core.to_device(self._t, "cpu", 0)
        return _onp.array(t, copy=True)

    def __array__(self, dtype=None, copy=None):
        if self._t.dtype == "bfloat16":
            a = self.asnumpy()
        else:
            t = self._t if self._t.device[0] == "cpu" else _core.to_device(self._t, "cpu", 0)
            # Zero-copy: NumPy keeps the core tensor (and so the storage) alive as its base.
            a = _onp.asarray(t)
        if dtype is not None and a.dtype != dtype:
            a = a.astype(dtype)
        elif copy:
            a = a.copy()
        return a

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule sharing this array's memory (CPU arrays)."""
        if copy:
            return self.copy().__dlpack__()
        return _core.to_dlpack(self._t)

    def __dlpack_device__(self):
        kind, dev_id = self._t.device
        return (1 if kind == "cpu" else 2, dev_id)

    def item(self, *args):
        a = self.asnumpy()
        return a.item(*args)

    def tolist(self):
        return self.asnumpy().tolist()

    def __bool__(self):
        if self.size != 1:
            raise MXNetValueError(
                "The truth value of an ndarray with more than one element is ambiguous. Use a.any() or a.all()"
            )
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._t.dtype not in ("bool", "uint8", "int8", "int32", "int64") or self.size != 1:
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return int(self.item())

    def __repr__(self):
        body = repr(self.asnumpy()).replace("array(", "array(", 1)
        if self._t.dtype == "bfloat16":
            body = body.rstrip(")") + ", dtype=bfloat16)"
        dev = self.device
        if dev.device_type != "cpu":
            body = body[:-1] + f", device={dev})"
        return body

    def __str__(self):
        return str(self.asnumpy())

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        name = dtype_name(dtype)
        if name == self._t.dtype and not copy:
            return self
        if name == self._t.dtype:
            return self.copy()
        return invoke("astype", [self], dtype=name)

    def copy(self, order="C"):
        return invoke("copy", [self])

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def copyto(self, other):
        """Copy into ``other`` (an ndarray, written in place) or onto a device (a new array)."""
        if isinstance(other, ndarray):
            if other is self:
                return other
            _core.write_from(other._t, self._t)
            return other
        return self.to_device(other)

    def to_device(self, device):
        d = as_device(device)
        if d == self.device:
            return self
        return _wrap(_core.to_device(self._t, *d._pair()), type(self))

    def as_in_context(self, context):
        return self.to_device(context)

    as_in_ctx = as_in_context

    def as_np_ndarray(self):
        return _wrap(self._t, ndarray)

    def as_nd_ndarray(self):
        from ..ndarray import NDArray

        return _wrap(self._t, NDArray)

    def wait_to_read(self):
        """Computation is synchronous: the data is always ready."""

    def wait_to_write(self):
        """Computation is synchronous: the data is always ready."""

    # --- autograd
    def attach_grad(self, grad_req="write", stype=None):
        """Allocate a gradient buffer (zeros) and mark this array as a variable to differentiate."""
        if stype not in (None, "default"):
            raise MXNetValueError(f"attach_grad: sparse gradient storage {stype!r} is not supported")
        _core.mark_variable(self._t, grad_req)

    @property
    def grad(self):
        g = _core.grad(self._t)
        return None if g is None else _wrap(g, type(self))

    @property
    def grad_req(self):
        return _core.grad_req(self._t)

    def detach(self):
        return _wrap(_core.detach(self._t), type(self))

    def backward(self, out_grad=None, retain_graph=False, train_mode=True):
        from .. import autograd

        autograd.backward([self], [out_grad], retain_graph=retain_graph, train_mode=train_mode)

    # --- operators
    def __add__(self, o):
        return _binop("add", self, o)

    def __radd__(self, o):
        return _binop("add", self, o, True)

    def __sub__(self, o):
        return _binop("subtract", self, o)

    def __rsub__(self, o):
        return _binop("subtract", self, o, True)

    def __mul__(self, o):
        return _binop("multiply", self, o)

    def __rmul__(self, o):
        return _binop("multiply", self, o, True)

    def __truediv__(self, o):
        return _binop("true_divide", self, o)

    def __rtruediv__(self, o):
        return _binop("true_divide", self, o, True)

    def __floordiv__(self, o):
        return _binop("floor_divide", self, o)

    def __rfloordiv__(self, o):
        return _binop("floor_divide", self, o, True)

    def __mod__(self, o):
        return _binop("mod", self, o)

    def __rmod__(self, o):
        return _binop("mod", self, o, True)

    def __pow__(self, o):
        return _binop("power", self, o)

    def __rpow__(self, o):
        return _binop("power", self, o, True)

    def __eq__(self, o):
        if o is None:
            return False
        return _binop("equal", self, o)

    def __ne__(self, o):
        if o is None:
            return True
        return _binop("not_equal", self, o)

    def __lt__(self, o):
        return _binop("less", self, o)

    def __le__(self, o):
        return _binop("less_equal", self, o)

    def __gt__(self, o):
        return _binop("greater", self, o)

    def __ge__(self, o):
        return _binop("greater_equal", self, o)

    def __and__(self, o):
        return _binop("logical_and", self, o) if self._t.dtype == "bool" else NotImplemented

    def __or__(self, o):
        return _binop("logical_or", self, o) if self._t.dtype == "bool" else NotImplemented

    def __xor__(self, o):
        return _binop("logical_xor", self, o) if self._t.dtype == "bool" else NotImplemented

    def __invert__(self):
        if self._t.dtype != "bool":
            raise MXNetTypeError("~ is only supported for boolean arrays")
        return invoke("logical_not", [self])

    def __neg__(self):
        return invoke("negative", [self])

    def __pos__(self):
        return self

    def __abs__(self):
        return invoke("absolute", [self])

    def __matmul__(self, o):
        from . import matmul

        return matmul(self, as_array(o, like=self))

    def __rmatmul__(self, o):
        from . import matmul

        return matmul(as_array(o, like=self), self)

    def _inplace(self, name, o):
        from .. import autograd

        out = _binop(name, self, o)
        if out is NotImplemented:
            return out
        if autograd.is_recording() and (_core.in_graph(self._t) or (isinstance(o, ndarray) and _core.in_graph(o._t))):
            # Recorded: the array now stands for the new node (as MXNet does).
            self._t = out._t
        else:
            _core.write_from(self._t, out._t)
        return self

    def __iadd__(self, o):
        return self._inplace("add", o)

    def __isub__(self, o):
        return self._inplace("subtract", o)

    def __imul__(self, o):
        return self._inplace("multiply", o)

    def __itruediv__(self, o):
        return self._inplace("true_divide", o)

    def __ifloordiv__(self, o):
        return self._inplace("floor_divide", o)

    def __imod__(self, o):
        return self._inplace("mod", o)

    def __ipow__(self, o):
        return self._inplace("power", o)

    # --- indexing
    def __getitem__(self, key):
        if _is_basic_key(key):
            return _wrap(_core.basic_index(self._t, _basic_key(key)), type(self))
        from ._indexing import advanced_getitem

        return advanced_getitem(self, key)

    def __setitem__(self, key, value):
        if _is_basic_key(key):
            v = value if isinstance(value, ndarray) else as_array(value, like=self)
            _core.basic_setitem(self._t, _basic_key(key), v._t)
            return
        from ._indexing import advanced_setitem

        advanced_setitem(self, key, value)

    # --- methods that are mx.np functions
    def reshape(self, *shape, order="C", **kwargs):
        from . import reshape

        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if not shape and "shape" in kwargs:
            shape = kwargs["shape"]
        return reshape(self, shape, order=order)

    def transpose(self, *axes):
        from . import transpose

        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return transpose(self, axes or None)


def _delegate(name, doc_name=None):
    def method(self, *args, **kwargs):
        from .. import numpy as _np

        return getattr(_np, doc_name or name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"Same as ``mx.np.{doc_name or name}(self, ...)``."
    return method


for _name in (
    "sum", "mean", "prod", "max", "min", "argmax", "argmin", "std", "var", "all", "any", "cumsum",
    "squeeze", "flatten", "ravel", "swapaxes", "repeat", "tile", "clip", "round", "sort", "argsort",
    "dot", "take", "nonzero", "broadcast_to", "flip", "expand_dims", "split", "diagonal", "trace", "abs",
):
    if not hasattr(ndarray, _name):
        setattr(ndarray, _name, _delegate(_name))
del _name
