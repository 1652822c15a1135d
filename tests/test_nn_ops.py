"""npx.softmax / log_softmax / activation / leaky_relu against NumPy formulas, with gradients."""
import math

import numpy as onp
import pytest

import mxgluon as mx
from gradcheck import check_grad

np, npx = mx.np, mx.npx
rng = onp.random.RandomState(0)


def ref_softmax(x, axis=-1, t=1.0, log=False, length=None):
    x = onp.asarray(x, dtype=onp.float64) / t
    if length is not None:
        x = onp.moveaxis(x, axis, -1)
        mask = onp.arange(x.shape[-1]) < onp.asarray(length)[..., None]
        x = onp.where(mask, x, -onp.inf)
        m = onp.max(x, axis=-1, keepdims=True)
        m = onp.where(onp.isfinite(m), m, 0)
        e = onp.exp(x - m)
        s = e.sum(-1, keepdims=True)
        with onp.errstate(divide="ignore", invalid="ignore"):
            out = (x - m - onp.log(s)) if log else e / s
        out = onp.where(mask, out, 0.0)
        return onp.moveaxis(out, -1, axis)
    m = x.max(axis=axis, keepdims=True)
    e = onp.exp(x - m)
    s = e.sum(axis=axis, keepdims=True)
    return (x - m - onp.log(s)) if log else e / s


TOL = {"float16": 2e-3, "bfloat16": 2e-2, "float32": 1e-5, "float64": 1e-12}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_dtypes(dtype, log):
    x = rng.randn(4, 7) * 3
    f = npx.log_softmax if log else npx.softmax
    y = f(np.array(x, dtype=dtype))
    assert y.dtype == (np.array(x, dtype=dtype).dtype)
    xin = np.array(x, dtype=dtype).astype("float64").asnumpy()
    onp.testing.assert_allclose(y.astype("float64").asnumpy(), ref_softmax(xin, log=log),
                                rtol=TOL[dtype] * 10, atol=TOL[dtype] * 10)


@pytest.mark.parametrize("shape,axis", [((5,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), 1),
                                        ((2, 3, 4), -1), ((2, 3, 4), 0), ((2, 1, 3), 1), ((1, 6), -2)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_axes(shape, axis, log):
    x = rng.randn(*shape).astype(onp.float32)
    f = npx.log_softmax if log else npx.softmax
    y = f(np.array(x), axis=axis)
    onp.testing.assert_allclose(y.asnumpy(), ref_softmax(x, axis, log=log), rtol=1e-5, atol=1e-6)


def test_softmax_known_values_and_stability():
    y = npx.softmax(np.ones((2, 3)), axis=0)
    onp.testing.assert_allclose(y.asnumpy(), onp.full((2, 3), 0.5))
    y = npx.log_softmax(np.array([1, 2, 0.1]))
    onp.testing.assert_allclose(y.asnumpy(), [-1.41702998, -0.41702995, -2.31702995], rtol=1e-6)
    big = np.array([[1000.0, 1000.0, -1000.0], [-1e30, 0.0, 1e30]])
    y = npx.softmax(big).asnumpy()
    assert onp.all(onp.isfinite(y))
    onp.testing.assert_allclose(y, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], atol=1e-7)
    ly = npx.log_softmax(big).asnumpy()
    onp.testing.assert_allclose(ly[0, :2], [-math.log(2)] * 2, rtol=1e-6)
    assert ly[0, 2] < -1000


def test_softmax_temperature_and_dtype():
    x = rng.randn(3, 5).astype(onp.float32)
    y = npx.softmax(np.array(x), temperature=2.5)
    onp.testing.assert_allclose(y.asnumpy(), ref_softmax(x, t=2.5), rtol=1e-5)
    y = npx.log_softmax(np.array(x), temperature=0.5, dtype="float64")
    assert y.dtype == onp.float64
    onp.testing.assert_allclose(y.asnumpy(), ref_softmax(x, t=0.5, log=True), rtol=1e-5)
    # integer input gives float32
    y = npx.softmax(np.array([[1, 2, 3]]))
    assert y.dtype == onp.float32
    onp.testing.assert_allclose(y.asnumpy(), ref_softmax([[1, 2, 3]]), rtol=1e-6)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_softmax_length(log, axis):
    x = rng.randn(3, 4, 5).astype(onp.float32)
    lshape = tuple(d for i, d in enumerate(x.shape) if i != axis % 3)
    m = x.shape[axis]
    length = rng.randint(0, m + 1, size=lshape)
    f = npx.log_softmax if log else npx.softmax
    y = f(np.array(x), axis=axis, length=np.array(length, dtype="int32"), use_length=True)
    onp.testing.assert_allclose(y.asnumpy(), ref_softmax(x, axis, log=log, length=length), rtol=1e-5, atol=1e-6)


def test_softmax_length_errors():
    x = np.ones((2, 3))
    with pytest.raises(Exception, match="length"):
        npx.softmax(x, length=np.array([1, 2, 3]), use_length=True)
    with pytest.raises(Exception):
        npx.softmax(x, use_length=True)
    with pytest.raises(Exception, match="axis"):
        npx.softmax(x, axis=2)


def test_softmax_large_parallel():
    x = rng.randn(300, 1000).astype(onp.float32)
    onp.testing.assert_allclose(npx.softmax(np.array(x)).asnumpy(), ref_softmax(x), rtol=1e-5, atol=1e-8)
    onp.testing.assert_allclose(npx.log_softmax(np.array(x), axis=0).asnumpy(), ref_softmax(x, 0, log=True),
                                rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_grad(axis, log):
    f = npx.log_softmax if log else npx.softmax
    x = rng.randn(3, 4)
    check_grad(lambda a: f(a, axis=axis, temperature=1.7), [x])
    check_grad(lambda a: f(a, axis=axis), [x])


@pytest.mark.parametrize("log", [False, True])
def test_softmax_length_grad(log):
    f = npx.log_softmax if log else npx.softmax
    length = np.array([2, 4, 1])
    x = rng.randn(3, 4)
    check_grad(lambda a: f(a, length=length, use_length=True), [x])
    check_grad(lambda a: f(a, length=np.array([1, 3, 0, 2]), axis=0, use_length=True), [x])


def _second_order(f, x, w, v):
    """d/dx sum(v * d/dx sum(w * f(x))), through autograd.grad(create_graph=True)."""
    xa = np.array(x, dtype="float64")
    xa.attach_grad()
    with mx.autograd.record():
        y = f(xa)
        (g,) = mx.autograd.grad([(y * np.array(w)).sum()], [xa], create_graph=True)
        z = (g * np.array(v)).sum()
    z.backward()
    return g.asnumpy(), xa.grad.asnumpy()


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("use_length", [False, True])
def test_softmax_second_order(log, use_length):
    x = rng.randn(3, 5)
    w = rng.uniform(0.5, 1.5, size=(3, 5))
    v = rng.uniform(-1, 1, size=(3, 5))
    length = np.array([5, 2, 3])
    base = npx.log_softmax if log else npx.softmax

    def f(a):
        if use_length:
            return base(a, length=length, use_length=True, temperature=1.3)
        return base(a, temperature=1.3)

    def first(xn):
        xa = np.array(xn, dtype="float64")
        xa.attach_grad()
        with mx.autograd.record():
            loss = (f(xa) * np.array(w)).sum()
        loss.backward()
        return xa.grad.asnumpy()

    g, h = _second_order(f, x, w, v)
    onp.testing.assert_allclose(g, first(x), rtol=1e-10)
    eps = 1e-6
    num = onp.zeros_like(x)
    for idx in onp.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = ((first(xp) * v).sum() - (first(xm) * v).sum()) / (2 * eps)
    onp.testing.assert_allclose(h, num, rtol=1e-5, atol=1e-7)


def test_softmax_grad_float32_dtype():
    x = np.array(rng.randn(2, 3).astype(onp.float32))
    x.attach_grad()
    with mx.autograd.record():
        y = npx.softmax(x, dtype="float64")
    y.backward()
    assert x.grad.dtype == onp.float32
    # the sum of softmax is constant: its gradient is zero
    onp.testing.assert_allclose(x.grad.asnumpy(), 0, atol=1e-6)


# --- Activation -------------------------------------------------------------------------------

ACTS = {
    "relu": lambda x: onp.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + onp.exp(-x)),
    "tanh": onp.tanh,
    "softrelu": lambda x: onp.log1p(onp.exp(x)),
    "softsign": lambda x: x / (1 + onp.abs(x)),
}


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_activation(act, dtype):
    x = rng.randn(3, 4) * 3
    xa = np.array(x, dtype=dtype)
    y = npx.activation(xa, act_type=act)
    assert y.dtype == xa.dtype
    tol = 2e-3 if dtype == "float16" else 1e-6
    onp.testing.assert_allclose(y.asnumpy().astype(onp.float64), ACTS[act](xa.asnumpy().astype(onp.float64)),
                                rtol=tol, atol=tol)


@pytest.mark.parametrize("act", sorted(ACTS))
def test_activation_grad(act):
    x = rng.randn(3, 4)
    x[onp.abs(x) < 0.05] = 0.3  # keep away from relu's kink
    check_grad(lambda a: npx.activation(a, act_type=act), [x])


def test_activation_errors_and_aliases():
    with pytest.raises(Exception, match="act_type"):
        npx.activation(np.ones(3), act_type="swish")
    x = np.array([-1.0, 2.0])
    onp.testing.assert_allclose(npx.relu(x).asnumpy(), [0, 2])
    onp.testing.assert_allclose(npx.sigmoid(x).asnumpy(), 1 / (1 + onp.exp([1.0, -2.0])), rtol=1e-6)


# --- LeakyReLU --------------------------------------------------------------------------------

def _erf(x):
    return onp.vectorize(math.erf)(x)


SELU_L, SELU_A = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
LEAKY = {
    "leaky": lambda x, s: onp.where(x > 0, x, s * x),
    "elu": lambda x, s: onp.where(x > 0, x, s * onp.expm1(x)),
    "selu": lambda x, s: SELU_L * onp.where(x > 0, x, SELU_A * onp.expm1(x)),
    "gelu": lambda x, s: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
    "gelu_tanh": lambda x, s: 0.5 * x * (1 + onp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
}


@pytest.mark.parametrize("act", sorted(LEAKY))
def test_leaky_relu(act):
    x = rng.randn(3, 5) * 2
    for dtype, tol in (("float32", 1e-5), ("float64", 1e-12)):
        y = npx.leaky_relu(np.array(x, dtype=dtype), act_type=act, slope=0.3)
        assert y.dtype == onp.dtype(dtype)
        onp.testing.assert_allclose(y.asnumpy(), LEAKY[act](x, 0.3), rtol=tol, atol=tol)
    xs = x.copy()
    xs[onp.abs(xs) < 0.05] = 0.4
    check_grad(lambda a: npx.leaky_relu(a, act_type=act, slope=0.3), [xs])


def test_prelu():
    x = rng.randn(2, 3, 4)
    x[onp.abs(x) < 0.05] = 0.4
    gamma = onp.array([0.1, 0.2, 0.3])
    y = npx.leaky_relu(np.array(x), gamma=np.array(gamma), act_type="prelu")
    onp.testing.assert_allclose(y.asnumpy(), onp.where(x > 0, x, gamma[None, :, None] * x), rtol=1e-6)
    check_grad(lambda a, g: npx.leaky_relu(a, gamma=g, act_type="prelu"), [x, gamma])
    check_grad(lambda a, g: npx.leaky_relu(a, gamma=g, act_type="prelu"), [x, onp.array([0.25])])
    with pytest.raises(Exception, match="gamma"):
        npx.leaky_relu(np.array(x), gamma=np.ones(5), act_type="prelu")
