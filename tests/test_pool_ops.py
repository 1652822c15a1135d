"""The Pooling op (max/avg/sum/lp, 1-3 spatial dims, NC* and N*C layouts) against a direct NumPy
loop over windows, with finite-difference gradients and error messages."""
import itertools
import math

import numpy as onp
import pytest

import mxgluon as mx
from gradcheck import check_grad

np = mx.np
invoke = mx.numpy.multiarray.invoke
rng = onp.random.RandomState(3)

CF = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
CL = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def out_size(x, k, s, p, conv):
    if conv == "valid":
        return (x + 2 * p - k) // s + 1
    if conv == "full":
        return int(math.ceil((x + 2 * p - k) / s)) + 1
    return int(math.ceil(x / s))  # same


def ref_pool(x, kernel, stride, pad, pool_type, conv="valid", include_pad=True, p_value=2,
             global_pool=False):
    """Channel-first reference: windows start at o*s - p; elements outside the input are skipped;
    avg divides by the window clipped to the padded input (or by the in-bounds count)."""
    x = onp.asarray(x, dtype=onp.float64)
    sp = x.shape[2:]
    nd = len(sp)
    if global_pool:
        kernel, stride, pad = sp, (1,) * nd, (0,) * nd
    outs = [1 if global_pool else out_size(sp[d], kernel[d], stride[d], pad[d], conv) for d in range(nd)]
    y = onp.zeros(x.shape[:2] + tuple(outs))
    for o in itertools.product(*[range(v) for v in outs]):
        starts = [o[d] * stride[d] - pad[d] for d in range(nd)]
        ends = [starts[d] + kernel[d] for d in range(nd)]
        lo = [max(starts[d], 0) for d in range(nd)]
        hi = [min(ends[d], sp[d]) for d in range(nd)]
        padded = int(onp.prod([min(ends[d], sp[d] + pad[d]) - starts[d] for d in range(nd)]))
        win = x[(slice(None), slice(None)) + tuple(slice(lo[d], max(hi[d], lo[d])) for d in range(nd))]
        win = win.reshape(x.shape[0], x.shape[1], -1)
        if pool_type == "max":
            v = win.max(axis=2) if win.shape[2] else onp.full(x.shape[:2], -onp.inf)
        elif pool_type == "sum":
            v = win.sum(axis=2)
        elif pool_type == "avg":
            with onp.errstate(invalid="ignore"):  # a window wholly in the padding: NaN, as MXNet
                v = win.sum(axis=2) / (padded if include_pad else win.shape[2])
        else:
            s = (win ** p_value).sum(axis=2)
            v = onp.cbrt(s) if p_value == 3 else s ** (1.0 / p_value)
        y[(slice(None), slice(None)) + o] = v
    return y


def to_cl(a):
    return onp.moveaxis(a, 1, -1)


def from_cl(a):
    return onp.moveaxis(a, -1, 1)


CASES = [
    # (spatial shape, kernel, stride, pad)
    ((9,), (3,), (2,), (1,)),
    ((8,), (2,), (2,), (0,)),
    ((7, 6), (2, 2), (2, 2), (0, 0)),
    ((7, 6), (3, 2), (2, 1), (1, 1)),
    ((6, 7), (3, 3), (3, 2), (1, 0)),
    ((5, 4, 6), (2, 2, 3), (2, 1, 2), (1, 0, 1)),
    ((4, 5, 4), (3, 2, 2), (1, 2, 2), (0, 1, 0)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[0])) + "-k" + "".join(map(str, c[1])))
@pytest.mark.parametrize("pool_type", ["max", "avg", "sum", "lp"])
@pytest.mark.parametrize("conv", ["valid", "full"])
def test_forward_grid(case, pool_type, conv):
    sp, k, s, p = case
    x = rng.randn(2, 3, *sp)
    nd = len(sp)
    for include in ([True, False] if pool_type == "avg" else [True]):
        want = ref_pool(x, k, s, p, pool_type, conv, include)
        kw = dict(kernel=k, stride=s, pad=p, pool_type=pool_type, pooling_convention=conv,
                  count_include_pad=include)
        for dtype, tol in [("float64", 1e-12), ("float32", 1e-5)]:
            y = invoke("pooling", [np.array(x, dtype=dtype)], **kw)
            assert y.dtype == onp.dtype(dtype)
            onp.testing.assert_allclose(y.asnumpy(), want, rtol=tol, atol=tol)
            # channel-last, computed natively
            yl = invoke("Pooling", [np.array(to_cl(x), dtype=dtype)], layout=CL[nd], **kw)
            onp.testing.assert_allclose(from_cl(yl.asnumpy()), want, rtol=tol, atol=tol)
        # the explicit channel-first layout name is the default
        y = invoke("_npx_pooling", [np.array(x)], layout=CF[nd], **kw)
        onp.testing.assert_allclose(y.asnumpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("p_value", [1, 2, 3])
def test_lp_p_values(p_value):
    x = rng.uniform(0.5, 2.0, size=(2, 2, 6, 5))
    y = invoke("pooling", [np.array(x, dtype="float64")], kernel=(2, 2), stride=(1, 2), pool_type="lp",
               p_value=p_value)
    onp.testing.assert_allclose(y.asnumpy(), ref_pool(x, (2, 2), (1, 2), (0, 0), "lp", p_value=p_value),
                                rtol=1e-12)


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_global_pool(pool_type, nd):
    sp = (5, 4, 3)[:nd]
    x = rng.randn(2, 3, *sp)
    y = invoke("pooling", [np.array(x, dtype="float64")], global_pool=True, pool_type=pool_type,
               kernel=(1,) * nd)
    want = {"max": x.max, "avg": x.mean, "sum": x.sum}[pool_type](axis=tuple(range(2, 2 + nd)), keepdims=True)
    onp.testing.assert_allclose(y.asnumpy(), want, rtol=1e-12)
    # without a kernel, and channel-last
    yl = invoke("pooling", [np.array(to_cl(x), dtype="float64")], global_pool=True, pool_type=pool_type,
                layout=CL[nd])
    onp.testing.assert_allclose(from_cl(yl.asnumpy()), want, rtol=1e-12)


def test_same_convention_and_json_strings():
    x = rng.randn(2, 3, 7)
    y = invoke("pooling", [np.array(x, dtype="float64")], kernel="(3,)", stride="[2]",
               pooling_convention="same", pool_type="max")
    assert y.shape == (2, 3, 4)
    onp.testing.assert_allclose(y.asnumpy(), ref_pool(x, (3,), (2,), (0,), "max", "same"))
    y = invoke("Pooling", [np.array(x)], kernel="(2,)", stride="(2,)", pool_type="avg",
               count_include_pad="False", global_pool="False", cudnn_off="True")
    onp.testing.assert_allclose(y.asnumpy(), ref_pool(x, (2,), (2,), (0,), "avg"), rtol=1e-6)


def test_half_and_int_dtypes():
    x = rng.randn(2, 3, 8, 8)
    for dt in ["float16", "bfloat16"]:
        xa = np.array(x, dtype=dt)
        xr = xa.astype("float64").asnumpy()
        for pt in ["max", "avg"]:
            y = invoke("pooling", [xa], kernel=(2, 2), stride=(2, 2), pool_type=pt)
            assert y.dtype == xa.dtype
            onp.testing.assert_allclose(y.astype("float64").asnumpy(), ref_pool(xr, (2, 2), (2, 2), (0, 0), pt),
                                        rtol=1e-2, atol=1e-2)
    xi = (x * 10).astype("int32")
    for dt in ["int32", "int64", "int8", "uint8"]:
        xa = np.array(onp.abs(xi) if dt == "uint8" else xi, dtype=dt)
        y = invoke("pooling", [xa], kernel=(3, 2), stride=(2, 2), pad=(1, 0), pool_type="max")
        assert y.dtype == onp.dtype(dt)
        onp.testing.assert_array_equal(y.asnumpy(), ref_pool(xa.asnumpy(), (3, 2), (2, 2), (1, 0), "max"))
    with pytest.raises(TypeError, match=r"Pooling.*pool_type='avg' needs a float array, not int32"):
        invoke("pooling", [np.array(xi, dtype="int32")], kernel=(2, 2), pool_type="avg")


def test_lenet_sizes():
    for shape in [(64, 20, 24, 24), (64, 50, 8, 8)]:
        x = rng.randn(*shape).astype("f")
        y = invoke("pooling", [np.array(x)], kernel=(2, 2), stride=(2, 2), pool_type="max")
        n, c, h, w = shape
        onp.testing.assert_array_equal(y.asnumpy(), x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5)))


# --- gradients --------------------------------------------------------------------------------

def distinct(shape):
    """Values with no ties (and no two within 1e-3 of each other): max pooling is smooth there."""
    n = int(onp.prod(shape))
    return rng.permutation(n).reshape(shape) * 0.01 + 0.3


GRAD_CASES = [
    ((2, 2, 7), (3,), (2,), (1,), "valid"),
    ((1, 2, 5, 6), (3, 2), (2, 2), (1, 0), "full"),
    ((1, 2, 5, 4), (2, 2), (1, 1), (1, 1), "valid"),
    ((1, 1, 4, 3, 4), (2, 2, 3), (2, 1, 2), (1, 0, 1), "full"),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: "x".join(map(str, c[0])))
@pytest.mark.parametrize("pool_type", ["max", "avg", "sum", "lp"])
@pytest.mark.parametrize("channel_last", [False, True])
def test_gradients(case, pool_type, channel_last):
    shape, k, s, p, conv = case
    nd = len(k)
    x = distinct(shape)
    if channel_last:
        x = to_cl(x)
    for include in ([True, False] if pool_type == "avg" else [True]):
        kw = dict(kernel=k, stride=s, pad=p, pool_type=pool_type, pooling_convention=conv,
                  count_include_pad=include, layout=(CL if channel_last else CF)[nd])
        check_grad(lambda a: invoke("pooling", [a], **kw), [x])


def test_max_grad_ties_go_to_first_maximum():
    x = np.array(onp.ones((1, 1, 4, 4)))
    x.attach_grad()
    with mx.autograd.record():
        y = invoke("pooling", [x], kernel=(3, 3), stride=(1, 1), pool_type="max")
    y.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    want = onp.zeros((4, 4))
    want[0, 0], want[0, 1], want[1, 0], want[1, 1] = 1, 2, 3, 4
    onp.testing.assert_array_equal(x.grad.asnumpy()[0, 0], want)
    # global max pooling of a plane with ties: one gradient, at the first
    x2 = np.array(onp.zeros((1, 2, 3)))
    x2.attach_grad()
    with mx.autograd.record():
        y2 = invoke("pooling", [x2], global_pool=True, pool_type="max")
    y2.backward()
    onp.testing.assert_array_equal(x2.grad.asnumpy(), [[[1, 0, 0], [1, 0, 0]]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_grad_2x2_ties_and_nans(dtype):
    # The 2x2 stride-2 backward (a SIMD kernel for float32, 16 windows a vector): rows of 1 to
    # 37 windows (partial vectors), odd widths (the last column uncovered), ties and NaNs. The
    # gradient goes to the first position (row-major in the window) equal to the maximum, or
    # to the first NaN.
    for wo, odd in [(1, 0), (7, 1), (8, 0), (16, 0), (17, 1), (37, 0)]:
        h, w = 6, 2 * wo + odd
        x = rng.randint(0, 3, size=(2, 3, h, w)).astype(dtype)
        x[rng.rand(*x.shape) < 0.05] = onp.nan
        xa = np.array(x, dtype=dtype)
        xa.attach_grad()
        g = rng.randn(2, 3, h // 2, wo).astype(dtype)
        with mx.autograd.record():
            y = invoke("pooling", [xa], kernel=(2, 2), stride=(2, 2), pool_type="max")
        y.backward(np.array(g, dtype=dtype))
        want = onp.zeros_like(x)
        for n, c, i, j in itertools.product(range(2), range(3), range(h // 2), range(wo)):
            win = x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].ravel()
            nan = onp.isnan(win)
            k = int(onp.argmax(nan)) if nan.any() else int(onp.argmax(win))
            want[n, c, 2 * i + k // 2, 2 * j + k % 2] = g[n, c, i, j]
        onp.testing.assert_array_equal(xa.grad.asnumpy(), want, err_msg=f"{wo} windows, {dtype}")


def test_second_order_avg_and_max():
    # d/dx sum((dL/dx) * w): zero for max and avg (piecewise linear), but the graph must build;
    # d/dg of the backward is the forward selection, checked through autograd.grad on g.
    x = np.array(distinct((1, 1, 4, 4)))
    for pt in ["max", "avg"]:
        g = np.array(rng.randn(1, 1, 2, 2))
        g.attach_grad()
        x.attach_grad()
        with mx.autograd.record():
            y = invoke("pooling", [x], kernel=(2, 2), stride=(2, 2), pool_type=pt)
            (dx,) = mx.autograd.grad(y, [x], head_grads=g, create_graph=True)
            h = np.array(rng.randn(1, 1, 4, 4))
            z = (dx * h).sum()
        z.backward()
        want = ref_pool(h.asnumpy(), (2, 2), (2, 2), (0, 0), "sum") if pt != "max" else None
        if pt == "avg":
            want = want / 4
        else:
            xs = x.asnumpy()[0, 0]
            want = onp.zeros((1, 1, 2, 2))
            for i in range(2):
                for j in range(2):
                    win = xs[2 * i:2 * i + 2, 2 * j:2 * j + 2]
                    a, b = onp.unravel_index(win.argmax(), (2, 2))
                    want[0, 0, i, j] = h.asnumpy()[0, 0, 2 * i + a, 2 * j + b]
        onp.testing.assert_allclose(g.grad.asnumpy(), want, rtol=1e-6)


# --- errors -----------------------------------------------------------------------------------

def test_errors():
    x = np.array(rng.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"Pooling.*kernel \(6, 2\) exceeds the input.*\(1, 2, 5, 5\).*padded to 5"):
        invoke("pooling", [x], kernel=(6, 2))
    with pytest.raises(ValueError, match=r"Pooling.*kernel \(2,\) is 1-D but data of shape \(1, 2, 5, 5\) has 2"):
        invoke("pooling", [x], kernel=(2,))
    with pytest.raises(ValueError, match=r"Pooling.*data must have 3, 4 or 5 dimensions.*\(2, 5\)"):
        invoke("pooling", [np.array(onp.zeros((2, 5)))], kernel=(2,))
    with pytest.raises(ValueError, match=r"Pooling.*stride must be positive, got \(0, 1\)"):
        invoke("pooling", [x], kernel=(2, 2), stride=(0, 1))
    with pytest.raises(ValueError, match=r"Pooling.*stride \(1,\) must have as many dimensions as kernel \(2, 2\)"):
        invoke("pooling", [x], kernel=(2, 2), stride=(1,))
    with pytest.raises(ValueError, match=r"Pooling.*layout NCW does not fit data of shape \(1, 2, 5, 5\)"):
        invoke("pooling", [x], kernel=(2, 2), layout="NCW")
    with pytest.raises(ValueError, match=r"Pooling.*layout must be one of"):
        invoke("pooling", [x], kernel=(2, 2), layout="CHWN")
    with pytest.raises(ValueError, match=r"Pooling.*pool_type must be 'max', 'avg', 'sum' or 'lp', not .median."):
        invoke("pooling", [x], kernel=(2, 2), pool_type="median")
    with pytest.raises(ValueError, match=r"Pooling.*pooling_convention must be"):
        invoke("pooling", [x], kernel=(2, 2), pooling_convention="ceil")
    with pytest.raises(ValueError, match=r"Pooling.*'same' supports 1-D pooling only"):
        invoke("pooling", [x], kernel=(2, 2), pooling_convention="same")
    with pytest.raises(ValueError, match=r"Pooling.*'same' pads by itself"):
        invoke("pooling", [np.array(rng.randn(1, 2, 5))], kernel=(2,), pad=(1,), pooling_convention="same")
    with pytest.raises(ValueError, match=r"Pooling.*p_value=4 is not supported"):
        invoke("pooling", [x], kernel=(2, 2), pool_type="lp", p_value=4)
    with pytest.raises(ValueError, match=r"Pooling.*kernel is required unless global_pool=True"):
        invoke("pooling", [x], pool_type="max")
    with pytest.raises(TypeError, match=r"Pooling.*needs a float array, not bool"):
        invoke("pooling", [np.array(onp.zeros((1, 1, 4, 4), dtype=bool))], kernel=(2, 2))
