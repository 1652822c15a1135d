"""mx.test_utils: MXNet's test helpers (tolerances by dtype, comparisons, random data, devices,
environment variables)."""
import os

import numpy as onp
import pytest

import mxgluon as mx
from mxgluon import test_utils as tu


def test_default_tolerances_follow_the_dtypes():
    assert tu.default_rtols()[onp.dtype("float32")] == 1e-4 and tu.default_atols()[onp.dtype("float16")] == 1e-1
    assert tu.get_tols(onp.ones(2, "float32"), onp.ones(2, "float64"), None, None) == (1e-4, 1e-3)
    assert tu.get_tols(mx.nd.ones(2, dtype="float16"), onp.ones(2), None, None) == (1e-2, 1e-1)
    assert tu.get_tols(onp.ones(2), onp.ones(2), None, None) == (1e-5, 1e-20)
    assert tu.get_tols(onp.ones(2), 1.0, 0.5, {onp.dtype("float64"): 0.25}) == (0.5, 0.25)
    assert tu.get_tolerance(mx.np.ones(2, dtype="bfloat16"), None, tu.default_rtols()) == 1e-2
    assert tu.get_rtol() == 1e-5 and tu.get_atol(0.5) == 0.5 and tu.get_etol() == 0
    assert tu.default_numeric_eps()[onp.dtype("float32")] == 2.0**-9


def test_assert_almost_equal_passes_within_and_reports_outside():
    a = onp.ones((2, 3), "float32")
    tu.assert_almost_equal(mx.nd.array(a), a + 5e-4)  # float32: atol 1e-3
    tu.assert_almost_equal(mx.np.array(a), mx.nd.array(a * (1 + 5e-5)), atol=0)
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(a.astype("float64"), a.astype("float64") + 5e-4)  # float64 tolerances
    b = a.copy()
    b[1, 2] = 1.5
    with pytest.raises(AssertionError) as e:
        tu.assert_almost_equal(mx.nd.array(a), b, names=("ours", "ref"))
    msg = str(e.value)
    assert "1 of 6 elements" in msg and "(1, 2), ours=1.00000000, ref=1.50000000" in msg
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(onp.array([onp.nan]), onp.array([onp.nan]))
    tu.assert_almost_equal(onp.array([onp.nan, 1.0]), onp.array([onp.nan, 1.0]), equal_nan=True)
    tu.assert_almost_equal(onp.array([True, False]), onp.array([True, False]))
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(onp.array([True]), onp.array([False]))
    tu.assert_almost_equal(onp.ones((2, 3)), onp.ones(3))  # broadcasting
    with pytest.raises(AssertionError, match="are not equal"):
        tu.assert_almost_equal(onp.ones((2, 3)), onp.ones(3), use_broadcast=False)
    tu.assert_allclose(onp.array([1.0, onp.nan]), onp.array([1.0, onp.nan]))
    with pytest.raises(AssertionError):
        tu.assert_allclose(onp.array([1.0]), onp.array([1.0 + 1e-6]))


def test_almost_equal_same_and_nan_variants():
    assert tu.almost_equal(mx.nd.array([1.0, 2.0]), onp.array([1.0, 2.0 + 1e-9]))
    assert not tu.almost_equal(onp.array([1.0]), onp.array([1.001]))
    assert tu.almost_equal(onp.array([1.0]), onp.array([1.001]), rtol=1e-2)
    assert tu.same(mx.nd.array([1, 2]), onp.array([1.0, 2.0])) and not tu.same(onp.ones(2), onp.ones(3))
    a, b = onp.array([1.0, onp.nan, 3.0]), onp.array([onp.nan, 2.0, 3.0])
    assert tu.almost_equal_ignore_nan(a, b) and not tu.almost_equal(a, b)
    tu.assert_almost_equal_ignore_nan(a, b)
    x, y = onp.zeros(10), onp.zeros(10)
    y[3] = 1.0
    tu.assert_almost_equal_with_err(x, y, etol=0.2)
    with pytest.raises(AssertionError):
        tu.assert_almost_equal_with_err(x, y, etol=0.05)


def test_random_arrays_and_shapes():
    onp.random.seed(0)
    one = tu.random_arrays((2, 3))
    assert isinstance(one, onp.ndarray) and one.shape == (2, 3) and one.dtype == onp.float32
    two = tu.random_arrays((2,), ())
    assert [t.shape for t in two] == [(2,), ()]
    u = tu.random_uniform_arrays((50,), low=2.0, high=3.0)[0]
    assert u.min() >= 2.0 and u.max() < 3.0
    r = tu.rand_ndarray((3, 4), dtype="float64")
    assert isinstance(r, mx.nd.NDArray) and r.shape == (3, 4) and r.dtype == onp.float64
    with pytest.raises(ValueError, match="rand_ndarray: stype 'csr'"):
        tu.rand_ndarray((3, 4), stype="csr")
    for _ in range(20):
        s2, s3, sn = tu.rand_shape_2d(4, 5), tu.rand_shape_3d(2, 3, 4), tu.rand_shape_nd(4, dim=3)
        assert 1 <= s2[0] <= 4 and 1 <= s2[1] <= 5 and len(s3) == 3 and 1 <= min(s3) and max(s3) <= 4
        assert len(sn) == 4 and all(1 <= d <= 3 for d in sn)
    assert 0 in {d for _ in range(100) for d in tu.rand_shape_2d(1, 1, allow_zero_size=True)}
    assert sorted(tu.random_sample([1, 2, 3, 4], 4)) == [1, 2, 3, 4] and len(tu.random_sample([1, 2], 1)) == 1
    d = onp.arange(24.0).reshape(2, 3, 4)
    onp.testing.assert_array_equal(tu.np_reduce(d, (0, 2), True, onp.sum), d.sum(axis=(0, 2), keepdims=True))


def test_devices_use_np_environment_exceptions_retry():
    assert tu.default_device() == mx.cpu() and tu.default_context() == mx.current_context()
    try:
        tu.set_default_device(mx.cpu(1))
        assert mx.current_device() == mx.cpu(1) and tu.default_device() == mx.cpu(1)
    finally:
        tu.set_default_device(mx.cpu(0))

    @tu.use_np
    def f(x):
        return x + 1

    assert f(1) == 2
    name = "MXGLUON_TEST_UTILS_VAR"
    os.environ.pop(name, None)
    with tu.environment(name, "7"):
        assert os.environ[name] == "7" and tu.getenv(name) == "7"
        with tu.environment({name: None}):
            assert name not in os.environ
        assert os.environ[name] == "7"
    assert name not in os.environ
    tu.assert_exception(mx.nd.slice_axis, ValueError, mx.nd.ones((2,)), axis=0, begin=1, end=0)
    with pytest.raises(AssertionError, match="did not raise"):
        tu.assert_exception(lambda: None, ValueError)
    calls = []

    @tu.retry(3)
    def flaky():
        calls.append(1)
        assert len(calls) >= 2

    flaky()
    assert len(calls) == 2


# --- the Symbol checks ----------------------------------------------------------------------------
def fc_symbol():
    x, w, b = mx.sym.var("x"), mx.sym.var("w"), mx.sym.var("b")
    return mx.sym.FullyConnected(x, weight=w, bias=b, num_hidden=3, name="fc")


RS = onp.random.RandomState(3)
XA, WA, BA = RS.randn(2, 4), RS.randn(3, 4), RS.randn(3)


def test_check_symbolic_forward_passes_for_the_right_values_and_fails_for_wrong_ones():
    sym = fc_symbol()
    want = XA @ WA.T + BA
    outs = tu.check_symbolic_forward(sym, [XA, WA, BA], [want])
    onp.testing.assert_allclose(outs[0].asnumpy(), want, rtol=1e-5)
    tu.check_symbolic_forward(sym, {"x": XA, "w": WA, "b": BA}, {"fc_output": want}, dtype=onp.float64)
    with pytest.raises(AssertionError, match="EXPECTED_fc_output"):
        tu.check_symbolic_forward(sym, [XA, WA, BA], [want + 0.01])
    onp.testing.assert_allclose(tu.simple_forward(sym, x=XA, w=WA, b=BA), want, rtol=1e-12)
    with pytest.raises(mx.base.MXNetError, match=r"names \['w', 'x'\] do not match the symbol's \['x', 'w', 'b'\]"):
        tu.check_symbolic_forward(sym, {"x": XA, "w": WA}, [want])


def test_check_symbolic_forward_with_auxiliary_states():
    data = mx.sym.var("data")
    bn = mx.sym.BatchNorm(data, fix_gamma=False, eps=1e-5, name="bn")
    x, g, b = RS.randn(4, 3), RS.rand(3) + 0.5, RS.randn(3)
    mean, var = RS.randn(3), RS.rand(3) + 0.5
    want = g * (x - mean) / onp.sqrt(var + 1e-5) + b  # inference mode: the running statistics
    tu.check_symbolic_forward(bn, [x, g, b], [want], aux_states=[mean, var], dtype=onp.float64)
    with pytest.raises(mx.base.MXNetError, match=r"aux_states: the symbol has \['bn_moving_mean', 'bn_moving_var'\]"):
        tu.check_symbolic_forward(bn, [x, g, b], [want])


def test_check_symbolic_backward_write_add_null():
    sym = fc_symbol()
    og = RS.randn(2, 3)
    want = {"x": og @ WA, "w": og.T @ XA, "b": og.sum(0)}
    grads = tu.check_symbolic_backward(sym, [XA, WA, BA], [og], [want["x"], want["w"], want["b"]])
    onp.testing.assert_allclose(grads["w"].asnumpy(), want["w"], rtol=1e-4)
    tu.check_symbolic_backward(sym, [XA, WA, BA], {"fc_output": og}, want, grad_req="add", dtype=onp.float64)
    got = tu.check_symbolic_backward(sym, [XA, WA, BA], [og], {"w": want["w"]}, grad_req=["null", "write", "null"])
    assert sorted(got) == ["w"]
    with pytest.raises(AssertionError, match="EXPECTED_b"):
        tu.check_symbolic_backward(sym, [XA, WA, BA], [og], dict(want, b=want["b"] * 2))
    with pytest.raises(mx.base.MXNetError, match="'sometimes'"):
        tu.check_symbolic_backward(sym, [XA, WA, BA], [og], want, grad_req="sometimes")


def test_check_numeric_gradient_passes_for_smooth_ops_and_catches_a_mismatch():
    sym = mx.sym.tanh(fc_symbol()) * 2
    tu.check_numeric_gradient(sym, [XA, WA, BA], rtol=1e-2, atol=1e-3)
    tu.check_numeric_gradient(sym, {"x": XA, "w": WA, "b": BA}, grad_nodes={"w": "add", "b": "null"},
                              dtype=onp.float64, rtol=1e-4, atol=1e-6)
    # relu at 0: the backward says 0, the central difference 1/2
    x = mx.sym.var("x")
    at_kink = onp.array([[0.0, 1.0, -1.0]])
    with pytest.raises(AssertionError, match=r"Location of error: \(0, 0\), NUMERICAL_x=0\.\d+, BACKWARD_x=0\.0"):
        tu.check_numeric_gradient(mx.sym.Activation(x, act_type="relu"), [at_kink], dtype=onp.float64)
    tu.check_numeric_gradient(mx.sym.Activation(x, act_type="relu"), [at_kink + [[0.5, 0, 0]]], dtype=onp.float64)
    with pytest.raises(mx.base.MXNetError, match="one output"):
        tu.check_numeric_gradient(mx.sym.split(x, num_outputs=3), [at_kink])
