"""npx.sequence_mask / sequence_last / sequence_reverse and mx.nd.SequenceMask / SequenceLast /
SequenceReverse against NumPy references: both time axes, with and without lengths, lengths of 0
and T (and outside [0, T], which are clamped), float lengths (truncated), dtypes, gradients
against finite differences, and errors."""
import numpy as onp
import pytest

import mxgluon as mx
from gradcheck import check_grad
from mxgluon.numpy.multiarray import invoke

np = mx.np
npx = mx.npx


# --- NumPy references (MXNet's kernels: lengths truncated toward zero) --------------------------

def _clamped(lens, t):
    return [min(max(int(v), 0), t) for v in lens]


def ref_mask(x, lens, value=0.0, axis=0):
    out = x.copy()
    if lens is None:
        return out
    for b, n in enumerate(_clamped(lens, x.shape[axis])):
        if axis == 0:
            out[n:, b] = value
        else:
            out[b, n:] = value
    return out


def ref_last(x, lens, axis=0):
    xt = onp.moveaxis(x, axis, 0) if axis else x  # (T, N, ...)
    t, n = xt.shape[:2]
    steps = [t - 1] * n if lens is None else [max(v, 1) - 1 for v in _clamped(lens, t)]
    return onp.stack([xt[s, b] for b, s in enumerate(steps)]) if n else onp.zeros((0,) + x.shape[2:], x.dtype)


def ref_reverse(x, lens):
    if lens is None:
        return x[::-1].copy()
    out = x.copy()
    for b, n in enumerate(_clamped(lens, x.shape[0])):
        out[:n, b] = x[:n, b][::-1]
    return out


def data(shape, dtype="float32", seed=0):
    """Small integers (exact in every dtype), distinct enough to tell steps apart."""
    r = onp.random.RandomState(seed)
    lo = 0 if dtype == "uint8" else -20
    return r.randint(lo, 20, size=shape).astype("float32" if dtype == "bfloat16" else dtype)


def arr(x, dtype=None):
    return np.array(x, dtype=dtype)


def host(a):
    return a.astype("float32").asnumpy() if a.dtype == "bfloat16" else a.asnumpy()


SHAPES = [(5, 3), (5, 3, 4), (4, 3, 2, 2), (1, 2, 3)]


def lengths_for(shape, axis):
    t, n = (shape[0], shape[1]) if axis == 0 else (shape[1], shape[0])
    return [[0, t, max(t - 2, 1)][b % 3] for b in range(n)]


# --- forward ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("value", [0.0, -1.5, 7.0])
def test_sequence_mask_matches_numpy(shape, axis, value):
    x = data(shape)
    lens = lengths_for(shape, axis)
    got = npx.sequence_mask(arr(x), arr(lens), use_sequence_length=True, value=value, axis=axis)
    assert isinstance(got, np.ndarray) and got.dtype == onp.float32
    onp.testing.assert_array_equal(got.asnumpy(), ref_mask(x, lens, value, axis))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("axis", [0, 1])
def test_sequence_last_matches_numpy(shape, axis):
    x = data(shape)
    lens = lengths_for(shape, axis)
    got = npx.sequence_last(arr(x), arr(lens), use_sequence_length=True, axis=axis)
    want = ref_last(x, lens, axis)
    assert got.shape == want.shape == (shape[1 - axis],) + shape[2:]
    onp.testing.assert_array_equal(got.asnumpy(), want)
    onp.testing.assert_array_equal(npx.sequence_last(arr(x), axis=axis).asnumpy(), ref_last(x, None, axis))


@pytest.mark.parametrize("shape", SHAPES)
def test_sequence_reverse_matches_numpy(shape):
    x = data(shape)
    lens = lengths_for(shape, 0)
    got = npx.sequence_reverse(arr(x), arr(lens), use_sequence_length=True)
    onp.testing.assert_array_equal(got.asnumpy(), ref_reverse(x, lens))
    onp.testing.assert_array_equal(npx.sequence_reverse(arr(x)).asnumpy(), x[::-1])


def test_mxnet_doc_example():
    # SequenceMask's documented example: x (3, 2, 3), lengths [2, 3], value 1.
    x = onp.arange(1, 19, dtype="float32").reshape(3, 2, 3)
    got = npx.sequence_mask(arr(x), arr([2, 3]), use_sequence_length=True, value=1).asnumpy()
    want = x.copy()
    want[2, 0] = 1
    onp.testing.assert_array_equal(got, want)
    onp.testing.assert_array_equal(npx.sequence_mask(arr(x), arr([1, 1]), use_sequence_length=True).asnumpy()[1:], 0)
    last = npx.sequence_last(arr(x), arr([1, 3]), use_sequence_length=True).asnumpy()
    onp.testing.assert_array_equal(last, [[1, 2, 3], [16, 17, 18]])
    rev = npx.sequence_reverse(arr(x), arr([2, 3]), use_sequence_length=True).asnumpy()
    onp.testing.assert_array_equal(rev[:, 0], [[7, 8, 9], [1, 2, 3], [13, 14, 15]])
    onp.testing.assert_array_equal(rev[:, 1], x[::-1, 1])


def test_without_lengths_sequence_length_is_ignored_and_mask_copies():
    x = data((4, 3, 2))
    a = arr(x)
    for lens in (None, arr([1, 1, 1])):
        m = npx.sequence_mask(a, lens, value=5.0)  # use_sequence_length=False: the identity
        onp.testing.assert_array_equal(m.asnumpy(), x)
        onp.testing.assert_array_equal(npx.sequence_last(a, lens).asnumpy(), x[-1])
        onp.testing.assert_array_equal(npx.sequence_reverse(a, lens).asnumpy(), x[::-1])
    m[:] = 0  # a new array, not a view of the input
    onp.testing.assert_array_equal(a.asnumpy(), x)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64", "uint8", "int8", "int32", "int64"])
@pytest.mark.parametrize("ldtype", ["int32", "int64", "float32", "same"])
def test_dtypes(dtype, ldtype):
    x = data((5, 4, 3), dtype)
    lens = [0, 5, 3, 1]
    la = arr(onp.array(lens), dtype=dtype if ldtype == "same" else ldtype)
    a = arr(x, dtype=dtype)
    m = npx.sequence_mask(a, la, use_sequence_length=True, value=3)
    assert m.dtype == a.dtype
    onp.testing.assert_array_equal(host(m), ref_mask(x, lens, 3))
    lb = npx.sequence_mask(a.transpose((1, 0, 2)), la, use_sequence_length=True, axis=1)
    onp.testing.assert_array_equal(host(lb), ref_mask(x.transpose(1, 0, 2), lens, 0, 1))
    last = npx.sequence_last(a, la, use_sequence_length=True)
    assert last.dtype == a.dtype
    onp.testing.assert_array_equal(host(last), ref_last(x, lens))
    rev = npx.sequence_reverse(a, la, use_sequence_length=True)
    assert rev.dtype == a.dtype
    onp.testing.assert_array_equal(host(rev), ref_reverse(x, lens))


def test_float_lengths_truncate_and_out_of_range_lengths_clamp():
    x = data((4, 5, 2))
    lens = [2.9, 0.5, 7, -3, 4]  # -> 2, 0, 4 (clamped), 0 (clamped), 4
    la = arr(onp.array(lens, dtype="float32"))
    onp.testing.assert_array_equal(npx.sequence_mask(arr(x), la, use_sequence_length=True).asnumpy(),
                                   ref_mask(x, lens))
    last = npx.sequence_last(arr(x), la, use_sequence_length=True).asnumpy()
    onp.testing.assert_array_equal(last, ref_last(x, lens))
    onp.testing.assert_array_equal(last[1], x[0, 1])  # a length of 0 reads step 0
    onp.testing.assert_array_equal(npx.sequence_reverse(arr(x), la, use_sequence_length=True).asnumpy(),
                                   ref_reverse(x, lens))


def test_non_contiguous_data_and_list_lengths():
    x = data((3, 6, 4))
    view = arr(x)[:, ::2, 1:]  # (3, 3, 3), strided
    xv = x[:, ::2, 1:]
    onp.testing.assert_array_equal(npx.sequence_mask(view, [1, 2, 3], use_sequence_length=True, axis=0).asnumpy(),
                                   ref_mask(xv, [1, 2, 3]))
    onp.testing.assert_array_equal(npx.sequence_last(view, [1, 2, 3], use_sequence_length=True, axis=1).asnumpy(),
                                   ref_last(xv, [1, 2, 3], 1))


def test_empty_batch():
    x = onp.zeros((3, 0, 2), "float32")
    assert npx.sequence_mask(arr(x), arr(onp.zeros(0, "int32")), use_sequence_length=True).shape == (3, 0, 2)
    assert npx.sequence_last(arr(x), arr(onp.zeros(0, "int32")), use_sequence_length=True).shape == (0, 2)
    assert npx.sequence_reverse(arr(x), arr(onp.zeros(0, "int32")), use_sequence_length=True).shape == (3, 0, 2)


def test_nd_names():
    x = data((4, 3, 2))
    a = mx.nd.array(x)
    lens = mx.nd.array([1, 4, 2])
    m = mx.nd.SequenceMask(a, lens, use_sequence_length=True, value=-1)
    assert isinstance(m, mx.nd.NDArray)
    onp.testing.assert_array_equal(m.asnumpy(), ref_mask(x, [1, 4, 2], -1))
    last = mx.nd.SequenceLast(a, sequence_length=lens, use_sequence_length=True)
    assert isinstance(last, mx.nd.NDArray)
    onp.testing.assert_array_equal(last.asnumpy(), ref_last(x, [1, 4, 2]))
    rev = mx.nd.SequenceReverse(data=a, sequence_length=lens, use_sequence_length=True)
    onp.testing.assert_array_equal(rev.asnumpy(), ref_reverse(x, [1, 4, 2]))
    out = mx.nd.zeros((3, 4, 2))
    res = mx.nd.SequenceMask(a.transpose((1, 0, 2)), lens, use_sequence_length=True, axis=1, out=out)
    assert res is out
    onp.testing.assert_array_equal(out.asnumpy(), ref_mask(x.transpose(1, 0, 2), [1, 4, 2], 0, 1))


def test_hybrid_forward_with_F():
    class Last(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, x, lens):
            return F.SequenceLast(F.SequenceMask(x, lens, use_sequence_length=True), lens, use_sequence_length=True)

    x = data((4, 3, 2))
    out = Last()(mx.nd.array(x), mx.nd.array([1, 4, 2]))  # F is mx.nd
    assert isinstance(out, mx.nd.NDArray)
    onp.testing.assert_array_equal(out.asnumpy(), ref_last(x, [1, 4, 2]))


# --- gradients ----------------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("use_len", [True, False])
def test_sequence_mask_gradient(axis, use_len):
    x = onp.random.RandomState(1).randn(4, 3, 2)
    lens = [0, 4, 2] if axis == 0 else [1, 3, 4, 0]
    if axis == 1:
        x = onp.random.RandomState(1).randn(4, 5, 2)
    check_grad(lambda a: npx.sequence_mask(a, arr(lens) if use_len else None, use_sequence_length=use_len,
                                           value=3.0, axis=axis) * a, [x])


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("use_len", [True, False])
def test_sequence_last_gradient(axis, use_len):
    x = onp.random.RandomState(2).randn(4, 3, 2)
    lens = [0, 4, 2] if axis == 0 else [1, 3, 4, 0]
    if axis == 1:
        x = onp.random.RandomState(2).randn(4, 5, 2)
    check_grad(lambda a: npx.sequence_last(a * a, arr(lens) if use_len else None, use_sequence_length=use_len,
                                           axis=axis), [x])


@pytest.mark.parametrize("use_len", [True, False])
def test_sequence_reverse_gradient(use_len):
    x = onp.random.RandomState(3).randn(4, 3, 2)
    lens = [0, 4, 3]
    check_grad(lambda a: npx.sequence_reverse(a * a, arr(lens) if use_len else None, use_sequence_length=use_len),
               [x])


@pytest.mark.parametrize("axis", [0, 1])
def test_sequence_last_grad_op_and_its_gradient(axis):
    # The registered gradient op scatters (N, ...) into zeros of the data's shape; its own gradient
    # is sequence_last again (used by higher-order gradients).
    shape = (4, 3, 2) if axis == 0 else (3, 4, 2)
    lens = arr([0, 4, 2])
    g = onp.random.RandomState(4).randn(3, 2)
    out = invoke("sequence_last_grad", [arr(g), lens], use_sequence_length=True, axis=axis, shape=shape).asnumpy()
    want = onp.zeros(shape)
    for b, s in enumerate([0, 3, 1]):
        if axis == 0:
            want[s, b] = g[b]
        else:
            want[b, s] = g[b]
    onp.testing.assert_allclose(out, want)
    check_grad(lambda a: invoke("sequence_last_grad", [a * a, lens], use_sequence_length=True, axis=axis,
                                shape=shape), [g])


def test_second_order_through_sequence_ops():
    x = arr(onp.random.RandomState(5).randn(3, 2, 2), dtype="float64")
    lens = arr([1, 3])
    x.attach_grad()
    with mx.autograd.record():
        y = npx.sequence_last(npx.sequence_reverse(x * x * x, lens, use_sequence_length=True), lens,
                              use_sequence_length=True)
        (gx,) = mx.autograd.grad(y.sum(), [x], create_graph=True)
        z = (gx * gx).sum()
    z.backward()
    xn = x.asnumpy()
    # y picks reversed step len-1, i.e. original step 0: dy/dx = 3x^2 at step 0; z = sum 9x^4 there.
    want = onp.zeros_like(xn)
    want[0] = 36 * xn[0] ** 3
    onp.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-12)


def test_no_gradient_to_lengths():
    x = arr(onp.ones((3, 2)), dtype="float64")
    lens = arr([1.0, 2.0], dtype="float64")
    x.attach_grad()
    lens.attach_grad()
    with mx.autograd.record():
        y = (npx.sequence_mask(x, lens, use_sequence_length=True) * 2).sum()
    y.backward()
    onp.testing.assert_array_equal(x.grad.asnumpy(), [[2, 2], [0, 2], [0, 0]])
    onp.testing.assert_array_equal(lens.grad.asnumpy(), [0, 0])


# --- errors -------------------------------------------------------------------------------------

def test_errors_name_the_op_and_shapes():
    x = arr(onp.zeros((4, 3, 2), "float32"))
    with pytest.raises(ValueError, match=r"sequence_mask: sequence_length of shape \(4,\) does not fit data of "
                                         r"shape \(4, 3, 2\) with axis=0: it must have shape \(3,\)"):
        npx.sequence_mask(x, arr([1, 2, 3, 4]), use_sequence_length=True)
    with pytest.raises(ValueError, match=r"sequence_last: sequence_length of shape \(3,\).*must have shape \(4,\)"):
        npx.sequence_last(x, arr([1, 2, 3]), use_sequence_length=True, axis=1)
    with pytest.raises(ValueError, match=r"sequence_reverse: sequence_length of shape \(3, 1\)"):
        npx.sequence_reverse(x, arr([[1], [2], [3]]), use_sequence_length=True)
    with pytest.raises(ValueError, match="sequence_mask: axis=2 is not supported"):
        npx.sequence_mask(x, arr([1, 2, 3]), use_sequence_length=True, axis=2)
    with pytest.raises(ValueError, match="sequence_last: axis=-1 is not supported"):
        npx.sequence_last(x, axis=-1)
    with pytest.raises(ValueError, match="sequence_reverse: axis=1 is not supported: the time axis must be 0"):
        npx.sequence_reverse(x, axis=1)
    with pytest.raises(ValueError, match=r"rank 2 or greater.*shape \(4,\)"):
        npx.sequence_mask(arr(onp.zeros(4, "float32")))
    with pytest.raises(ValueError, match="use_sequence_length=True needs the sequence_length"):
        npx.sequence_last(x, use_sequence_length=True)
    with pytest.raises(ValueError, match="sequence_last: data of shape \\(0, 3, 2\\) has no steps"):
        npx.sequence_last(arr(onp.zeros((0, 3, 2), "float32")))
    with pytest.raises(ValueError, match="SequenceMask|sequence_mask"):
        mx.nd.SequenceMask(mx.nd.zeros((4, 3)), mx.nd.array([1, 2]), use_sequence_length=True)
