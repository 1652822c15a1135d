"""Indexing against NumPy: basic views, advanced (integer arrays, boolean masks, mixed keys),
setitem with broadcasting, gradients, npx.one_hot / pick / boolean_mask, and errors."""
import numpy as onp
import pytest

import mxgluon as mx
from gradcheck import check_grad

np = mx.np
npx = mx.npx


def A(shape, dtype="float32", seed=0):
    r = onp.random.RandomState(seed)
    if onp.dtype(dtype).kind == "b":
        return r.rand(*shape) > 0.5
    return r.uniform(-5, 5, size=shape).astype(dtype)


def same(got, want, dtype=None):
    assert isinstance(got, np.ndarray), type(got)
    want = onp.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if dtype is not None:
        assert got.dtype == onp.dtype(dtype), (got.dtype, dtype)
    onp.testing.assert_array_equal(got.asnumpy(), want)


X = A((4, 5, 6))
I = onp.array([[0, 2], [-1, 1]])
J = onp.array([3, -2])
M = X[:, 0, 0] > 0

KEYS = [
    [0, 2, 3],
    ([0, 2, 3],),
    I,
    (I, J),
    (I, slice(None), J),
    (slice(None), I, J),
    (slice(None), I),
    (Ellipsis, J),
    (1, slice(1, 4), J),
    (J, 2),
    (slice(None), 2, J),
    (J, slice(None), 2),
    (None, J, None, J),
    (J, None, J),
    (slice(None, None, -1), J),
    (onp.array([[0], [2]]), onp.array([1, 4, 0])),
    (Ellipsis, onp.array([[0], [2]]), onp.array([1, 4, 0])),
    M,
    (M, 1),
    (slice(None), X[0, :, 0] > 0),
    X[:, :, 0] > 0,
    X > 0,
    (X[:, :, 0] > 0, J[:1]),
    (1, X[0, :, :] > 0),
    True,
    False,
    (slice(None), True),
    (M, slice(None), onp.array([0, 5, 5, 1])[: int(M.sum())] if M.sum() else 0),
    onp.array([], dtype="int64"),
    [],
    (onp.array([True, False, True, True]), Ellipsis, 0),
]


@pytest.mark.parametrize("key", KEYS, ids=[str(i) for i in range(len(KEYS))])
def test_getitem_matches_numpy(key):
    want = X[tuple(key) if isinstance(key, tuple) else key]
    got = np.array(X)[key]
    same(got, want, "float32")


@pytest.mark.parametrize("key", [(np.array(I), np.array(J)), np.array(M), (slice(None), np.array([1, 1, 0], dtype="int64"))])
def test_getitem_with_ndarray_keys(key):
    nk = tuple(k.asnumpy() if isinstance(k, np.ndarray) else k for k in key) if isinstance(key, tuple) else key.asnumpy()
    same(np.array(X)[key], X[nk])


@pytest.mark.parametrize("dtype", ["float64", "int32", "int64", "uint8", "bool", "float16"])
def test_getitem_dtypes(dtype):
    x = A((3, 4), dtype)
    same(np.array(x)[[2, 0], [1, -1]], x[[2, 0], [1, -1]], dtype)
    same(np.array(x)[x != x[0, 0]], x[x != x[0, 0]], dtype)


def test_index_array_dtypes_and_strided_source():
    x = A((5, 4))
    for dt in ("int32", "int64", "uint8", "int8"):
        idx = onp.array([4, 0, 1], dtype=dt)
        same(np.array(x)[np.array(idx)], x[idx])
    t = np.array(x).T[::-1]  # a strided, flipped view
    tn = x.T[::-1]
    same(t[[0, 2], 1:], tn[[0, 2], 1:])
    same(t[tn > 0], tn[tn > 0])


def test_zero_size():
    x = onp.zeros((0, 3), "float32")
    same(np.array(x)[onp.array([], dtype="int64")], x[onp.array([], dtype="int64")])
    same(np.array(x)[:, [0, 2]], x[:, [0, 2]])
    y = A((2, 3))
    same(np.array(y)[onp.zeros((2, 3), bool)], y[onp.zeros((2, 3), bool)])
    same(np.array(y)[[], :], y[[], :])


def test_basic_views_share_memory():
    a = np.array(A((3, 4)))
    v = a[1:, ::2]
    v[...] = 7
    assert (a.asnumpy()[1:, ::2] == 7).all()
    r = a[0]
    r[1] = -1
    assert a.asnumpy()[0, 1] == -1
    # advanced indexing copies
    c = a[[0, 1]]
    c[...] = 100
    assert (a.asnumpy() != 100).all()


def test_basic_and_0d_int_array_keys():
    x = A((3, 4))
    a = np.array(x)
    same(a[np.full((), 1, dtype="int64")], x[1])
    same(a[1, np.full((), -1, dtype="int32")], x[1, -1])
    same(a[..., None, 1:3], x[..., None, 1:3])


# ---------------------------------------------------------------------------------------------
# setitem


SET_CASES = [
    ([0, 2], 1.5),
    (([0, 2], [1, 3]), onp.array([10.0, 20.0])),
    ((slice(None), [1, 3]), onp.array([[1.0], [2.0], [3.0]])),
    ((slice(None), [1, 3]), onp.array([7.0, 8.0])),
    ("mask", -1.0),
    ("mask", "vals"),
    ((onp.array([[0], [2]]), onp.array([0, 1])), onp.arange(4.0).reshape(2, 2)),
    (([1, 1, 1], slice(0, 2)), 3.0),
    ((Ellipsis, [0]), 9),
    (True, 2.0),
    ([], 5.0),
]


@pytest.mark.parametrize("key,val", SET_CASES, ids=[str(i) for i in range(len(SET_CASES))])
def test_setitem_matches_numpy(key, val):
    x = A((3, 4))
    if isinstance(key, str):
        key = x > 0
    if isinstance(val, str):
        val = onp.arange(int(key.sum()), dtype="float32")
    want = x.copy()
    want[key] = val
    a = np.array(x)
    a[key] = val
    same(a, want)


def test_setitem_ndarray_values_keys_and_casts():
    x = onp.zeros((3, 4), "int32")
    a = np.array(x)
    a[np.array([0, 2]), np.array([1, 1])] = np.array([2.7, -3.2])
    x[[0, 2], [1, 1]] = onp.array([2.7, -3.2])
    same(a, x, "int32")
    b = np.array(A((2, 3)))
    m = b > 0
    b[m] = 0
    assert (b.asnumpy() <= 0).all()
    # repeated indices: last write wins
    c = np.zeros(3)
    c[[0, 0, 1]] = np.array([1.0, 2.0, 3.0])
    same(c, onp.array([2.0, 3.0, 0.0], "float32"))


def test_setitem_errors():
    a = np.zeros((3, 4))
    with pytest.raises(ValueError, match="could not be broadcast"):
        a[[0, 1]] = np.ones(3)
    with pytest.raises(IndexError, match="out of bounds"):
        a[[0, 3]] = 1.0


# ---------------------------------------------------------------------------------------------
# errors


def test_index_errors():
    a = np.array(A((2, 3)))
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 2"):
        a[[5]]
    with pytest.raises(IndexError, match="index -4 is out of bounds for axis 1 with size 3"):
        a[:, [-4]]
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        a[0, [3]]
    with pytest.raises(IndexError, match="boolean index did not match indexed array along axis 0; size of axis is 2 but size of corresponding boolean axis is 3"):
        a[onp.array([True, False, True])]
    with pytest.raises(IndexError, match="shape mismatch"):
        a[[0, 1], [0, 1, 2]]
    # float mx arrays are cast (MXNet's behaviour: mx.np.array([0, 1]) is float32); others raise
    same(a[np.array([1.0, 0.0])], a.asnumpy()[[1, 0]])
    with pytest.raises(IndexError, match="integer \\(or boolean\\) type"):
        a[onp.array([0.0, 1.0])]
    with pytest.raises(IndexError, match="integer \\(or boolean\\) type"):
        a[[0.5]]
    with pytest.raises(IndexError, match="too many indices"):
        a[[0], [0], [0]]
    with pytest.raises(IndexError, match="valid indices"):
        a["x"]
    with pytest.raises(IndexError, match="single ellipsis"):
        a[..., [0], ...]


# ---------------------------------------------------------------------------------------------
# gradients


def test_advanced_getitem_grad():
    check_grad(lambda x: x[[0, 2, 0], [1, 1, -1]], [A((3, 4))])  # repeated indices accumulate
    check_grad(lambda x: x[:, [1, 1, 0]], [A((2, 3))])
    check_grad(lambda x: x[onp.array([[0], [1]]), 1:, onp.array([0, 2])], [A((2, 3, 3))])
    mask = A((3, 4)) > 0
    check_grad(lambda x: x[mask], [A((3, 4))])
    check_grad(lambda x: x[1, [2, 0]] * x[[0], :1], [A((3, 4))])


def test_getitem_higher_order():
    x = np.array(A((4,)), dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        y = x[[0, 0, 3]] ** 2
        (g,) = mx.autograd.grad([y.sum()], [x], create_graph=True)
        z = (g * g).sum()
    z.backward()
    xn = x.asnumpy()
    gn = onp.array([4 * xn[0], 0, 0, 2 * xn[3]])
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * gn * onp.array([4, 0, 0, 2]), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# npx.one_hot / pick / boolean_mask


def test_one_hot():
    idx = onp.array([[0, 2], [1, 5]])
    got = npx.one_hot(np.array(idx), 3)
    want = onp.zeros((2, 2, 3), "float32")
    for i, j in onp.ndindex(2, 2):
        if idx[i, j] < 3:
            want[i, j, idx[i, j]] = 1
    same(got, want, "float32")
    got = npx.one_hot(np.array([1.0, -1.0]), 2, on_value=5, off_value=-1, dtype="int32")
    same(got, onp.array([[-1, 5], [-1, -1]]), "int32")
    assert npx.one_hot(np.zeros((0,)), 4).shape == (0, 4)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_pick(axis, keepdims):
    x = A((3, 4))
    n = x.shape[axis]
    ishape = list(x.shape)
    del ishape[axis % 2]
    idx = onp.random.RandomState(1).randint(0, n, size=ishape)
    want = onp.take_along_axis(x, onp.expand_dims(idx, axis), axis)
    if not keepdims:
        want = want.squeeze(axis)
    got = npx.pick(np.array(x), np.array(idx.astype("float32")), axis=axis, keepdims=keepdims)
    same(got, want)
    if keepdims:
        got = npx.pick(np.array(x), np.array(onp.expand_dims(idx, axis)), axis=axis, keepdims=True)
        same(got, want)


def test_pick_modes_and_grad():
    x = A((2, 3))
    idx = onp.array([5, -1])
    same(npx.pick(np.array(x), np.array(idx)), x[[0, 1], onp.clip(idx, 0, 2)])
    same(npx.pick(np.array(x), np.array(idx), mode="wrap"), x[[0, 1], idx % 3])
    check_grad(lambda x: npx.pick(x, np.array([2, 0]), axis=1), [A((2, 3))])
    check_grad(lambda x: npx.pick(x, np.array([[1, 1]]), axis=0, keepdims=True), [A((3, 2))])
    with pytest.raises(ValueError):
        npx.pick(np.array(x), np.array([0, 1, 2]))


def test_boolean_mask():
    x = A((4, 3))
    m = onp.array([1, 0, 1, 1])
    same(npx.boolean_mask(np.array(x), np.array(m)), x[m.astype(bool)])
    same(npx.boolean_mask(np.array(x), np.array([True, False, True]), axis=1), x[:, [0, 2]])
    check_grad(lambda x: npx.boolean_mask(x, np.array(m)), [x])
    with pytest.raises(ValueError):
        npx.boolean_mask(np.array(x), np.array([1, 0]))
