"""Test helpers: gradients against central finite differences, in float64."""
import numpy as onp

import mxgluon as mx


def numeric_grads(f, inputs, eps=1e-6):
    """d sum(f(*inputs) * w) / d inputs by central differences, for a fixed random weighting w."""
    xs = [onp.array(a, dtype=onp.float64) for a in inputs]
    out = f(*[mx.np.array(x, dtype="float64") for x in xs])
    w = onp.random.RandomState(0).uniform(0.5, 1.5, size=out.shape)

    def loss(vals):
        return float((f(*[mx.np.array(v, dtype="float64") for v in vals]).asnumpy() * w).sum())

    grads = []
    for i, x in enumerate(xs):
        g = onp.zeros_like(x)
        for idx in onp.ndindex(x.shape):
            plus = [v.copy() for v in xs]
            minus = [v.copy() for v in xs]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (loss(plus) - loss(minus)) / (2 * eps)
        grads.append(g)
    return grads, w


def check_grad(f, inputs, rtol=1e-5, atol=1e-6, eps=1e-6):
    """Assert that autograd's gradients of ``f`` at ``inputs`` (NumPy arrays) match finite differences."""
    expected, w = numeric_grads(f, inputs, eps)
    xs = [mx.np.array(onp.asarray(a, dtype=onp.float64), dtype="float64") for a in inputs]
    for x in xs:
        x.attach_grad()
    with mx.autograd.record():
        y = f(*xs)
        loss = (y * mx.np.array(w, dtype="float64")).sum()
    loss.backward()
    for x, e in zip(xs, expected):
        onp.testing.assert_allclose(x.grad.asnumpy(), e, rtol=rtol, atol=atol)
