"""DeformableConvolution (v1) and ModulatedDeformableConvolution (v2) against NumPy references:
a plain convolution loop for zero offsets, a bilinear-sampling loop for random offsets, and
finite-difference gradients of every input."""
import math

import numpy as onp
import pytest

import mxgluon as mx
from gradcheck import check_grad

np = mx.np
invoke = mx.numpy.multiarray.invoke
rng = onp.random.RandomState(11)


def out_hw(h, w, k, s, p, d):
    return ((h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1,
            (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1)


def conv_ref(x, w, b, k, s, p, d, groups):
    n, c, h, ww = x.shape
    f = w.shape[0]
    ho, wo = out_hw(h, ww, k, s, p, d)
    xp = onp.zeros((n, c, h + 2 * p[0], ww + 2 * p[1]))
    xp[:, :, p[0]:p[0] + h, p[1]:p[1] + ww] = x
    cg, fg = c // groups, f // groups
    out = onp.zeros((n, f, ho, wo))
    for o in range(f):
        g = o // fg
        for i in range(ho):
            for j in range(wo):
                for a in range(k[0]):
                    for bb in range(k[1]):
                        y, xx = i * s[0] + a * d[0], j * s[1] + bb * d[1]
                        out[:, o, i, j] += xp[:, g * cg:(g + 1) * cg, y, xx] @ w[o, :, a, bb]
    if b is not None:
        out += b[None, :, None, None]
    return out


def bilinear(plane, y, x):
    h, w = plane.shape
    if not (y > -1 and x > -1 and y < h and x < w):
        return 0.0
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0

    def at(r, c):
        return plane[r, c] if 0 <= r < h and 0 <= c < w else 0.0

    return ((1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1)
            + ly * (1 - lx) * at(y0 + 1, x0) + ly * lx * at(y0 + 1, x0 + 1))


def deform_ref(x, off, mask, w, b, k, s, p, d, groups, dg):
    n, c, h, ww = x.shape
    f = w.shape[0]
    ho, wo = out_hw(h, ww, k, s, p, d)
    kk = k[0] * k[1]
    cpg, cg, fg = c // dg, c // groups, f // groups
    out = onp.zeros((n, f, ho, wo))
    for b_ in range(n):
        col = onp.zeros((c, kk, ho, wo))
        for ch in range(c):
            g = ch // cpg
            for i in range(k[0]):
                for j in range(k[1]):
                    kp = i * k[1] + j
                    for oh in range(ho):
                        for ow in range(wo):
                            y = oh * s[0] - p[0] + i * d[0] + off[b_, g * 2 * kk + 2 * kp, oh, ow]
                            xx = ow * s[1] - p[1] + j * d[1] + off[b_, g * 2 * kk + 2 * kp + 1, oh, ow]
                            m = 1.0 if mask is None else mask[b_, g * kk + kp, oh, ow]
                            col[ch, kp, oh, ow] = bilinear(x[b_, ch], y, xx) * m
        for g in range(groups):
            wg = w[g * fg:(g + 1) * fg].reshape(fg, -1)
            cl = col[g * cg:(g + 1) * cg].reshape(cg * kk, -1)
            out[b_, g * fg:(g + 1) * fg] = (wg @ cl).reshape(fg, ho, wo)
    if b is not None:
        out += b[None, :, None, None]
    return out


def attrs(k, s, p, d, f, groups, dg, no_bias):
    return dict(kernel=k, stride=s, pad=p, dilate=d, num_filter=f, num_group=groups,
                num_deformable_group=dg, no_bias=no_bias)


CONFIGS = [
    # (N, C, H, W), F, kernel, stride, pad, dilate, groups, deformable groups
    ((2, 4, 6, 5), 6, (3, 3), (1, 1), (1, 1), (1, 1), 1, 1),
    ((1, 4, 7, 6), 4, (3, 2), (2, 1), (1, 0), (1, 2), 2, 2),
    ((2, 2, 5, 5), 3, (2, 2), (1, 2), (0, 1), (2, 1), 1, 2),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("modulated", [False, True])
@pytest.mark.parametrize("no_bias", [False, True])
def test_zero_offsets_equal_convolution(cfg, modulated, no_bias):
    shape, f, k, s, p, d, groups, dg = cfg
    n, c, h, w = shape
    ho, wo = out_hw(h, w, k, s, p, d)
    kk = k[0] * k[1]
    x = rng.randn(*shape)
    wt = rng.randn(f, c // groups, *k)
    b = rng.randn(f)
    want = conv_ref(x, wt, None if no_bias else b, k, s, p, d, groups)
    off = onp.zeros((n, 2 * dg * kk, ho, wo))
    ins = [x, off] + ([onp.ones((n, dg * kk, ho, wo))] if modulated else []) + [wt] + ([] if no_bias else [b])
    name = "modulated_deformable_convolution" if modulated else "deformable_convolution"
    for dtype, tol in [("float64", 1e-12), ("float32", 1e-4)]:
        y = invoke(name, [np.array(a, dtype=dtype) for a in ins], **attrs(k, s, p, d, f, groups, dg, no_bias))
        assert y.shape == (n, f, ho, wo) and y.dtype == onp.dtype(dtype)
        onp.testing.assert_allclose(y.asnumpy(), want, rtol=tol, atol=tol)


def fractional_offsets(shape, spread=1.5):
    """Offsets whose samples stay well away from integer grid points (and so from the edges of
    the bilinear cells and the -1/H cut-offs): integer part in [-2, 2], fraction in [0.2, 0.8]."""
    ints = rng.randint(-int(spread) - 1, int(spread) + 1, size=shape)
    return ints + rng.uniform(0.2, 0.8, size=shape)


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("modulated", [False, True])
def test_random_offsets_against_bilinear_loop(cfg, modulated):
    shape, f, k, s, p, d, groups, dg = cfg
    n, c, h, w = shape
    ho, wo = out_hw(h, w, k, s, p, d)
    kk = k[0] * k[1]
    x = rng.randn(*shape)
    wt = rng.randn(f, c // groups, *k)
    b = rng.randn(f)
    off = fractional_offsets((n, 2 * dg * kk, ho, wo))
    mask = rng.uniform(0.1, 1.0, size=(n, dg * kk, ho, wo)) if modulated else None
    want = deform_ref(x, off, mask, wt, b, k, s, p, d, groups, dg)
    ins = [x, off] + ([mask] if modulated else []) + [wt, b]
    name = "_npx_modulated_deformable_convolution" if modulated else "_npx_deformable_convolution"
    y = invoke(name, [np.array(a, dtype="float64") for a in ins], **attrs(k, s, p, d, f, groups, dg, False))
    onp.testing.assert_allclose(y.asnumpy(), want, rtol=1e-10, atol=1e-10)
    # samples pushed far outside read zeros: only the bias is left
    far = onp.full_like(off, 50.3)
    ins[1] = far
    y = invoke(name, [np.array(a, dtype="float64") for a in ins], **attrs(k, s, p, d, f, groups, dg, False))
    onp.testing.assert_allclose(y.asnumpy(), onp.broadcast_to(b[None, :, None, None], y.shape), rtol=1e-12)


def test_float32_and_float16():
    shape, f, k, s, p, d, groups, dg = CONFIGS[1]
    n, c, h, w = shape
    ho, wo = out_hw(h, w, k, s, p, d)
    kk = k[0] * k[1]
    x, wt, b = rng.randn(*shape), rng.randn(f, c // groups, *k), rng.randn(f)
    off = fractional_offsets((n, 2 * dg * kk, ho, wo))
    mask = rng.uniform(0.1, 1.0, size=(n, dg * kk, ho, wo))
    for dtype, tol in [("float32", 1e-4), ("float16", 5e-2)]:
        ins = [np.array(a, dtype=dtype) for a in (x, off, mask, wt, b)]
        ref = [a.astype("float64").asnumpy() for a in ins]
        y = invoke("ModulatedDeformableConvolution", ins, **attrs(k, s, p, d, f, groups, dg, False))
        assert y.dtype == onp.dtype(dtype)
        want = deform_ref(ref[0], ref[1], ref[2], ref[3], ref[4], k, s, p, d, groups, dg)
        onp.testing.assert_allclose(y.astype("float64").asnumpy(), want, rtol=tol, atol=tol * 10)


GRAD_CONFIGS = [
    ((1, 2, 4, 4), 2, (2, 2), (1, 1), (1, 0), (1, 1), 1, 1),
    ((2, 4, 4, 3), 2, (2, 2), (2, 1), (1, 1), (1, 2), 2, 2),
]


@pytest.mark.parametrize("cfg", GRAD_CONFIGS, ids=str)
@pytest.mark.parametrize("modulated", [False, True])
def test_gradients_of_all_inputs(cfg, modulated):
    shape, f, k, s, p, d, groups, dg = cfg
    n, c, h, w = shape
    ho, wo = out_hw(h, w, k, s, p, d)
    kk = k[0] * k[1]
    x = rng.randn(*shape)
    wt = rng.randn(f, c // groups, *k)
    b = rng.randn(f)
    off = fractional_offsets((n, 2 * dg * kk, ho, wo), spread=1.0)
    kw = attrs(k, s, p, d, f, groups, dg, False)
    if modulated:
        mask = rng.uniform(0.2, 1.0, size=(n, dg * kk, ho, wo))
        check_grad(lambda *a: invoke("modulated_deformable_convolution", list(a), **kw), [x, off, mask, wt, b])
    else:
        check_grad(lambda *a: invoke("deformable_convolution", list(a), **kw), [x, off, wt, b])


def test_gradients_without_bias_and_partial():
    shape, f, k, s, p, d, groups, dg = GRAD_CONFIGS[0]
    n, c, h, w = shape
    ho, wo = out_hw(h, w, k, s, p, d)
    x, wt = rng.randn(*shape), rng.randn(f, c // groups, *k)
    off = fractional_offsets((n, 2 * dg * 4, ho, wo), spread=1.0)
    kw = attrs(k, s, p, d, f, groups, dg, True)
    check_grad(lambda a, o, ww: invoke("DeformableConvolution", [a, o, ww], **kw), [x, off, wt])
    # only the weight asks for a gradient
    xa, oa, wa = np.array(x), np.array(off), np.array(wt)
    wa.attach_grad()
    with mx.autograd.record():
        y = invoke("DeformableConvolution", [xa, oa, wa], **kw)
    y.backward()
    assert wa.grad.shape == wt.shape and onp.abs(wa.grad.asnumpy()).sum() > 0


def test_errors():
    x = np.array(rng.randn(1, 4, 5, 5))
    wt = np.array(rng.randn(2, 4, 3, 3))
    off = np.array(onp.zeros((1, 18, 3, 3)))
    kw = dict(kernel=(3, 3), num_filter=2, no_bias=True)
    invoke("deformable_convolution", [x, off, wt], **kw)
    with pytest.raises(ValueError, match=r"DeformableConvolution.*offset .* has shape \(1, 9, 3, 3\), expected \(1, 18, 3, 3\)"):
        invoke("deformable_convolution", [x, np.array(onp.zeros((1, 9, 3, 3))), wt], **kw)
    with pytest.raises(ValueError, match=r"ModulatedDeformableConvolution.*mask .* has shape \(1, 18, 3, 3\), expected \(1, 9, 3, 3\)"):
        invoke("modulated_deformable_convolution", [x, off, off, wt], **kw)
    with pytest.raises(ValueError, match=r"DeformableConvolution.*weight .* has shape \(2, 4, 3, 3\), expected \(2, 2, 3, 3\)"):
        invoke("deformable_convolution", [x, off, wt], num_group=2, **kw)
    with pytest.raises(ValueError, match=r"DeformableConvolution.*layout NHWC is not supported"):
        invoke("deformable_convolution", [x, off, wt], layout="NHWC", **kw)
    with pytest.raises(ValueError, match=r"DeformableConvolution.*num_deformable_group=3 must divide"):
        invoke("deformable_convolution", [x, off, wt], num_deformable_group=3, **kw)
    with pytest.raises(ValueError, match=r"DeformableConvolution.*kernel must be 2-D"):
        invoke("deformable_convolution", [x, off, wt], kernel=(3,), num_filter=2, no_bias=True)
    with pytest.raises(ValueError, match=r"DeformableConvolution.*num_filter is required"):
        invoke("deformable_convolution", [x, off, wt], kernel=(3, 3), no_bias=True)
    with pytest.raises(ValueError, match=r"DeformableConvolution.*expected 4 inputs \(data, offset, weight, bias\), got 3"):
        invoke("deformable_convolution", [x, off, wt], kernel=(3, 3), num_filter=2)
    with pytest.raises(ValueError, match=r"DeformableConvolution.*data must be 4-D"):
        invoke("deformable_convolution", [np.array(onp.zeros((4, 5, 5))), off, wt], **kw)
    with pytest.raises(TypeError, match=r"DeformableConvolution.*offset is float32 but data is float64"):
        invoke("deformable_convolution", [x, off.astype("float32"), wt], **kw)
