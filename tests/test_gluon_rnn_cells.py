"""gluon.rnn cells: each step against a NumPy reference of MXNet's documented formulas (gate order,
GRU reset-after), unroll (layouts, list/array inputs, merge_outputs, valid_length masking and last
valid states), the containers and modifier cells, the convolutional cells against a direct NumPy
convolution, gradients against finite differences, parameter names and clear errors."""
import itertools
import os

import numpy as onp
import pytest

import mxgluon as mx
from mxgluon import autograd, np
from mxgluon.gluon import rnn
from mxgluon.base import MXNetError

from gradcheck import check_grad, numeric_grads

RS = onp.random.RandomState(0)


def arr(*shape):
    return RS.randn(*shape).astype("float32")


def sigmoid(x):
    return 1 / (1 + onp.exp(-x))


ACTS = {"tanh": onp.tanh, "relu": lambda x: onp.maximum(x, 0), "sigmoid": sigmoid,
        "softsign": lambda x: x / (1 + onp.abs(x))}


def weights(cell):
    return {k: v.data().asnumpy().astype("float64") for k, v in cell.collect_params().items()}


# --- NumPy references of one step: (output, [states]) ------------------------------------------
def rnn_ref(p, x, states, act="tanh"):
    h = ACTS[act](x @ p["i2h_weight"].T + p["i2h_bias"] + states[0] @ p["h2h_weight"].T + p["h2h_bias"])
    return h, [h]


def lstm_ref(p, x, states, act="tanh", rec="sigmoid"):
    h, c = states
    g = x @ p["i2h_weight"].T + p["i2h_bias"] + h @ p["h2h_weight"].T + p["h2h_bias"]
    i, f, gg, o = onp.split(g, 4, axis=1)  # MXNet's gate order: input, forget, cell, output
    c2 = ACTS[rec](f) * c + ACTS[rec](i) * ACTS[act](gg)
    h2 = ACTS[rec](o) * ACTS[act](c2)
    return h2, [h2, c2]


def gru_ref(p, x, states, act="tanh", rec="sigmoid"):
    h = states[0]
    xr, xz, xn = onp.split(x @ p["i2h_weight"].T + p["i2h_bias"], 3, axis=1)
    hr, hz, hn = onp.split(h @ p["h2h_weight"].T + p["h2h_bias"], 3, axis=1)
    r, z = ACTS[rec](xr + hr), ACTS[rec](xz + hz)
    n = ACTS[act](xn + r * hn)  # the reset gate multiplies (W_hn h + b_hn)
    h2 = (1 - z) * n + z * h
    return h2, [h2]


def lstmp_ref(p, x, states):
    r, c = states
    g = x @ p["i2h_weight"].T + p["i2h_bias"] + r @ p["h2h_weight"].T + p["h2h_bias"]
    i, f, gg, o = onp.split(g, 4, axis=1)
    c2 = sigmoid(f) * c + sigmoid(i) * onp.tanh(gg)
    r2 = (sigmoid(o) * onp.tanh(c2)) @ p["h2r_weight"].T
    return r2, [r2, c2]


def unroll_ref(step, p, xs, states, valid_length=None):
    """Step through xs (T, N, C); with valid_length, zero the padded outputs and keep each sample's
    states of its last valid step."""
    outs, last = [], [s.copy() for s in states]
    for t, x in enumerate(xs):
        out, states = step(p, x, states)
        if valid_length is not None:
            keep = (t < onp.asarray(valid_length)).reshape(-1, *([1] * (out.ndim - 1)))
            out = onp.where(keep, out, 0)
            last = [onp.where(keep, s, ls) for s, ls in zip(states, last)]
        outs.append(out)
    return onp.stack(outs), (states if valid_length is None else last)


CELLS = {
    "rnn_tanh": (lambda: rnn.RNNCell(5, input_size=3), rnn_ref, 1),
    "rnn_relu": (lambda: rnn.RNNCell(5, activation="relu"), lambda p, x, s: rnn_ref(p, x, s, "relu"), 1),
    "lstm": (lambda: rnn.LSTMCell(4), lstm_ref, 2),
    "lstm_acts": (lambda: rnn.LSTMCell(4, activation="softsign", recurrent_activation="tanh"),
                  lambda p, x, s: lstm_ref(p, x, s, "softsign", "tanh"), 2),
    "gru": (lambda: rnn.GRUCell(4, input_size=3), gru_ref, 1),
    "gru_acts": (lambda: rnn.GRUCell(4, activation="relu", recurrent_activation="sigmoid"),
                 lambda p, x, s: gru_ref(p, x, s, "relu"), 1),
    "lstmp": (lambda: rnn.LSTMPCell(5, 2), lstmp_ref, 2),
}


def make(name):
    make_cell, ref, _ = CELLS[name]
    cell = make_cell()
    cell.initialize(mx.init.Normal(0.5))
    cell(np.zeros((1, 3)), cell.begin_state(batch_size=1))  # completes a deferred input_size (3)
    return cell, ref


@pytest.mark.parametrize("name", sorted(CELLS))
def test_cell_unroll_against_numpy(name):
    cell, ref = make(name)
    xs = arr(3, 2, 3)  # (T, N, C)
    shapes = [i["shape"] for i in cell.state_info(2)]
    states = [arr(*s) for s in shapes]
    out, st = cell.unroll(3, np.array(xs), [np.array(s) for s in states], layout="TNC", merge_outputs=True)
    want, want_st = unroll_ref(ref, weights(cell), xs.astype("float64"), [s.astype("float64") for s in states])
    onp.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5, atol=1e-5)
    assert len(st) == len(want_st) == CELLS[name][2]
    for a, b in zip(st, want_st):
        onp.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-5)
    # one step by calling the cell gives the same as the first unrolled step
    o1, s1 = cell(np.array(xs[0]), [np.array(s) for s in states])
    onp.testing.assert_allclose(o1.asnumpy(), want[0], rtol=1e-5, atol=1e-5)
    assert [s.shape for s in s1] == shapes


def test_parameter_names_shapes_and_deferred_input_size():
    expect = {
        rnn.RNNCell(6): {"i2h_weight": (6, 3), "h2h_weight": (6, 6), "i2h_bias": (6,), "h2h_bias": (6,)},
        rnn.LSTMCell(6): {"i2h_weight": (24, 3), "h2h_weight": (24, 6), "i2h_bias": (24,), "h2h_bias": (24,)},
        rnn.GRUCell(6): {"i2h_weight": (18, 3), "h2h_weight": (18, 6), "i2h_bias": (18,), "h2h_bias": (18,)},
        rnn.LSTMPCell(6, 2): {"i2h_weight": (24, 3), "h2h_weight": (24, 2), "h2r_weight": (2, 6),
                              "i2h_bias": (24,), "h2h_bias": (24,)},
    }
    for cell, shapes in expect.items():
        params = cell.collect_params()
        assert list(params) == list(shapes)  # MXNet's creation order (MXNet 1.x files load by it)
        assert params["i2h_weight"].shape == (shapes["i2h_weight"][0], -1)  # input_size=0: deferred
        cell.initialize()
        with pytest.raises(mx.gluon.DeferredInitializationError):
            cell.i2h_weight.data()
        cell(np.ones((2, 3)), cell.begin_state(2))
        assert {k: v.shape for k, v in cell.collect_params().items()} == shapes
    assert repr(rnn.LSTMCell(6, input_size=3)) == "LSTMCell(3 -> 24)"
    assert repr(rnn.RNNCell(6, activation="relu")) == "RNNCell(-1 -> 6, relu)"
    assert repr(rnn.LSTMPCell(6, 2, input_size=4)) == "LSTMPCell(4 -> 24 -> 2)"
    # MXNet's infer_shape(layer_index, x, is_bidirect): layers above the first see the hidden size
    cell = rnn.GRUCell(5)
    cell.infer_shape(1, None, True)
    assert cell.i2h_weight.shape == (15, 10)
    cell = rnn.LSTMPCell(5, 3)
    cell.infer_shape(2, None, False)
    assert cell.i2h_weight.shape == (20, 3)


def test_state_info_and_begin_state():
    assert rnn.LSTMCell(4).state_info(3) == [{"shape": (3, 4), "__layout__": "NC"}] * 2
    assert rnn.LSTMPCell(4, 2).state_info() == [{"shape": (0, 2), "__layout__": "NC"},
                                                 {"shape": (0, 4), "__layout__": "NC"}]
    assert rnn.GRUCell(4).state_info(2) == [{"shape": (2, 4), "__layout__": "NC"}]
    st = rnn.LSTMCell(4).begin_state(3)
    assert [s.shape for s in st] == [(3, 4), (3, 4)] and all(s.dtype == onp.float32 for s in st)
    assert float(st[0].asnumpy().sum()) == 0
    st = rnn.RNNCell(2).begin_state(batch_size=2, func=np.ones, dtype="float64")
    assert st[0].dtype == onp.float64 and st[0].asnumpy().tolist() == [[1, 1], [1, 1]]
    seq = rnn.SequentialRNNCell()
    seq.add(rnn.LSTMCell(3))
    seq.add(rnn.GRUCell(2))
    assert [i["shape"] for i in seq.state_info(5)] == [(5, 3), (5, 3), (5, 2)]
    assert [s.shape for s in seq.begin_state(batch_size=5)] == [(5, 3), (5, 3), (5, 2)]
    bi = rnn.BidirectionalCell(rnn.LSTMCell(3), rnn.RNNCell(2))
    assert [s.shape for s in bi.begin_state(batch_size=4)] == [(4, 3), (4, 3), (4, 2)]
    assert rnn.ZoneoutCell(rnn.GRUCell(3)).begin_state(batch_size=2)[0].shape == (2, 3)


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
def test_unroll_inputs_layouts_and_merge(layout):
    cell, ref = make("lstm")
    xs = arr(4, 2, 3)  # (T, N, C)
    want, want_st = unroll_ref(ref, weights(cell), xs.astype("float64"), [onp.zeros((2, 4))] * 2)
    data = np.array(xs if layout == "TNC" else xs.transpose(1, 0, 2))
    out, st = cell.unroll(4, data, layout=layout, merge_outputs=True)
    assert out.shape == data.shape[:2] + (4,)
    got = out.asnumpy() if layout == "TNC" else out.asnumpy().transpose(1, 0, 2)
    onp.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    onp.testing.assert_allclose(st[1].asnumpy(), want_st[1], rtol=1e-5, atol=1e-5)
    # merge_outputs None without valid_length: a list of steps; False: a list; list inputs work too
    for merge in (None, False):
        outs, _ = cell.unroll(4, data, layout=layout, merge_outputs=merge)
        assert isinstance(outs, list) and len(outs) == 4
        onp.testing.assert_allclose(outs[2].asnumpy(), want[2], rtol=1e-5, atol=1e-5)
    outs, _ = cell.unroll(4, [np.array(x) for x in xs], layout=layout, merge_outputs=True)
    got = outs.asnumpy() if layout == "TNC" else outs.asnumpy().transpose(1, 0, 2)
    onp.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["rnn_tanh", "lstm", "gru", "lstmp"])
@pytest.mark.parametrize("layout", ["NTC", "TNC"])
def test_unroll_valid_length_masks_and_keeps_last_states(name, layout):
    cell, ref = make(name)
    xs = arr(5, 3, 3)
    vl = [2, 5, 1]
    begin = [arr(*i["shape"]) for i in cell.state_info(3)]
    want, want_st = unroll_ref(ref, weights(cell), xs.astype("float64"), [b.astype("float64") for b in begin], vl)
    data = np.array(xs if layout == "TNC" else xs.transpose(1, 0, 2))
    out, st = cell.unroll(5, data, [np.array(b) for b in begin], layout=layout, valid_length=np.array(vl))
    assert not isinstance(out, list)  # merge_outputs None with valid_length: one array, as MXNet
    got = out.asnumpy() if layout == "TNC" else out.asnumpy().transpose(1, 0, 2)
    onp.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert got[2:, 0].max() == 0 and got[1:, 2].max() == 0 and abs(got[:, 1]).min() > 0
    for a, b in zip(st, want_st):
        onp.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-5)
    outs, _ = cell.unroll(5, data, [np.array(b) for b in begin], layout=layout, valid_length=np.array(vl),
                          merge_outputs=False)
    assert len(outs) == 5
    onp.testing.assert_allclose(outs[1].asnumpy(), want[1], rtol=1e-5, atol=1e-5)


def test_lstm_gradients_match_finite_differences():
    cell = rnn.LSTMCell(2, input_size=2)
    cell.cast("float64")
    cell.initialize(mx.init.Normal(0.7))
    vl = np.array([3, 2], dtype="float64")

    def f(x, h0, c0):
        out, st = cell.unroll(3, x, [h0, c0], layout="NTC", merge_outputs=True, valid_length=vl)
        return np.concatenate([out.reshape(-1), st[0].reshape(-1), st[1].reshape(-1)])

    check_grad(f, [RS.randn(2, 3, 2), RS.randn(2, 2), RS.randn(2, 2)], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make_cell", [lambda: rnn.GRUCell(2, input_size=2), lambda: rnn.LSTMPCell(3, 2, input_size=2)],
                         ids=["gru", "lstmp"])
def test_parameter_gradients_match_finite_differences(make_cell):
    cell = make_cell()
    cell.cast("float64")
    cell.initialize(mx.init.Normal(0.7))
    x = np.array(RS.randn(2, 3, 2), dtype="float64")
    params = cell.collect_params()
    names = sorted(params)
    init = [params[k].data().asnumpy() for k in names]

    def f(*vals):
        for k, v in zip(names, vals):
            params[k].set_data(v)
        out, st = cell.unroll(3, x, merge_outputs=True)
        return np.concatenate([out.reshape(-1), st[-1].reshape(-1)])

    expected, w = numeric_grads(f, init)
    with autograd.record():
        loss = (f(*[np.array(v, dtype="float64") for v in init]) * np.array(w, dtype="float64")).sum()
    loss.backward()
    for k, e in zip(names, expected):
        onp.testing.assert_allclose(params[k].grad().asnumpy(), e, rtol=1e-5, atol=1e-7, err_msg=k)


def test_sequential_cells_chain_and_concatenate_states():
    seq = rnn.HybridSequentialRNNCell()
    a, b = rnn.LSTMCell(4, input_size=3), rnn.GRUCell(2, input_size=4)
    seq.add(a)
    seq.add(b)
    seq.initialize(mx.init.Normal(0.5))
    assert len(seq) == 2 and seq[1] is b
    assert list(seq.collect_params()) == ["0.i2h_weight", "0.h2h_weight", "0.i2h_bias", "0.h2h_bias",
                                          "1.i2h_weight", "1.h2h_weight", "1.i2h_bias", "1.h2h_bias"]
    xs = arr(3, 2, 3)
    vl = [3, 1]
    h1, s1 = unroll_ref(lstm_ref, weights(a), xs.astype("float64"), [onp.zeros((2, 4))] * 2, vl)
    h2, s2 = unroll_ref(gru_ref, weights(b), h1, [onp.zeros((2, 2))], vl)
    out, st = seq.unroll(3, np.array(xs), layout="TNC", merge_outputs=True, valid_length=np.array(vl))
    onp.testing.assert_allclose(out.asnumpy(), h2, rtol=1e-5, atol=1e-5)
    assert len(st) == 3
    for got, want in zip(st, s1 + s2):
        onp.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-5)
    # stepping: one call runs the stack on the concatenated states
    o, ns = seq(np.array(xs[0]), seq.begin_state(batch_size=2))
    onp.testing.assert_allclose(o.asnumpy(), h2[0], rtol=1e-5, atol=1e-5)
    assert [s.shape for s in ns] == [(2, 4), (2, 4), (2, 2)]
    plain = rnn.SequentialRNNCell()
    plain.add(rnn.RNNCell(3))
    plain.add(rnn.BidirectionalCell(rnn.RNNCell(2), rnn.RNNCell(2)))
    plain.initialize()
    assert plain.unroll(2, np.ones((1, 2, 3)), merge_outputs=True)[0].shape == (1, 2, 4)
    with pytest.raises(MXNetError, match="cannot be stepped"):
        plain(np.ones((1, 3)), plain.begin_state(batch_size=1))


@pytest.mark.parametrize("merge", [True, False])
def test_bidirectional_concatenates_forward_then_reversed_backward(merge):
    l_cell, r_cell = rnn.LSTMCell(3, input_size=2), rnn.GRUCell(2, input_size=2)
    bi = rnn.BidirectionalCell(l_cell, r_cell)
    bi.initialize(mx.init.Normal(0.5))
    assert list(bi.collect_params())[:1] == ["l_cell.i2h_weight"] and "r_cell.h2h_bias" in bi.collect_params()
    xs = arr(2, 4, 2)  # NTC
    vl = [4, 2]
    pl, pr = weights(l_cell), weights(r_cell)
    want = onp.zeros((2, 4, 5))
    want_st = [onp.zeros((2, 3)), onp.zeros((2, 3)), onp.zeros((2, 2))]
    for b, n in enumerate(vl):  # each sequence alone, over its valid steps only
        seq = xs[b:b + 1, :n].transpose(1, 0, 2).astype("float64")
        fw, fst = unroll_ref(lstm_ref, pl, seq, [onp.zeros((1, 3))] * 2)
        bw, bst = unroll_ref(gru_ref, pr, seq[::-1], [onp.zeros((1, 2))])
        want[b, :n] = onp.concatenate([fw[:, 0], bw[::-1, 0]], axis=1)
        for s, v in zip(want_st, fst + bst):
            s[b] = v[0]
    out, st = bi.unroll(4, np.array(xs), layout="NTC", merge_outputs=merge, valid_length=np.array(vl))
    got = out.asnumpy() if merge else onp.stack([o.asnumpy() for o in out], axis=1)
    onp.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for a, b in zip(st, want_st):
        onp.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-5)
    # without valid_length the backward cell sees the whole sequence reversed
    out, _ = bi.unroll(4, np.array(xs), layout="NTC", merge_outputs=True)
    bw, _ = unroll_ref(gru_ref, pr, xs.transpose(1, 0, 2)[::-1].astype("float64"), [onp.zeros((2, 2))])
    onp.testing.assert_allclose(out.asnumpy()[:, :, 3:], bw[::-1].transpose(1, 0, 2), rtol=1e-5, atol=1e-5)
    with pytest.raises(NotImplementedError, match="unroll"):
        bi(np.array(xs[:, 0]), bi.begin_state(batch_size=2))


class EchoCell(rnn.HybridRecurrentCell):
    """Output = input; one state passed through unchanged (to observe the modifier cells)."""

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, 64), "__layout__": "NC"}]

    def forward(self, inputs, states):
        return inputs, [states[0] + 0]


@pytest.mark.parametrize("drop_states", [0.0, 0.5])
def test_variational_dropout_same_mask_at_every_step(drop_states):
    cell = rnn.VariationalDropoutCell(EchoCell(), drop_inputs=0.5, drop_states=drop_states, drop_outputs=0.0)
    x = np.ones((2, 5, 64))
    with autograd.train_mode():
        out, _ = cell.unroll(5, x, merge_outputs=True)
        out2, _ = cell.unroll(5, x, merge_outputs=True)
    o = out.asnumpy()
    assert set(onp.unique(o)) == {0.0, 2.0}
    for t in range(1, 5):
        onp.testing.assert_array_equal(o[:, t], o[:, 0])
    assert (o[:, 0] != out2.asnumpy()[:, 0]).any()  # a new sequence, a new mask
    onp.testing.assert_array_equal(cell.unroll(5, x, merge_outputs=True)[0].asnumpy(), x.asnumpy())  # inference
    # state dropout: the same mask multiplies h at every step
    cell = rnn.VariationalDropoutCell(EchoCell(), drop_states=0.5)
    with autograd.train_mode():
        _, st = cell.unroll(3, x[:, :3], begin_state=[np.ones((2, 64))])
    s = st[0].asnumpy()
    assert set(onp.unique(s)) <= {0.0, 8.0} and (s == 8).any()  # (1/(1-p))^3 where kept thrice
    assert "p_state = 0.5" in repr(cell)


def test_variational_dropout_outputs_and_valid_length():
    cell = rnn.VariationalDropoutCell(EchoCell(), drop_outputs=0.5)
    x = np.ones((3, 4, 64))
    with autograd.train_mode():
        out, _ = cell.unroll(4, x, merge_outputs=True, valid_length=np.array([4, 2, 1]))
    o = out.asnumpy()
    assert o[1, 2:].max() == 0 and o[2, 1:].max() == 0
    onp.testing.assert_array_equal(o[0, 3], o[0, 0])


def test_zoneout_keeps_old_or_takes_new_and_is_identity_at_inference():
    base = rnn.GRUCell(6, input_size=3)
    cell = rnn.ZoneoutCell(base, zoneout_outputs=0.5, zoneout_states=0.5)
    cell.initialize(mx.init.Normal(0.5))
    assert list(cell.collect_params()) == ["base_cell.i2h_weight", "base_cell.h2h_weight", "base_cell.i2h_bias",
                                           "base_cell.h2h_bias"]
    xs = [np.array(arr(4, 3)) for _ in range(3)]
    ref, _ = base.unroll(3, xs, begin_state=[np.zeros((4, 6))], merge_outputs=False)
    out, _ = cell.unroll(3, xs, merge_outputs=False)  # inference: the base cell unchanged
    for a, b in zip(out, ref):
        onp.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6)
    cell.reset()
    states = cell.begin_state(batch_size=4)
    prev_out = onp.zeros((4, 6))
    with autograd.train_mode():
        for x in xs:
            new_out, new_states = base(x, states)
            out, next_states = cell(x, states)
            o, n = out.asnumpy(), new_out.asnumpy()
            assert ((o == n) | (o == prev_out)).all()
            s, ns, old = next_states[0].asnumpy(), new_states[0].asnumpy(), states[0].asnumpy()
            assert ((s == ns) | (s == old)).all()
            prev_out, states = o, next_states
    with pytest.raises(MXNetError, match="modifier"):
        base.begin_state(batch_size=2)


def test_dropout_and_residual_cells():
    cell = rnn.DropoutCell(0.5)
    x = np.ones((2, 3, 50))
    out, st = cell.unroll(3, x)  # inference: the input unchanged, no states
    assert st == []
    onp.testing.assert_array_equal(out.asnumpy(), x.asnumpy())
    with autograd.train_mode():
        out, _ = cell.unroll(3, x, merge_outputs=True)
        assert set(onp.unique(out.asnumpy())) == {0.0, 2.0}
        outs, _ = cell.unroll(3, [np.ones((2, 50))] * 3, merge_outputs=False)
    assert len(outs) == 3 and set(onp.unique(outs[1].asnumpy())) == {0.0, 2.0}
    assert repr(cell) == "DropoutCell(rate=0.5, axes=())"

    base = rnn.RNNCell(3, input_size=3)
    res = rnn.ResidualCell(base)
    res.initialize(mx.init.Normal(0.5))
    xs = arr(2, 4, 3)
    vl = [4, 2]
    ref, ref_st = unroll_ref(rnn_ref, weights(base), xs.transpose(1, 0, 2).astype("float64"), [onp.zeros((2, 3))],
                             vl)
    masked_x = xs.transpose(1, 0, 2) * (onp.arange(4)[:, None] < onp.array(vl))[:, :, None]
    out, st = res.unroll(4, np.array(xs), merge_outputs=True, valid_length=np.array(vl))
    onp.testing.assert_allclose(out.asnumpy(), (ref + masked_x).transpose(1, 0, 2), rtol=1e-5, atol=1e-5)
    onp.testing.assert_allclose(st[0].asnumpy(), ref_st[0], rtol=1e-5, atol=1e-5)
    o, _ = res(np.array(xs[:, 0]), res.begin_state(batch_size=2))
    onp.testing.assert_allclose(o.asnumpy(), ref[0] + xs[:, 0], rtol=1e-5, atol=1e-5)
    outs, _ = res.unroll(4, np.array(xs), merge_outputs=False)
    assert len(outs) == 4


# --- convolutional cells ----------------------------------------------------------------------
def conv_ref(x, w, b, pad, dilate):
    """Stride-1 N-d convolution of NC* data with (F, C, *k) weights."""
    k = w.shape[2:]
    xp = onp.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out_sp = [xp.shape[2 + i] - dilate[i] * (k[i] - 1) for i in range(len(k))]
    out = onp.zeros((x.shape[0], w.shape[0]) + tuple(out_sp))
    for kk in itertools.product(*[range(s) for s in k]):
        sl = tuple(slice(kk[i] * dilate[i], kk[i] * dilate[i] + out_sp[i]) for i in range(len(k)))
        out += onp.einsum("nc...,fc->nf...", xp[(slice(None), slice(None)) + sl], w[(slice(None), slice(None)) + kk])
    return out + b.reshape((1, -1) + (1,) * len(k))


def conv_cell_ref(kind, p, x, states, pad, dil, h_pad, h_dil):
    i2h = conv_ref(x, p["i2h_weight"], p["i2h_bias"], pad, dil)
    h2h = conv_ref(states[0], p["h2h_weight"], p["h2h_bias"], h_pad, h_dil)
    if kind == "RNN":
        h = onp.tanh(i2h + h2h)
        return h, [h]
    if kind == "LSTM":
        i, f, c, o = onp.split(i2h + h2h, 4, axis=1)
        c2 = sigmoid(f) * states[1] + sigmoid(i) * onp.tanh(c)
        h = sigmoid(o) * onp.tanh(c2)
        return h, [h, c2]
    xr, xz, xn = onp.split(i2h, 3, axis=1)
    hr, hz, hn = onp.split(h2h, 3, axis=1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    h = (1 - z) * onp.tanh(xn + r * hn) + z * states[0]
    return h, [h]


CONV_CASES = [
    # (dims, input_shape (C, *S), hidden, i2h_kernel, h2h_kernel, i2h_pad, i2h_dilate, h2h_dilate)
    (1, (2, 7), 3, 3, 3, 1, 1, 2),
    (2, (2, 5, 6), 2, (3, 2), 3, (1, 0), (1, 2), 1),
    (3, (1, 4, 3, 4), 2, 2, (1, 3, 1), 0, 1, (1, 1, 2)),
]
LAYOUTS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


def tup(n, v):
    return (v,) * n if isinstance(v, int) else tuple(v)


CONV_RUNS = [(kind, case, last) for kind in ("RNN", "LSTM", "GRU") for case in CONV_CASES for last in (False, True)
             if not (last and case[0] == 3 and kind != "LSTM")]  # one channel-last 3-D case is enough


@pytest.mark.parametrize("kind,case,channel_last", CONV_RUNS,
                         ids=[f"{k}-{c[0]}d-{'last' if l else 'first'}" for k, c, l in CONV_RUNS])
def test_conv_cells_against_numpy(kind, case, channel_last):
    dims, in_shape, hidden, ik, hk, ip, idl, hdl = case
    layout = LAYOUTS[dims][channel_last]
    cls = getattr(rnn, f"Conv{dims}D{kind}Cell")
    step_shape = in_shape[1:] + in_shape[:1] if channel_last else in_shape
    cell = cls(step_shape, hidden, ik, hk, i2h_pad=ip, i2h_dilate=idl, h2h_dilate=hdl, conv_layout=layout,
               i2h_bias_initializer="normal", h2h_bias_initializer="normal")
    cell.initialize(mx.init.Normal(0.5))
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    ik, hk, ip, idl, hdl = (tup(dims, v) for v in (ik, hk, ip, idl, hdl))
    out_sp = tuple(in_shape[1 + i] + 2 * ip[i] - idl[i] * (ik[i] - 1) for i in range(dims))
    h_pad = tuple(d * (k - 1) // 2 for d, k in zip(hdl, hk))
    p = weights(cell)
    if channel_last:
        assert p["i2h_weight"].shape == (gates * hidden,) + ik + (in_shape[0],)
        assert p["h2h_weight"].shape == (gates * hidden,) + hk + (hidden,)
        assert cell.state_info(2)[0] == {"shape": (2,) + out_sp + (hidden,), "__layout__": layout}
        p = {k: onp.moveaxis(v, -1, 1) if v.ndim > 1 else v for k, v in p.items()}
    else:
        assert p["i2h_weight"].shape == (gates * hidden, in_shape[0]) + ik
        assert p["h2h_weight"].shape == (gates * hidden, hidden) + hk
        assert cell.state_info(2)[0] == {"shape": (2, hidden) + out_sp, "__layout__": layout}
    assert p["i2h_bias"].shape == p["h2h_bias"].shape == (gates * hidden,)
    assert len(cell.state_info()) == (2 if kind == "LSTM" else 1)
    xs = arr(2, 2, *in_shape)  # (N, T, C, *S)
    out, st = cell.unroll(2, np.array(onp.moveaxis(xs, 2, -1) if channel_last else xs), merge_outputs=True)
    states = [onp.zeros((2, hidden) + out_sp)] * len(cell.state_info())
    want = []
    for t in range(2):
        o, states = conv_cell_ref(kind, p, xs[:, t].astype("float64"), states, ip, idl, h_pad, hdl)
        want.append(o)
    want = onp.stack(want, axis=1)
    got = onp.moveaxis(out.asnumpy(), -1, 2) if channel_last else out.asnumpy()
    onp.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    last = onp.moveaxis(st[-1].asnumpy(), -1, 1) if channel_last else st[-1].asnumpy()
    onp.testing.assert_allclose(last, states[-1], rtol=1e-4, atol=1e-4)


def test_conv_cell_gradients_and_repr():
    cell = rnn.Conv1DGRUCell((2, 5), 2, 3, 3, i2h_pad=1)
    cell.cast("float64")
    cell.initialize(mx.init.Normal(0.5))
    assert repr(cell) == "Conv1DGRUCell(2 -> 6, tanh, NCW)"
    assert sorted(cell.collect_params()) == ["h2h_bias", "h2h_weight", "i2h_bias", "i2h_weight"]

    def f(x, h):
        out, st = cell.unroll(2, x, [h], merge_outputs=True)
        return np.concatenate([out.reshape(-1), st[0].reshape(-1)])

    check_grad(f, [RS.randn(1, 2, 2, 5), RS.randn(1, 2, 5)], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("layout,step_shape,data_shape", [("NCHW", (0, 5, 5), (2, 3, 3, 5, 5)),
                                                           ("NHWC", (5, 5, 0), (2, 3, 5, 5, 3))])
def test_conv_cell_infers_input_channels(layout, step_shape, data_shape):
    cell = rnn.Conv2DLSTMCell(step_shape, 2, 3, 3, conv_layout=layout)
    assert cell.i2h_weight.shape == ((8, -1, 3, 3) if layout == "NCHW" else (8, 3, 3, -1))
    cell.initialize()
    out, st = cell.unroll(3, np.ones(data_shape), merge_outputs=True)
    assert cell.i2h_weight.shape == (8, 3, 3, 3)
    assert out.shape == ((2, 3, 2, 3, 3) if layout == "NCHW" else (2, 3, 3, 3, 2)) and len(st) == 2


def test_bidirectional_gradients_with_valid_length():
    bi = rnn.BidirectionalCell(rnn.GRUCell(2, input_size=2), rnn.RNNCell(2, input_size=2))
    bi.cast("float64")
    bi.initialize(mx.init.Normal(0.7))
    vl = np.array([2, 3])

    def f(x):
        out, st = bi.unroll(3, x, merge_outputs=True, valid_length=vl)
        return np.concatenate([out.reshape(-1)] + [s.reshape(-1) for s in st])

    check_grad(f, [RS.randn(2, 3, 2)], rtol=1e-5, atol=1e-7)


def test_params_save_and_load_by_name(tmp_path):
    cell = rnn.LSTMCell(3, input_size=2)
    cell.initialize(mx.init.Normal(0.5))
    f = str(tmp_path / "lstm.params")
    cell.save_parameters(f)
    other = rnn.LSTMCell(3)
    other.load_parameters(f)
    for k, v in cell.collect_params().items():
        onp.testing.assert_array_equal(other.collect_params()[k].data().asnumpy(), v.data().asnumpy())
    loaded = mx.npx.load(f)
    assert sorted(loaded) == ["h2h_bias", "h2h_weight", "i2h_bias", "i2h_weight"]
    stack = rnn.SequentialRNNCell()
    stack.add(rnn.LSTMCell(3, input_size=2))
    stack.initialize()
    stack.save_parameters(f)
    assert sorted(mx.npx.load(f))[:2] == ["0.h2h_bias", "0.h2h_weight"]


def test_hybridize_and_1x_hybrid_forward_cell():
    cell, ref = make("gru")
    x = np.array(arr(2, 3, 3))
    before, _ = cell.unroll(3, x, merge_outputs=True)
    cell.hybridize()
    after, _ = cell.unroll(3, x, merge_outputs=True)
    onp.testing.assert_allclose(after.asnumpy(), before.asnumpy(), rtol=1e-6)

    class Scale(rnn.HybridRecurrentCell):  # an MXNet 1.x style cell
        def __init__(self):
            super().__init__()
            self.w = mx.gluon.Parameter("w", shape=(1,), init=mx.init.Constant(2.0))

        def state_info(self, batch_size=0):
            return [{"shape": (batch_size, 3), "__layout__": "NC"}]

        def hybrid_forward(self, F, x, states, w):
            h = F.tanh(x * w + states[0])
            return h, [h]

    s = Scale()
    s.initialize()
    out, st = s.unroll(3, x, merge_outputs=True)
    h = onp.zeros((2, 3))
    for t in range(3):
        h = onp.tanh(x.asnumpy()[:, t] * 2 + h)
    onp.testing.assert_allclose(st[0].asnumpy(), h, rtol=1e-5)


def test_clear_errors():
    with pytest.raises(ValueError, match="RNNCell: hidden_size"):
        rnn.RNNCell(0)
    with pytest.raises(ValueError, match="LSTMCell: recurrent_activation"):
        rnn.LSTMCell(3, recurrent_activation="sigmoidal")
    with pytest.raises(ValueError, match="DropoutCell: rate"):
        rnn.DropoutCell(1.5)
    with pytest.raises(ValueError, match="ZoneoutCell: a BidirectionalCell"):
        rnn.ZoneoutCell(rnn.BidirectionalCell(rnn.RNNCell(2), rnn.RNNCell(2)))
    base = rnn.RNNCell(2)
    rnn.ResidualCell(base)
    with pytest.raises(ValueError, match="already modified"):
        rnn.ZoneoutCell(base)
    with pytest.raises(ValueError, match="Conv2DLSTMCell: only odd h2h_kernel"):
        rnn.Conv2DLSTMCell((3, 8, 8), 4, 3, (3, 2))
    with pytest.raises(ValueError, match="Conv1DRNNCell: conv_layout"):
        rnn.Conv1DRNNCell((3, 8), 4, 3, 3, conv_layout="NCHW")
    with pytest.raises(ValueError, match="Conv3DGRUCell: input_shape"):
        rnn.Conv3DGRUCell((3, 8, 8), 4, 3, 3)
    with pytest.raises(ValueError, match="Conv2DRNNCell: for 2D convolution, i2h_pad"):
        rnn.Conv2DRNNCell((3, 8, 8), 4, 3, 3, i2h_pad=(1, 1, 1))
    cell = rnn.RNNCell(2, input_size=3)
    cell.initialize()
    with pytest.raises(ValueError, match="length=4 but the input has 3 steps"):
        cell.unroll(4, np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="layout"):
        cell.unroll(3, np.ones((2, 3, 3)), layout="NCW")
    with pytest.raises(ValueError, match="valid_length needs a layout"):
        cell.unroll(3, np.ones((2, 3, 3)), layout="NCT", valid_length=np.array([1, 2]))
    with pytest.raises(ValueError, match="valid_length must have shape"):
        cell.unroll(3, np.ones((2, 3, 3)), valid_length=np.ones((2, 1)))


# --- against real MXNet 2.0.0b1 (files written by tests/data/rnn_cells/gen_cells.py) -----------
def _mx_bidir():
    return rnn.BidirectionalCell(rnn.LSTMCell(3), rnn.GRUCell(2))


def _mx_stack():
    s = rnn.HybridSequentialRNNCell()
    s.add(rnn.LSTMCell(4))
    s.add(rnn.ResidualCell(rnn.GRUCell(4)))
    return s


MXNET_CASES = {  # name: (the same cell as gen_cells.py, sizes left to the loaded file; layout)
    "rnn_relu": (lambda: rnn.RNNCell(4, activation="relu"), "NTC"),
    "lstm": (lambda: rnn.LSTMCell(4), "TNC"),
    "lstm_acts": (lambda: rnn.LSTMCell(3, activation="softsign", recurrent_activation="tanh"), "NTC"),
    "gru": (lambda: rnn.GRUCell(4), "NTC"),
    "lstmp": (lambda: rnn.LSTMPCell(5, 2), "NTC"),
    "bidir": (_mx_bidir, "NTC"),
    "stack": (_mx_stack, "TNC"),
    "conv2d_lstm": (lambda: rnn.Conv2DLSTMCell((2, 5, 5), 3, 3, 3, i2h_pad=1), "NTC"),
    "conv1d_gru": (lambda: rnn.Conv1DGRUCell((2, 7), 2, 3, 5, h2h_dilate=2), "NTC"),
    "conv3d_rnn": (lambda: rnn.Conv3DRNNCell((1, 3, 4, 4), 2, 2, 3, i2h_dilate=(1, 2, 1)), "NTC"),
}
MXNET_DIR = os.path.join(os.path.dirname(__file__), "data", "rnn_cells")


@pytest.mark.parametrize("name", sorted(MXNET_CASES))
def test_cells_match_real_mxnet(name):
    make_cell, layout = MXNET_CASES[name]
    cell = make_cell()
    cell.load_parameters(f"{MXNET_DIR}/{name}.params")  # by MXNet 2.x's names; fills deferred sizes
    ref = onp.load(f"{MXNET_DIR}/{name}.npz")
    begin = [np.array(ref[k]) for k in sorted(k for k in ref.files if k.startswith("begin"))] or None
    vl = np.array(ref["valid_length"]) if "valid_length" in ref.files else None
    x = ref["data"]
    out, st = cell.unroll(x.shape[layout.find("T")], np.array(x), begin_state=begin, layout=layout,
                          merge_outputs=True, valid_length=vl)
    onp.testing.assert_allclose(out.asnumpy(), ref["out"], rtol=1e-5, atol=1e-5)
    want_st = [ref[k] for k in sorted(k for k in ref.files if k.startswith("state"))]
    assert len(st) == len(want_st)
    for a, b in zip(st, want_st):
        onp.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-5)


def test_mxnet_1x_prefixed_parameter_file_loads_by_order():
    cell = rnn.LSTMPCell(5, 2)
    cell.load_parameters(f"{MXNET_DIR}/lstmp_v1.params")  # 'lstmp0_i2h_weight', ... from MXNet 1.9.1
    ref = onp.load(f"{MXNET_DIR}/lstmp_v1.npz")
    out, st = cell.unroll(3, np.array(ref["data"]), merge_outputs=True)
    onp.testing.assert_allclose(out.asnumpy(), ref["out"], rtol=1e-5, atol=1e-5)
    onp.testing.assert_allclose(st[1].asnumpy(), ref["state1"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["TNC", "NTC"])
def test_dynamic_unroll_matches_unroll(layout):
    cell, ref = make("lstm")
    xs = arr(4, 3, 3)  # (T, N, C)
    vl = [4, 0, 2]
    begin = [arr(3, 4), arr(3, 4)]
    want, want_st = unroll_ref(ref, weights(cell), xs.astype("float64"), [b.astype("float64") for b in begin], vl)
    data = np.array(xs if layout == "TNC" else xs.transpose(1, 0, 2))
    out, st = rnn.rnn_cell.dynamic_unroll(cell, data, [np.array(b) for b in begin], layout=layout,
                                          valid_length=np.array(vl))
    got = out.asnumpy() if layout == "TNC" else out.asnumpy().transpose(1, 0, 2)
    onp.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for a, b in zip(st, want_st):  # a length of 0 keeps the begin state
        onp.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-5)
    out, st = rnn.rnn_cell.dynamic_unroll(cell, data, [np.array(b) for b in begin], layout=layout)
    full, full_st = cell.unroll(4, data, [np.array(b) for b in begin], layout=layout, merge_outputs=True)
    onp.testing.assert_allclose(out.asnumpy(), full.asnumpy(), rtol=1e-6)
    onp.testing.assert_allclose(st[1].asnumpy(), full_st[1].asnumpy(), rtol=1e-6)
