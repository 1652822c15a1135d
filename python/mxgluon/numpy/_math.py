"""Elementwise functions of ``mx.np``: arithmetic, comparisons, logic and math ufuncs."""
import numbers

from ..base import MXNetValueError
from .multiarray import _binop, as_array, invoke, ndarray

_BINARY = {
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "true_divide",
    "true_divide": "true_divide", "floor_divide": "floor_divide", "mod": "mod", "remainder": "mod",
    "power": "power", "maximum": "maximum", "minimum": "minimum", "arctan2": "arctan2", "hypot": "hypot",
    "equal": "equal", "not_equal": "not_equal", "less": "less", "less_equal": "less_equal",
    "greater": "greater", "greater_equal": "greater_equal", "logical_and": "logical_and",
    "logical_or": "logical_or", "logical_xor": "logical_xor",
}

_UNARY = {
    "negative": "negative", "absolute": "absolute", "abs": "absolute", "sign": "sign",
    "square": "square", "floor": "floor", "ceil": "ceil", "rint": "rint", "trunc": "trunc", "fix": "fix",
    "logical_not": "logical_not", "isnan": "isnan", "isinf": "isinf", "isfinite": "isfinite", "sqrt": "sqrt",
    "cbrt": "cbrt", "reciprocal": "reciprocal", "exp": "exp", "expm1": "expm1", "log": "log", "log2": "log2",
    "log10": "log10", "log1p": "log1p", "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "arcsin",
    "arccos": "arccos", "arctan": "arctan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "arcsinh": "arcsinh", "arccosh": "arccosh", "arctanh": "arctanh", "degrees": "degrees",
    "radians": "radians", "rad2deg": "degrees", "deg2rad": "radians",
}

__all__ = list(_BINARY) + list(_UNARY) + ["fabs", "round", "around", "clip", "where", "positive"]


def _make_binary(name, op):
    def f(x1, x2, out=None, **kwargs):
        if not isinstance(x1, ndarray) and not isinstance(x2, ndarray):
            x1 = as_array(x1)
        res = _binop(op, x1, x2) if isinstance(x1, ndarray) else _binop(op, x2, x1, True)
        return _store(res, out)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` with NumPy broadcasting (``numpy.{name}``)."
    return f


def _make_unary(name, op):
    def f(x, out=None, **kwargs):
        return _store(invoke(op, [as_array(x)]), out)

    f.__name__ = name
    f.__doc__ = f"Elementwise ``{name}`` (``numpy.{name}``)."
    return f


def _store(res, out):
    if out is None:
        return res
    out[...] = res
    return out


for _n, _op in _BINARY.items():
    globals()[_n] = _make_binary(_n, _op)
for _n, _op in _UNARY.items():
    globals()[_n] = _make_unary(_n, _op)
del _n, _op


def fabs(x, out=None, **kwargs):
    """Absolute values as floats (integer inputs give float32, MXNet's default float)."""
    x = as_array(x)
    if x._t.dtype not in ("float16", "bfloat16", "float32", "float64"):
        x = x.astype("float32")
    return _store(invoke("absolute", [x]), out)


def positive(x, out=None):
    return _store(as_array(x).copy(), out)


def round(x, decimals=0, out=None):
    """Round half to even, to ``decimals`` places."""
    x = as_array(x)
    if decimals == 0:
        return _store(invoke("rint", [x]), out)
    s = 10.0 ** decimals
    return _store(invoke("rint", [x * s]) / s, out)


around = round


def clip(a, a_min=None, a_max=None, out=None):
    if a_min is None and a_max is None:
        raise MXNetValueError("clip: one of a_min and a_max must be given")
    if isinstance(a_min, ndarray) or isinstance(a_max, ndarray):
        a = as_array(a)
        if a_min is not None:
            a = maximum(a, a_min)  # noqa: F821 (generated above)
        if a_max is not None:
            a = minimum(a, a_max)  # noqa: F821
        return _store(a, out)
    return _store(invoke("clip", [as_array(a)], a_min=a_min, a_max=a_max), out)


def where(condition, x=None, y=None):
    """Elements of ``x`` where ``condition`` holds, else of ``y`` (broadcast together)."""
    if x is None and y is None:
        from . import nonzero

        return nonzero(condition)
    cond = as_array(condition)
    if cond._t.dtype != "bool":
        cond = cond.astype("bool")  # a numeric condition selects where non-zero (and masks gradients by that)
    like = x if isinstance(x, ndarray) else (y if isinstance(y, ndarray) else None)
    if like is None:
        like = as_array(x)
    xa = as_array(x, like=like) if not isinstance(x, ndarray) else x
    ya = as_array(y, like=like) if not isinstance(y, ndarray) else y
    return invoke("where", [cond, xa, ya], cls=type(like))



