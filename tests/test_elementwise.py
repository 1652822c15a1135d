"""Elementwise ops of mx.np against NumPy: dtypes, broadcasting, views, scalars, in-place ops, gradients.

Result dtypes follow NumPy's promotion with MXNet's documented differences:
- an integer (or bool) array with a float array gives the float's type (NumPy: float64 for int32/int64
  with float16/float32); float16 with int32/int64 gives float32;
- uint8 with int8 gives int32 (NumPy: int16, which mxgluon does not have);
- ops that need floats (true_divide, arctan2, hypot, and the float unary functions) give float32 for
  integer and bool inputs (NumPy: float64, or float16 for 8-bit inputs);
- a Python float scalar makes an integer array float32 (NumPy: float64).
"""
import itertools
import warnings

import numpy as onp
import pytest

import mxgluon as mx
from gradcheck import check_grad
from mxgluon.numpy import _math

DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"]
INTS = ["uint8", "int8", "int32", "int64"]
FLOATS = ["float16", "float32", "float64"]

ARITH = ["add", "subtract", "multiply", "true_divide", "floor_divide", "mod", "power", "maximum", "minimum"]
FLOAT_BINARY = ["true_divide", "arctan2", "hypot"]
COMPARE = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
LOGICAL = ["logical_and", "logical_or", "logical_xor"]
BINARY = ARITH + ["arctan2", "hypot"] + COMPARE + LOGICAL

# Unary ops that keep integer dtypes (the others are float functions).
KEEPS_INT = {"negative", "absolute", "abs", "sign", "square", "floor", "ceil", "rint", "trunc", "fix"}
PREDICATES = {"logical_not", "isnan", "isinf", "isfinite"}
UNARY = sorted(set(_math._UNARY) | {"fabs"})
# Input ranges where each unary op is defined and smooth.
DOMAIN = {
    "sqrt": (0.2, 4.0), "log": (0.2, 4.0), "log2": (0.2, 4.0), "log10": (0.2, 4.0), "log1p": (-0.5, 3.0),
    "arcsin": (-0.9, 0.9), "arccos": (-0.9, 0.9), "arctanh": (-0.9, 0.9), "arccosh": (1.2, 4.0),
    "reciprocal": (0.5, 3.0), "cbrt": (0.2, 3.0), "tan": (-1.2, 1.2),
}

RS = onp.random.RandomState(42)


def _kind(d):
    return "b" if d == "bool" else ("f" if d in FLOATS else "i")


def promote(a, b):
    """The core's binary promotion (NumPy's, with MXNet's differences listed above)."""
    if a == b:
        return a
    if a == "bool":
        return b
    if b == "bool":
        return a
    ka, kb = _kind(a), _kind(b)
    if ka == "f" and kb == "f":
        return max(a, b, key=FLOATS.index)
    if "f" in (ka, kb):
        f, i = (a, b) if ka == "f" else (b, a)
        return "float32" if f == "float16" and i in ("int32", "int64") else f
    if {a, b} == {"uint8", "int8"}:
        return "int32"
    return max(a, b, key=INTS.index)


def binary_dtype(op, a, b):
    if op in COMPARE or op in LOGICAL:
        return "bool"
    p = promote(a, b)
    if op in FLOAT_BINARY and p not in FLOATS:
        return "float32"
    return p


def unary_dtype(op, d):
    if op in PREDICATES:
        return "bool"
    if op in KEEPS_INT or d in FLOATS:
        return d
    return "float32"


def data(dtype, shape, lo=-3.0, hi=3.0, positive=False):
    if positive:
        lo = max(lo, 0.5)
    if dtype == "bool":
        return RS.rand(*shape) > 0.5 if not positive else onp.ones(shape, bool)
    if dtype in FLOATS:
        return RS.uniform(lo, hi, shape).astype(dtype)
    ilo, ihi = int(onp.ceil(lo)), int(onp.floor(hi))
    if dtype == "uint8":
        ilo = max(ilo, 0)
    if positive:
        ilo = max(ilo, 1)
    return RS.randint(ilo, max(ihi, ilo) + 1, shape).astype(dtype)


def mxa(a):
    """``mx.np.array(a)`` with ``a``'s shape (a 0-d NumPy array must stay 0-d; see test_ndarray)."""
    return mx.np.array(a).reshape(onp.shape(a))


def reference(op, a, b):
    with warnings.catch_warnings(), onp.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return getattr(onp, op)(a.astype("float64"), b.astype("float64"))


def tol(dtype):
    return {"float16": 2e-3, "float32": 1e-5, "bfloat16": 1e-2}.get(dtype, 1e-12)


def check(res, expected, dtype):
    assert isinstance(res, mx.np.ndarray)
    assert str(res.dtype) == dtype, (res.dtype, dtype)
    expected = onp.asarray(expected)
    assert res.shape == expected.shape
    r = res.asnumpy().astype("float64")
    onp.testing.assert_allclose(r, expected.astype(dtype).astype("float64"), rtol=tol(dtype), atol=tol(dtype), equal_nan=True)


def binary_inputs(op, da, db, sa, sb):
    """Inputs on which ``op`` is defined (no integer division by zero, no negative int powers)."""
    a = data(da, sa, positive=op == "power" and da not in FLOATS)
    b = data(db, sb, lo=0.5 if op == "power" else -3.0, hi=2.5 if op == "power" else 3.0,
             positive=op in ("true_divide", "floor_divide", "mod", "power"))
    return a, b


# ---------------------------------------------------------------------------------------------
# Binary ops: every dtype pair


@pytest.mark.parametrize("op", BINARY)
def test_binary_all_dtype_pairs(op):
    for da, db in itertools.product(DTYPES, DTYPES):
        if op == "subtract" and da == db == "bool":
            continue  # NumPy refuses bool - bool
        a, b = binary_inputs(op, da, db, (3, 4), (4,))
        res = getattr(mx.np, op)(mx.np.array(a), mx.np.array(b))
        dt = binary_dtype(op, da, db)
        if da == db == "bool" and op in ("floor_divide", "mod", "power"):
            dt = "bool"  # NumPy gives int8 here; values agree
        check(res, reference(op, a, b), dt)


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "maximum", "minimum", "equal", "less"])
def test_binary_int_overflow_wraps(op):
    # Integer arithmetic wraps around in the array's dtype as NumPy's does.
    a = onp.array([100, 120, -128, 127], dtype="int8")
    b = onp.array([100, 10, 1, 1], dtype="int8")
    with onp.errstate(all="ignore"):
        expected = getattr(onp, op)(a, b)
    res = getattr(mx.np, op)(mx.np.array(a), mx.np.array(b))
    assert str(res.dtype) == str(expected.dtype)
    onp.testing.assert_array_equal(res.asnumpy(), expected)


def test_python_semantics_of_floor_divide_and_mod():
    a = onp.array([-7, 7, -7, 7, 0], dtype="int32")
    b = onp.array([2, -2, -2, 2, 3], dtype="int32")
    for op in ("floor_divide", "mod"):
        res = getattr(mx.np, op)(mx.np.array(a), mx.np.array(b))
        onp.testing.assert_array_equal(res.asnumpy(), getattr(onp, op)(a, b))
        fa, fb = a.astype("float32") + 0.5, b.astype("float32")
        res = getattr(mx.np, op)(mx.np.array(fa), mx.np.array(fb))
        onp.testing.assert_allclose(res.asnumpy(), getattr(onp, op)(fa, fb), rtol=1e-6)


def test_float_special_values():
    a = mx.np.array([1.0, -1.0, 0.0, onp.nan, onp.inf], dtype="float32")
    b = mx.np.array([0.0, 0.0, 0.0, 1.0, 2.0], dtype="float32")
    na, nb = a.asnumpy(), b.asnumpy()
    with onp.errstate(all="ignore"):
        for op in ("true_divide", "maximum", "minimum", "power", "mod", "arctan2", "hypot"):
            onp.testing.assert_allclose(getattr(mx.np, op)(a, b).asnumpy(), getattr(onp, op)(na, nb), equal_nan=True)
    onp.testing.assert_array_equal(mx.np.maximum(b, a).asnumpy(), onp.maximum(nb, na))


BROADCAST_SHAPES = [
    ((2, 3), (3,)), ((2, 1, 4), (3, 1)), ((), (2, 2)), ((), ()), ((0, 3), (3,)), ((2, 0), (1, 0)),
    ((4, 1), (1, 5)), ((1,), (0,)), ((3, 1, 1), ()),
]


@pytest.mark.parametrize("sa,sb", BROADCAST_SHAPES)
@pytest.mark.parametrize("op", ["add", "multiply", "true_divide", "power", "maximum", "arctan2", "less", "logical_xor"])
def test_binary_broadcasting(op, sa, sb):
    for da, db in [("float32", "float32"), ("int32", "float64"), ("int64", "int8")]:
        a, b = binary_inputs(op, da, db, sa, sb)
        for x, y in ((a, b), (b, a)):
            res = getattr(mx.np, op)(mxa(x), mxa(y))
            check(res, reference(op, x, y), binary_dtype(op, str(x.dtype), str(y.dtype)))


def test_binary_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError) as e:
        mx.np.ones((2, 3)) + mx.np.ones((4,))
    assert isinstance(e.value, mx.base.MXNetError)
    assert "(2, 3)" in str(e.value) or "[2, 3]" in str(e.value)


def _views(a):
    """Non-contiguous views of ``a`` (2-D) in mx and NumPy alike."""
    x = mx.np.array(a)
    return [
        (x.T, a.T),
        (x[::2], a[::2]),
        (x[:, 1:], a[:, 1:]),
        (x[::-1, ::-2], a[::-1, ::-2]),
        (x[1:, ::-1].T, a[1:, ::-1].T),
        (mx.np.broadcast_to(x[:1], a.shape), onp.broadcast_to(a[:1], a.shape)),
    ]


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "true_divide", "mod", "maximum", "hypot", "greater"])
def test_binary_non_contiguous(op):
    for dt in ("float32", "int32"):
        a, b = binary_inputs(op, dt, dt, (4, 6), (4, 6))
        for (xa, na), (xb, nb) in zip(_views(a), _views(b)):
            assert not xa._t.is_contiguous or xa.shape == (4, 6)
            check(getattr(mx.np, op)(xa, xb), reference(op, na, nb), binary_dtype(op, dt, dt))
            # a strided view with a contiguous array, and with a row that broadcasts
            nc = data(dt, na.shape, positive=True)
            check(getattr(mx.np, op)(xa, mx.np.array(nc)), reference(op, na, nc), binary_dtype(op, dt, dt))
            check(getattr(mx.np, op)(xa, xb[:1]), reference(op, na, nb[:1]), binary_dtype(op, dt, dt))


def test_large_arrays_parallel_paths():
    # Above the parallel threshold, contiguous, strided and broadcast paths.
    a = RS.uniform(-1, 1, (300, 257)).astype("float32")
    b = RS.uniform(0.5, 1, (257,)).astype("float32")
    x, y = mx.np.array(a), mx.np.array(b)
    onp.testing.assert_allclose((x * y).asnumpy(), a * b, rtol=1e-6)
    onp.testing.assert_allclose((x.T[::-1] + x.T).asnumpy(), a.T[::-1] + a.T, rtol=1e-6)
    onp.testing.assert_allclose((x / x).asnumpy(), onp.ones_like(a), rtol=1e-6)
    onp.testing.assert_allclose(mx.np.exp(x.T).asnumpy(), onp.exp(a.T), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Scalars and NumPy arrays


@pytest.mark.parametrize("dt", DTYPES)
def test_python_scalars(dt):
    a = data(dt, (2, 3), positive=True)
    x = mx.np.array(a)
    ops = [("add", lambda p, q: p + q), ("subtract", lambda p, q: p - q), ("multiply", lambda p, q: p * q),
           ("true_divide", lambda p, q: p / q), ("floor_divide", lambda p, q: p // q), ("mod", lambda p, q: p % q),
           ("power", lambda p, q: p ** q), ("less", lambda p, q: p < q), ("greater_equal", lambda p, q: p >= q),
           ("equal", lambda p, q: p == q)]
    for (name, f), s, rev in itertools.product(ops, (2, 1.5), (False, True)):
        if dt == "bool" and name in ("subtract",):
            continue
        if rev and name == "power" and dt not in FLOATS and isinstance(s, int):
            pass
        res = f(s, x) if rev else f(x, s)
        expected = reference(name, onp.float64(s), a) if rev else reference(name, a, onp.float64(s))
        if name in ("less", "greater_equal", "equal"):
            want = "bool"
        elif isinstance(s, float):
            want = dt if dt in FLOATS else "float32"
        elif name == "true_divide":
            want = dt if dt in FLOATS else "float32"
        elif dt == "bool":
            want = "int64"  # a Python int with a bool array: NumPy's default int
        else:
            want = dt  # an int scalar keeps an int array's dtype
        check(res, expected, want)
        # the functional forms take scalars on either side too
        fres = getattr(mx.np, name)(s, x) if rev else getattr(mx.np, name)(x, s)
        check(fres, expected, want)


def test_numpy_scalars_and_bool_scalars():
    x = mx.np.array([1, 2, 3], dtype="int32")
    assert (x + onp.int64(2)).dtype == onp.int32
    onp.testing.assert_array_equal((x + True).asnumpy(), [2, 3, 4])
    assert (x * onp.float32(0.5)).dtype == onp.float32
    onp.testing.assert_allclose((x * onp.float64(0.5)).asnumpy(), [0.5, 1.0, 1.5])


def test_numpy_arrays_mixed_in():
    a = RS.uniform(-1, 1, (2, 3)).astype("float32")
    n = RS.uniform(1, 2, (3,)).astype("float32")
    x = mx.np.array(a)
    for res in (x + n, n + x, mx.np.add(x, n), mx.np.add(n, x)):
        assert isinstance(res, mx.np.ndarray)
        onp.testing.assert_allclose(res.asnumpy(), a + n, rtol=1e-6)
    res = n - x
    assert isinstance(res, mx.np.ndarray)
    onp.testing.assert_allclose(res.asnumpy(), n - a, rtol=1e-6)
    res = n / x
    onp.testing.assert_allclose(res.asnumpy(), n / a, rtol=1e-6)
    onp.testing.assert_allclose((x * [1.0, 2.0, 3.0]).asnumpy(), a * [1, 2, 3], rtol=1e-6)
    # float64 NumPy data keeps its dtype
    assert (x + n.astype("float64")).dtype == onp.float64
    # two non-mx arguments to a mx.np function still give a mx array
    res = mx.np.multiply(n, 2.0)
    assert isinstance(res, mx.np.ndarray)
    onp.testing.assert_allclose(res.asnumpy(), n * 2, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# In-place operators


def test_inplace_operators_write_through_views():
    a = onp.arange(12, dtype="float32").reshape(3, 4)
    x = mx.np.array(a)
    row, col = x[1], x[:, 2]
    x += 1
    x *= 2
    x -= 3
    x /= 4
    x **= 2
    expected = (((a + 1) * 2 - 3) / 4) ** 2
    onp.testing.assert_allclose(x.asnumpy(), expected, rtol=1e-6)
    onp.testing.assert_allclose(row.asnumpy(), expected[1], rtol=1e-6)
    onp.testing.assert_allclose(col.asnumpy(), expected[:, 2], rtol=1e-6)
    # writing through a view changes the base
    col += 100
    expected[:, 2] += 100
    onp.testing.assert_allclose(x.asnumpy(), expected, rtol=1e-6)
    # a strided, reversed view
    v = x[::-1, ::2]
    v *= 0
    expected[::-1, ::2] *= 0
    onp.testing.assert_allclose(x.asnumpy(), expected, rtol=1e-6)


def test_inplace_keeps_identity_and_dtype():
    x = mx.np.array([7, -7, 9], dtype="int32")
    y = x
    x //= 2
    assert y is x and x.dtype == onp.int32
    onp.testing.assert_array_equal(x.asnumpy(), [3, -4, 4])
    x %= 3
    onp.testing.assert_array_equal(x.asnumpy(), [0, 2, 1])
    x += mx.np.array([1, 1, 1], dtype="int32")
    onp.testing.assert_array_equal(x.asnumpy(), [1, 3, 2])
    z = mx.np.zeros((2, 3))
    z += mx.np.array([1.0, 2.0, 3.0])  # broadcast into place
    onp.testing.assert_array_equal(z.asnumpy(), [[1, 2, 3], [1, 2, 3]])
    with pytest.raises(ValueError):
        z += mx.np.ones((3, 3))


def test_out_argument():
    out = mx.np.zeros((2, 3))
    res = mx.np.add(mx.np.ones((2, 3)), 2.0, out=out)
    assert res is out
    onp.testing.assert_array_equal(out.asnumpy(), onp.full((2, 3), 3.0))
    mx.np.exp(mx.np.zeros((2, 3)), out=out)
    onp.testing.assert_array_equal(out.asnumpy(), onp.ones((2, 3)))


# ---------------------------------------------------------------------------------------------
# Unary ops


def unary_input(op, dt, shape=(7,)):
    lo, hi = DOMAIN.get(op, (-3.0, 3.0))
    if op == "arccosh" and dt not in FLOATS:
        lo = 2.0
    if dt == "bool":
        return data(dt, shape) if lo <= 0 else onp.ones(shape, bool)
    return data(dt, shape, lo, hi)


@pytest.mark.parametrize("op", UNARY)
def test_unary_all_dtypes(op):
    for dt in DTYPES:
        if dt == "bool" and op in ("negative", "sign"):
            continue  # NumPy refuses these on bool
        a = unary_input(op, dt)
        res = getattr(mx.np, op)(mx.np.array(a))
        with onp.errstate(all="ignore"):
            if op in KEEPS_INT and dt not in FLOATS:
                expected = getattr(onp, op)(a.astype("int64"))
            else:
                expected = getattr(onp, op)(a.astype("float64"))
        want = unary_dtype(op, dt)
        check(res, expected, want)


@pytest.mark.parametrize("op", ["exp", "sqrt", "absolute", "sin", "floor", "isnan", "logical_not", "negative", "tanh"])
def test_unary_shapes_and_views(op):
    for shape in [(), (0,), (2, 0, 3), (3, 4)]:
        a = unary_input(op, "float32", shape)
        check(getattr(mx.np, op)(mxa(a)), getattr(onp, op)(a.astype("float64")), unary_dtype(op, "float32"))
    a = unary_input(op, "float32", (4, 6))
    for x, n in _views(a):
        check(getattr(mx.np, op)(x), getattr(onp, op)(n.astype("float64")), unary_dtype(op, "float32"))


def test_unary_special_values():
    a = onp.array([onp.nan, onp.inf, -onp.inf, 0.0, -0.0, 2.5, -2.5, 0.5], dtype="float32")
    x = mx.np.array(a)
    with onp.errstate(all="ignore"):
        for op in ("isnan", "isinf", "isfinite", "sign", "rint", "floor", "ceil", "trunc", "fix", "exp", "log",
                   "sqrt", "absolute", "tanh", "reciprocal"):
            onp.testing.assert_allclose(getattr(mx.np, op)(x).asnumpy(), getattr(onp, op)(a), rtol=1e-6, equal_nan=True,
                                        err_msg=op)
    onp.testing.assert_array_equal(mx.np.round(mx.np.array([0.5, 1.5, 2.5, -0.5, 1.25])).asnumpy(), [0, 2, 2, -0, 1])
    onp.testing.assert_allclose(mx.np.around(mx.np.array([1.234, 5.678]), 1).asnumpy(), [1.2, 5.7], rtol=1e-6)


def test_round_clip_where_positive():
    a = RS.uniform(-3, 3, (3, 4)).astype("float32")
    x = mx.np.array(a)
    onp.testing.assert_allclose(mx.np.clip(x, -1, 1.5).asnumpy(), onp.clip(a, -1, 1.5))
    onp.testing.assert_allclose(mx.np.clip(x, None, 1).asnumpy(), onp.clip(a, None, 1))
    lo = mx.np.array(onp.full((4,), -0.5, "float32"))
    onp.testing.assert_allclose(mx.np.clip(x, lo, 2.0).asnumpy(), onp.clip(a, -0.5, 2.0))
    xi = mx.np.array([-5, 0, 5], dtype="int32")
    res = mx.np.clip(xi, -2, 3)
    assert res.dtype == onp.int32
    onp.testing.assert_array_equal(res.asnumpy(), [-2, 0, 3])
    with pytest.raises(ValueError):
        mx.np.clip(x)
    c = a > 0
    res = mx.np.where(mx.np.array(c), x, mx.np.zeros((4,)))
    onp.testing.assert_allclose(res.asnumpy(), onp.where(c, a, 0))
    res = mx.np.where(mx.np.array(c), x, 1.0)
    onp.testing.assert_allclose(res.asnumpy(), onp.where(c, a, 1.0))
    p = mx.np.positive(x)
    onp.testing.assert_array_equal(p.asnumpy(), a)
    assert not p._t.shares_memory(x._t)


# ---------------------------------------------------------------------------------------------
# Gradients


GRAD_BINARY = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "true_divide": lambda a, b: a / b,
    "mod": lambda a, b: mx.np.mod(a, b),
    "power": lambda a, b: a ** b,
    "maximum": lambda a, b: mx.np.maximum(a, b),
    "minimum": lambda a, b: mx.np.minimum(a, b),
    "arctan2": lambda a, b: mx.np.arctan2(a, b),
    "hypot": lambda a, b: mx.np.hypot(a, b),
}


@pytest.mark.parametrize("op", sorted(GRAD_BINARY))
def test_binary_gradients(op):
    rs = onp.random.RandomState(1)
    positive = op in ("true_divide", "mod", "power")
    a = rs.uniform(0.5 if positive else -2, 2, (2, 3))
    b = rs.uniform(0.7 if positive else -2, 2, (3,))
    if op == "mod":
        a = rs.uniform(0.1, 0.9, (2, 3)) + onp.array([0, 2, 4])  # away from the jumps of mod(., b)
        b = onp.array([1.3, 1.3, 1.3]) + rs.uniform(0, 0.1, (3,))
    f = GRAD_BINARY[op]
    check_grad(f, [a, b])
    check_grad(f, [b[:1], a])  # broadcasting the other way
    check_grad(lambda x: f(x, 1.7), [a])
    check_grad(lambda x: f(1.7, x), [a])


def test_floor_divide_and_comparisons_are_not_differentiable():
    x = mx.np.array([1.5, 2.5], dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        y = (x // 2.0) + (x > 2).astype("float64") + x
    y.backward()
    onp.testing.assert_array_equal(x.grad.asnumpy(), [1.0, 1.0])


DIFFERENTIABLE_UNARY = sorted(set(UNARY) - PREDICATES)


@pytest.mark.parametrize("op", DIFFERENTIABLE_UNARY)
def test_unary_gradients(op):
    lo, hi = DOMAIN.get(op, (-2.0, 2.0))
    a = onp.random.RandomState(3).uniform(lo, hi, (2, 3))
    if op in ("floor", "ceil", "rint", "trunc", "fix", "sign", "absolute", "abs", "fabs"):
        a = onp.round(a) + 0.3  # away from the jumps (and the kink of abs)
    check_grad(getattr(mx.np, op), [a])


def test_gradient_dtypes_follow_inputs():
    for dt in ("float16", "float32"):
        x = mx.np.array([1.0, 2.0], dtype=dt)
        x.attach_grad()
        with mx.autograd.record():
            y = (x * mx.np.array([3.0, 4.0], dtype="float64")).sum()
        y.backward()
        assert x.grad.dtype == onp.dtype(dt)
        onp.testing.assert_allclose(x.grad.asnumpy(), [3.0, 4.0])


def test_comparisons_with_out_of_range_int_scalars():
    u = mx.np.array([0, 5, 255], dtype="uint8")
    onp.testing.assert_array_equal((u > -1).asnumpy(), [True, True, True])
    onp.testing.assert_array_equal((u < 256).asnumpy(), [True, True, True])
    onp.testing.assert_array_equal((u == 256).asnumpy(), [False, False, False])
    i = mx.np.array([-128, 0, 127], dtype="int8")
    onp.testing.assert_array_equal((i < 300).asnumpy(), [True, True, True])
    onp.testing.assert_array_equal((-300 < i).asnumpy(), [True, True, True])
    b = mx.np.array([True, False])
    onp.testing.assert_array_equal((b < 2).asnumpy(), [True, True])
    onp.testing.assert_array_equal((b == 1).asnumpy(), [True, False])
    onp.testing.assert_array_equal((b > -1).asnumpy(), [True, True])


def test_float_floor_divide_matches_numpy_at_rounding_edges():
    a = onp.array([1.0, -1.0, 0.3, 7.0, -0.0, 1.0, 2.0], dtype="float64")
    b = onp.array([0.1, 0.1, 0.1, -0.7, 3.0, 0.0, -0.0], dtype="float64")
    with onp.errstate(all="ignore"):
        expected = onp.floor_divide(a, b)
    res = mx.np.floor_divide(mx.np.array(a), mx.np.array(b)).asnumpy()
    onp.testing.assert_array_equal(res, expected)
    onp.testing.assert_array_equal(onp.signbit(res), onp.signbit(expected))
