"""The mx.np.ndarray class: attributes, conversion, copies, devices, errors and basic indexing."""
import numpy as onp
import pytest

import mxgluon as mx

RS = onp.random.RandomState(0)


def arr(shape=(3, 4), dtype="float32"):
    a = onp.arange(int(onp.prod(shape)), dtype="float64").reshape(shape).astype(dtype)
    return mx.np.array(a, dtype=dtype), a


# ---------------------------------------------------------------------------------------------
# Attributes and conversion


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"])
def test_attributes(dtype):
    x, a = arr((2, 3, 4), dtype)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.size == 24
    assert x.dtype == onp.dtype(dtype)
    assert x.itemsize == onp.dtype(dtype).itemsize and x.nbytes == 24 * onp.dtype(dtype).itemsize
    assert x.strides == a.strides
    assert x.T.shape == (4, 3, 2)
    onp.testing.assert_array_equal(x.T.asnumpy(), a.T)
    assert x.device == mx.cpu(0) and x.ctx == mx.cpu() and x.context == mx.cpu(0)
    assert str(x.device) == "cpu(0)"
    out = x.asnumpy()
    assert isinstance(out, onp.ndarray) and out.dtype == onp.dtype(dtype)
    onp.testing.assert_array_equal(out, a)
    assert x.tolist() == a.tolist()


def test_array_dtypes():
    assert mx.np.array([1.5, 2]).dtype == onp.float32  # MXNet's default float
    assert mx.np.array([1, 2]).dtype == onp.float32
    assert mx.np.array([True, False]).dtype == onp.bool_
    assert mx.np.array(onp.array([1, 2], dtype="int32")).dtype == onp.int32
    assert mx.np.array(onp.array([1.0], dtype="float64")).dtype == onp.float64
    assert mx.np.array([1, 2], dtype="int8").dtype == onp.int8
    with pytest.raises(TypeError) as e:
        mx.np.array([1, 2], dtype="complex64")
    assert isinstance(e.value, mx.base.MXNetError)


def test_zero_dim_arrays_from_python_and_numpy():
    assert mx.np.array(3.5).shape == ()
    assert mx.np.array(onp.float32(2)).shape == ()
    assert mx.np.array(onp.array(2, dtype="int32")).shape == ()
    assert mx.np.array(True).tolist() is True


def test_zero_dim_and_zero_size():
    z = mx.np.array([5.0]).reshape(())
    assert z.shape == () and z.ndim == 0 and z.size == 1
    assert z.item() == 5.0 and float(z) == 5.0 and int(z) == 5 and z.tolist() == 5.0
    assert bool(z)
    with pytest.raises(TypeError):
        len(z)
    with pytest.raises(TypeError):
        iter(z)
    e = mx.np.zeros((0, 3))
    assert e.shape == (0, 3) and e.size == 0 and len(e) == 0 and list(e) == []
    assert e.asnumpy().shape == (0, 3) and e.tolist() == []
    assert (e + 1).shape == (0, 3)


def test_item_len_iter_bool():
    x, a = arr((3, 2))
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, mx.np.ndarray) for r in rows)
    onp.testing.assert_array_equal(rows[2].asnumpy(), a[2])
    assert x.item(3) == a.item(3)
    assert x[2, 1].item() == 5.0
    assert bool(mx.np.array([1.0])) and not bool(mx.np.array([0.0]))
    with pytest.raises(ValueError) as e:
        bool(x)
    assert isinstance(e.value, mx.base.MXNetError)
    assert "ambiguous" in str(e.value)
    idx = mx.np.array([2], dtype="int32").reshape(())
    assert [10, 20, 30][idx] == 30


def test_numpy_asarray_shares_memory():
    x, a = arr((3, 4))
    n = onp.asarray(x)
    assert n.dtype == onp.float32 and n.shape == (3, 4)
    n[0, 0] = 100.0  # NumPy writes into mxgluon's storage ...
    assert x[0, 0].item() == 100.0
    x[1, 1] = -5.0  # ... and sees mxgluon's writes
    assert n[1, 1] == -5.0
    # a strided view keeps its strides and shares too
    v = x[:, 1]
    nv = onp.asarray(v)
    assert nv.strides == (16,)
    nv[2] = 42.0
    assert x[2, 1].item() == 42.0
    t = onp.asarray(x.T)
    assert t.shape == (4, 3) and onp.shares_memory(t, n)
    # asnumpy is a copy
    c = x.asnumpy()
    c[0, 0] = 7.0
    assert x[0, 0].item() == 100.0
    # the NumPy view keeps the data alive after the ndarray is gone
    y = mx.np.ones((2, 2))
    ny = onp.asarray(y)
    del y
    import gc

    gc.collect()
    onp.testing.assert_array_equal(ny, onp.ones((2, 2)))
    # numpy.array(x, dtype) converts
    assert onp.array(x, dtype="float64").dtype == onp.float64


def test_astype_copy_copyto():
    x, a = arr((2, 3), "float32")
    y = x.astype("int32")
    assert y.dtype == onp.int32
    onp.testing.assert_array_equal(y.asnumpy(), a.astype("int32"))
    assert x.astype("float32", copy=False) is x
    c = x.astype("float32")
    assert c is not x and not c._t.shares_memory(x._t)
    f = mx.np.array([-1.7, 2.7, 0.2]).astype("int8")
    onp.testing.assert_array_equal(f.asnumpy(), [-1, 2, 0])  # truncation towards zero
    h = x.astype("float16").astype(onp.float64)
    assert h.dtype == onp.float64
    onp.testing.assert_array_equal(h.asnumpy(), a)
    assert x.astype(bool).dtype == onp.bool_
    cp = x.copy()
    cp[0, 0] = 99
    assert x[0, 0].item() == 0.0
    out = mx.np.zeros((2, 3))
    assert x.copyto(out) is out
    onp.testing.assert_array_equal(out.asnumpy(), a)
    out64 = mx.np.zeros((2, 3), dtype="float64")
    x.copyto(out64)  # converts into the destination's dtype
    assert out64.dtype == onp.float64
    onp.testing.assert_array_equal(out64.asnumpy(), a)
    with pytest.raises(ValueError):
        x.copyto(mx.np.zeros((3, 3)))
    same = x.copyto(mx.cpu())
    onp.testing.assert_array_equal(same.asnumpy(), a)
    assert x.as_in_context(mx.cpu()) is x and x.to_device(mx.cpu(0)) is x and x.as_in_ctx(mx.cpu()) is x
    import copy

    d = copy.deepcopy(x)
    assert not d._t.shares_memory(x._t)
    onp.testing.assert_array_equal(d.asnumpy(), a)


def test_repr_and_str():
    x = mx.np.array([[1.0, 2.0], [3.0, 4.0]])
    assert repr(x) == repr(onp.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32"))
    assert str(x) == str(onp.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32"))
    assert repr(mx.np.array([1, 2], dtype="int32")) == "array([1, 2], dtype=int32)"
    assert "float16" in repr(mx.np.ones((2,), dtype="float16"))


def test_gpu_without_gpus_is_a_clear_error():
    if mx.device.num_gpus() > 0:
        x = mx.np.ones(3, device=mx.gpu(0))
        assert x.device == mx.gpu(0)
        onp.testing.assert_array_equal(x.asnumpy(), onp.ones(3))
        return
    assert mx.device.num_gpus() == 0
    for make in (lambda: mx.np.ones(3, device=mx.gpu(0)), lambda: mx.np.array([1.0], ctx=mx.gpu(0)),
                 lambda: mx.np.ones(3).to_device(mx.gpu(0)), lambda: mx.np.ones(3).copyto(mx.gpu(1))):
        with pytest.raises(mx.base.MXNetError) as e:
            make()
        msg = str(e.value)
        assert "gpu" in msg and ("CUDA" in msg or "GPU" in msg or "not available" in msg)


def test_errors_are_mxnet_errors_of_builtin_kinds():
    x, _ = arr((2, 3))
    cases = [
        (ValueError, lambda: x + mx.np.ones((4,))),
        (ValueError, lambda: x.reshape((7,))),
        (ValueError, lambda: mx.np.broadcast_to(x, (3, 3))),
        (ValueError, lambda: x[::0]),
        (IndexError, lambda: x[2]),
        (IndexError, lambda: x[0, -4]),
        (IndexError, lambda: x[0, 0, 0]),
        (TypeError, lambda: x.astype("complex128")),
        (TypeError, lambda: mx.np.ndarray()),
        (ValueError, lambda: x.transpose((0, 0))),
    ]
    for kind, f in cases:
        with pytest.raises(kind) as e:
            f()
        assert isinstance(e.value, mx.base.MXNetError), (kind, e.value)
        assert str(e.value)
    assert issubclass(mx.base.MXNetValueError, ValueError) and issubclass(mx.MXNetError, Exception)


# ---------------------------------------------------------------------------------------------
# Basic indexing


KEYS = [
    0, -1, 2, slice(None), slice(1, 3), slice(None, None, -1), slice(None, None, -2), slice(3, 0, -1),
    slice(-2, None), slice(10, 20), (1, 2), (-1, -2, 0), (slice(None), 1), (slice(None, None, -1), slice(1, None, 2)),
    Ellipsis, (Ellipsis, 0), (0, Ellipsis), (Ellipsis, None), (None, 1), (None, Ellipsis, None),
    (slice(None), None, slice(None, None, -1)), (1, slice(None), -1), (Ellipsis, slice(None, None, -3)),
    (slice(-1, -5, -1), Ellipsis, 1),
]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_basic_getitem(key):
    x, a = arr((4, 3, 5))
    v = x[key]
    expected = a[key]
    assert v.shape == expected.shape
    onp.testing.assert_array_equal(v.asnumpy(), expected)
    if v.size:
        assert v._t.shares_memory(x._t)  # a view, not a copy


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_basic_setitem(key):
    x, a = arr((4, 3, 5))
    a = a.copy()
    shape = a[key].shape
    val = onp.arange(int(onp.prod(shape)), dtype="float32").reshape(shape) + 1000
    x[key] = mx.np.array(val).reshape(shape)
    a[key] = val
    onp.testing.assert_array_equal(x.asnumpy(), a)
    x[key] = -1.5  # a scalar
    a[key] = -1.5
    onp.testing.assert_array_equal(x.asnumpy(), a)


def test_setitem_broadcasts_and_converts():
    x = mx.np.zeros((3, 4))
    x[1:] = [1.0, 2.0, 3.0, 4.0]
    x[0] = onp.array([5, 6, 7, 8], dtype="int64")
    expected = onp.array([[5, 6, 7, 8], [1, 2, 3, 4], [1, 2, 3, 4]], dtype="float32")
    onp.testing.assert_array_equal(x.asnumpy(), expected)
    x[:, ::-2] = mx.np.array([[10.0], [20.0], [30.0]])
    expected[:, ::-2] = [[10.0], [20.0], [30.0]]
    onp.testing.assert_array_equal(x.asnumpy(), expected)
    i = mx.np.zeros((3,), dtype="int32")
    i[1] = 7.9
    assert i.dtype == onp.int32 and i.tolist() == [0, 7, 0]
    with pytest.raises(ValueError) as e:
        x[0] = mx.np.ones((5,))
    assert isinstance(e.value, mx.base.MXNetError)
    with pytest.raises(IndexError):
        x[3] = 1.0
    idx = mx.np.array([2], dtype="int64").reshape(())  # a 0-d int array indexes like an int
    x[idx] = 0.0
    assert x[idx].tolist() == [0.0] * 4


def test_views_share_storage():
    x, a = arr((4, 6))
    a = a.copy()
    views = [x[1], x[:, 2], x[::2, ::-3], x[..., None][1:3], x.T, x.reshape((6, 4)), x[None]]
    for v in views:
        assert v._t.shares_memory(x._t)
    x[1, 2] = 500.0
    a[1, 2] = 500.0
    for v, expected in zip(views, [a[1], a[:, 2], a[::2, ::-3], a[..., None][1:3], a.T, a.reshape(6, 4), a[None]]):
        onp.testing.assert_array_equal(v.asnumpy(), expected)
    # writing through a view of a view
    vv = x[::-1][1:3, ::2]
    vv[...] = -7.0
    a[::-1][1:3, ::2] = -7.0
    onp.testing.assert_array_equal(x.asnumpy(), a)
    # a view from a strided view: reshape of non-contiguous data copies instead
    r = x.T.reshape((24,))
    onp.testing.assert_array_equal(r.asnumpy(), a.T.reshape(24))


def test_hash_and_identity_comparisons():
    x = mx.np.ones((2,))
    assert hash(x) == hash(x)
    d = {x: 1}
    assert d[x] == 1
    assert (x == None) is False and (x != None) is True  # noqa: E711
