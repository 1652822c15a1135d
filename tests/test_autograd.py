"""Autograd end to end: modes, grad_req, head gradients, retained graphs, higher order, views."""
import gc

import numpy as onp
import pytest

import mxgluon as mx

ag = mx.autograd


def var(values, dtype="float64", grad_req="write"):
    x = mx.np.array(onp.asarray(values, dtype=dtype), dtype=dtype)
    x.attach_grad(grad_req)
    return x


# ---------------------------------------------------------------------------------------------
# Modes


def test_record_pause_and_modes():
    assert not ag.is_recording() and not ag.is_training()
    with ag.record():
        assert ag.is_recording() and ag.is_training()
        with ag.pause():
            assert not ag.is_recording() and not ag.is_training()
            with ag.train_mode():
                assert ag.is_training() and not ag.is_recording()
        with ag.pause(train_mode=True):
            assert not ag.is_recording() and ag.is_training()
        with ag.predict_mode():
            assert ag.is_recording() and not ag.is_training()
        assert ag.is_recording() and ag.is_training()
    assert not ag.is_recording() and not ag.is_training()
    with ag.record(train_mode=False):
        assert ag.is_recording() and not ag.is_training()
    with ag.train_mode():
        assert ag.is_training() and not ag.is_recording()
    assert not ag.is_training()
    prev = ag.set_recording(True)
    assert prev is False and ag.is_recording()
    assert ag.set_recording(False) is True
    assert ag.set_training(True) is False
    assert ag.set_training(False) is True


def test_modes_restored_after_an_exception():
    with pytest.raises(RuntimeError):
        with ag.record():
            raise RuntimeError("boom")
    assert not ag.is_recording() and not ag.is_training()


def test_nothing_is_recorded_outside_record_or_inside_pause():
    x = var([1.0, 2.0])
    y = x * 2  # not recording
    with pytest.raises(mx.base.MXNetError):
        y.backward()
    with ag.record():
        with ag.pause():
            z = x * 3
        w = (z * x).sum()
    w.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [3.0, 6.0])  # z counted as a constant


# ---------------------------------------------------------------------------------------------
# grad_req


def test_grad_req_write_overwrites():
    x = var([1.0, 2.0, 3.0])
    assert x.grad_req == "write"
    onp.testing.assert_array_equal(x.grad.asnumpy(), [0, 0, 0])
    for _ in range(3):
        with ag.record():
            y = (x * x).sum()
        y.backward()
        onp.testing.assert_allclose(x.grad.asnumpy(), [2.0, 4.0, 6.0])


def test_grad_req_add_accumulates_across_backward_calls():
    x = var([1.0, 2.0, 3.0], grad_req="add")
    assert x.grad_req == "add"
    for k in range(1, 4):
        with ag.record():
            y = (x * x).sum()
        y.backward()
        onp.testing.assert_allclose(x.grad.asnumpy(), k * onp.array([2.0, 4.0, 6.0]))
    x.grad[:] = 0  # the usual zero_grad
    with ag.record():
        y = (x * 5).sum()
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [5.0, 5.0, 5.0])


def test_grad_req_null_gives_no_gradient():
    x = var([1.0, 2.0], grad_req="null")
    w = var([3.0, 4.0])
    with ag.record():
        y = (x * w).sum()
    y.backward()
    onp.testing.assert_allclose(w.grad.asnumpy(), [1.0, 2.0])
    onp.testing.assert_array_equal(x.grad.asnumpy(), [0.0, 0.0])
    # with only null variables nothing is recorded: backward is a clear error
    with ag.record():
        z = (x * x).sum()
    with pytest.raises(mx.base.MXNetError) as e:
        z.backward()
    assert "attach_grad" in str(e.value)


def test_bad_grad_req():
    x = mx.np.ones((2,))
    with pytest.raises(ValueError) as e:
        x.attach_grad("sometimes")
    assert isinstance(e.value, mx.base.MXNetError) and "grad_req" in str(e.value)


def test_reattach_resets_the_gradient_and_the_graph():
    x = var([1.0, 2.0], grad_req="add")
    with ag.record():
        y = (x * x).sum()
    y.backward()
    x.attach_grad()
    onp.testing.assert_array_equal(x.grad.asnumpy(), [0.0, 0.0])


def test_gradient_of_a_variable_used_twice_and_unused():
    x = var([1.0, 2.0])
    u = var([5.0])
    with ag.record():
        y = (x * x + x * 3 + mx.np.sin(x)).sum()
    y.backward()
    a = onp.array([1.0, 2.0])
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * a + 3 + onp.cos(a))
    onp.testing.assert_array_equal(u.grad.asnumpy(), [0.0])


# ---------------------------------------------------------------------------------------------
# backward


def test_backward_with_head_grads():
    x = var([1.0, 2.0, 3.0])
    with ag.record():
        y = x * x
    y.backward(mx.np.array([1.0, 0.0, 2.0], dtype="float64"))
    onp.testing.assert_allclose(x.grad.asnumpy(), [2.0, 0.0, 12.0])
    # no head gradient: ones
    with ag.record():
        y = x * 3
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [3.0, 3.0, 3.0])
    # several heads at once
    with ag.record():
        y1 = x * 2
        y2 = (x * x).sum()
    ag.backward([y1, y2], [mx.np.array([1.0, 1.0, 0.0], dtype="float64"), None])
    onp.testing.assert_allclose(x.grad.asnumpy(), [2 + 2.0, 2 + 4.0, 0 + 6.0])
    with ag.record():
        y = x * x
    with pytest.raises(ValueError):
        y.backward(mx.np.ones((2,), dtype="float64"))
    with pytest.raises(ValueError):
        ag.backward([y], [None, None])


def test_retain_graph():
    x = var([1.0, 2.0])
    with ag.record():
        y = (x * x * x).sum()
    y.backward(retain_graph=True)
    onp.testing.assert_allclose(x.grad.asnumpy(), [3.0, 12.0])
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [3.0, 12.0])
    with pytest.raises(mx.base.MXNetError) as e:
        y.backward()
    assert "retain_graph" in str(e.value)


def test_retain_graph_accumulating():
    x = var([2.0], grad_req="add")
    with ag.record():
        y = x * x
    y.backward(retain_graph=True)
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [8.0])


def test_backward_in_predict_mode_and_training_flag_during_backward():
    x = var([1.0, -1.0])
    with ag.record(train_mode=False):
        y = (mx.np.abs(x) * 2).sum()
    y.backward(train_mode=False)
    onp.testing.assert_allclose(x.grad.asnumpy(), [2.0, -2.0])
    assert not ag.is_training() and not ag.is_recording()


# ---------------------------------------------------------------------------------------------
# autograd.grad and higher order


def test_grad_leaves_dot_grad_alone():
    x = var([1.0, 2.0])
    x.grad[:] = 7.0
    with ag.record():
        y = (x * x).sum()
    g = ag.grad(y, [x])
    assert isinstance(g, list) and len(g) == 1
    onp.testing.assert_allclose(g[0].asnumpy(), [2.0, 4.0])
    onp.testing.assert_array_equal(x.grad.asnumpy(), [7.0, 7.0])
    with ag.record():
        y = (x * 3).sum()
    g = ag.grad(y, x)  # a single variable gives a single array
    assert isinstance(g, mx.np.ndarray)
    onp.testing.assert_allclose(g.asnumpy(), [3.0, 3.0])


def test_grad_of_several_variables_and_unreached_ones():
    x, w, u = var([1.0, 2.0]), var([3.0, 4.0]), var([0.5])
    with ag.record():
        y = (x * w).sum()
    gx, gw, gu = ag.grad(y, [x, w, u])
    onp.testing.assert_allclose(gx.asnumpy(), [3.0, 4.0])
    onp.testing.assert_allclose(gw.asnumpy(), [1.0, 2.0])
    onp.testing.assert_array_equal(gu.asnumpy(), [0.0])


SECOND = {
    "x**3": (lambda x: x ** 3, lambda a: 3 * a ** 2, lambda a: 6 * a),
    "sin": (mx.np.sin, onp.cos, lambda a: -onp.sin(a)),
    "exp(x)*x": (lambda x: mx.np.exp(x) * x, lambda a: onp.exp(a) * (a + 1), lambda a: onp.exp(a) * (a + 2)),
    "tanh": (mx.np.tanh, lambda a: 1 - onp.tanh(a) ** 2, lambda a: -2 * onp.tanh(a) * (1 - onp.tanh(a) ** 2)),
    "log": (mx.np.log, lambda a: 1 / a, lambda a: -1 / a ** 2),
    "sqrt": (mx.np.sqrt, lambda a: 0.5 / onp.sqrt(a), lambda a: -0.25 * a ** -1.5),
    "1/x": (lambda x: 1.0 / x, lambda a: -1 / a ** 2, lambda a: 2 / a ** 3),
    "x*x/(1+x)": (lambda x: x * x / (x + 1), lambda a: (a * a + 2 * a) / (a + 1) ** 2, lambda a: 2 / (a + 1) ** 3),
}


@pytest.mark.parametrize("name", sorted(SECOND))
def test_second_derivatives(name):
    f, d1, d2 = SECOND[name]
    a = onp.array([0.5, 1.0, 2.0])
    x = var(a)
    with ag.record():
        y = f(x)
        g = ag.grad(y, [x], create_graph=True)[0]
        z = g.sum()
    onp.testing.assert_allclose(g.asnumpy(), d1(a), rtol=1e-10)
    z.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), d2(a), rtol=1e-9, atol=1e-12)


def test_third_derivative_and_grad_of_grad():
    a = onp.array([0.7, 1.3])
    x = var(a)
    with ag.record():
        y = x ** 4
        g1 = ag.grad(y, x, create_graph=True)
        g2 = ag.grad(g1, x, create_graph=True)
        g3 = ag.grad(g2, x)
    onp.testing.assert_allclose(g1.asnumpy(), 4 * a ** 3)
    onp.testing.assert_allclose(g2.asnumpy(), 12 * a ** 2)
    onp.testing.assert_allclose(g3.asnumpy(), 24 * a)


def test_mixed_second_derivative():
    x, w = var([1.5, 2.0]), var([0.3, -0.4])
    with ag.record():
        y = (mx.np.sin(x * w)).sum()
        gx = ag.grad(y, [x], create_graph=True)[0]  # w cos(xw)
        z = gx.sum()
    z.backward()
    a, b = onp.array([1.5, 2.0]), onp.array([0.3, -0.4])
    # d/dw [w cos(xw)] = cos(xw) - x w sin(xw)
    onp.testing.assert_allclose(w.grad.asnumpy(), onp.cos(a * b) - a * b * onp.sin(a * b), rtol=1e-10)
    # d/dx [w cos(xw)] = -w^2 sin(xw)
    onp.testing.assert_allclose(x.grad.asnumpy(), -b * b * onp.sin(a * b), rtol=1e-10)


def test_grad_without_create_graph_is_not_differentiable():
    x = var([1.0])
    with ag.record():
        y = x ** 3
        g = ag.grad(y, [x])[0]
    with pytest.raises(mx.base.MXNetError):
        g.backward()


# ---------------------------------------------------------------------------------------------
# mark_variables, detach, in-place ops


def test_mark_variables():
    x, w = mx.np.array([1.0, 2.0]), mx.np.array([3.0, 4.0])
    gx, gw = mx.np.zeros((2,)), mx.np.ones((2,))
    ag.mark_variables([x, w], [gx, gw], grad_reqs=["write", "add"])
    with ag.record():
        y = (x * w).sum()
    y.backward()
    onp.testing.assert_allclose(gx.asnumpy(), [3.0, 4.0])
    onp.testing.assert_allclose(gw.asnumpy(), [2.0, 3.0])  # added onto the ones
    assert x.grad._t.shares_memory(gx._t)
    ag.mark_variables(x, gx)  # single arrays are accepted
    with pytest.raises(ValueError):
        ag.mark_variables([x, w], [gx])


def test_detach_and_stop_gradient():
    x = var([1.0, 2.0])
    with ag.record():
        d = x.detach()
        s = mx.npx.stop_gradient(x * 2)
        y = (x * d + s * x).sum()
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [1.0 + 2.0, 2.0 + 4.0])
    assert d._t.shares_memory(x._t)


def test_inplace_ops_while_recording():
    a = onp.array([1.0, 2.0])
    x = var(a)
    with ag.record():
        y = x * 2
        y += x  # 3x
        y *= y  # 9x^2
        y -= x  # 9x^2 - x
        y /= 2.0
        z = y.sum()
    z.backward()
    onp.testing.assert_allclose(y.asnumpy(), (9 * a * a - a) / 2)
    onp.testing.assert_allclose(x.grad.asnumpy(), (18 * a - 1) / 2)


def test_inplace_on_a_variable_while_recording():
    x = var([1.0, 2.0])
    with ag.record():
        h = x * 1.0
        h += x * x
        z = (h * 2).sum()
    z.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [2 + 4.0, 2 + 8.0])


# ---------------------------------------------------------------------------------------------
# Deep graphs


def test_ten_thousand_op_chain():
    x = var([1.0])
    with ag.record():
        y = x
        for _ in range(10000):
            y = y * 1.0001
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [1.0001 ** 10000], rtol=1e-9)


def test_deep_unused_graph_is_freed_without_recursion():
    # Dropping a long chain that was never back-propagated must not overflow the stack.
    x = var([0.5])
    with ag.record():
        y = x
        for _ in range(60000):
            y = y + 1.0
    del y
    gc.collect()
    with ag.record():
        y = x * 2
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [2.0])


def test_deep_chain_with_retained_graph_then_freed():
    x = var([1.0])
    with ag.record():
        y = x
        for _ in range(60000):
            y = y - 0.5
    y.backward(retain_graph=True)
    onp.testing.assert_allclose(x.grad.asnumpy(), [1.0])
    del y
    gc.collect()


# ---------------------------------------------------------------------------------------------
# Views


def test_gradients_through_views():
    a = onp.arange(6.0).reshape(2, 3)
    x = var(a)
    w = onp.array([1.0, 2.0, 3.0]).reshape(3, 1)
    with ag.record():
        t = (x.T[::-1] * mx.np.array(w)).sum()  # transpose, negative step
        b = mx.np.broadcast_to(x[:1], (4, 3)).sum()  # slice, broadcast_to
        r = x.reshape(3, 2)[1:].sum()  # reshape, slice
        e = (x[:, None, ::2] * 5).sum()  # None, strided slice
        i = x[1, -1] * 10  # ints
        y = t + b + r + e + i
    y.backward()
    expected = onp.zeros((2, 3))
    expected += w[::-1].reshape(1, 3)
    expected[0] += 4
    expected.reshape(6)[2:] += 1
    expected[:, ::2] += 5
    expected[1, -1] += 10
    onp.testing.assert_allclose(x.grad.asnumpy(), expected)


def test_gradients_through_views_match_finite_differences():
    from gradcheck import check_grad

    a = onp.random.RandomState(0).uniform(-1, 1, (3, 4))
    check_grad(lambda x: x.T[::-2] * x[::-1, ::2].T, [a])
    check_grad(lambda x: mx.np.broadcast_to(x[1:2], (2, 3, 4)) * x, [a])
    check_grad(lambda x: mx.np.expand_dims(x, 1)[..., 1:] * 2, [a])
    check_grad(lambda x: mx.np.flip(x, 0) * x.reshape(4, 3).reshape(3, 4), [a])
    check_grad(lambda x: mx.np.squeeze(x[:, None]) * mx.np.swapaxes(x.reshape(4, 3), 0, 1), [a])


def test_gradient_through_a_view_of_a_variable_being_written():
    # Writing into an array does not record: a variable's gradient still comes from its reads.
    x = var([1.0, 2.0, 3.0])
    with ag.record():
        y = (x[1:] * x[:2]).sum()
    y.backward()
    onp.testing.assert_allclose(x.grad.asnumpy(), [2.0, 1.0 + 3.0, 2.0])


def test_float32_gradients():
    x = var([1.0, 2.0], dtype="float32")
    with ag.record():
        y = (mx.np.exp(x) * 2).sum()
    y.backward()
    assert x.grad.dtype == onp.float32
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * onp.exp([1.0, 2.0]), rtol=1e-6)
