"""MXNet 1.x Block naming: prefixes counted per name scope, prefixed Parameter names for lookups,
params= sharing, ParameterDict's 1.x methods. The expected names are what MXNet 1.9.1 gives for
the same code; the structural (2.x) names stay what save_parameters uses."""
import os

import numpy as onp
import pytest

import mxgluon as mx
from mxgluon import gluon
from mxgluon.gluon import nn


class Block1(gluon.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv = nn.Conv2D(2, 3, in_channels=1)
            self.bn = nn.BatchNorm()
            self.body = nn.HybridSequential()
            with self.body.name_scope():
                self.body.add(nn.Conv2D(2, 3), nn.Dense(2))
        self.out = nn.Dense(3)  # outside the name scope: named at top level, as in 1.x

    def hybrid_forward(self, F, x):
        return x


def legacy(net):
    return [p._legacy_name for p in net.collect_params().values()]


def test_prefixes_and_names_match_mxnet_1_9_1():
    with mx.name.NameManager():
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Conv2D(2, 3), nn.BatchNorm(), nn.Activation("relu"), nn.MaxPool2D(), nn.Dense(3), nn.Dense(2))
        assert legacy(net) == [
            "hybridsequential0_conv0_weight", "hybridsequential0_conv0_bias", "hybridsequential0_batchnorm0_gamma",
            "hybridsequential0_batchnorm0_beta", "hybridsequential0_batchnorm0_running_mean",
            "hybridsequential0_batchnorm0_running_var", "hybridsequential0_dense0_weight",
            "hybridsequential0_dense0_bias", "hybridsequential0_dense1_weight", "hybridsequential0_dense1_bias"]
        assert list(net.collect_params()) == ["0.weight", "0.bias", "1.gamma", "1.beta", "1.running_mean",
                                              "1.running_var", "4.weight", "4.bias", "5.weight", "5.bias"]
        assert net.prefix == "hybridsequential0_" and net.name == "hybridsequential0"
        assert net[0].name == "hybridsequential0_conv0" and net[2].prefix == "hybridsequential0_relu0_"
        assert net[3].prefix == "hybridsequential0_pool0_"
        assert legacy(Block1()) == [
            "block10_conv0_weight", "block10_conv0_bias", "block10_batchnorm0_gamma", "block10_batchnorm0_beta",
            "block10_batchnorm0_running_mean", "block10_batchnorm0_running_var",
            "block10_hybridsequential0_conv0_weight", "block10_hybridsequential0_conv0_bias",
            "block10_hybridsequential0_dense0_weight", "block10_hybridsequential0_dense0_bias",
            "dense0_weight", "dense0_bias"]
        assert legacy(Block1(prefix="blk_"))[:2] == ["blk_conv0_weight", "blk_conv0_bias"]
        assert legacy(Block1(prefix="blk_"))[-1] == "dense2_bias"
        with mx.name.NameManager():
            assert nn.Dense(1).prefix == "dense0_"  # a fresh count
        assert nn.Dense(1).prefix == "dense3_"


def test_1x_lookups_select_and_initialize():
    with mx.name.NameManager():
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    params = net.collect_params()
    assert params["hybridsequential0_dense0_weight"] is net[0].weight is params["0.weight"]
    assert "hybridsequential0_dense1_bias" in params and "0.bias" in params and "dense9_bias" not in params
    with pytest.raises(KeyError):
        params["hybridsequential0_dense7_weight"]
    assert list(net.collect_params(".*dense1_.*")) == ["1.weight", "1.bias"]
    assert list(net.collect_params(".*weight")) == ["0.weight", "1.weight"]
    assert net[0].params["hybridsequential0_dense0_bias"] is net[0].bias and list(net[0].params) == ["weight", "bias"]
    net.collect_params().initialize(mx.init.One(), ctx=mx.cpu())
    assert params["hybridsequential0_dense0_weight"].list_ctx() == [mx.cpu()]
    assert net.collect_params().list_ctx() == [mx.cpu()]
    out = net(mx.nd.ones((1, 3)))
    onp.testing.assert_array_equal(out.asnumpy(), [[12.0, 12.0]])  # (3 * 1) * 4 per unit of the second layer
    net.collect_params(".*dense1_weight").setattr("grad_req", "null")
    assert net[1].weight.grad_req == "null" and net[0].weight.grad_req == "write"


def test_params_argument_shares_by_1x_name():
    with mx.name.NameManager():
        d = nn.Dense(2, in_units=3)
        d2 = nn.Dense(2, in_units=3, params=d.params)
        assert d2.prefix == "dense1_" and d2.weight is d.weight and d2.bias is d.bias
        b = Block1()
        c = Block1(params=b.collect_params())
        # the children inside the name scope share; the one outside does not (as in 1.9.1)
        assert c.conv.weight is b.conv.weight and c.body[1].weight is b.body[1].weight
        assert c.out.weight is not b.out.weight
    d.initialize(mx.init.One())
    onp.testing.assert_array_equal(d2(mx.nd.ones((1, 3))).asnumpy(), [[3.0, 3.0]])


def test_params_get_and_1x_custom_block():
    class Scale(gluon.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.w = self.params.get("w", shape=(3,), init=mx.init.Constant(2.0))
                self.c = self.params.get_constant("c", [1.0, 2.0, 3.0])

        def hybrid_forward(self, F, x, w, c):
            return F.broadcast_add(F.broadcast_mul(x, w), c)

    blk = Scale(prefix="scale_")
    assert list(blk.params) == ["w", "c"] and blk.params["scale_w"] is blk.w
    assert list(blk.collect_params()) == ["w", "c"] and blk.collect_params()["scale_c"] is blk.c
    blk.initialize()
    onp.testing.assert_array_equal(blk(mx.nd.ones((2, 3))).asnumpy(), [[3.0, 4.0, 5.0]] * 2)


def test_standalone_parameter_dict_keys_by_full_name(tmp_path):
    pd = gluon.ParameterDict("net_")
    w = pd.get("w", shape=(2, 3))
    assert list(pd) == ["net_w"] and w.name == "net_w" and pd.get("w") is w and pd.prefix == "net_"
    pd.initialize(mx.init.Constant(5.0))
    f = str(tmp_path / "pd.params")
    pd.save(f, strip_prefix="net_")
    assert list(mx.nd.load(f)) == ["w"]
    other = gluon.ParameterDict("net_")
    other.get("w", shape=(2, 3))
    other.load(f, restore_prefix="net_")
    onp.testing.assert_array_equal(other["net_w"].data().asnumpy(), onp.full((2, 3), 5.0))


def test_collect_params_save_writes_1x_names_and_loads_back(tmp_path):
    with mx.name.NameManager():
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Dense(2, in_units=3), nn.Dense(1, in_units=2))
    net.initialize(mx.init.Uniform())
    f = str(tmp_path / "cp.params")
    net.collect_params().save(f)
    assert sorted(mx.nd.load(f)) == ["hybridsequential0_dense0_bias", "hybridsequential0_dense0_weight",
                                     "hybridsequential0_dense1_bias", "hybridsequential0_dense1_weight"]
    with mx.name.NameManager():
        again = nn.HybridSequential()
        with again.name_scope():
            again.add(nn.Dense(2, in_units=3), nn.Dense(1, in_units=2))
    again.collect_params().load(f)
    again.load_parameters(f)  # Block.load_parameters matches the 1.x names too
    for a, b in zip(net.collect_params().values(), again.collect_params().values()):
        onp.testing.assert_array_equal(a.data().asnumpy(), b.data().asnumpy())
    g = str(tmp_path / "sp.params")
    net.save_parameters(g)  # structural names, as MXNet 1.9.1's save_parameters writes them
    assert sorted(mx.nd.load(g)) == ["0.bias", "0.weight", "1.bias", "1.weight"]
    assert os.path.getsize(g) > 0


def test_recurrent_prefixes_match_mxnet_1_9_1():
    from mxgluon.gluon import rnn

    with mx.name.NameManager():
        prefixes = [b.prefix for b in (rnn.LSTM(3), rnn.LSTMCell(3), rnn.GRU(2), rnn.RNNCell(2), nn.Conv1D(2, 3),
                                       nn.Conv2DTranspose(2, 3), nn.AvgPool1D(), nn.Activation("tanh"))]
    assert prefixes == ["lstm0_", "lstm1_", "gru0_", "rnn0_", "conv0_", "conv1_", "pool0_", "tanh0_"]
    with mx.name.NameManager():
        cell = rnn.LSTMCell(3, input_size=2)
    assert cell.collect_params()["lstm0_i2h_weight"] is cell.i2h_weight
