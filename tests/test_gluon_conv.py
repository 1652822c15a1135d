"""gluon.nn convolution layers: output shapes by MXNet's documented formulas, parameter shapes and
deferred initialisation, forward against direct NumPy loops, gradients, and clear errors."""
import functools
import itertools

import numpy as onp
import pytest

import mxgluon as mx
from mxgluon import autograd, np, npx
from mxgluon.gluon import nn

RS = onp.random.RandomState(0)


def arr(*shape):
    return RS.randn(*shape).astype("float32")


def conv_ref(x, w, b, stride, pad, dilate, groups):
    """Direct N-d convolution of NC* data with (F, C/groups, *k) weights."""
    n, c = x.shape[:2]
    f, cg = w.shape[:2]
    k = w.shape[2:]
    xp = onp.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out_sp = [(xp.shape[2 + i] - dilate[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(len(k))]
    out = onp.zeros((n, f) + tuple(out_sp))
    fg = f // groups
    for o in itertools.product(*[range(s) for s in out_sp]):
        for kk in itertools.product(*[range(s) for s in k]):
            idx = tuple(o[i] * stride[i] + kk[i] * dilate[i] for i in range(len(k)))
            patch = xp[(slice(None), slice(None)) + idx]  # (N, C)
            for g in range(groups):
                wk = w[(slice(g * fg, (g + 1) * fg), slice(None)) + kk]  # (F/g, C/g)
                out[(slice(None), slice(g * fg, (g + 1) * fg)) + o] += patch[:, g * cg:(g + 1) * cg] @ wk.T
    if b is not None:
        out += b.reshape((1, f) + (1,) * len(k))
    return out


def deconv_ref(x, w, b, stride, pad, dilate, adj, groups):
    """Transposed convolution of NC* data with (C, F/groups, *k) weights, by scattering."""
    n, c = x.shape[:2]
    fg = w.shape[1]
    k = w.shape[2:]
    cg = c // groups
    full = [(x.shape[2 + i] - 1) * stride[i] + dilate[i] * (k[i] - 1) + 1 + adj[i] for i in range(len(k))]
    big = onp.zeros((n, fg * groups) + tuple(full))
    for i in itertools.product(*[range(s) for s in x.shape[2:]]):
        for kk in itertools.product(*[range(s) for s in k]):
            o = tuple(i[d] * stride[d] + kk[d] * dilate[d] for d in range(len(k)))
            for g in range(groups):
                contrib = x[(slice(None), slice(g * cg, (g + 1) * cg)) + i] @ w[(slice(g * cg, (g + 1) * cg),
                                                                                   slice(None)) + kk]
                big[(slice(None), slice(g * fg, (g + 1) * fg)) + o] += contrib
    crop = tuple(slice(p, f - p) for p, f in zip(pad, full))
    res = big[(slice(None), slice(None)) + crop]
    if b is not None:
        res = res + b.reshape((1, -1) + (1,) * len(k))
    return res


LAYOUTS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


def ntuple(n, v):
    return (v,) * n if isinstance(v, int) else tuple(v)


def to_last(a):
    return onp.moveaxis(a, 1, -1)


CONV_CASES = [
    # (cls, n_spatial, in_shape (N, C, *S), channels, kernel, strides, padding, dilation, groups)
    (nn.Conv1D, 1, (2, 4, 9), 6, 3, 1, 0, 1, 1),
    (nn.Conv1D, 1, (2, 4, 11), 4, 3, 2, 1, 2, 2),
    (nn.Conv2D, 2, (2, 3, 7, 8), 5, (3, 2), (1, 2), (1, 0), (1, 1), 1),
    (nn.Conv2D, 2, (1, 4, 9, 9), 8, 3, 2, 2, 2, 4),
    (nn.Conv2D, 2, (2, 6, 6, 6), 6, 3, 1, 1, 1, 6),  # depthwise
    (nn.Conv2D, 2, (2, 8, 5, 5), 4, 1, 1, 0, 1, 1),  # 1x1
    (nn.Conv3D, 3, (1, 2, 5, 6, 4), 3, (2, 3, 2), 1, (1, 0, 1), 1, 1),
    (nn.Conv3D, 3, (2, 4, 6, 5, 5), 4, 3, (2, 1, 2), 1, (1, 2, 1), 2),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0].__name__}-{c[2]}-g{c[8]}")
@pytest.mark.parametrize("channel_last", [False, True])
def test_conv_forward_against_loops(case, channel_last):
    cls, n, shape, ch, k, s, p, d, g = case
    layout = LAYOUTS[n][channel_last]
    layer = cls(ch, k, strides=s, padding=p, dilation=d, groups=g, layout=layout, bias_initializer="normal")
    layer.initialize(mx.init.Normal(0.5))
    x = arr(*shape)
    out = layer(np.array(to_last(x) if channel_last else x)).asnumpy()
    tup = functools.partial(ntuple, n)
    w = layer.weight.data().asnumpy()
    if channel_last:
        assert w.shape == (ch,) + tup(k) + (shape[1] // g,)
        w = onp.moveaxis(w, -1, 1)
    else:
        assert w.shape == (ch, shape[1] // g) + tup(k)
    ref = conv_ref(x, w, layer.bias.data().asnumpy(), tup(s), tup(p), tup(d), g)
    # Documented size: floor((x + 2p - d(k-1) - 1) / s) + 1.
    want = [(shape[2 + i] + 2 * tup(p)[i] - tup(d)[i] * (tup(k)[i] - 1) - 1) // tup(s)[i] + 1 for i in range(n)]
    assert list(ref.shape[2:]) == want
    onp.testing.assert_allclose(out, to_last(ref) if channel_last else ref, rtol=1e-4, atol=1e-4)


DECONV_CASES = [
    (nn.Conv1DTranspose, 1, (2, 4, 5), 3, 3, 2, 1, 1, 1, 1),
    (nn.Conv2DTranspose, 2, (2, 4, 4, 5), 6, (3, 2), (2, 1), (1, 0), (0, 0), (1, 2), 2),
    (nn.Conv2DTranspose, 2, (1, 3, 3, 3), 2, 4, 2, 1, 1, 1, 1),
    (nn.Conv3DTranspose, 3, (1, 2, 3, 3, 2), 2, 2, 2, 0, (1, 0, 1), 1, 1),
]


@pytest.mark.parametrize("case", DECONV_CASES, ids=lambda c: f"{c[0].__name__}-{c[2]}")
@pytest.mark.parametrize("channel_last", [False, True])
def test_conv_transpose_forward_against_loops(case, channel_last):
    cls, n, shape, ch, k, s, p, adj, d, g = case
    layout = LAYOUTS[n][channel_last]
    layer = cls(ch, k, strides=s, padding=p, output_padding=adj, dilation=d, groups=g, layout=layout,
                bias_initializer="normal")
    layer.initialize(mx.init.Normal(0.5))
    x = arr(*shape)
    out = layer(np.array(to_last(x) if channel_last else x)).asnumpy()
    tup = functools.partial(ntuple, n)
    w = layer.weight.data().asnumpy()
    if channel_last:
        assert w.shape == (shape[1],) + tup(k) + (ch // g,)
        w = onp.moveaxis(w, -1, 1)
    else:
        assert w.shape == (shape[1], ch // g) + tup(k)
    ref = deconv_ref(x, w, layer.bias.data().asnumpy(), tup(s), tup(p), tup(d), tup(adj), g)
    # Documented size: (x-1)*s - 2p + d(k-1) + 1 + output_padding.
    want = [(shape[2 + i] - 1) * tup(s)[i] - 2 * tup(p)[i] + tup(d)[i] * (tup(k)[i] - 1) + 1 + tup(adj)[i]
            for i in range(n)]
    assert list(out.shape[2:] if not channel_last else out.shape[1:-1]) == want
    onp.testing.assert_allclose(out, to_last(ref) if channel_last else ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softrelu", "gelu", "silu"])
def test_conv_activation_fused_or_not(act):
    x = np.array(arr(2, 3, 6, 6))
    a = nn.Conv2D(4, 3, padding=1, activation=act, in_channels=3)
    a.initialize(mx.init.Normal(0.5))
    plain = nn.Conv2D(4, 3, padding=1, in_channels=3)
    plain.initialize()
    plain.weight.set_data(a.weight.data())
    plain.bias.set_data(a.bias.data())
    onp.testing.assert_allclose(a(x).asnumpy(), npx.activation(plain(x), act_type=act).asnumpy(),
                                rtol=1e-5, atol=1e-6)
    assert f"Activation({act})" in repr(a)


def test_conv_deferred_init_and_params():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1, activation="relu"), nn.MaxPool2D(), nn.Conv2D(4, 3, groups=2),
            nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(3))
    net.initialize()
    assert net[0].weight.shape == (8, -1, 3, 3)
    with pytest.raises(mx.gluon.parameter.DeferredInitializationError):
        net[0].weight.data()
    out = net(np.array(arr(2, 5, 10, 10)))
    assert out.shape == (2, 3)
    params = net.collect_params()
    assert {k: v.shape for k, v in params.items()} == {
        "0.weight": (8, 5, 3, 3), "0.bias": (8,), "2.weight": (4, 4, 3, 3), "2.bias": (4,),
        "5.weight": (3, 4), "5.bias": (3,)}
    assert repr(net[0]) == "Conv2D(5 -> 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), Activation(relu))"
    assert repr(net[2]) == "Conv2D(4 -> 4, kernel_size=(3, 3), stride=(1, 1), groups=2)"


def test_conv_transpose_repr_and_no_bias():
    layer = nn.Conv2DTranspose(8, 4, strides=2, padding=1, output_padding=1, in_channels=3, use_bias=False)
    assert layer.bias is None and layer.weight.shape == (3, 8, 4, 4)
    assert repr(layer) == ("Conv2DTranspose(3 -> 8, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), "
                           "output_padding=(1, 1), bias=False)")
    layer.initialize()
    assert layer(np.ones((1, 3, 5, 5))).shape == (1, 8, 11, 11)


def test_conv_gradients_match_finite_differences():
    layer = nn.Conv2D(3, (2, 3), strides=(2, 1), padding=(1, 1), dilation=(1, 2), groups=1, in_channels=2,
                      activation="tanh")
    layer.cast("float64")
    layer.initialize(mx.init.Normal(0.5))
    x0 = RS.randn(2, 2, 5, 6)
    w0 = layer.weight.data().asnumpy()
    b0 = RS.randn(3)

    def f(w, b, x):
        z = conv_ref(x, w, b, (2, 1), (1, 1), (1, 2), 1)
        return onp.tanh(z)

    x = np.array(x0, dtype="float64")
    x.attach_grad()
    layer.bias.set_data(np.array(b0, dtype="float64"))
    wv = onp.random.RandomState(1).uniform(0.5, 1.5, size=f(w0, b0, x0).shape)
    with autograd.record():
        loss = (layer(x) * np.array(wv, dtype="float64")).sum()
    loss.backward()
    eps = 1e-6
    for name, value, grad in (("x", x0, x.grad.asnumpy()), ("w", w0, layer.weight.grad().asnumpy()),
                              ("b", b0, layer.bias.grad().asnumpy())):
        num = onp.zeros_like(value)
        for idx in onp.ndindex(value.shape):
            vals = {"x": x0, "w": w0, "b": b0}
            hi, lo = value.copy(), value.copy()
            hi[idx] += eps
            lo[idx] -= eps
            num[idx] = ((f(**{**vals, name: hi}) * wv).sum() - (f(**{**vals, name: lo}) * wv).sum()) / (2 * eps)
        onp.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7, err_msg=name)


def test_conv_layer_errors():
    layer = nn.Conv2D(4, 3, groups=2)
    layer.initialize()
    with pytest.raises(mx.MXNetError, match="divisible by groups"):
        layer(np.ones((1, 3, 8, 8)))
    with pytest.raises(mx.MXNetError, match="4-d input"):
        nn.Conv2D(4, 3).infer_shape(np.ones((1, 3, 8)))
    with pytest.raises(mx.MXNetError, match="layout"):
        nn.Conv2D(4, 3, layout="NCW")
    with pytest.raises(mx.MXNetError, match="kernel_size must be"):
        nn.Conv3D(4, (3, 3))
    small = nn.Conv2D(4, 5, in_channels=3)
    small.initialize()
    with pytest.raises(mx.MXNetError, match="Convolution"):
        small(np.ones((1, 3, 3, 3)))


# --- pooling


def pool_ref(x, k, s, p, kind, ceil=False, count_include_pad=True):
    """NC* pooling by loops; windows that start in the padding are clipped as MXNet does."""
    n = len(k)
    sp = x.shape[2:]
    out_sp = []
    for i in range(n):
        span = sp[i] + 2 * p[i] - k[i]
        o = (-(-span // s[i]) if ceil else span // s[i]) + 1
        out_sp.append(o)
    out = onp.zeros(x.shape[:2] + tuple(out_sp))
    for o in itertools.product(*[range(v) for v in out_sp]):
        starts = [o[i] * s[i] - p[i] for i in range(n)]
        ends_pad = [min(starts[i] + k[i], sp[i] + p[i]) for i in range(n)]
        lo = [max(st, 0) for st in starts]
        hi = [min(e, sp[i]) for i, e in enumerate(ends_pad)]
        win = x[(slice(None), slice(None)) + tuple(slice(a, b) for a, b in zip(lo, hi))]
        if kind == "max":
            out[(slice(None), slice(None)) + o] = win.max(axis=tuple(range(2, 2 + n)))
        else:
            size = onp.prod([e - st for st, e in zip(starts, ends_pad)]) if count_include_pad else \
                onp.prod([b - a for a, b in zip(lo, hi)])
            out[(slice(None), slice(None)) + o] = win.sum(axis=tuple(range(2, 2 + n))) / size
    return out


POOL_CASES = [
    (nn.MaxPool1D, 1, (2, 3, 9), 3, None, 0, False),
    (nn.MaxPool1D, 1, (2, 3, 10), 3, 2, 1, True),
    (nn.MaxPool2D, 2, (2, 3, 8, 8), 2, None, 0, False),
    (nn.MaxPool2D, 2, (1, 2, 7, 9), (3, 2), (2, 3), (1, 1), True),
    (nn.MaxPool3D, 3, (1, 2, 5, 6, 4), 2, None, 0, True),
    (nn.AvgPool1D, 1, (2, 3, 9), 3, 2, 1, False),
    (nn.AvgPool2D, 2, (2, 3, 7, 7), 3, 2, 1, True),
    (nn.AvgPool2D, 2, (1, 2, 8, 6), (2, 3), None, 0, False),
    (nn.AvgPool3D, 3, (1, 2, 4, 5, 6), 2, 2, 1, False),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[0].__name__}-{c[2]}-{c[6]}")
@pytest.mark.parametrize("channel_last", [False, True])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_pool_forward_against_loops(case, channel_last, count_include_pad):
    cls, n, shape, k, s, p, ceil = case
    kind = "max" if "Max" in cls.__name__ else "avg"
    if kind == "max" and not count_include_pad:
        pytest.skip("count_include_pad is for average pooling")
    layout = LAYOUTS[n][channel_last]
    kw = {"count_include_pad": count_include_pad} if kind == "avg" else {}
    layer = cls(k, strides=s, padding=p, ceil_mode=ceil, layout=layout, **kw)
    x = arr(*shape)
    out = layer(np.array(to_last(x) if channel_last else x)).asnumpy()
    tup = functools.partial(ntuple, n)
    ref = pool_ref(x, tup(k), tup(s if s is not None else k), tup(p), kind, ceil, count_include_pad)
    onp.testing.assert_allclose(out, to_last(ref) if channel_last else ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_global_pools(n):
    x = arr(*((2, 3) + (4, 5, 3)[:n]))
    axes = tuple(range(2, 2 + n))
    mx_max = getattr(nn, f"GlobalMaxPool{n}D")()(np.array(x)).asnumpy()
    mx_avg = getattr(nn, f"GlobalAvgPool{n}D")()(np.array(x)).asnumpy()
    onp.testing.assert_allclose(mx_max, x.max(axis=axes, keepdims=True), rtol=1e-6)
    onp.testing.assert_allclose(mx_avg, x.mean(axis=axes, keepdims=True), rtol=1e-5, atol=1e-6)
    last = getattr(nn, f"GlobalAvgPool{n}D")(layout=LAYOUTS[n][1])
    onp.testing.assert_allclose(last(np.array(to_last(x))).asnumpy(), to_last(x.mean(axis=axes, keepdims=True)),
                                rtol=1e-5, atol=1e-6)


def test_maxpool_gradient_goes_to_the_max():
    x = onp.array([[[[1., 5., 2., 0.], [3., 4., 8., 1.], [0., 2., 1., 7.], [6., 1., 3., 2.]]]])
    a = np.array(x)
    a.attach_grad()
    with autograd.record():
        y = nn.MaxPool2D()(a)
    y.backward(np.array([[[[1., 2.], [3., 4.]]]]))
    want = onp.zeros_like(x)
    want[0, 0, 0, 1], want[0, 0, 1, 2], want[0, 0, 3, 0], want[0, 0, 2, 3] = 1, 2, 3, 4
    onp.testing.assert_array_equal(a.grad.asnumpy(), want)


def test_avgpool_gradient_matches_finite_differences():
    from gradcheck import check_grad
    layer = nn.AvgPool2D(3, strides=2, padding=1, ceil_mode=True, count_include_pad=False)
    check_grad(lambda x: layer(x), [RS.randn(1, 2, 6, 5)])


def test_pool_repr_and_errors():
    assert repr(nn.MaxPool2D(3, 2, 1, ceil_mode=True)) == (
        "MaxPool2D(size=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True, global_pool=False, "
        "pool_type=max, layout=NCHW)")
    with pytest.raises(mx.MXNetError, match="layout"):
        nn.MaxPool1D(layout="NCHW")
    with pytest.raises(mx.MXNetError, match="Pooling"):
        nn.MaxPool2D(5)(np.ones((1, 1, 3, 3)))


# --- padding, pixel shuffle


def test_reflection_pad():
    x = arr(2, 3, 4, 5)
    out = nn.ReflectionPad2D(2)(np.array(x)).asnumpy()
    onp.testing.assert_array_equal(out, onp.pad(x, [(0, 0), (0, 0), (2, 2), (2, 2)], mode="reflect"))
    a = np.array(x)
    a.attach_grad()
    with autograd.record():
        y = nn.ReflectionPad2D(1)(a)
    y.backward()
    # Each input pixel receives one gradient per output position it appears in.
    counts = onp.pad(onp.ones((4, 5)), 1, mode="reflect")
    want = onp.zeros((4, 5))
    for i, j in itertools.product(range(6), range(7)):
        si = [1, 0, 1, 2, 3, 2][i]
        sj = [1, 0, 1, 2, 3, 4, 3][j]
        want[si, sj] += counts[i, j]
    onp.testing.assert_array_equal(a.grad.asnumpy()[0, 0], want)


def test_npx_pad_modes():
    x = arr(1, 2, 3, 4)
    pw = (0, 0, 0, 0, 1, 2, 2, 1)
    width = [(0, 0), (0, 0), (1, 2), (2, 1)]
    onp.testing.assert_array_equal(npx.pad(np.array(x), mode="constant", pad_width=pw, constant_value=3).asnumpy(),
                                   onp.pad(x, width, constant_values=3))
    onp.testing.assert_array_equal(npx.pad(np.array(x), mode="edge", pad_width=pw).asnumpy(),
                                   onp.pad(x, width, mode="edge"))
    onp.testing.assert_array_equal(mx.nd.Pad(mx.nd.array(x), mode="reflect", pad_width=pw).asnumpy(),
                                   onp.pad(x, width, mode="reflect"))
    with pytest.raises(mx.MXNetError, match="pad_width"):
        npx.pad(np.array(x), pad_width=(1, 1))


@pytest.mark.parametrize("n,factor", [(1, 2), (1, (3,)), (2, 2), (2, (2, 3)), (3, (2, 1, 3))])
def test_pixel_shuffle(n, factor):
    fs = (factor,) * n if isinstance(factor, int) else factor
    c, sp = 2, (3, 4, 2)[:n]
    x = arr(*((2, c * int(onp.prod(fs))) + sp))
    out = getattr(nn, f"PixelShuffle{n}D")(factor)(np.array(x)).asnumpy()
    # Channel c*F + (i1, ..., in) goes to pixel (s1*f1 + i1, ...).
    ref = x.reshape((2, c) + fs + sp)
    perm = (0, 1) + sum(((2 + n + i, 2 + i) for i in range(n)), ())
    ref = ref.transpose(perm).reshape((2, c) + tuple(s * f for s, f in zip(sp, fs)))
    onp.testing.assert_array_equal(out, ref)


# --- the deformable convolutions


@pytest.mark.parametrize("cls", [nn.DeformableConvolution, nn.ModulatedDeformableConvolution])
def test_deformable_with_zero_offsets_is_a_convolution(cls):
    # The offset convolution starts at zero (its default initialisers), so the offsets are 0 and, for
    # v2, the masks 2*sigmoid(0) = 1: the layer is an ordinary convolution.
    layer = cls(4, kernel_size=3, padding=1, strides=1, num_deformable_group=1)
    layer.initialize(mx.init.Normal(0.5))
    x = arr(2, 3, 6, 5)
    out = layer(np.array(x)).asnumpy()
    parts = 2 if cls is nn.DeformableConvolution else 3
    assert layer.offset_weight.shape == (parts * 9, 3, 3, 3)
    assert layer.deformable_conv_weight.shape == (4, 3, 3, 3)
    ref = conv_ref(x, layer.deformable_conv_weight.data().asnumpy(), layer.deformable_conv_bias.data().asnumpy(),
                   (1, 1), (1, 1), (1, 1), 1)
    onp.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    names = set(layer.collect_params())
    assert names == {"offset_weight", "offset_bias", "deformable_conv_weight", "deformable_conv_bias"}


def test_deformable_layer_trains_offsets():
    layer = nn.DeformableConvolution(2, kernel_size=3, padding=1, offset_weight_initializer=mx.init.Normal(0.1))
    layer.initialize(mx.init.Normal(0.5))
    x = np.array(arr(1, 2, 5, 5))
    with autograd.record():
        y = (layer(x) ** 2).sum()
    y.backward()
    for p in layer.collect_params().values():
        g = p.grad().asnumpy()
        assert onp.isfinite(g).all() and onp.abs(g).sum() > 0, p.name


def test_deformable_errors():
    with pytest.raises(mx.MXNetError, match="NCHW"):
        nn.DeformableConvolution(4, 3, layout="NHWC")


# --- a small CNN end to end


def test_small_cnn_trains():
    mx.random.seed(0)
    rs = onp.random.RandomState(0)
    # Two classes: a bright vertical or horizontal bar somewhere in an 8x8 image.
    xs, ys = [], []
    for i in range(64):
        img = rs.rand(1, 8, 8).astype("float32") * 0.1
        pos = rs.randint(1, 7)
        if i % 2:
            img[0, :, pos] += 1
        else:
            img[0, pos, :] += 1
        xs.append(img)
        ys.append(i % 2)
    x, y = np.array(onp.stack(xs)), np.array(onp.array(ys))
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1, activation="relu"), nn.MaxPool2D(), nn.Conv2D(8, 3, activation="relu"),
            nn.GlobalMaxPool2D(), nn.Flatten(), nn.Dense(2))
    net.initialize(mx.init.Xavier())
    trainer = mx.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    losses = []
    for _ in range(30):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(64)
        losses.append(float(loss.mean()))
    assert losses[-1] < 0.2 * losses[0]
    assert (net(x).asnumpy().argmax(1) == onp.array(ys)).mean() == 1.0
