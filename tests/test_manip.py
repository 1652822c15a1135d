"""Array manipulation and creation ranges against NumPy: concatenate, stack, split, tile, repeat,
pad, roll, arange, linspace, eye, tril/triu, diagonal, take, nonzero; gradients and errors."""
import numpy as onp
import pytest

import mxgluon as mx
from gradcheck import check_grad

np = mx.np


def A(shape, dtype="float32", seed=0):
    r = onp.random.RandomState(seed)
    if onp.dtype(dtype).kind == "b":
        return r.rand(*shape) > 0.5
    return (r.uniform(-5, 5, size=shape)).astype(dtype)


def same(got, want, dtype=None, rtol=1e-6):
    assert isinstance(got, np.ndarray), type(got)
    want = onp.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if dtype is not None:
        assert got.dtype == onp.dtype(dtype), (got.dtype, dtype)
    onp.testing.assert_allclose(got.asnumpy(), want, rtol=rtol)


# ---------------------------------------------------------------------------------------------
# concatenate / stack


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8", "bool", "float16"])
def test_concatenate_dtypes(dtype):
    a, b = A((2, 3), dtype, 1), A((4, 3), dtype, 2)
    same(np.concatenate([np.array(a), np.array(b)]), onp.concatenate([a, b]), dtype)
    c = A((2, 5), dtype, 3)
    same(np.concatenate((np.array(a), np.array(c)), axis=-1), onp.concatenate([a, c], axis=-1), dtype)


def test_concatenate_forms():
    a, b = A((2, 3)), A((3, 2), seed=4)
    same(np.concatenate([np.array(a), np.array(b)], axis=None), onp.concatenate([a, b], axis=None))
    # promotion, zero-size pieces
    i = onp.arange(6, dtype="int32").reshape(2, 3)
    same(np.concatenate([np.array(i), np.array(a)]), onp.concatenate([i, a]).astype("float32"), "float32")
    z = onp.zeros((0, 3), "float32")
    same(np.concatenate([np.array(z), np.array(a), np.array(z)]), a)
    # strided inputs (transposed view)
    t = np.array(A((3, 2))).T
    same(np.concatenate([t, t], axis=1), onp.concatenate([t.asnumpy()] * 2, axis=1))
    # 1.x spelling
    same(mx.np.concat(np.array(a), np.array(a), dim=1), onp.concatenate([a, a], 1))
    from mxgluon.numpy.multiarray import invoke

    same(invoke("Concat", [np.array(a), np.array(a)], dim=0), onp.concatenate([a, a], 0))


def test_concatenate_errors():
    with pytest.raises(ValueError, match="concatenate.*dimension 1.*size 3.*size 2"):
        np.concatenate([np.zeros((2, 3)), np.zeros((2, 2))])
    with pytest.raises(ValueError, match="same number of dimensions"):
        np.concatenate([np.zeros((2, 3)), np.zeros((3,))])
    with pytest.raises(ValueError, match="zero-dimensional"):
        np.concatenate([np.full((), 1.0), np.full((), 2.0)])
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        np.concatenate([np.zeros((2, 3))], axis=2)


def test_stack_family():
    a, b = A((2, 3)), A((2, 3), seed=1)
    for ax in (0, 1, 2, -1, -3):
        same(np.stack([np.array(a), np.array(b)], axis=ax), onp.stack([a, b], axis=ax))
    same(np.vstack([np.array(a), np.array(b)]), onp.vstack([a, b]))
    same(np.hstack([np.array(a), np.array(b)]), onp.hstack([a, b]))
    same(np.dstack([np.array(a), np.array(b)]), onp.dstack([a, b]))
    v = onp.arange(3.0, dtype="float32")
    same(np.vstack([np.array(v), np.array(v)]), onp.vstack([v, v]))
    same(np.hstack([np.array(v), np.array(v)]), onp.hstack([v, v]))
    same(np.column_stack([np.array(v), np.array(v)]), onp.column_stack([v, v]))
    same(np.stack([np.full((), 1.0), np.full((), 2.0)]), onp.array([1.0, 2.0], "float32"))
    with pytest.raises(ValueError, match="stack.*same shape"):
        np.stack([np.zeros((2, 3)), np.zeros((3, 2))])


def test_concat_stack_grad():
    check_grad(lambda x, y: np.concatenate([x, y], axis=1), [A((2, 3)), A((2, 1), seed=1)])
    check_grad(lambda x, y: np.concatenate([x, y], axis=None), [A((2, 3)), A((4,), seed=1)])
    check_grad(lambda x, y: np.stack([x, y], axis=1), [A((2, 3)), A((2, 3), seed=1)])
    check_grad(lambda x, y: np.stack([x, y, x], axis=-1), [A((2,)), A((2,), seed=1)])


# ---------------------------------------------------------------------------------------------
# split


@pytest.mark.parametrize("arg,axis", [(3, 0), ([1, 4], 0), ([2, -1], 1), ([0, 0, 10], 0), (2, 1), ([], 0)])
def test_split_forms(arg, axis):
    x = A((6, 4))
    if isinstance(arg, int) and x.shape[axis] % arg:
        return
    got, want = np.split(np.array(x), arg, axis=axis), onp.split(x, arg, axis=axis)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        same(g, w)


def test_array_split_and_views():
    x = A((7, 2))
    got, want = np.array_split(np.array(x), 3), onp.array_split(x, 3)
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        same(g, w)
    # pieces are views sharing memory with the input
    a = np.array(x)
    p = np.split(a, 7)[2]
    p[...] = 0
    assert (a.asnumpy()[2] == 0).all()
    with pytest.raises(ValueError, match="equal division"):
        np.split(np.array(x), 3)
    with pytest.raises(ValueError, match="larger than 0"):
        np.array_split(np.array(x), 0)
    hs = np.hsplit(np.array(A((2, 4))), 2)
    assert [h.shape for h in hs] == [(2, 2), (2, 2)]


def test_split_legacy_names():
    x = np.array(A((2, 6)))
    from mxgluon.numpy.multiarray import invoke

    outs = invoke("SliceChannel", [x], num_outputs=3)
    assert [o.shape for o in outs] == [(2, 2)] * 3
    outs = invoke("split", [np.array(A((3, 1, 2)))], num_outputs=3, axis=0, squeeze_axis=True)
    assert [o.shape for o in outs] == [(1, 2)] * 3


def test_split_grad():
    def f(x):
        a, b, c = np.split(x, [1, 3], axis=1)
        return a * 2 + c * b[:, :1]

    check_grad(f, [A((2, 4))])

    def g(x):  # only one piece used: the others get zero gradient
        return np.array_split(x, 3)[1] * 3

    check_grad(g, [A((5, 2))])


# ---------------------------------------------------------------------------------------------
# tile / repeat


@pytest.mark.parametrize("reps", [2, (2, 1), (1, 3), (2, 2, 2), (0, 2), ()])
def test_tile(reps):
    x = A((2, 3))
    same(np.tile(np.array(x), reps), onp.tile(x, reps))


@pytest.mark.parametrize("dtype", ["int64", "bool", "float16"])
def test_tile_repeat_dtypes(dtype):
    x = A((2, 3), dtype)
    same(np.tile(np.array(x), (2, 1)), onp.tile(x, (2, 1)), dtype)
    same(np.repeat(np.array(x), 2, axis=1), onp.repeat(x, 2, axis=1), dtype)


@pytest.mark.parametrize("rep,axis", [(2, None), (3, 0), (2, 1), (2, -1), ([1, 0, 2], 1), ([2, 1], 0), (0, 0), ([3], None)])
def test_repeat(rep, axis):
    x = A((2, 3))
    same(np.repeat(np.array(x), rep, axis=axis), onp.repeat(x, rep, axis=axis))


def test_repeat_scalar_and_method():
    same(np.repeat(np.full((), 3.0), 4), onp.repeat(onp.float32(3.0), 4))
    x = A((2, 2))
    same(np.array(x).repeat(2, axis=0), x.repeat(2, axis=0))
    with pytest.raises(ValueError, match="negative"):
        np.repeat(np.array(x), -1)
    with pytest.raises(ValueError, match="broadcast"):
        np.repeat(np.array(x), [1, 2, 3], axis=0)


def test_tile_repeat_grad():
    check_grad(lambda x: np.tile(x, (2, 3)), [A((2, 2))])
    check_grad(lambda x: np.tile(x, (2, 1, 2)), [A((3,))])
    check_grad(lambda x: np.repeat(x, 3, axis=1), [A((2, 2))])
    check_grad(lambda x: np.repeat(x, [2, 0, 1], axis=0), [A((3, 2))])
    check_grad(lambda x: np.repeat(x, 2), [A((2, 2))])


def test_higher_order_through_tile():
    x = np.array(A((3,)), dtype="float64")
    x.attach_grad()
    with mx.autograd.record():
        y = np.tile(x, 2) ** 3
        (g,) = mx.autograd.grad([y.sum()], [x], create_graph=True)
        z = g.sum()
    z.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * 6 * x.asnumpy(), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# pad / roll


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
@pytest.mark.parametrize("width", [1, (1, 2), ((0, 1), (2, 3)), ((4, 5),), [[3, 0], [0, 7]]])
def test_pad(mode, width):
    x = A((3, 4))
    kw = {"constant_values": 1.5} if mode == "constant" else {}
    same(np.pad(np.array(x), width, mode=mode, **kw), onp.pad(x, width, mode=mode, **kw))


def test_pad_more():
    x = A((2, 3, 4), "int32")
    same(np.pad(np.array(x), ((0, 0), (1, 1), (2, 2)), mode="reflect"),
         onp.pad(x, ((0, 0), (1, 1), (2, 2)), mode="reflect"), "int32")
    one = onp.arange(1.0, dtype="float32")
    same(np.pad(np.array(one), 3, mode="reflect"), onp.pad(one, 3, mode="reflect"))
    z = onp.zeros((0, 2), "float32")
    same(np.pad(np.array(z), 1), onp.pad(z, 1))
    with pytest.raises(ValueError, match="empty axis"):
        np.pad(np.array(z), 1, mode="edge")
    with pytest.raises(ValueError, match="negative"):
        np.pad(np.array(x), -1)
    with pytest.raises(ValueError):
        np.pad(np.array(x), ((1, 1), (1, 1)))  # 2 pairs for 3 dims
    # MXNet 1.x Pad: flat pad_width
    from mxgluon.numpy.multiarray import invoke

    y = A((1, 1, 2, 2))
    got = invoke("Pad", [np.array(y)], mode="constant", pad_width=(0, 0, 0, 0, 1, 1, 1, 1), constant_value=2)
    same(got, onp.pad(y, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=2))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_pad_grad(mode):
    check_grad(lambda x: np.pad(x, ((1, 2), (3, 1)), mode=mode), [A((3, 2))])


@pytest.mark.parametrize("shift,axis", [(1, None), (-7, None), (2, 0), (-1, 1), ((1, 2), (0, 1)), ((1, 1), 0), (3, (0, 1)), (0, None)])
def test_roll(shift, axis):
    x = A((3, 4))
    same(np.roll(np.array(x), shift, axis=axis), onp.roll(x, shift, axis=axis))


def test_roll_grad_and_errors():
    check_grad(lambda x: np.roll(x, (1, -2), axis=(0, 1)), [A((3, 3))])
    check_grad(lambda x: np.roll(x, 5), [A((2, 3))])
    same(np.roll(np.zeros((0, 3)), 2, axis=0), onp.zeros((0, 3)))
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        np.roll(np.zeros((2, 2)), 1, axis=2)
    with pytest.raises(ValueError, match="shift"):
        np.roll(np.zeros((2, 2)), (1, 2, 3), axis=(0, 1))


# ---------------------------------------------------------------------------------------------
# creation


@pytest.mark.parametrize("args", [(5,), (2, 9), (2, 9, 3), (9, 2, -2), (0.5, 3.2, 0.7), (5, 1), (-3, 3, 0.5)])
def test_arange(args):
    got = np.arange(*args)
    assert got.dtype == onp.float32  # MXNet's default float
    same(got, onp.arange(*args).astype("float32"))


def test_arange_dtype_device():
    same(np.arange(2, 10, 3, dtype="int64"), onp.arange(2, 10, 3), "int64")
    same(np.arange(4, dtype=onp.int32), onp.arange(4, dtype="int32"), "int32")
    a = np.arange(3, ctx=mx.cpu())
    assert a.device == mx.cpu()
    a = np.arange(3, device=mx.cpu(0))
    assert a.device == mx.cpu(0)
    with pytest.raises(ValueError, match="step"):
        np.arange(0, 5, 0)


@pytest.mark.parametrize("kw", [dict(num=5), dict(num=1), dict(num=0), dict(num=7, endpoint=False), dict(num=4, dtype="int32")])
def test_linspace(kw):
    got = np.linspace(-1.5, 3, **kw)
    want = onp.linspace(-1.5, 3, **kw)
    same(got, want.astype(kw.get("dtype", "float32")), kw.get("dtype", "float32"))


def test_linspace_retstep_errors():
    y, step = np.linspace(0, 1, 5, retstep=True)
    yn, sn = onp.linspace(0, 1, 5, retstep=True)
    same(y, yn.astype("float32"))
    assert step == pytest.approx(sn)
    with pytest.raises(ValueError, match="non-negative"):
        np.linspace(0, 1, -1)


@pytest.mark.parametrize("args", [(3,), (3, 4), (3, 4, 1), (4, 3, -2), (3, None, 5), (0,)])
def test_eye(args):
    same(np.eye(*args), onp.eye(*args).astype("float32"), "float32")
    same(np.eye(*args, dtype="int32"), onp.eye(*args, dtype="int32"), "int32")


def test_identity():
    same(np.identity(3), onp.identity(3).astype("float32"))
    assert np.identity(2, dtype="float64").dtype == onp.float64
    assert np.eye(2, ctx=mx.cpu()).device == mx.cpu()


# ---------------------------------------------------------------------------------------------
# tril / triu / diagonal / trace


@pytest.mark.parametrize("k", [0, 1, -1, 5, -5])
def test_tril_triu(k):
    for shape in [(4, 4), (3, 5), (2, 3, 4), (4,)]:
        x = A(shape)
        same(np.tril(np.array(x), k), onp.tril(x, k))
        same(np.triu(np.array(x), k), onp.triu(x, k))


def test_tril_triu_grad():
    check_grad(lambda x: np.tril(x, -1), [A((3, 4))])
    check_grad(lambda x: np.triu(x, 1), [A((2, 3, 3))])
    check_grad(lambda x: np.tril(x), [A((3,))])


@pytest.mark.parametrize("offset,a1,a2", [(0, 0, 1), (1, 0, 1), (-1, 0, 1), (2, 1, 0), (0, 0, 2), (1, -1, -2), (9, 0, 1)])
def test_diagonal(offset, a1, a2):
    x = A((3, 4, 5))
    same(np.diagonal(np.array(x), offset, a1, a2), onp.diagonal(x, offset, a1, a2))
    same(np.array(x).diagonal(offset, a1, a2), x.diagonal(offset, a1, a2))


def test_diagonal_view_trace_grad():
    a = np.zeros((3, 3))
    d = np.diagonal(a)
    d[...] = 1
    same(a, onp.eye(3, dtype="float32"))
    x = A((3, 4))
    same(np.trace(np.array(x)), onp.trace(x), rtol=1e-5)
    same(np.trace(np.array(x), 1), onp.trace(x, 1), rtol=1e-5)
    check_grad(lambda x: np.diagonal(x, 1), [A((3, 4))])
    check_grad(lambda x: np.diagonal(x, -1, 1, 2), [A((2, 3, 3))])
    with pytest.raises(ValueError, match="two dimensions"):
        np.diagonal(np.zeros(3))


# ---------------------------------------------------------------------------------------------
# take / nonzero


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_take(axis):
    x = A((3, 4))
    idx = onp.array([[0, 2], [-1, 1]])
    same(np.take(np.array(x), np.array(idx), axis=axis), onp.take(x, idx, axis=axis))
    same(np.take(np.array(x), [1, 1, 0], axis=axis), onp.take(x, [1, 1, 0], axis=axis))
    same(np.take(np.array(x), 2, axis=axis), onp.take(x, 2, axis=axis))


@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_take_modes(mode):
    x = A((3, 4))
    idx = onp.array([-5, -1, 0, 3, 7])
    same(np.take(np.array(x), np.array(idx), axis=1, mode=mode), onp.take(x, idx, axis=1, mode=mode))
    same(np.take(np.array(x), np.array(idx), mode=mode), onp.take(x, idx, mode=mode))


def test_take_errors_and_grad():
    x = np.array(A((3, 4)))
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 1 with size 4"):
        np.take(x, np.array([4]), axis=1)
    with pytest.raises(IndexError, match="index 12 is out of bounds for size 12"):
        np.take(x, 12)
    with pytest.raises(IndexError, match="index -13"):
        np.take(x, -13)
    check_grad(lambda x: np.take(x, np.array([0, 2, 0, -1]), axis=1), [A((2, 3))])
    check_grad(lambda x: np.take(x, np.array([[5, 0], [5, 5]])), [A((2, 3))])
    check_grad(lambda x: np.take(x, np.array([-2, 9]), axis=0, mode="clip"), [A((3, 2))])
    same(np.take(np.zeros((0, 2)), np.array([], dtype="int64"), axis=0), onp.zeros((0, 2)))


@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_nonzero(dtype):
    x = A((3, 4), dtype)
    if dtype != "bool":
        x = (x > 0).astype(dtype) * x
    got, want = np.nonzero(np.array(x)), onp.nonzero(x)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        same(g, w, "int64")
    empty = np.nonzero(np.zeros((2, 0, 3)))
    assert [e.shape for e in empty] == [(0,)] * 3
    with pytest.raises(ValueError, match="0d"):
        np.nonzero(np.full((), 1.0))
    same(np.flatnonzero(np.array(x)), onp.flatnonzero(x))
