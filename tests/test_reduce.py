"""Reductions and scans of mx.np against NumPy: dtypes, axes, keepdims, 0-d, zero-size, strided views,
and gradients against finite differences."""
import numpy as onp
import pytest
from gradcheck import check_grad

import mxgluon as mx
from mxgluon import np

DTYPES = ["bool", "int32", "int64", "float16", "float32", "float64"]
FLOATS = ("float16", "float32", "float64")


def data(shape, dtype, seed=0, low=-4, high=5):
    rs = onp.random.RandomState(seed)
    if dtype == "bool":
        return rs.rand(*shape) > 0.5
    if dtype in FLOATS:
        return rs.uniform(low, high, size=shape).astype(dtype)
    return rs.randint(low, high, size=shape).astype(dtype)


def zero_d(v, dtype):
    """A 0-d array (built by reshaping: np.array of a 0-d value is not 0-d yet)."""
    z = np.array(onp.reshape(onp.asarray(v), (1,)), dtype=dtype).reshape(())
    assert z.shape == ()
    return z


def tol(dtype):
    return {"float16": 2e-2, "float32": 1e-5}.get(dtype, 1e-6)


def expected_dtype(op, dtype, ref):
    """NumPy's result dtype, except that MXNet gives float32 where NumPy gives float64 for ints."""
    if op in ("mean", "std", "var") and dtype not in FLOATS:
        return onp.dtype("float32")
    return ref.dtype


def check(op, a, ref_fn, got, dtype):
    want = ref_fn(a)
    got_np = got.asnumpy()
    assert got_np.shape == onp.shape(want), (op, got_np.shape, onp.shape(want))
    assert got_np.dtype == expected_dtype(op, dtype, onp.asarray(want)), (op, got_np.dtype, onp.asarray(want).dtype)
    if got_np.dtype.kind in "fc":
        t = tol(dtype if dtype in FLOATS else "float32")
        onp.testing.assert_allclose(got_np.astype("float64"), onp.asarray(want, dtype="float64"), rtol=t, atol=t)
    else:
        onp.testing.assert_array_equal(got_np, want)


AXES = [None, 0, -1, 1, (0, 2), (-1, 0), ()]
REDUCERS = ["sum", "mean", "prod", "max", "min", "all", "any", "std", "var"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", REDUCERS)
def test_reductions_match_numpy(op, dtype):
    low, high = (-2, 3) if op == "prod" else (-4, 5)
    a = data((2, 3, 4), dtype, low=low, high=high)
    if op == "prod" and dtype in FLOATS:
        a = (onp.abs(a) * 0.3 + 0.6).astype(dtype)
    x = np.array(a, dtype=dtype)
    for axis in AXES:
        for keepdims in (False, True):
            ref = lambda v: getattr(onp, op)(v, axis=axis, keepdims=keepdims)  # noqa: E731
            got = getattr(np, op)(x, axis=axis, keepdims=keepdims)
            check(op, a, ref, got, dtype)
    # The same reductions of a transposed (strided) view, and through the ndarray method.
    for axis in (None, 0, (1, 2)):
        check(op, a.T, lambda v: getattr(onp, op)(v, axis=axis), getattr(x.T, op)(axis=axis), dtype)
    # Reduced axes at both ends of a 4-d array (a convolution's bias gradient is over (0, 2, 3)).
    b = a.reshape(2, 3, 2, 2)
    for axis in ((0, 2, 3), (0, 1, 3), (1, 3), (0, 3)):
        check(op, b, lambda v: getattr(onp, op)(v, axis=axis), getattr(np, op)(np.array(b, dtype=dtype), axis=axis),
              dtype)
    # 0-d input.
    s = a[0, 0, 0]
    check(op, onp.asarray(s), lambda v: getattr(onp, op)(v), getattr(np, op)(zero_d(s, dtype)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_argmax_argmin(dtype):
    a = data((3, 4, 5), dtype, seed=1)
    x = np.array(a, dtype=dtype)
    for op in ("argmax", "argmin"):
        for axis in (None, 0, 1, -1):
            for keepdims in (False, True):
                got = getattr(np, op)(x, axis=axis, keepdims=keepdims)
                want = getattr(onp, op)(a, axis=axis, keepdims=keepdims)
                assert got.dtype == onp.int64
                assert got.shape == want.shape
                onp.testing.assert_array_equal(got.asnumpy(), want)
        onp.testing.assert_array_equal(getattr(x.T, op)(axis=0).asnumpy(), getattr(onp, op)(a.T, axis=0))
        assert int(getattr(np, op)(zero_d(a[0, 0, 0], dtype))) == 0
    with pytest.raises(ValueError):
        np.argmax(x, axis=(0, 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cumsum(dtype):
    a = data((3, 4), dtype, seed=2)
    x = np.array(a, dtype=dtype)
    for axis in (None, 0, 1, -1):
        check("cumsum", a, lambda v: onp.cumsum(v, axis=axis), np.cumsum(x, axis=axis), dtype)
    check("cumsum", a.T, lambda v: onp.cumsum(v, axis=1), np.cumsum(x.T, axis=1), dtype)
    check("cumsum", a, lambda v: onp.cumsum(v, axis=0, dtype="float64"), np.cumsum(x, axis=0, dtype="float64"), dtype)
    z = onp.asarray(a[0, 0])
    check("cumsum", z, lambda v: onp.cumsum(v), np.cumsum(zero_d(z, dtype)), dtype)


def test_dtype_argument():
    a = data((3, 4), "int32")
    x = np.array(a)
    for op in ("sum", "prod", "mean"):
        got = getattr(np, op)(x, axis=0, dtype="float64")
        assert got.dtype == onp.float64
        onp.testing.assert_allclose(got.asnumpy(), getattr(onp, op)(a, axis=0, dtype="float64"))
    f = np.array(a.astype("float16"))
    assert np.sum(f, dtype="float32").dtype == onp.float32
    assert np.var(f, dtype="float64").dtype == onp.float64
    onp.testing.assert_allclose(np.var(x, ddof=1).asnumpy(), onp.var(a, ddof=1), rtol=1e-6)
    onp.testing.assert_allclose(np.std(x, axis=1, ddof=2).asnumpy(), onp.std(a, axis=1, ddof=2), rtol=1e-6)


def test_zero_size():
    a = onp.zeros((0, 3), dtype="float32")
    x = np.array(a)
    for axis in (None, 0, 1):
        onp.testing.assert_array_equal(np.sum(x, axis=axis).asnumpy(), onp.sum(a, axis=axis))
        onp.testing.assert_array_equal(np.prod(x, axis=axis).asnumpy(), onp.prod(a, axis=axis))
        onp.testing.assert_array_equal(np.all(x, axis=axis).asnumpy(), onp.all(a, axis=axis))
        onp.testing.assert_array_equal(np.any(x, axis=axis).asnumpy(), onp.any(a, axis=axis))
        assert np.cumsum(x, axis=axis).shape == onp.cumsum(a, axis=axis).shape
    # NumPy warns and gives NaN for the mean of nothing.
    onp.testing.assert_array_equal(np.mean(x, axis=0).asnumpy(), onp.full(3, onp.nan, dtype="float32"))
    assert np.max(x, axis=1).shape == (0,)
    for op in ("max", "min", "amax", "amin"):
        for axis in (None, 0):
            with pytest.raises(ValueError, match=op[-3:]):
                getattr(np, op)(x, axis=axis)
    with pytest.raises(ValueError, match="argmax"):
        np.argmax(x)
    with pytest.raises(ValueError, match="argmin"):
        np.argmin(x, axis=0)
    assert np.argmax(x, axis=1).shape == (0,)


def test_nan_and_bad_axes():
    a = onp.array([[1.0, onp.nan, 3.0], [2.0, 0.5, -1.0]], dtype="float32")
    x = np.array(a)
    onp.testing.assert_array_equal(np.max(x, axis=1).asnumpy(), onp.max(a, axis=1))
    onp.testing.assert_array_equal(np.min(x, axis=1).asnumpy(), onp.min(a, axis=1))
    onp.testing.assert_array_equal(np.argmax(x, axis=1).asnumpy(), onp.argmax(a, axis=1))
    onp.testing.assert_array_equal(np.argmin(x, axis=1).asnumpy(), onp.argmin(a, axis=1))
    with pytest.raises(ValueError, match="sum"):
        np.sum(x, axis=2)
    with pytest.raises(ValueError):
        np.mean(x, axis=(0, 0))
    with pytest.raises(ValueError):
        np.cumsum(x, axis=-3)


def test_large_sum_and_column_sums():
    rs = onp.random.RandomState(3)
    a = rs.uniform(-1, 1, size=(300, 700)).astype("float32")
    x = np.array(a)
    ref = a.astype("float64")
    for axis in (None, 0, 1):
        onp.testing.assert_allclose(np.sum(x, axis=axis).asnumpy(), ref.sum(axis=axis), rtol=1e-4, atol=1e-3)
        onp.testing.assert_allclose(np.max(x, axis=axis).asnumpy(), a.max(axis=axis))
    b = rs.uniform(size=2_000_000).astype("float32")
    onp.testing.assert_allclose(float(np.array(b).sum()), b.astype("float64").sum(), rtol=1e-5)
    onp.testing.assert_allclose(float(np.array(b).mean()), b.astype("float64").mean(), rtol=1e-5)


def test_average_and_nansum():
    a = data((3, 4), "float64", seed=4)
    w = onp.arange(1.0, 5.0)
    x = np.array(a)
    onp.testing.assert_allclose(np.average(x).asnumpy(), onp.average(a))
    onp.testing.assert_allclose(np.average(x, axis=1, weights=w).asnumpy(), onp.average(a, axis=1, weights=w))
    a[1, 2] = onp.nan
    onp.testing.assert_allclose(np.nansum(np.array(a), axis=0).asnumpy(), onp.nansum(a, axis=0))


# --- gradients

def _x(shape, seed=0):
    return onp.random.RandomState(seed).uniform(-2, 2, size=shape)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_grad_sum_mean(axis, keepdims):
    check_grad(lambda v: np.sum(v, axis=axis, keepdims=keepdims), [_x((2, 3, 4))])
    check_grad(lambda v: np.mean(v, axis=axis, keepdims=keepdims), [_x((2, 3, 4))])


@pytest.mark.parametrize("axis", [None, 0, (0, 1), -1])
def test_grad_prod(axis):
    a = _x((3, 4), 1)
    check_grad(lambda v: np.prod(v, axis=axis), [a])
    # Exact zeros: one zero in a row, two zeros in another.
    a[0, 1] = 0.0
    a[2, 0] = a[2, 3] = 0.0
    check_grad(lambda v: np.prod(v, axis=axis), [a])


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
def test_grad_max_min(op):
    a = _x((3, 4, 2), 2)
    for axis in (None, 1, (0, 2)):
        check_grad(lambda v: getattr(np, op)(v, axis=axis), [a])
    check_grad(lambda v: getattr(np, op)(v, axis=0, keepdims=True), [a])


def test_grad_max_ties_split_evenly():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    x.attach_grad()
    with mx.autograd.record():
        y = np.max(x, axis=1)
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


@pytest.mark.parametrize("ddof", [0, 1])
def test_grad_std_var(ddof):
    a = _x((3, 5), 3)
    for axis in (None, 1, 0):
        check_grad(lambda v: np.var(v, axis=axis, ddof=ddof), [a])
        check_grad(lambda v: np.std(v, axis=axis, ddof=ddof), [a])
    check_grad(lambda v: np.std(v, axis=(0, 1), keepdims=True), [a])


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_grad_cumsum(axis):
    check_grad(lambda v: np.cumsum(v, axis=axis), [_x((3, 4), 4)])


def test_second_order_var():
    # d/dx sum(d var / dx) through create_graph.
    x = np.array(_x((5,), 5))
    x.attach_grad()
    with mx.autograd.record():
        y = np.var(x)
        (g,) = mx.autograd.grad([y], [x], create_graph=True)
        z = (g * g).sum()
    z.backward()
    n = 5
    # g = 2 (x - mean) / n; z = sum g^2 -> dz/dx = 8 / n^2 (x - mean)
    xv = x.asnumpy()
    onp.testing.assert_allclose(x.grad.asnumpy(), 8 / n**2 * (xv - xv.mean()), rtol=1e-6, atol=1e-9)


def test_int_mean_is_float32_and_methods():
    x = np.array([[1, 2], [3, 5]], dtype="int32")
    assert x.mean().dtype == onp.float32
    assert float(x.mean()) == 2.75
    assert x.sum(axis=0).tolist() == [4, 7]
    assert x.max().item() == 5 and x.min().item() == 1
    assert x.argmax().item() == 3 and x.argmin(axis=1).tolist() == [0, 0]
    assert x.cumsum().tolist() == [1, 3, 6, 11]
    assert bool(x.all()) and bool(x.any())
