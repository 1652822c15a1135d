"""mx.sym composition: ops by their MXNet 1.x names with MXNet's argument order, automatic names and
parameter variables, arithmetic, multi-output ops, shape inference, JSON round trips; composed symbols
run in a SymbolBlock against NumPy and against the equivalent Gluon layers."""
import json

import numpy as onp
import pytest

import mxgluon as mx
from mxgluon import autograd, gluon
from mxgluon.base import MXNetError
from mxgluon.gluon import nn

sym = mx.sym
RS = onp.random.RandomState(0)


def run(out, inputs, *arrays):
    """Outputs of a SymbolBlock of ``out`` on ``arrays`` (the parameters' values as given)."""
    block = gluon.SymbolBlock(out, inputs)
    block.initialize()
    res = block(*[mx.nd.array(a) for a in arrays])
    return [r.asnumpy() for r in res] if isinstance(res, list) else res.asnumpy()


def test_mlp_with_given_shapes_initializes_and_equals_numpy():
    with mx.name.NameManager():
        data = sym.var("data")
        w1 = sym.var("fc1_weight", shape=(8, 5), init=mx.init.Constant(0.25))
        b1 = sym.var("fc1_bias", shape=(8,))
        h = sym.Activation(sym.FullyConnected(data, weight=w1, bias=b1, num_hidden=8, name="fc1"), act_type="tanh")
        out = sym.FullyConnected(h, weight=sym.var("fc2_weight", shape=(3, 8)), num_hidden=3, no_bias=True,
                                 name="fc2")
    assert out.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight"]
    assert [op for _, op, _ in out._g.nodes() if op != "null"] == ["FullyConnected", "Activation", "FullyConnected"]
    assert h.name == "activation0" and out.name == "fc2"
    block = gluon.SymbolBlock(out, data)
    block.initialize(mx.init.Uniform(1.0))
    params = block.collect_params()
    assert params["fc1_weight"].shape == (8, 5) and params["fc1_bias"].shape == (8,)
    x = RS.randn(4, 5).astype("float32")
    y = block(mx.nd.array(x)).asnumpy()
    v = {k: p.data().asnumpy() for k, p in params.items()}
    # the variable's own initializer, else Block.initialize's (as MXNet's __init__ attribute wins)
    assert onp.all(v["fc1_weight"] == 0.25) and v["fc1_bias"].std() > 0.1 and onp.abs(v["fc2_weight"]).max() <= 1
    ref = onp.tanh(x @ v["fc1_weight"].T + v["fc1_bias"]) @ v["fc2_weight"].T
    onp.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def gluon_cnn():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"), nn.MaxPool2D(2), nn.Flatten(),
            nn.Dense(3))
    return net


def symbolic_cnn():
    data = sym.var("data")
    c = sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=4, name="conv0")
    b = sym.BatchNorm(c, moving_mean=sym.var("batchnorm0_running_mean"),
                      moving_var=sym.var("batchnorm0_running_var"), fix_gamma=False, eps=1e-5, name="batchnorm0")
    p = sym.Pooling(sym.Activation(b, act_type="relu"), kernel=(2, 2), stride=(2, 2), pool_type="max")
    return data, sym.FullyConnected(sym.Flatten(p), num_hidden=3, name="dense0")


def test_conv_net_equals_the_gluon_layers_forward_backward_and_running_statistics():
    with mx.name.NameManager():
        net = gluon_cnn()
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(RS.randn(2, 1, 8, 8))
    net(x)  # the shapes come from the Gluon layers
    data, out = symbolic_cnn()
    assert out.list_auxiliary_states() == ["batchnorm0_running_mean", "batchnorm0_running_var"]
    block = gluon.SymbolBlock(out, data, params=net.collect_params())  # shared by their 1.x names
    assert block.collect_params()["conv0_weight"] is net[0].weight
    onp.testing.assert_array_equal(block(x).asnumpy(), net(x).asnumpy())
    grads = []
    for model in (net, block):
        with autograd.record():
            y = model(x)
            loss = y * y
        loss.backward()
        grads.append((y.asnumpy(), net[0].weight.grad().asnumpy().copy(), net[5].bias.grad().asnumpy().copy(),
                      net[1].running_mean.data().asnumpy().copy()))
    for a, b in zip(grads[0][:3], grads[1][:3]):
        onp.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # each pass moved the running mean by the same batch mean: 0.1 m, then 0.9 * 0.1 m + 0.1 m
    onp.testing.assert_allclose(grads[1][3], 1.9 * grads[0][3], rtol=1e-5, atol=1e-7)


def test_missing_inputs_become_variables_named_as_mxnet_names_them():
    with mx.name.NameManager():
        x = sym.var("data")
        assert sym.FullyConnected(data=x, num_hidden=10, name="fc1").list_arguments() == [
            "data", "fc1_weight", "fc1_bias"]
        assert sym.FullyConnected(x, num_hidden=2, no_bias=True).list_arguments() == ["data", "fullyconnected0_weight"]
        assert sym.FullyConnected(x, num_hidden=2).name == "fullyconnected1"
        assert sym.FullyConnected(num_hidden=2).list_arguments() == [
            "fullyconnected2_data", "fullyconnected2_weight", "fullyconnected2_bias"]
        assert sym.Deconvolution(x, kernel=(2, 2), num_filter=2).list_arguments() == ["data", "deconvolution0_weight"]
        bn = sym.BatchNorm(x, name="bn")
        assert bn.list_arguments() == ["data", "bn_gamma", "bn_beta"]
        assert bn.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
        assert sym.Embedding(x, input_dim=5, output_dim=2).list_arguments() == ["data", "embedding0_weight"]
        assert sym.LeakyReLU(x, act_type="prelu").list_arguments() == ["data", "leakyrelu0_gamma"]
        assert sym.LeakyReLU(x, act_type="leaky").list_arguments() == ["data"]
        assert sym.RNN(x, mode="lstm", state_size=4, num_layers=1, name="rnn").list_arguments() == [
            "data", "rnn_parameters", "rnn_state", "rnn_state_cell"]
        assert sym.RNN(x, mode="gru", state_size=4, num_layers=1, name="gru").list_arguments() == [
            "data", "gru_parameters", "gru_state"]
        assert sym.elemwise_add(x, name="e").list_arguments() == ["data", "e_rhs"]
        assert sym.split(x, num_outputs=2).name is None and sym.SliceChannel(x, num_outputs=2).list_outputs() == [
            "slicechannel0_output0", "slicechannel0_output1"]


def test_arithmetic_is_mxnets_scalar_and_elementwise_ops():
    with mx.name.NameManager():
        x, y = sym.var("x"), sym.var("y")
        out = sym.Group([(x + 1) * 2 - x / 4, 2 - x, 3 / x, x ** 2, 2 ** x, -x, x * y + y, x ** y, 1 + x])
        ops = [op for _, op, _ in out._g.nodes() if op != "null"]
        assert ops[:4] == ["_plus_scalar", "_mul_scalar", "_div_scalar", "broadcast_sub"]
        assert {"_rminus_scalar", "_rdiv_scalar", "_power_scalar", "_rpower_scalar", "broadcast_power"} <= set(ops)
        assert out.list_outputs()[:2] == ["_minus0_output", "_rminusscalar0_output"]
    a = RS.uniform(0.5, 2, (3, 4)).astype("float32")
    b = RS.uniform(0.5, 2, (3, 4)).astype("float32")
    got = run(out, [x, y], a, b)
    want = [(a + 1) * 2 - a / 4, 2 - a, 3 / a, a ** 2, 2 ** a, -a, a * b + b, a ** b, 1 + a]
    for g, w in zip(got, want):
        onp.testing.assert_allclose(g, w, rtol=1e-5)
    with pytest.raises(TypeError, match="str is not supported"):
        x + "1"


def test_multi_output_ops_are_indexable():
    x = sym.var("data")
    parts = sym.split(x, num_outputs=3, axis=1, name="sp")
    assert len(parts) == 3 and parts.list_outputs() == ["sp_output0", "sp_output1", "sp_output2"]
    assert parts[2].list_outputs() == ["sp_output2"] and parts["sp_output1"].list_outputs() == ["sp_output1"]
    out = sym.Group([parts[2] * 10, sym.Concat(parts[0], parts[1], dim=1)])
    a = RS.randn(2, 6).astype("float32")
    got = run(out, x, a)
    onp.testing.assert_allclose(got[0], a[:, 4:] * 10, rtol=1e-6)
    onp.testing.assert_array_equal(got[1], a[:, :4])
    with pytest.raises(MXNetError, match="has 3 outputs"):
        sym.Activation(parts, act_type="relu")


def test_infer_shape_and_type_of_composed_symbols():
    _, out = symbolic_cnn()
    shapes = dict(conv0_weight=(4, 1, 3, 3), conv0_bias=(4,), batchnorm0_gamma=(4,), batchnorm0_beta=(4,),
                  batchnorm0_running_mean=(4,), batchnorm0_running_var=(4,), dense0_weight=(3, 64), dense0_bias=(3,))
    arg, outs, aux = out.infer_shape(data=(2, 1, 8, 8), **shapes)
    assert outs == [(2, 3)] and aux == [(4,), (4,)] and arg[0] == (2, 1, 8, 8) and arg[-1] == (3,)
    assert sym.Pooling(sym.var("d", shape=(1, 2, 6, 6)), kernel=(3, 3), stride=(3, 3)).infer_shape()[1] == [(1, 2, 2, 2)]
    assert (sym.var("a", shape=(2,), dtype="float64") * 2).infer_type()[1] == [onp.float64]
    with pytest.raises(MXNetError, match=r"shapes of \['conv0_weight', 'conv0_bias', .*'dense0_bias'\] are not "
                                         r"known.*backward"):
        out.infer_shape(data=(2, 1, 8, 8))
    with pytest.raises(MXNetError, match=r"\['bogus'\] are not inputs"):
        out.infer_shape(data=(2, 1, 8, 8), bogus=(1,))
    bad = dict(shapes, conv0_weight=(4, 2, 3, 3))
    with pytest.raises(MXNetError, match=r"conv0 \(Convolution\).*weight has shape \(4, 2, 3, 3\)"):
        out.infer_shape(data=(2, 1, 8, 8), **bad)


def test_unknown_parameter_shapes_in_a_symbol_block_name_the_parameters():
    x = sym.var("data")
    block = gluon.SymbolBlock(sym.FullyConnected(x, num_hidden=2, name="fc"), x)
    block.initialize()
    with pytest.raises(MXNetError, match=r"\['fc_weight', 'fc_bias'\] are unknown.*mx.sym.var"):
        block(mx.nd.ones((1, 3)))


def test_tojson_load_json_round_trip():
    with mx.name.NameManager():
        data, out = symbolic_cnn()
        out = sym.softmax(out * 2, axis=-1)
    text = out.tojson()
    doc = json.loads(text)
    assert [n["op"] for n in doc["nodes"] if n["op"] != "null"][-2:] == ["_mul_scalar", "softmax"]
    back = sym.load_json(text)
    assert back.list_arguments() == out.list_arguments() and back.list_outputs() == out.list_outputs()
    assert back.list_auxiliary_states() == out.list_auxiliary_states()
    assert back.tojson() == text
    with mx.name.NameManager():
        net = gluon_cnn()
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(RS.randn(2, 1, 8, 8))
    net(x)
    a = gluon.SymbolBlock(out, data, params=net.collect_params())(x)
    b = gluon.SymbolBlock(back, sym.var("data"), params=net.collect_params())(x)
    onp.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    onp.testing.assert_allclose(a.asnumpy().sum(axis=-1), 1, rtol=1e-5)


def test_composition_errors_are_clear():
    x = sym.var("data")
    with pytest.raises(AttributeError, match="no attribute 'NoSuchOp'"):
        sym.NoSuchOp(x)
    with pytest.raises(TypeError, match="argument 1 is a int"):
        sym.elemwise_add(x, 3)
    with pytest.raises(TypeError, match=r"takes 3 inputs \(data, weight, bias\), got 4"):
        sym.FullyConnected(x, x, x, x, num_hidden=2)
    with pytest.raises(TypeError, match="'gamma' is not one of its inputs"):
        sym.FullyConnected(x, gamma=x, num_hidden=2)
    with pytest.raises(TypeError, match="'weight' given twice"):
        sym.FullyConnected(x, x, weight=x, num_hidden=2)
    with pytest.raises(TypeError, match="order of its inputs"):
        sym.Reshape(a=x, b=x, shape=(1,))
    with pytest.raises(ValueError, match="attr="):
        sym.Activation(x, act_type="relu", attr={"lr_mult": "2"})
    with pytest.raises(MXNetError, match="kernel is required"):
        sym.Convolution(x, num_filter=2)
    a = sym.Activation(x, act_type="relu", name="act")
    with pytest.raises(MXNetError, match="the name act is taken"):
        sym.Activation(a, act_type="relu", name="act")


def test_parameter_var_composes_with_the_block_that_owns_it():
    with mx.name.NameManager():
        dense = nn.Dense(3, in_units=4)
    dense.initialize()
    w, b = dense.weight.var(), dense.bias.var()
    assert (w.name, w.attr("__shape__"), b.attr("__init__")) == ("dense0_weight", "(3, 4)", "zeros")
    data = sym.var("data")
    out = sym.FullyConnected(data, weight=w, bias=b, num_hidden=3)
    assert out.infer_shape(data=(2, 4))[1] == [(2, 3)]
    x = mx.nd.array(RS.randn(2, 4))
    block = gluon.SymbolBlock(out, data, params=dense.collect_params())
    onp.testing.assert_array_equal(block(x).asnumpy(), dense(x).asnumpy())
