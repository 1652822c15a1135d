"""``mx.np.random``: seeding and sampling (MXNet 2.x's API; the numbers come from the core's
generator, so they differ from NumPy's for the same seed).

Distribution parameters may be numbers or arrays (broadcast against each other and ``size``).
Results are computed on the CPU and copied to ``device`` (``ctx`` is the 1.x spelling)."""
import numbers

import numpy as _onp

from .. import _core
from ..base import MXNetValueError
from ..device import as_device
from .multiarray import as_array, dtype_name, invoke, ndarray

__all__ = [
    "seed", "uniform", "normal", "randn", "rand", "randint", "choice", "shuffle", "permutation",
    "gamma", "exponential", "poisson", "bernoulli", "uniform_n", "normal_n",
]


def _size(size):
    if size is None:
        return None
    if isinstance(size, (numbers.Integral, _onp.integer)):
        return (int(size),)
    return tuple(int(s) for s in size)


def _finish(res, device, ctx, out):
    d = as_device(device, ctx)
    if d != res.device:
        res = res.to_device(d)
    if out is not None:
        _core.write_from(out._t, res._t)
        return out
    return res


def _param(v):
    """(attribute value, input arrays): numbers go in attributes, arrays become inputs."""
    if isinstance(v, ndarray):
        return None, [v]
    if isinstance(v, (_onp.ndarray, list, tuple)):
        return None, [as_array(_onp.asarray(v, dtype=_onp.float64))]
    return float(v), []


def _sample(name, keys, values, size, dtype, device, ctx, out, default_dtype="float32", **extra):
    if out is not None and size is None:
        size = out.shape
    attrs, inputs = {}, []
    for k, v in zip(keys, values):
        attrs[k], arrs = _param(v)
        inputs += arrs
    res = invoke(name, inputs, cls=ndarray, size=_size(size),
                 dtype=dtype_name(dtype) or default_dtype, **attrs, **extra)
    return _finish(res, device, ctx, out)


def seed(seed, device="all", ctx=None):
    """Seed the generator: the same seed gives the same numbers. ``device`` is accepted for
    compatibility (one generator serves every device)."""
    _core.seed(int(seed) % (1 << 64))


def uniform(low=0.0, high=1.0, size=None, dtype=None, device=None, ctx=None, out=None):
    """Samples uniform over ``[low, high)`` (float32 unless ``dtype`` says otherwise)."""
    return _sample("uniform", ("low", "high"), (low, high), size, dtype, device, ctx, out)


def normal(loc=0.0, scale=1.0, size=None, dtype=None, device=None, ctx=None, out=None):
    """Samples from a normal distribution of mean ``loc`` and standard deviation ``scale``."""
    return _sample("normal", ("loc", "scale"), (loc, scale), size, dtype, device, ctx, out)


def rand(*size, **kwargs):
    """Uniform samples in ``[0, 1)`` of shape ``size``."""
    return uniform(size=size or None, **kwargs)


def randn(*size, **kwargs):
    """Standard normal samples of shape ``size``."""
    return normal(size=size or None, **kwargs)


def gamma(shape=1.0, scale=1.0, size=None, dtype=None, device=None, ctx=None, out=None):
    """Samples from a gamma distribution (Marsaglia-Tsang)."""
    return _sample("gamma", ("shape", "scale"), (shape, scale), size, dtype, device, ctx, out)


def exponential(scale=1.0, size=None, dtype=None, device=None, ctx=None, out=None):
    """Samples from an exponential distribution of mean ``scale``."""
    return _sample("exponential", ("scale",), (scale,), size, dtype, device, ctx, out)


def poisson(lam=1.0, size=None, dtype=None, device=None, ctx=None, out=None):
    """Samples from a Poisson distribution (float32 values unless ``dtype`` says otherwise)."""
    return _sample("poisson", ("lam",), (lam,), size, dtype, device, ctx, out)


def bernoulli(prob=None, logit=None, size=None, dtype=None, device=None, ctx=None, out=None):
    """0/1 samples that are 1 with probability ``prob`` (or ``sigmoid(logit)``); exactly one of the
    two is given. float32 unless ``dtype`` says otherwise (``npx.random.bernoulli`` in MXNet 2)."""
    if (prob is None) == (logit is None):
        raise MXNetValueError("bernoulli: give exactly one of prob and logit")
    if prob is not None:
        return _sample("bernoulli", ("prob",), (prob,), size, dtype, device, ctx, out, is_logit=False)
    return _sample("bernoulli", ("logit",), (logit,), size, dtype, device, ctx, out, is_logit=True)


def _batched(name, keys, values, batch_shape, dtype, device, ctx):
    shapes = [v.shape if isinstance(v, ndarray) else _onp.shape(v) for v in values]
    pshape = _onp.broadcast_shapes(*shapes)
    batch = _size(batch_shape) or ()
    return _sample(name, keys, values, batch + tuple(pshape), dtype, device, ctx, None)


def uniform_n(low=0.0, high=1.0, batch_shape=None, dtype=None, device=None, ctx=None):
    """``uniform`` with output shape ``batch_shape + broadcast(low, high).shape``."""
    return _batched("uniform", ("low", "high"), (low, high), batch_shape, dtype, device, ctx)


def normal_n(loc=0.0, scale=1.0, batch_shape=None, dtype=None, device=None, ctx=None):
    """``normal`` with output shape ``batch_shape + broadcast(loc, scale).shape``."""
    return _batched("normal", ("loc", "scale"), (loc, scale), batch_shape, dtype, device, ctx)


def randint(low, high=None, size=None, dtype=None, device=None, ctx=None, out=None):
    """Integers uniform in ``[low, high)`` (``[0, low)`` when ``high`` is None); int64 by default."""
    if high is None:
        low, high = 0, low
    if out is not None and size is None:
        size = out.shape
    res = invoke("randint", [], cls=ndarray, low=int(low), high=int(high), size=_size(size) or (),
                 dtype=dtype_name(dtype) or "int64")
    return _finish(res, device, ctx, out)


def choice(a, size=None, replace=True, p=None, device=None, ctx=None, out=None):
    """A random sample from ``arange(a)`` (``a`` an int) or from the 1-D array ``a``, with or without
    replacement, uniform or with probabilities ``p``."""
    inputs, attrs = [], {}
    if isinstance(a, (numbers.Integral, _onp.integer)):
        attrs["a"] = int(a)
    else:
        arr = a if isinstance(a, ndarray) else as_array(_onp.asarray(a))
        inputs.append(arr)
        attrs["a"] = None
        if device is None and ctx is None:
            device = arr.device
    if p is not None:
        inputs.append(p if isinstance(p, ndarray) else as_array(_onp.asarray(p, dtype=_onp.float64)))
    res = invoke("choice", inputs, cls=ndarray, size=_size(size), replace=bool(replace),
                 weighted=p is not None, **attrs)
    return _finish(res, device, ctx, out)


def shuffle(x):
    """Shuffle the array in place along its first axis."""
    res = invoke("shuffle", [x])
    _core.write_from(x._t, res._t)


def permutation(x):
    """A random permutation of ``arange(x)`` (``x`` an int), or a shuffled copy of the array ``x``."""
    if isinstance(x, (numbers.Integral, _onp.integer)):
        return choice(int(x), size=int(x), replace=False)
    return invoke("shuffle", [x if isinstance(x, ndarray) else as_array(x)])
