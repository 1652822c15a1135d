"""``mx.random``: MXNet 1.x's seeding and sampling (``mx.nd.random`` results, ``shape=`` and
``ctx=``), on the same generator as ``mx.np.random``."""
import numbers

from .device import as_device
from .numpy import random as _np_random
from .numpy.multiarray import dtype_name, invoke, ndarray

__all__ = ["seed", "uniform", "normal", "randn", "randint", "gamma", "exponential", "poisson", "shuffle"]


def _nd():
    from .ndarray import NDArray

    return NDArray


def _shape(shape):
    if shape is None or shape == ():
        return (1,)  # MXNet 1.x samples a single value as shape (1,)
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def seed(seed_state, ctx="all", device=None):
    """Seed the generator: the same seed gives the same numbers. ``ctx``/``device`` are accepted
    for compatibility (one generator serves every device)."""
    _np_random.seed(seed_state)


def _finish(res, ctx, device, out):
    d = as_device(device, ctx)
    if d != res.device:
        res = res.to_device(d)
    if out is not None:
        out[:] = res
        return out
    return res


def _sample(name, np_name, keys, values, shape, dtype, ctx, device, out, **extra):
    if out is not None and shape is None:
        shape = out.shape
    dtype = dtype_name(dtype) or "float32"
    if any(isinstance(v, ndarray) for v in values):
        # Parameter arrays (1.x `_sample_*`): the output is param.shape + shape.
        extra_dims = () if shape is None else _shape(shape)
        vals = [v.reshape(v.shape + (1,) * len(extra_dims)) if isinstance(v, ndarray) else v for v in values]
        pshape = next(v.shape for v in values if isinstance(v, ndarray))
        size = tuple(pshape) + tuple(extra_dims)
        res = _np_random._sample(np_name, keys, vals, size, dtype, None, None, None, **extra)
        res = res.as_nd_ndarray()
    else:
        attrs = {k: float(v) for k, v in zip(keys, values)}
        res = invoke(name, [], cls=_nd(), shape=_shape(shape), dtype=dtype, **attrs, **extra)
    return _finish(res, ctx, device, out)


def uniform(low=0, high=1, shape=None, dtype=None, ctx=None, out=None, device=None, **kwargs):
    """Samples uniform over ``[low, high)``."""
    return _sample("_random_uniform", "uniform", ("low", "high"), (low, high), shape, dtype, ctx, device, out)


def normal(loc=0, scale=1, shape=None, dtype=None, ctx=None, out=None, device=None, **kwargs):
    """Samples from a normal distribution."""
    return _sample("_random_normal", "normal", ("loc", "scale"), (loc, scale), shape, dtype, ctx, device, out)


def randn(*shape, **kwargs):
    """Standard normal samples; ``loc`` and ``scale`` may be given as keywords."""
    loc = kwargs.pop("loc", 0)
    scale = kwargs.pop("scale", 1)
    return normal(loc, scale, shape or None, **kwargs)


def gamma(alpha=1, beta=1, shape=None, dtype=None, ctx=None, out=None, device=None, **kwargs):
    """Samples from a gamma distribution of shape ``alpha`` and scale ``beta``."""
    return _sample("_random_gamma", "gamma", ("alpha", "beta"), (alpha, beta), shape, dtype, ctx, device, out)


def exponential(scale=1, shape=None, dtype=None, ctx=None, out=None, device=None, **kwargs):
    """Samples from an exponential distribution of mean ``scale`` (1.x: rate ``1 / scale``)."""
    if isinstance(scale, ndarray):
        return _sample(None, "exponential", ("scale",), (scale,), shape, dtype, ctx, device, out)
    return _sample("_random_exponential", None, ("lam",), (1.0 / scale,), shape, dtype, ctx, device, out)


def poisson(lam=1, shape=None, dtype=None, ctx=None, out=None, device=None, **kwargs):
    """Samples from a Poisson distribution (float values)."""
    return _sample("_random_poisson", "poisson", ("lam",), (lam,), shape, dtype, ctx, device, out)


def randint(low, high, shape=None, dtype=None, ctx=None, out=None, device=None, **kwargs):
    """Integers uniform in ``[low, high)``; int32 by default, as in MXNet 1.x."""
    if out is not None and shape is None:
        shape = out.shape
    res = invoke("_random_randint", [], cls=_nd(), low=int(low), high=int(high), shape=_shape(shape),
                 dtype=dtype_name(dtype) or "int32")
    return _finish(res, ctx, device, out)


def shuffle(data, **kwargs):
    """A copy of ``data`` with its rows (axis 0) in random order (1.x returns a new array)."""
    return invoke("shuffle", [data])
