"""gluon.rnn.RNN / LSTM / GRU: the flat rnn_param, layouts, states, deferred input size, training, and
loading MXNet 1.x files that name each weight."""
import numpy as onp
import pytest

import mxgluon as mx
import rnn_reference as ref

np, rnn = mx.np, mx.gluon.rnn
rng = onp.random.RandomState(5)


def params_of(layer):
    return layer.rnn_param.data().asnumpy().astype(onp.float64)


@pytest.mark.parametrize("cls,mode,kw", [
    (rnn.LSTM, "lstm", {}), (rnn.GRU, "gru", {}), (rnn.RNN, "rnn_relu", {}),
    (rnn.RNN, "rnn_tanh", {"activation": "tanh"}), (rnn.LSTM, "lstm", {"projection_size": 3})])
def test_layer_matches_reference(cls, mode, kw):
    layer = cls(6, num_layers=2, bidirectional=True, **kw)
    layer.initialize(mx.init.Uniform(0.4))
    x = rng.uniform(-1, 1, (5, 2, 4)).astype(onp.float32)
    out = layer(np.array(x))
    assert out.shape == (5, 2, 2 * kw.get("projection_size", 6))
    # input_size was inferred; rnn_param has MXNet's packed size
    size = sum(int(onp.prod(s)) for _, s in ref.layout(mode, 2, 6, 2, 4, kw.get("projection_size")))
    assert layer.rnn_param.shape == (size,)
    p = params_of(layer)
    r = kw.get("projection_size", 6)
    h0 = onp.zeros((4, 2, r))
    c0 = onp.zeros((4, 2, 6))
    want = ref.rnn(mode, x.astype(onp.float64), p, h0, c0, 2, 6, 2, proj=kw.get("projection_size"))
    onp.testing.assert_allclose(out.asnumpy(), want[0], rtol=1e-4, atol=1e-5)
    # with states: (out, new states)
    states = layer.begin_state(2)
    assert [s.shape for s in states] == [i["shape"] for i in layer.state_info(2)]
    out2, new = layer(np.array(x), states)
    onp.testing.assert_allclose(out2.asnumpy(), out.asnumpy())
    assert len(new) == (2 if mode == "lstm" else 1)
    onp.testing.assert_allclose(new[0].asnumpy(), want[1], rtol=1e-4, atol=1e-5)


def test_ntc_layout_and_given_states():
    layer = rnn.LSTM(5, layout="NTC", input_size=3)
    layer.initialize()
    assert layer.rnn_param.shape == (4 * 5 * (3 + 5 + 2),)
    x = rng.uniform(-1, 1, (2, 7, 3)).astype(onp.float32)
    h0 = rng.uniform(-1, 1, (1, 2, 5)).astype(onp.float32)
    c0 = rng.uniform(-1, 1, (1, 2, 5)).astype(onp.float32)
    out, (h, c) = layer(np.array(x), [np.array(h0), np.array(c0)])
    assert out.shape == (2, 7, 5)
    want = ref.rnn("lstm", x.transpose(1, 0, 2).astype(onp.float64), params_of(layer), h0, c0, 1, 5, 1)
    onp.testing.assert_allclose(out.asnumpy(), want[0].transpose(1, 0, 2), rtol=1e-4, atol=1e-5)
    onp.testing.assert_allclose(c.asnumpy(), want[2], rtol=1e-4, atol=1e-5)


def test_state_checks_and_repr():
    layer = rnn.GRU(4, num_layers=2, input_size=3)
    layer.initialize()
    x = np.ones((3, 2, 3))
    with pytest.raises(ValueError, match="Invalid recurrent state shape"):
        layer(x, [np.zeros((1, 2, 4))])
    assert repr(layer) == "GRU(3 -> 4, TNC, num_layers=2)"
    assert repr(rnn.LSTM(8, bidirectional=True, dropout=0.5)) == "LSTM(None -> 8, TNC, dropout=0.5, bidirectional)"
    with pytest.raises(ValueError, match="layout"):
        rnn.LSTM(4, layout="CTN")
    lp = rnn.LSTM(8, projection_size=3, num_layers=2)
    assert [i["shape"] for i in lp.state_info(5)] == [(2, 5, 3), (2, 5, 8)]


def test_initializers():
    layer = rnn.LSTM(4, input_size=3, i2h_bias_initializer="lstmbias", h2h_weight_initializer="zeros")
    layer.initialize(mx.init.Xavier())
    w = ref.unpack(params_of(layer), "lstm", 1, 4, 1, 3)
    assert onp.abs(w["l0_i2h_weight"]).sum() > 0
    assert not w["l0_h2h_weight"].any() and not w["l0_h2h_bias"].any()
    onp.testing.assert_array_equal(w["l0_i2h_bias"], [0] * 4 + [1] * 4 + [0] * 8)


def test_training_step():
    layer = rnn.LSTM(8, num_layers=2, dropout=0.3, input_size=5)
    layer.initialize()
    trainer = mx.gluon.Trainer(layer.collect_params(), "sgd", {"learning_rate": 0.1})
    x = np.array(rng.uniform(-1, 1, (6, 4, 5)).astype(onp.float32))
    before = params_of(layer)
    with mx.autograd.record():
        loss = (layer(x) ** 2).sum()
    loss.backward()
    g = layer.rnn_param.grad().asnumpy()
    assert g.shape == before.shape and onp.abs(g).sum() > 0
    trainer.step(4)
    onp.testing.assert_allclose(params_of(layer), before - 0.1 / 4 * g, rtol=1e-5, atol=1e-6)


def test_sequence_length_layer():
    layer = rnn.GRU(3, input_size=2, use_sequence_length=True, bidirectional=True)
    layer.initialize()
    x = rng.uniform(-1, 1, (4, 2, 2)).astype(onp.float32)
    lengths = onp.array([4, 2])
    out, [h] = layer(np.array(x), layer.begin_state(2), np.array(lengths, dtype="int32"))
    want = ref.rnn("gru", x.astype(onp.float64), params_of(layer), onp.zeros((2, 2, 3)), None, 1, 3, 2,
                   lengths=lengths)
    onp.testing.assert_allclose(out.asnumpy(), want[0], rtol=1e-4, atol=1e-5)
    onp.testing.assert_allclose(h.asnumpy(), want[1], rtol=1e-4, atol=1e-5)


def named_weights(mode, layers, hidden, dirs, input_size, proj=None):
    return {n: rng.uniform(-1, 1, s).astype(onp.float32)
            for n, s in ref.layout(mode, layers, hidden, dirs, input_size, proj)}


@pytest.mark.parametrize("style", ["plain", "unfused", "paramdict"])
def test_load_mxnet1_names(tmp_path, style):
    named = named_weights("lstm", 2, 4, 2, 3)
    if style == "plain":
        saved = dict(named)
    elif style == "unfused":  # MXNet 1.9.1 save_parameters of a bidirectional layer
        saved = {f"_unfused.{n[1]}.{n[0]}_cell.{n[3:]}": v for n, v in named.items()}
    else:  # 1.x ParameterDict.save
        saved = {"lstm0_" + n: v for n, v in named.items()}
    f = str(tmp_path / "w.params")
    mx.nd.save(f, {k: mx.nd.array(v) for k, v in saved.items()})
    layer = rnn.LSTM(4, num_layers=2, bidirectional=True)
    layer.load_parameters(f)
    want = ref.pack(named, "lstm", 2, 4, 2, 3)
    onp.testing.assert_array_equal(layer.rnn_param.data().asnumpy(), want)
    assert layer(np.ones((2, 1, 3))).shape == (2, 1, 8)


def test_load_mxnet1_nested_and_roundtrip(tmp_path):
    net = mx.gluon.nn.HybridSequential()
    net.add(rnn.GRU(3, input_size=2), mx.gluon.nn.Dense(2, in_units=3, flatten=False))
    net.initialize()
    named = named_weights("gru", 1, 3, 1, 2)
    saved = {"0." + n: mx.nd.array(v) for n, v in named.items()}
    saved["1.weight"] = mx.nd.array(onp.ones((2, 3), dtype=onp.float32))
    saved["1.bias"] = mx.nd.array(onp.zeros(2, dtype=onp.float32))
    f = str(tmp_path / "nested.params")
    mx.nd.save(f, saved)
    net.load_parameters(f)
    onp.testing.assert_array_equal(net[0].rnn_param.data().asnumpy(), ref.pack(named, "gru", 1, 3, 1, 2))
    # and MXNet 2.x's own form round-trips
    g = str(tmp_path / "fused.params")
    net.save_parameters(g)
    other = mx.gluon.nn.HybridSequential()
    other.add(rnn.GRU(3), mx.gluon.nn.Dense(2, flatten=False))
    other.load_parameters(g)
    x = np.ones((2, 1, 2))
    onp.testing.assert_allclose(other(x).asnumpy(), net(x).asnumpy())
    bad = {"0.l0_i2h_weight": mx.nd.array(onp.ones((9, 2), dtype=onp.float32))}
    mx.nd.save(f, bad)
    with pytest.raises(ValueError, match="missing"):
        net.load_parameters(f)


@pytest.mark.parametrize("layer_cls,cell_cls,kw", [
    (rnn.LSTM, rnn.LSTMCell, {}), (rnn.GRU, rnn.GRUCell, {}),
    (rnn.RNN, rnn.RNNCell, {"activation": "tanh"}), (rnn.RNN, rnn.RNNCell, {"activation": "relu"})])
def test_layer_matches_stacked_cells(layer_cls, cell_cls, kw):
    """A fused 2-layer bidirectional layer equals the stack of BidirectionalCells with the same weights
    (sliced out of rnn_param by name), outputs and final states."""
    hidden, t, n, i = 4, 5, 3, 2
    layer = layer_cls(hidden, num_layers=2, bidirectional=True, input_size=i, **kw)
    layer.initialize(mx.init.Uniform(0.5))
    stack = rnn.SequentialRNNCell()
    for l in range(2):
        size = i if l == 0 else 2 * hidden
        stack.add(rnn.BidirectionalCell(cell_cls(hidden, input_size=size, **kw),
                                        cell_cls(hidden, input_size=size, **kw)))
    stack.initialize()
    flat, at = layer.rnn_param.data().asnumpy(), 0
    mode = {"LSTM": "lstm", "GRU": "gru"}.get(layer_cls.__name__, "rnn_" + kw.get("activation", ""))
    for name, shape in ref.layout(mode, 2, hidden, 2, i, None):
        size = int(onp.prod(shape))
        bi = stack[int(name[1])]
        cell = bi.l_cell if name[0] == "l" else bi.r_cell
        getattr(cell, name[3:]).set_data(np.array(flat[at:at + size].reshape(shape)))
        at += size
    assert at == flat.size
    x = np.array(rng.uniform(-1, 1, (t, n, i)).astype(onp.float32))
    out, states = layer(x, layer.begin_state(n))
    cell_out, cell_states = stack.unroll(t, x, layout="TNC", merge_outputs=True)
    onp.testing.assert_allclose(out.asnumpy(), cell_out.asnumpy(), rtol=1e-5, atol=1e-6)
    # the layer's h (and c) are (layers * directions, N, H); the cells' states come per cell, [h(, c)] each
    per = len(states)
    for k, s in enumerate(states):
        want = onp.stack([cell_states[j * per + k].asnumpy() for j in range(4)])
        onp.testing.assert_allclose(s.asnumpy(), want, rtol=1e-5, atol=1e-6)
