"""``mx.test_utils``: MXNet's public helpers for tests (comparisons with per-dtype tolerances, random
arrays and shapes, the default device, environment variables).

The Symbol checks (``check_numeric_gradient``, ``check_symbolic_forward``, ``check_symbolic_backward``,
``simple_forward``) run the symbol through a ``gluon.SymbolBlock`` with autograd, where MXNet binds an
executor. Sparse storage (``stype`` other than 'default') is not supported."""
import contextlib
import functools
import numbers
import os

import numpy as _onp
import numpy.random as _rnd

from . import ndarray as _nd
from .base import MXNetTypeError, MXNetValueError
from .device import Device, current_device
from .numpy.multiarray import ndarray as _ndarray

__all__ = [
    "default_device", "default_context", "set_default_device", "set_default_context", "default_dtype",
    "default_rtols", "default_atols", "default_numeric_eps", "effective_dtype", "get_tolerance", "get_tols",
    "get_rtol", "get_atol", "get_etol", "random_arrays", "random_uniform_arrays", "random_sample",
    "rand_ndarray", "rand_shape_2d", "rand_shape_3d", "rand_shape_nd", "rand_coord_2d", "np_reduce", "same",
    "almost_equal", "assert_almost_equal", "assert_allclose", "assert_almost_equal_with_err",
    "almost_equal_ignore_nan", "assert_almost_equal_ignore_nan", "assert_exception", "retry", "use_np",
    "environment", "getenv", "setenv", "check_numeric_gradient", "check_symbolic_forward",
    "check_symbolic_backward", "simple_forward",
]


# --- devices and dtypes -------------------------------------------------------------------------


def default_device():
    """The device tests run on: the current default device."""
    return current_device()


default_context = default_device


def set_default_device(device):
    """Make ``device`` the default device of this thread (as ``with device:`` does)."""
    Device._default.value = Device(device)


set_default_context = set_default_device


def default_dtype():
    return _onp.float32


def _tolerances(f16, f32, f64):
    tols = {_onp.dtype(t): 0 for t in (_onp.bool_, _onp.int8, _onp.uint8, _onp.int32, _onp.uint32, _onp.int64,
                                       _onp.uint64)}
    tols.update({_onp.dtype(_onp.float16): f16, _onp.dtype(_onp.float32): f32, _onp.dtype(_onp.float64): f64})
    return tols


def default_rtols():
    """Relative tolerances by dtype: float16 1e-2, float32 1e-4, float64 1e-5, integers and bool 0."""
    return _tolerances(1e-2, 1e-4, 1e-5)


def default_atols():
    """Absolute tolerances by dtype: float16 1e-1, float32 1e-3, float64 1e-20, integers and bool 0."""
    return _tolerances(1e-1, 1e-3, 1e-20)


def default_numeric_eps():
    """Finite-difference steps by float dtype (powers of two)."""
    return {_onp.dtype(_onp.float16): 2.0**-6, _onp.dtype(_onp.float32): 2.0**-9,
            _onp.dtype(_onp.float64): 2.0**-14}


def effective_dtype(dat):
    """The dtype whose tolerances apply to ``dat`` (bfloat16, which MXNet's tables lack, counts as
    float16)."""
    dt = getattr(dat, "dtype", None)
    if isinstance(dt, str) and dt == "bfloat16":
        return _onp.dtype(_onp.float16)
    return _onp.dtype(dt if dt is not None else _onp.asarray(dat).dtype)


def get_tolerance(dat, tol, default_tol):
    """``tol`` if it is a number, else its entry (a dict dtype -> float) or ``default_tol``'s for
    ``dat``'s dtype."""
    if isinstance(tol, numbers.Number):
        return tol
    dtype = effective_dtype(dat)
    return (tol or {}).get(dtype, default_tol[dtype])


def get_tols(x, y, rtol, atol):
    """The (rtol, atol) to compare ``x`` with ``y``: the given ones, else the larger default of the two dtypes."""
    x = _onp.asarray(x) if isinstance(x, numbers.Number) else x
    y = _onp.asarray(y) if isinstance(y, numbers.Number) else y
    return (max(get_tolerance(x, rtol, default_rtols()), get_tolerance(y, rtol, default_rtols())),
            max(get_tolerance(x, atol, default_atols()), get_tolerance(y, atol, default_atols())))


def get_rtol(rtol=None, dtype=_onp.dtype(_onp.float64)):
    return default_rtols()[_onp.dtype(dtype)] if rtol is None else rtol


def get_atol(atol=None, dtype=_onp.dtype(_onp.float64)):
    return default_atols()[_onp.dtype(dtype)] if atol is None else atol


def get_etol(etol=None):
    return 0 if etol is None else etol


# --- random data ----------------------------------------------------------------------------------


def random_arrays(*shapes):
    """Standard-normal float32 NumPy arrays of the given shapes (one array when one shape is given)."""
    arrays = [_rnd.randn(*s).astype(default_dtype()) if len(s) else _onp.array(_rnd.randn(), dtype=default_dtype())
              for s in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def random_uniform_arrays(*shapes, low=0.0, high=1.0, dtype=None):
    """Uniform NumPy arrays in [low, high) of the given shapes (always a list)."""
    dtype = default_dtype() if dtype is None else dtype
    return [_rnd.uniform(low, high, size=s).astype(dtype) for s in shapes]


def random_sample(population, k):
    """``k`` distinct elements of ``population`` in random order."""
    if not 0 <= k <= len(population):
        raise MXNetValueError(f"random_sample: k={k} is not in [0, {len(population)}]")
    pop = list(population)
    _rnd.shuffle(pop)
    return pop[:k]


def rand_ndarray(shape, stype="default", density=None, dtype=None, modifier_func=None, shuffle_csr_indices=False,
                 distribution=None, ctx=None, device=None):
    """A standard-normal ``mx.nd.NDArray`` of ``shape`` (dense storage only)."""
    if stype != "default":
        raise MXNetValueError(f"rand_ndarray: stype {stype!r} is not supported (mxgluon has dense storage only)")
    dev = device if device is not None else (ctx if ctx is not None else default_device())
    return _nd.array(random_arrays(tuple(shape)), dtype=dtype, ctx=dev)


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False):
    low = 0 if allow_zero_size else 1
    return _rnd.randint(low, dim0 + 1), _rnd.randint(low, dim1 + 1)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False):
    low = 0 if allow_zero_size else 1
    return _rnd.randint(low, dim0 + 1), _rnd.randint(low, dim1 + 1), _rnd.randint(low, dim2 + 1)


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False):
    low = 0 if allow_zero_size else 1
    return tuple(int(d) for d in _rnd.randint(low, dim + 1, size=num_dim))


def rand_coord_2d(x_low, x_high, y_low, y_high):
    return _rnd.randint(x_low, x_high, dtype=_onp.int64), _rnd.randint(y_low, y_high, dtype=_onp.int64)


def np_reduce(dat, axis, keepdims, numpy_reduce_func):
    """``numpy_reduce_func`` applied over ``axis`` (an int, a list or None: all) one axis at a time."""
    axes = [axis] if isinstance(axis, int) else (list(range(dat.ndim)) if axis is None else list(axis))
    ret = dat
    for a in sorted(axes, reverse=True):
        ret = numpy_reduce_func(ret, axis=a)
    if keepdims:
        ret = ret.reshape(tuple(1 if i in axes else d for i, d in enumerate(dat.shape)))
    return ret


# --- comparisons ------------------------------------------------------------------------------------


def _host(x):
    return x.asnumpy() if isinstance(x, _ndarray) else x


def same(a, b):
    """Whether ``a`` and ``b`` have the same shape and elements."""
    return _onp.array_equal(_host(a), _host(b))


def _check_shapes(a, b):
    if _onp.shape(a) != _onp.shape(b):
        raise AssertionError(f"a.shape = {_onp.shape(a)} and b.shape = {_onp.shape(b)} are not equal")


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    """``numpy.allclose`` of ``a`` and ``b`` (NumPy or mxgluon arrays); without ``use_broadcast`` the
    shapes must match. Tolerances default to float64's."""
    a, b = _host(a), _host(b)
    if not use_broadcast:
        _check_shapes(a, b)
    return bool(_onp.allclose(a, b, rtol=get_rtol(rtol), atol=get_atol(atol), equal_nan=equal_nan))


def _violations(a, b, rtol, atol, equal_nan):
    """How far each element is outside the tolerance (<= 1 is within), as MXNet measures it."""
    a, b = _onp.broadcast_arrays(_onp.asarray(a, dtype=_onp.float64), _onp.asarray(b, dtype=_onp.float64))
    diff = _onp.where(_onp.equal(a, b), 0.0, _onp.abs(a - b))
    if equal_nan:
        diff = _onp.where(_onp.isnan(a) & _onp.isnan(b), 0.0, diff)
    diff = _onp.where(_onp.isnan(diff), _onp.inf, diff)
    return a, b, diff / (atol + rtol * _onp.abs(b) + 1e-20)


def _mismatch_message(a, b, rtol, atol, names, equal_nan, mismatches):
    a, b, viol = _violations(a, b, rtol, atol, equal_nan)
    count = int((viol > 1).sum())
    worst = _onp.argsort(-viol, axis=None, kind="stable")[:max(min(count, int(mismatches[0])), 1)]
    lines = [f"Error {viol.flat[worst[0]]:f} exceeds tolerance rtol={rtol:e}, atol={atol:e} "
             f"(mismatch {100.0 * count / max(a.size, 1):f}%: {count} of {a.size} elements)."]
    for n, i in enumerate(worst):
        idx = tuple(int(j) for j in _onp.unravel_index(i, a.shape)) if a.ndim else ()
        lines.append(f"{n + 1:3d}: Error {viol.flat[i]:f}  Location of error: {idx}, {names[0]}={a.flat[i]:.8f}, "
                     f"{names[1]}={b.flat[i]:.8f}")
    return "\n".join(lines)


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False, use_broadcast=True,
                        mismatches=(10, 10)):
    """Assert that ``a`` and ``b`` (NumPy or mxgluon arrays, or numbers) agree within
    ``|a - b| <= atol + rtol * |b|``. ``rtol``/``atol`` are numbers or dicts dtype -> tolerance;
    by default the larger of the two dtypes' defaults (``default_rtols()``, ``default_atols()``).
    The error counts the elements out of tolerance and lists the worst ``mismatches[0]`` of them,
    labelled with ``names``. Bool arrays must be equal."""
    if not use_broadcast:
        _check_shapes(a, b)
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = _onp.asarray(_host(a)), _onp.asarray(_host(b))
    if a.dtype == _onp.bool_ and b.dtype == _onp.bool_:
        _onp.testing.assert_equal(a, b)
        return
    if _onp.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return
    raise AssertionError(_mismatch_message(a, b, rtol, atol, names, equal_nan, mismatches))


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True):
    assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def assert_almost_equal_with_err(a, b, rtol=None, atol=None, etol=None, names=("a", "b"), equal_nan=False,
                                 mismatches=(10, 10)):
    """Like ``assert_almost_equal``, but passes while at most a fraction ``etol`` of the elements
    is out of tolerance."""
    etol = get_etol(etol)
    if etol <= 0:
        assert_almost_equal(a, b, rtol=rtol, atol=atol, names=names, equal_nan=equal_nan, mismatches=mismatches)
        return
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = _onp.asarray(_host(a)), _onp.asarray(_host(b))
    close = _onp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if 1 - _onp.count_nonzero(close) / close.size > etol:
        raise AssertionError(_mismatch_message(a, b, rtol, atol, names, equal_nan, mismatches))


def _zero_nans(a, b):
    a, b = _onp.array(_host(a), dtype=_onp.float64), _onp.array(_host(b), dtype=_onp.float64)
    a, b = _onp.broadcast_arrays(a, b)
    mask = _onp.isnan(a) | _onp.isnan(b)
    return _onp.where(mask, 0.0, a), _onp.where(mask, 0.0, b)


def almost_equal_ignore_nan(a, b, rtol=None, atol=None):
    """``almost_equal`` with the positions where either array is NaN left out."""
    return almost_equal(*_zero_nans(a, b), rtol=rtol, atol=atol)


def assert_almost_equal_ignore_nan(a, b, rtol=None, atol=None, names=("a", "b")):
    """``assert_almost_equal`` with the positions where either array is NaN left out."""
    assert_almost_equal(*_zero_nans(a, b), rtol=rtol, atol=atol, names=names)


def assert_exception(f, exception_type, *args, **kwargs):
    """Assert that ``f(*args, **kwargs)`` raises ``exception_type``."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"{getattr(f, '__name__', f)!s} did not raise {exception_type.__name__}")


def retry(n):
    """Decorator: run a stochastic test up to ``n`` times until it passes (AssertionError retries)."""
    if n <= 0:
        raise MXNetValueError(f"retry: n must be positive, got {n}")

    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            for attempt in range(n):
                try:
                    return f(*args, **kwargs)
                except AssertionError:
                    if attempt == n - 1:
                        raise
        return wrapper

    return decorate


def use_np(func):
    """MXNet's NumPy-semantics decorator (for functions, test classes and Blocks). mxgluon always
    has NumPy semantics, so it returns ``func`` unchanged."""
    return func


# --- environment variables ------------------------------------------------------------------------


def getenv(name):
    """The value of environment variable ``name``, or None."""
    return os.environ.get(name)


def setenv(name, value):
    """Set environment variable ``name`` to ``value`` (None removes it)."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


@contextlib.contextmanager
def environment(*args):
    """Set environment variables for the body of a ``with``: ``environment('NAME', 'value')`` or
    ``environment({'A': '1', 'B': None})`` (None unsets); the old values come back afterwards."""
    if len(args) == 2 and isinstance(args[0], str):
        values = {args[0]: args[1]}
    elif len(args) == 1 and isinstance(args[0], dict):
        values = dict(args[0])
    else:
        raise MXNetValueError("environment: expected (name, value) or a dict of name -> value")
    old = {k: getenv(k) for k in values}
    try:
        for k, v in values.items():
            setenv(k, v)
        yield
    finally:
        for k, v in old.items():
            setenv(k, v)


# --- Symbol checks ------------------------------------------------------------------------------
_FLOATS = (_onp.float16, _onp.float32, _onp.float64)


def _named_values(values, names, what, dtype):
    """NumPy copies (in ``dtype``, or their own with ``'asnumpy'``) of ``values`` (a list in the
    order of ``names``, or a dict by name), which must give exactly ``names``."""
    if values is None:
        if names:
            raise MXNetValueError(f"{what}: the symbol has {names}: give their values")
        values = {}
    if isinstance(values, (list, tuple)):
        if len(values) != len(names):
            raise MXNetValueError(f"{what}: {len(values)} arrays for the symbol's {len(names)} ({names})")
        values = dict(zip(names, values))
    if not isinstance(values, dict):
        raise MXNetTypeError(f"{what}: a list or a dict of arrays, not {type(values).__name__}")
    if set(values) != set(names):
        raise MXNetValueError(f"{what}: the names {sorted(values)} do not match the symbol's {names}")
    return {k: _onp.array(_host(values[k]), dtype=None if dtype == "asnumpy" else dtype) for k in names}


class _Executor:
    """A symbol run on NumPy values by name (its arguments, then its auxiliary states) through a
    SymbolBlock: what MXNet binds an executor for."""

    def __init__(self, sym, location, aux_states, ctx, dtype):
        from .gluon import SymbolBlock
        from .symbol import var
        self.args = sym.list_arguments()
        self.outputs = sym.list_outputs()
        self.values = (_named_values(location, self.args, "location", dtype)
                       | _named_values(aux_states, sym.list_auxiliary_states(), "aux_states", dtype))
        self.block = SymbolBlock(sym, [var(n) for n in self.values])
        self.device = ctx if ctx is not None else default_device()

    def arrays(self):
        return {k: _nd.array(v, ctx=self.device, dtype=v.dtype) for k, v in self.values.items()}

    def forward(self, arrays, is_train):
        from . import autograd
        with autograd.train_mode() if is_train else autograd.predict_mode():
            out = self.block(*arrays.values())
        return out if isinstance(out, list) else [out]

    def backward(self, grad_req, initial, out_grads):
        """Outputs (training mode) and the gradients of the arguments whose ``grad_req`` is not
        'null' ('add' ones start from ``initial``)."""
        from . import autograd
        arrays = self.arrays()
        for k, req in grad_req.items():
            if req not in ("write", "add", "null"):
                raise MXNetValueError(f"grad_req of {k!r} must be 'write', 'add' or 'null', not {req!r}")
            if k not in self.args:
                raise MXNetValueError(f"grad_req names {k!r}, which is not an argument of the symbol ({self.args})")
            if req != "null":
                arrays[k].attach_grad(req)
                if req == "add":
                    arrays[k].grad[:] = _nd.array(initial[k], ctx=self.device, dtype=arrays[k].dtype)
        with autograd.record():
            outs = self.forward(arrays, True)
        autograd.backward(outs, out_grads)
        return outs, {k: arrays[k].grad for k, req in grad_req.items() if req != "null"}

    def head_grads(self, out_grads, dtype):
        if out_grads is None:
            return None
        if isinstance(out_grads, dict):
            out_grads = [out_grads[k] for k in self.outputs]
        return [g if isinstance(g, _ndarray) else _nd.array(g, ctx=self.device, dtype=None if dtype == "asnumpy"
                                                            else dtype) for g in out_grads]


def simple_forward(sym, ctx=None, is_train=False, **inputs):
    """The outputs (NumPy; one array alone) of ``sym`` on ``inputs``, every input by name."""
    aux = sym.list_auxiliary_states()
    ex = _Executor(sym, {k: v for k, v in inputs.items() if k not in aux},
                   {k: v for k, v in inputs.items() if k in aux} if aux else None, ctx, "asnumpy")
    outs = [o.asnumpy() for o in ex.forward(ex.arrays(), is_train)]
    return outs[0] if len(outs) == 1 else outs


def check_symbolic_forward(sym, location, expected, rtol=None, atol=None, aux_states=None, ctx=None,
                           equal_nan=False, dtype=default_dtype()):
    """Assert that ``sym``'s outputs in inference mode at ``location`` (arrays for
    ``list_arguments()``, a list or a dict by name) equal ``expected`` (a list, or a dict by output
    name); returns the outputs."""
    ex = _Executor(sym, location, aux_states, ctx, dtype)
    if isinstance(expected, dict):
        expected = [expected[k] for k in ex.outputs]
    outs = ex.forward(ex.arrays(), False)
    for name, want, got in zip(ex.outputs, expected, outs):
        assert_almost_equal(want, got, rtol, atol, (f"EXPECTED_{name}", f"FORWARD_{name}"), equal_nan=equal_nan)
    return outs


def check_symbolic_backward(sym, location, out_grads, expected, rtol=None, atol=None, aux_states=None,
                            grad_req="write", ctx=None, grad_stypes=None, equal_nan=False, dtype=default_dtype()):
    """Assert that the gradients of ``sym`` at ``location`` (training mode), for head gradients
    ``out_grads``, equal ``expected`` (a list in ``list_arguments()`` order, or a dict by name:
    those named are checked). ``grad_req`` ('write', 'add' or 'null'; a list or a dict) as MXNet
    binds it: 'add' adds to a random starting gradient. Returns the gradients by name."""
    ex = _Executor(sym, location, aux_states, ctx, dtype)
    if isinstance(expected, (list, tuple)):
        expected = dict(zip(ex.args, expected))
    if isinstance(grad_req, str):
        grad_req = {k: grad_req for k in ex.args}
    elif isinstance(grad_req, (list, tuple)):
        grad_req = dict(zip(ex.args, grad_req))
    initial = {k: _onp.random.normal(size=ex.values[k].shape) for k in ex.args}
    _, grads = ex.backward(grad_req, initial, ex.head_grads(out_grads, dtype))
    for name, want in expected.items():
        if name not in grads:
            continue
        got = grads[name].asnumpy()
        if grad_req[name] == "add":
            got = got - initial[name].astype(got.dtype)
        assert_almost_equal(want, got, rtol, atol, (f"EXPECTED_{name}", f"BACKWARD_{name}"), equal_nan=equal_nan)
    return grads


def check_numeric_gradient(sym, location, aux_states=None, numeric_eps=None, rtol=None, atol=None, grad_nodes=None,
                           use_forward_train=True, ctx=None, grad_stype_dict=None, dtype=default_dtype()):
    """Assert that the gradients of ``sum(sym(location) * P)`` (P a random projection with
    entries in [0.1, 1.1)) for the arguments in ``grad_nodes`` (all by default; a list, or a dict
    name -> grad_req) equal central finite differences with step ``numeric_eps`` (by dtype:
    ``default_numeric_eps()``). The symbol must have one output."""
    if dtype not in _FLOATS:
        raise MXNetValueError(f"check_numeric_gradient: dtype must be float16, float32 or float64, not {dtype}")
    ex = _Executor(sym, location, aux_states, ctx, dtype)
    if len(ex.outputs) != 1:
        raise MXNetValueError(f"check_numeric_gradient: the symbol must have one output, it has {ex.outputs}")
    if grad_nodes is None:
        grad_nodes = ex.args
    grad_req = dict(grad_nodes) if isinstance(grad_nodes, dict) else {k: "write" for k in grad_nodes}
    out = ex.forward(ex.arrays(), use_forward_train)[0]
    proj = _rnd.rand(*out.shape) + 0.1
    eps = get_tolerance(out, numeric_eps, default_numeric_eps())
    if dtype != _onp.float64 and eps < 1e-5:
        raise MXNetValueError(f"check_numeric_gradient: numeric_eps {eps} is too small for {_onp.dtype(dtype).name}")
    initial = {k: _rnd.normal(0, 0.01, size=ex.values[k].shape) for k in grad_req}
    _, grads = ex.backward(grad_req, initial, [_nd.array(proj, ctx=ex.device, dtype=dtype)])

    def loss():
        o = ex.forward(ex.arrays(), use_forward_train)[0].asnumpy()
        return float((o.astype(_onp.float64) * proj).sum())

    for name, req in grad_req.items():
        if req == "null":
            if name in grads:
                raise AssertionError(f"grad_req 'null' for {name!r} and yet a gradient")
            continue
        flat = ex.values[name].reshape(-1)
        numeric = _onp.zeros(flat.shape)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps / 2
            up = loss()
            flat[i] = old - eps / 2
            numeric[i] = (up - loss()) / eps
            flat[i] = old
        got = grads[name].asnumpy()
        if req == "add":
            got = got - initial[name].astype(got.dtype)
        assert_almost_equal(numeric.reshape(got.shape), got, rtol, atol, (f"NUMERICAL_{name}", f"BACKWARD_{name}"))
