"""Sorting of mx.np / mx.npx against NumPy: sort, argsort (stable), topk, unique, with gradients."""
import numpy as onp
import pytest
from gradcheck import check_grad

import mxgluon as mx
from mxgluon import np, npx

DTYPES = ["bool", "int32", "int64", "float16", "float32", "float64"]
FLOATS = ("float16", "float32", "float64")


def data(shape, dtype, seed=0):
    rs = onp.random.RandomState(seed)
    if dtype == "bool":
        return rs.rand(*shape) > 0.5
    if dtype in FLOATS:
        # Few distinct values: many ties, to check stability.
        return (rs.randint(-3, 4, size=shape) * 0.5).astype(dtype)
    return rs.randint(-3, 4, size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sort_argsort_match_numpy(dtype):
    a = data((3, 4, 5), dtype)
    x = np.array(a, dtype=dtype)
    for axis in (-1, 0, 1, None):
        got = np.sort(x, axis=axis)
        want = onp.sort(a, axis=axis)
        assert got.dtype == want.dtype and got.shape == want.shape
        onp.testing.assert_array_equal(got.asnumpy(), want)
        gi = np.argsort(x, axis=axis)
        assert gi.dtype == onp.int64
        onp.testing.assert_array_equal(gi.asnumpy(), onp.argsort(a, axis=axis, kind="stable"))
    # Strided input, and the ndarray methods.
    onp.testing.assert_array_equal(x.T.sort(axis=0).asnumpy(), onp.sort(a.T, axis=0))
    onp.testing.assert_array_equal(x.T.argsort().asnumpy(), onp.argsort(a.T, kind="stable"))


@pytest.mark.parametrize("dtype", ["int32", "float32", "float64"])
def test_descending_is_stable(dtype):
    a = data((4, 6), dtype, seed=1)
    x = np.array(a, dtype=dtype)
    onp.testing.assert_array_equal(np.argsort(x, descending=True).asnumpy(), onp.argsort(-a, kind="stable"))
    onp.testing.assert_array_equal(np.sort(x, axis=0, descending=True).asnumpy(), -onp.sort(-a, axis=0))


def test_sort_nan_zero_size_and_0d():
    a = onp.array([3.0, onp.nan, -1.0, 2.0, onp.nan], dtype="float32")
    onp.testing.assert_array_equal(np.sort(np.array(a)).asnumpy(), onp.sort(a))
    onp.testing.assert_array_equal(np.argsort(np.array(a)).asnumpy(), onp.argsort(a, kind="stable"))
    e = onp.zeros((0, 3), dtype="float32")
    for axis in (0, 1, None):
        assert np.sort(np.array(e), axis=axis).shape == onp.sort(e, axis=axis).shape
        assert np.argsort(np.array(e), axis=axis).shape == onp.argsort(e, axis=axis).shape
    z = np.array([5.0]).reshape(())  # 0-d
    onp.testing.assert_array_equal(np.sort(z, axis=None).asnumpy(), [5.0])
    with pytest.raises(ValueError):
        np.sort(z)
    with pytest.raises(ValueError):
        np.sort(np.array(a), axis=1)


def _topk_ref(a, axis, k, ascend):
    if axis is None:
        a, axis = a.reshape(-1), 0
    order = onp.argsort(a if ascend else -a, axis=axis, kind="stable")
    idx = onp.take(order, onp.arange(k), axis=axis)
    return onp.take_along_axis(a, idx, axis=axis), idx


@pytest.mark.parametrize("dtype", ["int32", "int64", "float16", "float32", "float64"])
def test_topk_matches_reference(dtype):
    rs = onp.random.RandomState(2)
    a = rs.permutation(60).reshape(3, 4, 5).astype(dtype)
    x = np.array(a, dtype=dtype)
    for axis in (-1, 0, 1, None):
        for k in (1, 3):
            for ascend in (False, True):
                vals, idx = _topk_ref(a, axis, k, ascend)
                v = npx.topk(x, axis=axis, k=k, ret_typ="value", is_ascend=ascend)
                assert v.dtype == a.dtype
                onp.testing.assert_array_equal(v.asnumpy(), vals)
                i = npx.topk(x, axis=axis, k=k, is_ascend=ascend)
                assert i.dtype == onp.float32  # MXNet's default index dtype
                onp.testing.assert_array_equal(i.asnumpy(), idx)
                v2, i2 = npx.topk(x, axis=axis, k=k, ret_typ="both", is_ascend=ascend, dtype="int64")
                assert i2.dtype == onp.int64
                onp.testing.assert_array_equal(v2.asnumpy(), vals)
                onp.testing.assert_array_equal(i2.asnumpy(), idx)
                m = npx.topk(x, axis=axis, k=k, ret_typ="mask", is_ascend=ascend)
                assert m.dtype == a.dtype and m.shape == a.shape
                want = onp.zeros(a.size if axis is None else a.shape, dtype=dtype)
                onp.put_along_axis(want, idx, 1, axis=0 if axis is None else axis)
                onp.testing.assert_array_equal(m.asnumpy(), want.reshape(a.shape))
    # k < 1 takes everything; too large a k is an error.
    onp.testing.assert_array_equal(npx.topk(x, k=0, ret_typ="value").asnumpy(), -onp.sort(-a, axis=-1))
    with pytest.raises(ValueError, match="topk"):
        npx.topk(x, k=6)
    with pytest.raises(ValueError):
        npx.topk(x, ret_typ="nope")


@pytest.mark.parametrize("dtype", DTYPES)
def test_unique_matches_numpy(dtype):
    a = data((4, 5), dtype, seed=3)
    x = np.array(a, dtype=dtype)
    u = np.unique(x)
    onp.testing.assert_array_equal(u.asnumpy(), onp.unique(a))
    assert u.dtype == a.dtype
    got = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    want = onp.unique(a, return_index=True, return_inverse=True, return_counts=True)
    assert len(got) == 4
    for g, w in zip(got, want):
        assert g.shape == w.shape
        onp.testing.assert_array_equal(g.asnumpy(), w)
    _, inv = np.unique(x, return_inverse=True)
    onp.testing.assert_array_equal(u.asnumpy()[inv.asnumpy()], a)


def test_unique_nan_and_empty():
    a = onp.array([2.0, onp.nan, 1.0, onp.nan, 2.0])
    onp.testing.assert_array_equal(np.unique(np.array(a)).asnumpy(), onp.unique(a))
    e = np.unique(np.array(onp.zeros((0,), dtype="float32")))
    assert e.shape == (0,)
    with pytest.raises(NotImplementedError):
        np.unique(np.array(a), axis=0)


# --- gradients

def _distinct(shape, seed=0):
    rs = onp.random.RandomState(seed)
    return rs.permutation(int(onp.prod(shape))).reshape(shape) * 0.37 - 3.0


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_grad_sort(axis):
    check_grad(lambda v: np.sort(v, axis=axis), [_distinct((3, 4))])
    check_grad(lambda v: np.sort(v, axis=axis, descending=True), [_distinct((3, 4), 1)])


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_grad_topk(axis):
    a = _distinct((3, 4, 2), 2)
    check_grad(lambda v: npx.topk(v, axis=axis, k=2, ret_typ="value"), [a])
    check_grad(lambda v: npx.topk(v, axis=axis, k=2, ret_typ="both", is_ascend=True)[0], [a])


def test_grad_sort_second_order():
    # y = sum(w * sort(x)^2): dy/dx = 2 x w[rank], and d(sum dy/dx)/dx = 2 w[rank], which goes back
    # through the scatter-add of sort's gradient.
    xv = _distinct((5,))
    x = np.array(xv)
    x.attach_grad()
    w = np.array(onp.arange(1.0, 6.0))
    rank = onp.argsort(onp.argsort(xv))
    with mx.autograd.record():
        y = (np.sort(x) ** 2 * w).sum()
        (g,) = mx.autograd.grad([y], [x], create_graph=True)
        z = g.sum()
    z.backward()
    onp.testing.assert_allclose(g.asnumpy(), 2 * xv * (rank + 1.0), rtol=1e-6)
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * (rank + 1.0), rtol=1e-6)
