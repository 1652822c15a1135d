"""Matrix products (matmul, dot, batch_dot, tensordot, einsum, inner/outer/vdot/kron) and norm,
against NumPy, with gradient checks and error messages."""
import numpy as onp
import pytest
from gradcheck import check_grad

import mxgluon as mx
from mxgluon.base import MXNetError

np = mx.np
rng = onp.random.RandomState(42)


def rand(*shape, dtype="float64"):
    if onp.dtype(dtype).kind in "iu":
        return rng.randint(-5, 6, size=shape).astype(dtype)
    if onp.dtype(dtype).kind == "b":
        return rng.rand(*shape) > 0.5
    return rng.uniform(-1, 1, size=shape).astype(dtype)


def arr(x, dtype=None):
    """An mx array of exactly ``x``'s shape (mx.np.array currently turns 0-d into (1,))."""
    x = onp.asarray(x)
    return np.array(x, dtype=dtype).reshape(x.shape)


def close(got, want, dtype=None, rtol=None):
    got = got.asnumpy() if hasattr(got, "asnumpy") else onp.asarray(got)
    want = onp.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if dtype is not None:
        assert got.dtype == onp.dtype(dtype), (got.dtype, dtype)
    if rtol is None:
        rtol = 1e-4 if got.dtype == onp.float32 else 1e-10
    if got.dtype.kind in "iub":
        onp.testing.assert_array_equal(got, want)
    else:
        onp.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (4, 3, 5)),
    ((4, 1, 2, 3), (1, 5, 3, 2)),
    ((6,), (2, 6, 3)),
    ((2, 4, 6), (6,)),
    ((0, 3), (3, 4)),
    ((2, 0), (0, 4)),
    ((3, 0, 2), (2, 5)),
    ((70, 50), (50, 40)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_shapes(sa, sb):
    a, b = rand(*sa), rand(*sb)
    close(np.matmul(np.array(a), np.array(b)), onp.matmul(a, b), "float64")
    a32, b32 = a.astype("float32"), b.astype("float32")
    close(np.array(a32) @ np.array(b32), a32 @ b32, "float32")


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8", "uint8", "bool"])
def test_matmul_integer_dtypes(dtype):
    a, b = rand(4, 5, dtype=dtype), rand(5, 3, dtype=dtype)
    close(np.matmul(np.array(a, dtype=dtype), np.array(b, dtype=dtype)), onp.matmul(a, b), dtype)


def test_matmul_mixed_and_half():
    a, b = rand(3, 4, dtype="int32"), rand(4, 2, dtype="float32")
    close(np.matmul(np.array(a, dtype="int32"), np.array(b)), a.astype("float32") @ b, "float32")
    h = rand(8, 16).astype("float16")
    got = np.matmul(np.array(h, dtype="float16"), np.array(h.T.copy(), dtype="float16"))
    assert got.dtype == onp.float16
    onp.testing.assert_allclose(got.asnumpy().astype("float64"), h.astype("float64") @ h.T.astype("float64"), rtol=1e-2, atol=1e-2)


def test_matmul_large_paths():
    # sizes on both sides of the gemm / matrixmultiply split, and a batch run in parallel
    for m, k, n in [(33, 47, 29), (128, 96, 64), (1, 300, 200)]:
        a, b = rand(m, k).astype("float32"), rand(k, n).astype("float32")
        close(np.array(a) @ np.array(b), a @ b, "float32", rtol=1e-4)
    a, b = rand(64, 8, 9), rand(64, 9, 7)
    close(np.array(a) @ np.array(b), a @ b, "float64")


def test_matmul_transposed_and_strided_views():
    a, b = rand(5, 4), rand(6, 5)
    A, B = np.array(a), np.array(b)
    close(A.T @ B.T, a.T @ b.T)
    close(np.matmul(A[::2, 1:], B[1:4, ::-2].T), a[::2, 1:] @ b[1:4, ::-2].T)
    x = rand(3, 4, 5)
    X = np.array(x)
    close(X.transpose(0, 2, 1) @ X, x.transpose(0, 2, 1) @ x)
    close(np.matmul(np.broadcast_to(np.array(a[:1]), (3, 4)), np.array(rand(4, 2) * 0 + 1)), onp.broadcast_to(a[:1], (3, 4)) @ onp.ones((4, 2)))
    # a row of a matrix, broadcast along the batch of the other operand
    v = rand(4)
    close(np.matmul(np.array(v), np.array(x)), v @ x)


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        np.matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul.*batch"):
        np.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4)))
    with pytest.raises(ValueError, match=r"matmul.*0-d"):
        np.matmul(np.ones(()), np.ones((3,)))
    with pytest.raises(MXNetError):
        np.ones((2, 3)) @ np.ones((2, 3))


DOT_SHAPES = [
    ((), ()), ((), (3, 2)), ((3,), ()), ((4,), (4,)), ((4,), (4, 2)), ((2, 4), (4,)),
    ((2, 4), (4, 3)), ((2, 3, 4), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)),
    ((0, 4), (4, 2)),
]


@pytest.mark.parametrize("sa,sb", DOT_SHAPES)
def test_dot(sa, sb):
    a, b = rand(*sa), rand(*sb)
    close(np.dot(arr(a), arr(b)), onp.dot(a, b), "float64")


def test_dot_int_and_method():
    a, b = rand(3, 4, dtype="int32"), rand(4, 2, dtype="int32")
    close(np.dot(np.array(a, dtype="int32"), np.array(b, dtype="int32")), onp.dot(a, b), "int32")
    close(np.array(a, dtype="int32").dot(np.array(b, dtype="int32")), onp.dot(a, b))
    with pytest.raises(ValueError, match=r"_np_dot.*\(3, 4\).*\(3, 4\)"):
        np.dot(np.ones((3, 4)), np.ones((3, 4)))


def test_legacy_dot():
    a, b = rand(3, 4), rand(3, 5)
    inv = mx.numpy.multiarray.invoke
    close(inv("dot", [np.array(a), np.array(b)], transpose_a=True), a.T @ b)
    close(inv("dot", [np.array(a), np.array(b.T.copy())], transpose_a=True, transpose_b=True), a.T @ b)
    x, y = rand(2, 3, 4), rand(4, 5, 6)
    close(inv("dot", [np.array(x), np.array(y)]), onp.tensordot(x, y, ([2], [0])))
    v = rand(4)
    out = inv("dot", [np.array(v), np.array(v)])
    assert out.shape == (1,)
    close(out, [v @ v])


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_batch_dot(ta, tb):
    a = rand(3, 2, 4) if not ta else rand(3, 4, 2)
    b = rand(3, 4, 5) if not tb else rand(3, 5, 4)
    inv = mx.numpy.multiarray.invoke
    A = a.transpose(0, 2, 1) if ta else a
    B = b.transpose(0, 2, 1) if tb else b
    close(inv("batch_dot", [np.array(a), np.array(b)], transpose_a=ta, transpose_b=tb), A @ B)
    check_grad(lambda x, y: inv("batch_dot", [x, y], transpose_a=ta, transpose_b=tb), [a, b])


def test_batch_dot_errors():
    inv = mx.numpy.multiarray.invoke
    with pytest.raises(ValueError, match=r"batch_dot.*\(2, 3, 4\).*\(3, 4, 5\)"):
        inv("batch_dot", [np.ones((2, 3, 4)), np.ones((3, 4, 5))])
    with pytest.raises(ValueError, match=r"batch_dot.*not aligned"):
        inv("batch_dot", [np.ones((2, 3, 4)), np.ones((2, 3, 5))])
    with pytest.raises(ValueError, match=r"batch_dot"):
        inv("batch_dot", [np.ones((3, 4)), np.ones((4, 5))])


@pytest.mark.parametrize(
    "sa,sb,axes",
    [
        ((3, 4, 5), (4, 5, 2), 2),
        ((3, 4), (4, 5), 1),
        ((3, 4), (5, 6), 0),
        ((3, 4, 5), (5, 3, 2), ([0, 2], [1, 0])),
        ((2, 3, 4), (4, 3, 2), ([2, 1, 0], [0, 1, 2])),
        ((3, 4, 5), (4, 2), ([-2], [0])),
        ((3, 4), (4,), (1, 0)),
    ],
)
def test_tensordot(sa, sb, axes):
    a, b = rand(*sa), rand(*sb)
    close(np.tensordot(np.array(a), np.array(b), axes), onp.tensordot(a, b, axes))
    check_grad(lambda x, y: np.tensordot(x, y, axes), [a, b])


def test_tensordot_errors():
    with pytest.raises(ValueError, match=r"tensordot.*shape mismatch.*\(3, 4\).*\(5, 4\)"):
        np.tensordot(np.ones((3, 4)), np.ones((5, 4)), ([1], [0]))
    with pytest.raises(ValueError, match="tensordot"):
        np.tensordot(np.ones((3, 4)), np.ones((4, 5)), 3)
    with pytest.raises(ValueError, match="tensordot"):
        np.tensordot(np.ones((3, 4)), np.ones((4, 5)), ([1, 0], [0]))


EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iij->j", [(3, 3, 2)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,bkj->bki", [(2, 3, 4), (2, 5, 4)]),
    ("ijk,kj->i", [(2, 3, 4), (4, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ab,cd,bd->ac", [(2, 3), (4, 5), (3, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ij,...jk", [(5, 2, 3), (1, 3, 4)]),
    ("i...->...", [(3, 2, 4)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,kj->ikj", [(2, 3), (4, 3)]),
    ("ij,jk->ik", [(0, 3), (3, 4)]),
]


@pytest.mark.parametrize("sub,shapes", EINSUM_CASES)
def test_einsum(sub, shapes):
    ops = [rand(*s) for s in shapes]
    close(np.einsum(sub, *[np.array(o) for o in ops]), onp.einsum(sub, *ops))
    if all(0 not in s for s in shapes):
        check_grad(lambda *xs: np.einsum(sub, *xs), ops)


def test_einsum_dtypes_and_views():
    a = rand(3, 4, dtype="int32")
    close(np.einsum("ij->ji", np.array(a, dtype="int32")), a.T, "int32")
    close(np.einsum("ij->i", np.array(a, dtype="int32")), a.sum(1), "int32")
    f = rand(4, 5).astype("float32")
    close(np.einsum("ij,kj->ik", np.array(f), np.array(f)), f @ f.T, "float32")
    # the output does not alias the input
    x = np.array(rand(2, 3))
    y = np.einsum("ij->ji", x)
    y[0, 0] = 100.0
    assert float(x[0, 0]) != 100.0
    # a transposed view as operand
    w = rand(4, 2)
    close(np.einsum("ij,jk", np.array(a.T.copy(), dtype="int32").T, np.array(w)), onp.einsum("ij,jk", a, w))


def test_einsum_errors():
    with pytest.raises(ValueError, match=r"einsum.*'j'.*3.*4"):
        np.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"einsum.*operand 0.*\(2, 3, 4\)"):
        np.einsum("ij->i", np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"einsum.*2 operand"):
        np.einsum("ij,jk->ik", np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"einsum.*'z'"):
        np.einsum("ij->z", np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"einsum.*invalid subscript"):
        np.einsum("i1->i", np.ones((2, 3)))


@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((4,), (4,)), ((2, 3), (5, 4, 3)), ((), (2,))])
def test_inner(sa, sb):
    a, b = rand(*sa), rand(*sb)
    close(np.inner(arr(a), arr(b)), onp.inner(a, b))


def test_outer_vdot_kron():
    a, b = rand(3), rand(2, 2)
    close(np.outer(np.array(a), np.array(b)), onp.outer(a, b))
    c = rand(2, 2)
    close(np.vdot(np.array(b), np.array(c)), onp.vdot(b, c))
    d = rand(3, 1)
    close(np.kron(np.array(b), np.array(d)), onp.kron(b, d))
    close(np.kron(np.array(a), np.array(b)), onp.kron(a, b))


def test_matmul_grads():
    for sa, sb in [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((5, 2, 3), (3, 2))]:
        check_grad(lambda x, y: np.matmul(x, y), [rand(*sa), rand(*sb)])


def test_dot_grads():
    check_grad(lambda x, y: np.dot(x.reshape(()), y), [rand(1), rand(3)])
    for sa, sb in [((3,), (3,)), ((2, 3), (3, 4)), ((2, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3))]:
        check_grad(lambda x, y: np.dot(x, y), [rand(*sa), rand(*sb)])


def test_transposed_input_grads():
    check_grad(lambda x, y: np.matmul(x.T, y), [rand(4, 3), rand(4, 2)])


def test_second_order():
    # d/dA sum(A @ A @ x) and then its derivative again along A: checked against the closed form.
    a = rand(3, 3)
    A = np.array(a)
    A.attach_grad()
    with mx.autograd.record():
        y = (np.matmul(A, A)).sum()
        (g,) = [mx.autograd.grad(y, A, create_graph=True)]
        z = (g * g).sum()
    z.backward()
    # g = 1 @ A^T + A^T @ 1 with 1 the all-ones matrix; dz/dA = 2 * (1^T g + g 1^T) terms
    one = onp.ones((3, 3))
    gv = one @ a.T + a.T @ one
    onp.testing.assert_allclose(g.asnumpy(), gv, rtol=1e-10)
    want = 2 * (gv.T @ one + one @ gv.T)
    onp.testing.assert_allclose(A.grad.asnumpy(), want, rtol=1e-10)


def test_einsum_second_order():
    a = rand(3, 3)
    A = np.array(a)
    A.attach_grad()
    with mx.autograd.record():
        y = np.einsum("ij,jk->", A, A)
        g = mx.autograd.grad(y, A, create_graph=True)
        z = (g * g).sum()
    z.backward()
    one = onp.ones((3, 3))
    gv = one @ a.T + a.T @ one
    onp.testing.assert_allclose(A.grad.asnumpy(), 2 * (gv.T @ one + one @ gv.T), rtol=1e-10)


@pytest.mark.parametrize("ord", [None, 2, 1, 0, 3])
def test_norm_vector(ord):
    v = rand(7)
    close(np.linalg.norm(np.array(v), ord), onp.linalg.norm(v, ord))
    m = rand(3, 4)
    close(np.linalg.norm(np.array(m), ord, axis=1), onp.linalg.norm(m, ord, axis=1))
    close(np.linalg.norm(np.array(m), ord, axis=0, keepdims=True), onp.linalg.norm(m, ord, axis=0, keepdims=True))


def test_norm_matrix_and_default():
    m = rand(3, 4)
    close(np.linalg.norm(np.array(m)), onp.linalg.norm(m))
    close(np.linalg.norm(np.array(m), "fro"), onp.linalg.norm(m, "fro"))
    close(np.linalg.norm(np.array(m), keepdims=True), onp.linalg.norm(m, keepdims=True))
    x = rand(2, 3, 4)
    close(np.linalg.norm(np.array(x), axis=(1, 2)), onp.linalg.norm(x, axis=(1, 2)))
    close(np.linalg.norm(np.array(x)), onp.linalg.norm(x))
    i = rand(5, dtype="int32")
    got = np.linalg.norm(np.array(i, dtype="int32"))
    assert got.dtype == onp.float32
    onp.testing.assert_allclose(got.asnumpy(), onp.linalg.norm(i), rtol=1e-5)
    check_grad(lambda t: np.linalg.norm(t, axis=1), [rand(3, 4)])


@pytest.mark.skipif(not hasattr(mx.np, "max"), reason="mx.np.max not available yet")
def test_norm_inf():
    v, m = rand(6), rand(3, 4)
    for o in [onp.inf, -onp.inf]:
        close(np.linalg.norm(np.array(v), o), onp.linalg.norm(v, o))
    for o in [1, -1, onp.inf, -onp.inf]:
        close(np.linalg.norm(np.array(m), o), onp.linalg.norm(m, o))
        close(np.linalg.norm(np.array(m), o, keepdims=True), onp.linalg.norm(m, o, keepdims=True))


def test_norm_errors():
    with pytest.raises(ValueError, match="norm"):
        np.linalg.norm(np.ones((2, 3)), "nuc")
    with pytest.raises(ValueError, match="norm"):
        np.linalg.norm(np.ones((2, 3, 4)), 1)
