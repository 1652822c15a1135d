"""Convolution and Deconvolution ops (through the core's invoke) against direct NumPy references,
with finite-difference gradients."""
import numpy as onp
import pytest

import mxgluon as mx
from gradcheck import check_grad
from mxgluon.numpy.multiarray import invoke

np = mx.np
rng = onp.random.RandomState(11)
LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def close(a, b, tol=1e-10):
    onp.testing.assert_allclose(onp.asarray(a, dtype=onp.float64), b, rtol=tol, atol=tol)


def taps(kernel, dilate, stride, size):
    """Per tap, the strided slices (one per spatial axis) of the positions it touches."""
    for tap in onp.ndindex(*kernel):
        yield tap, tuple(slice(t * d, t * d + s * (n - 1) + 1, s) for t, d, s, n in zip(tap, dilate, stride, size))


def conv_ref(x, w, b, kernel, stride, dilate, pad, groups):
    """Direct convolution, NC* layout, float64: one strided window per kernel tap and group."""
    r = len(kernel)
    n, c = x.shape[:2]
    f = w.shape[0]
    xp = onp.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out = [(xp.shape[2 + a] - dilate[a] * (kernel[a] - 1) - 1) // stride[a] + 1 for a in range(r)]
    y = onp.zeros((n, f) + tuple(out))
    cg, fg = c // groups, f // groups
    for tap, sl in taps(kernel, dilate, stride, out):
        patch = xp[(slice(None), slice(None)) + sl]
        for g in range(groups):
            wg = w[(slice(g * fg, (g + 1) * fg), slice(None)) + tap]
            y[:, g * fg:(g + 1) * fg] += onp.einsum("nc...,fc->nf...", patch[:, g * cg:(g + 1) * cg], wg)
    if b is not None:
        y += b.reshape((1, f) + (1,) * r)
    return y


def deconv_pad_adj(sp, kernel, stride, dilate, pad, adj, target):
    if target and any(target):
        full = [(x - 1) * s + d * (k - 1) + 1 for x, k, s, d in zip(sp, kernel, stride, dilate)]
        return [(f - t + 1) // 2 for f, t in zip(full, target)], [(f - t) % 2 for f, t in zip(full, target)]
    return list(pad), list(adj)


def deconv_ref(z, w, b, kernel, stride, dilate, pad, adj, groups, target=None):
    """Direct transposed convolution, NC* layout: every input scattered through every tap."""
    r = len(kernel)
    n, cin = z.shape[:2]
    sp = z.shape[2:]
    pad, adj = deconv_pad_adj(sp, kernel, stride, dilate, pad, adj, target)
    fg = w.shape[1]
    nf, cg = fg * groups, cin // groups
    full = [(sp[a] - 1) * stride[a] + dilate[a] * (kernel[a] - 1) + 1 + adj[a] for a in range(r)]
    buf = onp.zeros((n, nf) + tuple(full))
    for tap, sl in taps(kernel, dilate, stride, sp):
        for g in range(groups):
            wg = w[(slice(g * cg, (g + 1) * cg), slice(None)) + tap]
            buf[(slice(None), slice(g * fg, (g + 1) * fg)) + sl] += onp.einsum(
                "nc...,cf->nf...", z[:, g * cg:(g + 1) * cg], wg)
    y = buf[(slice(None), slice(None)) + tuple(slice(p, f - p) for p, f in zip(pad, full))]
    if b is not None:
        y = y + b.reshape((1, nf) + (1,) * r)
    return y


def last(a):
    return onp.moveaxis(a, 1, -1)


def first(a):
    return onp.moveaxis(a, -1, 1)


# (n, c, f, groups, spatial, kernel, stride, dilate, pad)
CASES = [
    (2, 3, 4, 1, (6, 5), (3, 3), (1, 1), (1, 1), (1, 1)),
    (2, 4, 6, 2, (7, 6), (3, 2), (2, 1), (1, 2), (1, 0)),
    (2, 4, 4, 4, (6, 6), (3, 3), (2, 2), (1, 1), (1, 1)),  # depthwise
    (1, 3, 6, 3, (5, 5), (3, 3), (1, 1), (2, 2), (2, 2)),  # depthwise, channel multiplier 2
    (2, 5, 3, 1, (4, 3), (1, 1), (1, 1), (1, 1), (0, 0)),  # pointwise
    (2, 4, 6, 2, (4, 4), (1, 1), (1, 1), (1, 1), (0, 0)),  # pointwise, grouped
    (2, 2, 3, 1, (9, 8), (3, 3), (3, 2), (2, 1), (2, 1)),
    (2, 3, 2, 1, (9,), (4,), (2,), (2,), (2,)),  # 1D
    (1, 2, 4, 2, (4, 5, 3), (2, 3, 2), (1, 2, 1), (1, 1, 2), (1, 0, 1)),  # 3D
]


def kw(kernel, stride, dilate, pad, f, groups, **extra):
    return dict(kernel=kernel, stride=stride, dilate=dilate, pad=pad, num_filter=f, num_group=groups, **extra)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("layout", ["first", "last"])
def test_convolution_forward(case, layout):
    n, c, f, g, sp, k, s, d, p = case
    x = rng.randn(n, c, *sp)
    w = rng.randn(f, c // g, *k)
    b = rng.randn(f)
    ref = conv_ref(x, w, b, k, s, d, p, g)
    if layout == "first":
        y = invoke("convolution", [np.array(x, dtype="float64"), np.array(w, dtype="float64"),
                                   np.array(b, dtype="float64")], no_bias=False, **kw(k, s, d, p, f, g))
        close(y.asnumpy(), ref)
    else:
        y = invoke("Convolution", [np.array(last(x), dtype="float64"), np.array(last(w), dtype="float64"),
                                   np.array(b, dtype="float64")],
                   no_bias=False, layout=LAST[len(k)], **kw(k, s, d, p, f, g))
        assert y.shape == last(ref).shape
        close(first(y.asnumpy()), ref)
    # no bias, float32, a fused relu
    y = invoke("_npx_convolution", [np.array(x, dtype="float32"), np.array(w, dtype="float32")],
               no_bias=True, act_type="relu", **kw(k, s, d, p, f, g))
    assert y.dtype == onp.float32
    close(y.asnumpy(), onp.maximum(ref - b.reshape((1, f) + (1,) * len(k)), 0), 1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_convolution_half(dtype):
    x, w = rng.randn(2, 3, 5, 5), rng.randn(4, 3, 3, 3)
    xa, wa = np.array(x, dtype=dtype), np.array(w, dtype=dtype)
    y = invoke("convolution", [xa, wa], kernel=(3, 3), pad=(1, 1), num_filter=4, no_bias=True)
    assert str(y.dtype) == dtype or y.dtype == onp.dtype(dtype)
    ref = conv_ref(xa.astype("float64").asnumpy(), wa.astype("float64").asnumpy(), None, (3, 3), (1, 1),
                   (1, 1), (1, 1), 1)
    close(y.astype("float64").asnumpy(), ref, 0.1)


# (n, cin, nf, groups, spatial, kernel, stride, dilate, pad, adj)
DECONV = [
    (2, 3, 4, 1, (4, 5), (3, 3), (1, 1), (1, 1), (1, 1), (0, 0)),
    (2, 4, 6, 2, (3, 4), (3, 3), (2, 2), (1, 1), (1, 1), (1, 0)),
    (1, 4, 4, 4, (4, 4), (4, 4), (2, 2), (1, 1), (1, 1), (0, 1)),  # depthwise
    (2, 3, 2, 1, (5, 3), (2, 3), (3, 2), (2, 1), (0, 1), (2, 1)),
    (2, 3, 5, 1, (3, 4), (1, 1), (1, 1), (1, 1), (0, 0), (0, 0)),  # pointwise
    (2, 2, 3, 1, (6,), (3,), (2,), (2,), (1,), (1,)),  # 1D
    (1, 2, 2, 1, (2, 3, 2), (2, 2, 3), (2, 1, 2), (1, 1, 1), (0, 1, 1), (1, 0, 0)),  # 3D
]


@pytest.mark.parametrize("case", DECONV, ids=str)
@pytest.mark.parametrize("layout", ["first", "last"])
def test_deconvolution_forward(case, layout):
    n, c, f, g, sp, k, s, d, p, adj = case
    z, w, b = rng.randn(n, c, *sp), rng.randn(c, f // g, *k), rng.randn(f)
    ref = deconv_ref(z, w, b, k, s, d, p, adj, g)
    args = kw(k, s, d, p, f, g, adj=adj, no_bias=False)
    if layout == "first":
        y = invoke("deconvolution", [np.array(z, dtype="float64"), np.array(w, dtype="float64"),
                                     np.array(b, dtype="float64")], **args)
        close(y.asnumpy(), ref)
    else:
        y = invoke("Deconvolution", [np.array(last(z), dtype="float64"), np.array(last(w), dtype="float64"),
                                     np.array(b, dtype="float64")], layout=LAST[len(k)], **args)
        close(first(y.asnumpy()), ref)


@pytest.mark.parametrize("target", [(7, 8), (8, 9), (6, 7)])
def test_deconvolution_target_shape(target):
    z, w = rng.randn(1, 2, 4, 4), rng.randn(2, 3, 3, 3)
    args = kw((3, 3), (2, 2), (1, 1), (0, 0), 3, 1, target_shape=target)
    y = invoke("_npx_deconvolution", [np.array(z, dtype="float64"), np.array(w, dtype="float64")], **args)
    assert y.shape == (1, 3) + target
    close(y.asnumpy(), deconv_ref(z, w, None, (3, 3), (2, 2), (1, 1), (0, 0), (0, 0), 1, target))


def test_deconvolution_is_convolution_transpose():
    x, w = rng.randn(2, 4, 7, 6), rng.randn(6, 2, 3, 3)
    args = kw((3, 3), (2, 2), (1, 1), (1, 1), 6, 2)
    y = invoke("convolution", [np.array(x, dtype="float64"), np.array(w, dtype="float64")], no_bias=True, **args)
    r = rng.randn(*y.shape)
    args.update(num_filter=4, adj=(0, 1))
    z = invoke("deconvolution", [np.array(r, dtype="float64"), np.array(w, dtype="float64")], **args)
    assert z.shape == x.shape
    close((y.asnumpy() * r).sum(), (x * z.asnumpy()).sum())


GRAD = [
    (1, 2, 2, 1, (5, 4), (3, 3), (1, 1), (1, 1), (1, 1), "first"),
    (2, 4, 2, 2, (5, 5), (3, 2), (2, 1), (1, 2), (1, 0), "first"),
    (1, 2, 4, 2, (4, 5), (3, 3), (2, 1), (1, 1), (1, 1), "last"),
    (2, 3, 2, 1, (3, 3), (1, 1), (1, 1), (1, 1), (0, 0), "last"),
    (1, 2, 3, 1, (7,), (3,), (2,), (2,), (1,), "first"),
    (1, 2, 2, 2, (3, 3, 4), (2, 2, 2), (1, 1, 2), (1, 1, 1), (0, 1, 1), "last"),
]


def layout_kw(k, layout):
    return {"layout": LAST[len(k)]} if layout == "last" else {}


@pytest.mark.parametrize("case", GRAD, ids=str)
@pytest.mark.parametrize("act", [None, "tanh"])
def test_convolution_grad(case, act):
    n, c, f, g, sp, k, s, d, p, layout = case
    x, w, b = rng.randn(n, c, *sp), rng.randn(f, c // g, *k) * 0.5, rng.randn(f)
    if layout == "last":
        x, w = last(x), last(w)
    args = kw(k, s, d, p, f, g, no_bias=False, act_type=act, **layout_kw(k, layout))
    check_grad(lambda a, ww, bb: invoke("convolution", [a, ww, bb], **args), [x, w, b])


@pytest.mark.parametrize("case", GRAD[:4], ids=str)
def test_deconvolution_grad(case):
    n, c, f, g, sp, k, s, d, p, layout = case
    adj = tuple(min(1, si - 1) for si in s)
    z, w, b = rng.randn(n, c, *sp), rng.randn(c, f // g, *k) * 0.5, rng.randn(f)
    if layout == "last":
        z, w = last(z), last(w)
    args = kw(k, s, d, p, f, g, no_bias=False, adj=adj, act_type="sigmoid", **layout_kw(k, layout))
    check_grad(lambda a, ww, bb: invoke("deconvolution", [a, ww, bb], **args), [z, w, b])


def test_convolution_only_needed_grads_and_second_order():
    x, w = rng.randn(1, 2, 4, 4), rng.randn(3, 2, 3, 3)
    r = rng.randn(1, 3, 2, 2)
    args = kw((3, 3), (1, 1), (1, 1), (0, 0), 3, 1, no_bias=True)
    xa, wa, ra = (np.array(v, dtype="float64") for v in (x, w, r))

    def f(wv):
        """sum((d/dx <conv(x, w), r>)^2) through create_graph, and its gradient in w."""
        wm = np.array(wv, dtype="float64")
        xm = np.array(x, dtype="float64")
        xm.attach_grad()
        wm.attach_grad()
        with mx.autograd.record():
            y = invoke("convolution", [xm, wm], **args)
            (gx,) = mx.autograd.grad((y * ra).sum(), [xm], create_graph=True)
            z = (gx * gx).sum()
        z.backward()
        return float(z.asnumpy()), wm.grad.asnumpy()

    _, gw = f(w)
    eps, num = 1e-6, onp.zeros_like(w)
    for idx in onp.ndindex(w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        num[idx] = (f(wp)[0] - f(wm)[0]) / (2 * eps)
    close(gw, num, 1e-5)
    # only the weight needs a gradient: the data stays without one
    wa.attach_grad()
    with mx.autograd.record():
        y = invoke("convolution", [xa, wa], **args)
    y.backward()
    assert onp.abs(wa.grad.asnumpy()).sum() > 0


def test_conv_errors():
    x, w = np.ones((2, 4, 5, 5)), np.ones((4, 2, 3, 3))
    a = kw((3, 3), (1, 1), (1, 1), (1, 1), 4, 2, no_bias=True)
    with pytest.raises(ValueError, match=r"Convolution.*expected 2 inputs \(data, weight\), got 1"):
        invoke("convolution", [x], **a)
    with pytest.raises(ValueError, match=r"Convolution.*expected 3 inputs"):
        invoke("convolution", [x, w], **dict(a, no_bias=False))
    with pytest.raises(ValueError, match=r"Convolution.*data must have 4 dimensions \(NCHW\).*\(2, 4, 25\)"):
        invoke("convolution", [x.reshape(2, 4, 25), w], **a)
    with pytest.raises(ValueError, match=r"Convolution.*4 channels.*num_group=3 does not divide"):
        invoke("convolution", [x, w], **dict(a, num_group=3))
    with pytest.raises(ValueError, match=r"Convolution.*num_filter=5 is not divisible by num_group=2"):
        invoke("convolution", [x, w], **dict(a, num_filter=5))
    with pytest.raises(ValueError, match=r"Convolution.*weight has shape \(4, 4, 3, 3\), expected "
                                         r"\(num_filter, channels/num_group, \*kernel\).*= \(4, 2, 3, 3\)"):
        invoke("convolution", [x, np.ones((4, 4, 3, 3))], **a)
    with pytest.raises(ValueError, match=r"Convolution.*bias has shape \(3,\), expected \(num_filter,\)"):
        invoke("convolution", [x, w, np.ones(3)], **dict(a, no_bias=False))
    with pytest.raises(ValueError, match=r"Convolution.*spans 9.*padded input \(5 \+ 2\*1 = 7\)"):
        invoke("convolution", [x, w], **dict(a, dilate=(4, 4)))
    with pytest.raises(ValueError, match=r"Convolution.*stride must be positive"):
        invoke("convolution", [x, w], **dict(a, stride=(0, 1)))
    with pytest.raises(ValueError, match=r"Convolution.*dilate must be positive"):
        invoke("convolution", [x, w], **dict(a, dilate=(1, 0)))
    with pytest.raises(ValueError, match=r"Convolution.*stride.*must have as many dimensions as kernel"):
        invoke("convolution", [x, w], **dict(a, stride=(1, 1, 1)))
    with pytest.raises(ValueError, match=r"Convolution.*layout .NCW. does not fit"):
        invoke("convolution", [x, w], **dict(a, layout="NCW"))
    with pytest.raises(TypeError, match=r"Convolution.*data must be a float array"):
        invoke("convolution", [np.ones((2, 4, 5, 5), dtype="int32"), w], **a)
    with pytest.raises(TypeError, match=r"Convolution.*weight is float64 but data is float32"):
        invoke("convolution", [x, np.ones((4, 2, 3, 3), dtype="float64")], **a)
    with pytest.raises(ValueError, match=r"Convolution.*gelu.*cannot be fused"):
        invoke("convolution", [x, w], **dict(a, act_type="gelu"))
    # Deconvolution: weight (C_in, num_filter/num_group, *kernel); adj below stride
    d = kw((3, 3), (2, 2), (1, 1), (1, 1), 6, 2)
    with pytest.raises(ValueError, match=r"Deconvolution.*weight has shape \(4, 2, 3, 3\), expected "
                                         r"\(channels, num_filter/num_group, \*kernel\).*= \(4, 3, 3, 3\)"):
        invoke("deconvolution", [x, w], **d)
    with pytest.raises(ValueError, match=r"Deconvolution.*adj \(2, 0\) must be smaller than stride"):
        invoke("deconvolution", [x, np.ones((4, 3, 3, 3))], **dict(d, adj=(2, 0)))
    with pytest.raises(ValueError, match=r"Deconvolution.*target_shape \(20, 20\) is too big"):
        invoke("deconvolution", [x, np.ones((4, 3, 3, 3))], **dict(d, target_shape=(20, 20)))
    # MXNet's spellings from symbol JSON parse the same
    y = invoke("Convolution", [x, w], kernel="(3, 3)", pad="[1,1]", num_filter="4", num_group="2",
               no_bias="True", cudnn_off="1", workspace="512", cudnn_tune="None")
    assert y.shape == (2, 4, 5, 5)
