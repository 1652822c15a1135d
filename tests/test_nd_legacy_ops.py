"""mx.nd's MXNet 1.x operators (slicing, indexing, sorting, reductions, softmax family, ...): values
against NumPy, gradients against finite differences, 1.x argument names and defaults, clear errors."""
import numpy as onp
import pytest

import mxgluon as mx
from gradcheck import check_grad

nd = mx.nd
RS = onp.random.RandomState(7)


def rand(*shape, lo=-2.0, hi=2.0):
    return RS.uniform(lo, hi, shape).astype("float32")


def eq(x, want, **kw):
    assert isinstance(x, nd.NDArray), type(x)
    onp.testing.assert_allclose(x.asnumpy(), want, **kw)


# ---------------------------------------------------------------------------------------------
# Slicing, joining, layout


def test_split_and_slice_channel():
    a = rand(2, 6, 3)
    parts = nd.split(nd.array(a), num_outputs=3)  # 1.x default axis=1
    assert isinstance(parts, list) and len(parts) == 3
    for p, w in zip(parts, onp.split(a, 3, axis=1)):
        eq(p, w)
    sq = nd.SliceChannel(nd.array(a), num_outputs=3, axis=2, squeeze_axis=True)
    for i, p in enumerate(sq):
        eq(p, a[:, :, i])
    one = nd.split(nd.array(a), num_outputs=1, axis=0)
    assert isinstance(one, nd.NDArray)
    eq(one, a)
    assert [p.shape for p in nd.array(a).split(num_outputs=2, axis=1)] == [(2, 3, 3)] * 2
    with pytest.raises(mx.base.MXNetError, match="split: .*equal division"):
        nd.split(nd.array(a), num_outputs=4, axis=1)
    check_grad(lambda x: nd.concat(*nd.split(x, num_outputs=2, axis=1)[::-1], dim=1), [a])


def test_slice_axis_and_slice():
    a = rand(3, 5)
    x = nd.array(a)
    eq(nd.slice_axis(x, axis=1, begin=1, end=3), a[:, 1:3])
    eq(nd.slice_axis(x, axis=-1, begin=-2, end=None), a[:, -2:])
    eq(x.slice_axis(axis=0, begin=0, end=-1), a[:-1])
    eq(nd.slice(x, begin=(1, None), end=(3, None)), a[1:3])
    eq(nd.slice(x, begin=(None, 4), end=(None, 0), step=(1, -2)), a[:, 4:0:-2])
    eq(nd.slice(x, begin=(2,), end=(0,), step=(-1,)), a[2:0:-1])
    with pytest.raises(ValueError, match="slice_axis: begin 3 and end 1"):
        nd.slice_axis(x, axis=1, begin=3, end=1)
    with pytest.raises(ValueError, match="slice_axis: axis 2 is out of range"):
        nd.slice_axis(x, axis=2, begin=0, end=1)
    with pytest.raises(ValueError, match="slice: .*empty"):
        nd.slice(x, begin=(2,), end=(1,))
    with pytest.raises(ValueError, match="slice: step"):
        nd.slice(x, begin=(0,), end=(1,), step=(0,))
    check_grad(lambda v: nd.slice_axis(v, axis=1, begin=1, end=4), [a])
    check_grad(lambda v: nd.slice(v, begin=(None, 4), end=(None, 0), step=(1, -2)), [a])


def test_slice_like_reshape_like_broadcast_axis():
    a = rand(4, 5, 6)
    eq(nd.slice_like(nd.array(a), nd.zeros((2, 3, 4)), axes=(0, -1)), a[:2, :, :4])
    eq(nd.slice_like(nd.array(a), nd.zeros((2, 3, 4))), a[:2, :3, :4])
    with pytest.raises(ValueError, match="slice_like"):
        nd.slice_like(nd.zeros((2, 2)), nd.zeros((3, 1)))
    b = rand(2, 6)
    eq(nd.reshape_like(nd.array(b), nd.zeros((3, 4))), b.reshape(3, 4))
    r = nd.reshape_like(nd.array(b), nd.zeros((2, 3, 4)), lhs_begin=1, lhs_end=2, rhs_begin=0, rhs_end=2)
    eq(r, b.reshape(2, 2, 3))
    with pytest.raises(ValueError, match="reshape_like: cannot reshape"):
        nd.reshape_like(nd.array(b), nd.zeros((5,)))
    c = rand(2, 1, 1)
    eq(nd.broadcast_axis(nd.array(c), axis=(1, 2), size=(3, 4)), onp.broadcast_to(c, (2, 3, 4)))
    eq(nd.broadcast_axes(nd.array(c), axis=1, size=5), onp.broadcast_to(c, (2, 5, 1)))
    with pytest.raises(ValueError, match="broadcast_axis: axis 0 .* has size 2, not 1"):
        nd.broadcast_axis(nd.array(c), axis=0, size=3)
    check_grad(lambda v: nd.broadcast_axis(v, axis=(1, 2), size=(3, 2)), [c])


def test_logical_ops_give_numbers_in_the_input_dtype():
    a = onp.array([[0.0, 1.0, 2.0], [3.0, 0.0, -1.0]], dtype="float32")
    b = onp.array([[0.0], [1.0]], dtype="float32")
    for name, f in (("and", onp.logical_and), ("or", onp.logical_or), ("xor", onp.logical_xor)):
        r = getattr(nd, f"broadcast_logical_{name}")(nd.array(a), nd.array(b))
        assert r.dtype == onp.float32
        eq(r, f(a, b).astype("float32"))
    r = nd.logical_not(nd.array([0, 2, -1], dtype="int32"))
    assert r.dtype == onp.int32
    eq(r, [1, 0, 0])


def test_stack_tile_repeat_flip():
    a, b = rand(2, 3), rand(2, 3)
    eq(nd.stack(nd.array(a), nd.array(b)), onp.stack([a, b]))
    eq(nd.stack(nd.array(a), nd.array(b), axis=2), onp.stack([a, b], axis=2))
    eq(nd.tile(nd.array(a), reps=(2, 1, 2)), onp.tile(a, (2, 1, 2)))
    eq(nd.repeat(nd.array(a), repeats=2), onp.repeat(a, 2))
    eq(nd.array(a).repeat(repeats=3, axis=1), onp.repeat(a, 3, axis=1))
    eq(nd.flip(nd.array(a), axis=1), a[:, ::-1])
    eq(nd.reverse(nd.array(a), axis=(0, 1)), a[::-1, ::-1])
    check_grad(lambda x, y: nd.stack(x, y, axis=1), [a, b])
    check_grad(lambda x: nd.tile(x, reps=(2, 2)), [a])
    check_grad(lambda x: nd.repeat(x, repeats=2, axis=0), [a])
    check_grad(lambda x: nd.flip(x, axis=1), [a])


def test_where_same_shape_and_row_condition():
    a, b = rand(3, 2), rand(3, 2)
    cond = onp.array([[1, 0], [0, 2], [0, 0]], dtype="float32")
    eq(nd.where(nd.array(cond), nd.array(a), nd.array(b)), onp.where(cond != 0, a, b))
    rows = onp.array([0.0, 1.0, 0.0], dtype="float32")
    eq(nd.where(nd.array(rows), nd.array(a), nd.array(b)), onp.where(rows[:, None] != 0, a, b))
    with pytest.raises(ValueError, match="where: condition"):
        nd.where(nd.array([1, 0]), nd.array(a), nd.array(b))
    with pytest.raises(ValueError, match="where: x .* and y"):
        nd.where(nd.array(cond), nd.array(a), nd.array(b[:2]))
    check_grad(lambda x, y: nd.where(nd.array(cond), x, y), [a, b])


# ---------------------------------------------------------------------------------------------
# Indexing


def test_take_modes_and_float_indices():
    a = rand(3, 4)
    x = nd.array(a)
    eq(nd.take(x, nd.array([0, 2, 1.7])), a[[0, 2, 1]])  # 1.x: axis=0, indices truncated
    eq(nd.take(x, nd.array([-1, 5])), a[[0, 2]])  # mode='clip'
    eq(nd.take(x, nd.array([-1, 5]), mode="wrap"), a[[2, 2]])
    eq(nd.take(x, nd.array([[3, 0]]), axis=1), onp.take(a, [[3, 0]], axis=1))
    eq(x.take(nd.array([1])), a[[1]])
    with pytest.raises(ValueError, match="take: mode 'nearest'"):
        nd.take(x, nd.array([0]), mode="nearest")
    check_grad(lambda v: nd.take(v, nd.array([0, 2, 0])), [a])


def test_pick_batch_take_one_hot():
    a = rand(3, 4)
    idx = onp.array([1, 3, 0], dtype="float32")
    eq(nd.pick(nd.array(a), nd.array(idx)), a[onp.arange(3), [1, 3, 0]])
    eq(nd.pick(nd.array(a), nd.array([-1, 9, 2])), a[onp.arange(3), [0, 3, 2]])  # clipped
    eq(nd.pick(nd.array(a), nd.array([0, 1, 2, 0]), axis=0, keepdims=True), a[[0, 1, 2, 0], onp.arange(4)][None])
    eq(nd.batch_take(nd.array(a), nd.array([2, 7, -1], dtype="int32")), a[onp.arange(3), [2, 3, 0]])
    eq(nd.one_hot(nd.array([1, 0, 5]), 3), [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    r = nd.one_hot(nd.array([2]), depth=3, on_value=5, off_value=-1, dtype="int32")
    assert r.dtype == onp.int32
    eq(r, [[-1, -1, 5]])
    check_grad(lambda v: nd.pick(v, nd.array(idx), axis=1), [a])


def test_gather_nd():
    a = rand(3, 4, 2)
    idx = onp.array([[1, 0, 2], [3, 0, -1]], dtype="float32")
    want = a[idx[0].astype(int), idx[1].astype(int)]
    eq(nd.gather_nd(nd.array(a), nd.array(idx)), want)
    eq(nd.gather_nd(nd.array(a), nd.array([[2, 0]])), a[[2, 0]])
    with pytest.raises(ValueError, match="gather_nd"):
        nd.gather_nd(nd.array(a), nd.zeros((4, 1)))
    check_grad(lambda v: nd.gather_nd(v, nd.array([[1, 1, 0], [2, 2, 3]])), [a])


# ---------------------------------------------------------------------------------------------
# Sorting and arg-reductions


def test_sort_argsort_topk():
    a = rand(3, 5)
    x = nd.array(a)
    eq(nd.sort(x), onp.sort(a, axis=-1))
    eq(nd.sort(x, axis=0, is_ascend=False), -onp.sort(-a, axis=0))
    eq(nd.sort(x, axis=None), onp.sort(a, axis=None))
    r = nd.argsort(x)
    assert r.dtype == onp.float32
    eq(r, onp.argsort(a, axis=-1))
    assert nd.argsort(x, dtype="int64").dtype == onp.int64
    eq(x.argsort(is_ascend=False), onp.argsort(-a, axis=-1))
    top = nd.topk(x, k=2)
    assert top.dtype == onp.float32
    eq(top, onp.argsort(-a, axis=-1)[:, :2])
    vals, inds = nd.topk(x, k=2, ret_typ="both", is_ascend=True, axis=0)
    eq(vals, onp.sort(a, axis=0)[:2])
    eq(inds, onp.argsort(a, axis=0)[:2])
    check_grad(lambda v: nd.sort(v, axis=1), [a])
    check_grad(lambda v: nd.topk(v, k=2, ret_typ="value"), [a])


def test_argmax_argmin_are_float32_and_full_reductions_have_shape_1():
    a = rand(3, 4)
    x = nd.array(a)
    r = nd.argmax(x, axis=1)
    assert r.dtype == onp.float32
    eq(r, onp.argmax(a, axis=1))
    eq(nd.argmin(x, axis=0, keepdims=True), onp.argmin(a, axis=0)[None])
    full = nd.argmax(x)
    assert full.shape == (1,) and full.asscalar() == onp.argmax(a)
    eq(nd.argmax_channel(x), onp.argmax(a, axis=1))
    eq(nd.argmax_channel(nd.array(rand(2, 3, 4))).reshape((-1,)).astype("int64") * 0, onp.zeros(8))
    assert nd.argmax_channel(nd.zeros((2, 3, 4))).shape == (2, 4)
    assert x.argmax(axis=1).dtype == onp.float32 and x.argmin().shape == (1,)


# ---------------------------------------------------------------------------------------------
# Reductions


def test_prod_nansum_nanprod_with_axis_keepdims_exclude():
    a = rand(2, 3, 4, lo=0.5, hi=1.5)
    x = nd.array(a)
    eq(nd.prod(x), [a.prod()], rtol=1e-5)
    eq(nd.prod(x, axis=1), a.prod(axis=1), rtol=1e-6)
    eq(nd.prod(x, axis=(0, 2), keepdims=True), a.prod(axis=(0, 2), keepdims=True), rtol=1e-6)
    eq(nd.prod(x, axis=1, exclude=True), a.prod(axis=(0, 2)), rtol=1e-6)
    n = a.copy()
    n[0, 1, 2] = onp.nan
    eq(nd.nansum(nd.array(n), axis=2), onp.nansum(n, axis=2), rtol=1e-6)
    eq(nd.nanprod(nd.array(n)), [onp.nanprod(n)], rtol=1e-5)
    eq(nd.sum_axis(x, axis=0), a.sum(axis=0), rtol=1e-6)
    eq(nd.max_axis(x, axis=2), a.max(axis=2))
    eq(nd.min_axis(x, axis=1, exclude=True), a.min(axis=(0, 2)))
    check_grad(lambda v: nd.prod(v, axis=2), [a])
    check_grad(lambda v: nd.nansum(v, axis=0, keepdims=True), [a])


def test_norm_and_moments():
    a = rand(2, 3, 4)
    x = nd.array(a)
    eq(nd.norm(x), [onp.sqrt((a * a).sum())], rtol=1e-6)
    assert nd.norm(x).shape == (1,)
    eq(nd.norm(x, axis=1), onp.sqrt((a * a).sum(axis=1)), rtol=1e-6)
    eq(nd.norm(x, ord=1, axis=(0, 2), keepdims=True), onp.abs(a).sum(axis=(0, 2), keepdims=True), rtol=1e-6)
    assert nd.norm(x, out_dtype="float64").dtype == onp.float64
    eq(x.norm(), [onp.sqrt((a * a).sum())], rtol=1e-6)
    with pytest.raises(ValueError, match="norm: ord must be 1 or 2"):
        nd.norm(x, ord=3)
    mean, var = nd.moments(x, axes=(0, 2))
    eq(mean, a.mean(axis=(0, 2)), rtol=1e-6)
    eq(var, a.var(axis=(0, 2)), rtol=1e-5)
    mean, var = nd.moments(x, axes=1, keepdims=True)
    assert mean.shape == (2, 1, 4) == var.shape
    check_grad(lambda v: nd.norm(v, axis=1), [a])
    check_grad(lambda v: nd.norm(v, ord=1, axis=(0, 2)), [a])
    check_grad(lambda v: nd.moments(v, axes=(1,))[1], [a])


# ---------------------------------------------------------------------------------------------
# Products, sums, diagonals, shapes, layout


def test_batch_dot_with_transposes():
    a, b = rand(2, 3, 4), rand(2, 4, 5)
    eq(nd.batch_dot(nd.array(a), nd.array(b)), a @ b, rtol=1e-5)
    at, bt = a.transpose(0, 2, 1).copy(), b.transpose(0, 2, 1).copy()
    eq(nd.batch_dot(nd.array(at), nd.array(bt), transpose_a=True, transpose_b=True), a @ b, rtol=1e-5)
    with pytest.raises(mx.base.MXNetError, match="batch_dot"):
        nd.batch_dot(nd.array(a), nd.array(a))
    check_grad(lambda x, y: nd.batch_dot(x, y, transpose_b=True), [a, rand(2, 5, 4)])


def test_add_n_diag_shape_size():
    a, b, c = rand(2, 3), rand(2, 3), rand(2, 3)
    eq(nd.add_n(nd.array(a), nd.array(b), nd.array(c)), a + b + c, rtol=1e-6)
    eq(nd.ElementWiseSum(*[nd.array(a)]), a)
    with pytest.raises(ValueError, match="add_n: the shapes must be equal"):
        nd.add_n(nd.array(a), nd.zeros((3, 2)))
    v = rand(3)
    eq(nd.diag(nd.array(v)), onp.diag(v))
    eq(nd.diag(nd.array(v), k=1), onp.diag(v, k=1))
    eq(nd.diag(nd.array(v), k=-2), onp.diag(v, k=-2))
    m = rand(3, 4)
    eq(nd.diag(nd.array(m), k=1), onp.diag(m, k=1))
    t = rand(2, 3, 3)
    eq(nd.diag(nd.array(t), axis1=1, axis2=2), onp.diagonal(t, axis1=1, axis2=2))
    s = nd.shape_array(nd.zeros((2, 3, 4)))
    assert s.dtype == onp.int64
    eq(s, [2, 3, 4])
    eq(nd.size_array(nd.zeros((2, 3, 4))), [24])
    check_grad(lambda x: nd.diag(x, k=-1), [v])
    check_grad(lambda x, y: nd.add_n(x, y), [a, b])


def test_depth_to_space_and_space_to_depth():
    b = 2
    a = rand(1, 8, 2, 3)
    n, c, h, w = a.shape
    want = a.reshape(n, b, b, c // 4, h, w).transpose(0, 3, 4, 1, 5, 2).reshape(n, c // 4, h * b, w * b)
    d2s = nd.depth_to_space(nd.array(a), b)
    eq(d2s, want)
    eq(nd.space_to_depth(d2s, b), a)
    # MXNet's documented example
    x = nd.arange(8).reshape((1, 1, 2, 4))
    eq(nd.space_to_depth(x, 2), onp.array([[[[0, 2]], [[1, 3]], [[4, 6]], [[5, 7]]]]))
    with pytest.raises(ValueError, match="depth_to_space: channels 6 of shape .* not a multiple of 4"):
        nd.depth_to_space(nd.zeros((1, 6, 2, 2)), 2)
    with pytest.raises(ValueError, match="space_to_depth: data must be 4-D"):
        nd.space_to_depth(nd.zeros((2, 2)), 2)
    check_grad(lambda v: nd.depth_to_space(v, 2), [rand(1, 4, 1, 2)])


def test_eye_linspace_identity_concat_swapaxis():
    eq(nd.eye(2, 3, 1), onp.eye(2, 3, 1))
    assert nd.eye(3).dtype == onp.float32 and nd.eye(3).shape == (3, 3)
    eq(nd.linspace(0, 1, 5), onp.linspace(0, 1, 5))
    a = rand(2, 3)
    c = nd.identity(nd.array(a))
    eq(c, a)
    eq(nd.Concat(nd.array(a), nd.array(a), dim=0), onp.concatenate([a, a]))
    eq(nd.SwapAxis(nd.array(a), dim1=0, dim2=1), a.T)


# ---------------------------------------------------------------------------------------------
# Softmax family


def _softmax(a, axis=-1):
    e = onp.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_log_softmax_softmin():
    a = rand(2, 3, 4)
    x = nd.array(a)
    eq(nd.softmax(x), _softmax(a), rtol=1e-5)
    eq(nd.softmax(x, axis=1, temperature=2.0), _softmax(a / 2, axis=1), rtol=1e-5)
    eq(nd.log_softmax(x, axis=0), onp.log(_softmax(a, axis=0)), rtol=1e-5, atol=1e-6)
    eq(nd.softmin(x), _softmax(-a), rtol=1e-5)
    length = nd.array([[1, 4, 2], [3, 3, 0]], dtype="int32")
    masked = nd.softmax(x, length, axis=-1, use_length=True).asnumpy()
    onp.testing.assert_allclose(masked[0, 0, :1], [1.0])
    onp.testing.assert_allclose(masked[0, 0, 1:], 0.0)
    onp.testing.assert_allclose(masked[1, 0, :3], _softmax(a[1, 0, :3]), rtol=1e-5)
    check_grad(lambda v: nd.softmax(v, axis=1), [a])
    check_grad(lambda v: nd.log_softmax(v), [a])
    check_grad(lambda v: nd.softmin(v, temperature=0.5), [a])


def test_softmax_activation_modes():
    a = rand(2, 3, 2)
    eq(nd.SoftmaxActivation(nd.array(a)), _softmax(a.reshape(2, -1)).reshape(a.shape), rtol=1e-5)
    eq(nd.SoftmaxActivation(nd.array(a), mode="channel"), _softmax(a, axis=1), rtol=1e-5)
    with pytest.raises(ValueError, match="SoftmaxActivation: mode 'pixel'"):
        nd.SoftmaxActivation(nd.array(a), mode="pixel")
    check_grad(lambda v: nd.SoftmaxActivation(v), [a])


def _softmax_output_grad(prob, label, axis, grad_scale=1.0, ignore_label=-1.0, use_ignore=False,
                         normalization="null", smooth_alpha=0.0, multi_output=False):
    """MXNet's SoftmaxOutput gradient, written out in NumPy."""
    k = prob.shape[axis]
    lab = onp.moveaxis(onp.eye(k)[onp.clip(label.astype(int), 0, k - 1)] * ((label >= 0) & (label < k))[..., None],
                       -1, axis)
    if smooth_alpha and not multi_output:
        lab = lab * (1 - smooth_alpha) + (1 - lab) * smooth_alpha / (k - 1)
    g = prob - lab
    keep = (label != ignore_label).astype(prob.dtype)
    if use_ignore:
        g = g * onp.expand_dims(keep, axis)
    norm = {"batch": label.size, "valid": max(keep.sum(), 1.0),
            "null": label.size // label.shape[0] if multi_output else 1}[normalization]
    return g * grad_scale / norm


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(grad_scale=3.0, normalization="valid"),
    dict(use_ignore=True, normalization="batch", smooth_alpha=0.2),
    dict(multi_output=True),
    dict(multi_output=True, use_ignore=True, normalization="valid", grad_scale=2.0, smooth_alpha=0.1),
    dict(preserve_shape=True, use_ignore=True, normalization="batch", smooth_alpha=0.3),
])
def test_softmax_output_forward_and_fixed_gradient(kwargs):
    if kwargs.get("multi_output"):
        a, label, axis = rand(3, 4, 2), onp.array([[0, 3], [1, -1], [2, 2]], "float32"), 1
    elif kwargs.get("preserve_shape"):
        a, label, axis = rand(3, 2, 4), onp.array([[0, 3], [-1, 1], [2, 2]], "float32"), 2
    else:
        a, label, axis = rand(3, 5), onp.array([1, -1, 4], "float32"), 1
    x = nd.array(a)
    x.attach_grad()
    with mx.autograd.record():
        y = nd.SoftmaxOutput(x, nd.array(label), **kwargs)
        (y * nd.array(rand(*a.shape))).sum().backward()  # the head gradient is not used (out_grad=False)
    prob = _softmax(a, axis=axis)
    eq(y, prob, rtol=1e-5)
    opts = {k: v for k, v in kwargs.items() if k != "preserve_shape"}
    eq(x.grad, _softmax_output_grad(prob, label, axis, **opts), rtol=1e-5, atol=1e-7)


def test_softmax_output_flattens_and_checks_the_label():
    a = rand(2, 3, 2)
    eq(nd.SoftmaxOutput(nd.array(a), nd.array([0, 1])), _softmax(a.reshape(2, -1)).reshape(a.shape), rtol=1e-5)
    eq(nd.Softmax(nd.array(a), nd.array([0, 1])), _softmax(a.reshape(2, -1)).reshape(a.shape), rtol=1e-5)
    with pytest.raises(ValueError, match=r"SoftmaxOutput: label \(3,\) does not fit data \(2, 3, 2\)"):
        nd.SoftmaxOutput(nd.array(a), nd.array([0, 1, 2]))
    with pytest.raises(ValueError, match="SoftmaxOutput: normalization 'mean'"):
        nd.SoftmaxOutput(nd.array(a), nd.array([0, 1]), normalization="mean")
    x = nd.array(a.reshape(2, 6))
    x.attach_grad()
    head = rand(2, 6)
    with mx.autograd.record():
        y = nd.SoftmaxOutput(x, nd.array([5, 0]), out_grad=True)
    y.backward(nd.array(head))
    eq(x.grad, _softmax_output_grad(_softmax(a.reshape(2, 6)), onp.array([5.0, 0.0]), 1) * head, rtol=1e-5)


def test_softmax_cross_entropy():
    a = rand(3, 4)
    label = onp.array([1, 3, 0], dtype="float32")
    want = -onp.log(_softmax(a))[onp.arange(3), label.astype(int)].sum()
    r = nd.softmax_cross_entropy(nd.array(a), nd.array(label))
    assert r.shape == (1,)
    eq(r, [want], rtol=1e-5)
    check_grad(lambda v: nd.softmax_cross_entropy(v, nd.array(label)), [a])


# ---------------------------------------------------------------------------------------------
# Composed activations and normalisation


def test_l2_normalization_modes():
    a = rand(2, 3, 4)
    x = nd.array(a)
    for mode, axes in (("instance", (1, 2)), ("channel", (1,)), ("spatial", (2,))):
        want = a / onp.sqrt((a * a).sum(axis=axes, keepdims=True) + 1e-10)
        eq(nd.L2Normalization(x, mode=mode), want, rtol=1e-5)
    eq(nd.L2Normalization(nd.array([[3, 4], [6, 8]])), [[0.6, 0.8], [0.6, 0.8]], rtol=1e-6)
    with pytest.raises(ValueError, match="L2Normalization: mode 'batch'"):
        nd.L2Normalization(x, mode="batch")
    check_grad(lambda v: nd.L2Normalization(v, mode="channel"), [a])


def test_smooth_l1_hard_sigmoid_log_sigmoid_mish():
    a = onp.array([-2.0, -0.5, 0.1, 0.3, 3.0], dtype="float32")
    s = 1.5
    want = onp.where(onp.abs(a) < 1 / s**2, 0.5 * (s * a) ** 2, onp.abs(a) - 0.5 / s**2)
    eq(nd.smooth_l1(nd.array(a), scalar=s), want, rtol=1e-6)
    eq(nd.smooth_l1(nd.array([-2, -0.5, 0.1, 3]), scalar=1.5), [1.7777778, 0.2777778, 0.01125, 2.7777777],
       rtol=1e-6)  # MXNet 1.9.1's values
    eq(nd.hard_sigmoid(nd.array([-5, 0, 1, 5])), [0.0, 0.5, 0.7, 1.0], rtol=1e-6)
    eq(nd.hard_sigmoid(nd.array(a), alpha=0.3, beta=0.4), onp.clip(0.3 * a + 0.4, 0, 1), rtol=1e-6)
    eq(nd.log_sigmoid(nd.array(a)), -onp.log1p(onp.exp(-a)), rtol=1e-5)
    eq(nd.mish(nd.array(a)), a * onp.tanh(onp.log1p(onp.exp(a))), rtol=1e-5)
    b = onp.array([-2.0, -0.5, 0.1, 0.3, 3.0])  # away from the kinks
    check_grad(lambda v: nd.smooth_l1(v, scalar=s), [b])
    check_grad(lambda v: nd.hard_sigmoid(v), [b])
    check_grad(lambda v: nd.log_sigmoid(v), [b])
    check_grad(lambda v: nd.mish(v), [b])


def test_upsampling_nearest():
    a = rand(1, 2, 2, 3)
    want = a.repeat(2, axis=2).repeat(2, axis=3)
    eq(nd.UpSampling(nd.array(a), scale=2, sample_type="nearest"), want)
    small = rand(1, 1, 1, 1)
    both = nd.UpSampling(nd.array(rand(1, 1, 2, 2)), nd.array(small), scale=2, sample_type="nearest",
                         multi_input_mode="sum")
    assert both.shape == (1, 1, 4, 4)
    cat = nd.UpSampling(nd.array(a), nd.array(a), scale=3, sample_type="nearest", num_args=2)
    eq(cat, onp.concatenate([a.repeat(3, axis=2).repeat(3, axis=3)] * 2, axis=1))
    with pytest.raises(ValueError, match="UpSampling: sample_type 'bilinear' is not supported"):
        nd.UpSampling(nd.array(a), scale=2, sample_type="bilinear")
    check_grad(lambda v: nd.UpSampling(v, scale=2, sample_type="nearest"), [a])


# ---------------------------------------------------------------------------------------------
# Names and methods


def test_1x_names_exist_and_methods_follow_1x():
    for name in ("FullyConnected", "Convolution", "Pooling", "BatchNorm", "Activation", "LeakyReLU", "Dropout",
                 "Flatten", "Reshape", "Concat", "SliceChannel", "Embedding", "elemwise_add", "broadcast_power",
                 "broadcast_equal", "zeros_like", "ones_like", "arange", "expand_dims", "squeeze", "clip",
                 "transpose", "dot", "pad", "Pad"):
        assert callable(getattr(nd, name)), name
    a = rand(2, 3)
    x = nd.array(a)
    assert isinstance(x.slice_axis(axis=1, begin=0, end=1), nd.NDArray)
    eq(x.tile(reps=(2,)), onp.tile(a, 2))
    eq(x.flip(axis=0), a[::-1])
    eq(x.pick(nd.array([0, 2])), a[[0, 1], [0, 2]])
    eq(x.one_hot(3).reshape((2, 9)) * 0, onp.zeros((2, 9)))
    eq(x.topk(k=1), onp.argsort(-a, axis=-1)[:, :1])
    eq(x.sort(is_ascend=False), -onp.sort(-a))
    eq(x.prod(axis=0), a.prod(axis=0), rtol=1e-6)
    eq(x.reshape_like(nd.zeros((3, 2))), a.reshape(3, 2))
    eq(x.diag(), onp.diag(a))
