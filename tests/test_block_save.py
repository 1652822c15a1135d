"""Block.save / Block.load in MXNet 2.x's layout: our own round trip, and the files real MXNet 2.0.0b1
and 1.9.1 wrote (tests/data/mxnet/v2|v1/netblk-model.*)."""
import json
import os

import numpy as onp
import pytest

import mxgluon as mx
from mxgluon.base import MXNetError
from mxgluon.gluon import nn
from mxgluon.serialization import load_arrays

DATA = os.path.join(os.path.dirname(__file__), "data", "mxnet")
KEYS = ["conv2d1", "batchnorm2", "activation3", "maxpool2d4", "flatten5", "dense6", "dropout7"]


def netblk():
    """The model of the netblk files: Conv2D(4, 3, pad 1), BatchNorm, relu, MaxPool2D(2), Flatten,
    Dense(10), Dropout(0.5)."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"), nn.MaxPool2D(2), nn.Flatten(),
            nn.Dense(10), nn.Dropout(0.5))
    return net


X = mx.np.array(onp.random.RandomState(0).randn(2, 1, 8, 8).astype("float32"))


def test_save_writes_mxnet_2_layout_and_load_restores_it(tmp_path):
    net = netblk()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    y = net(X).asnumpy()
    prefix = str(tmp_path / "net")
    net.save(prefix)
    assert sorted(os.listdir(tmp_path)) == ["net-model.json", "net-model.params"]
    with open(prefix + "-model.json") as f:
        model = json.load(f)
    top = model["hybridsequential0"]
    assert top["hybridized"] is True and top["in_format"] == [0] and top["out_format"] == 0
    assert [k for k in top if isinstance(top[k], dict) and k != "params"] == KEYS
    assert top["conv2d1"] == {"hybridized": False, "params": {"weight": net[0].weight._uuid, "bias": net[0].bias._uuid}}
    assert mx.sym.load_json(top["inputs"][0]).list_arguments() == ["data"]
    graph = mx.sym.load_json(top["symbol"])
    assert graph.list_inputs()[0] == "data"
    assert net[0].weight._uuid.replace("-", "_") + "_weight" in graph.list_inputs()
    assert graph.list_auxiliary_states()[0].endswith("_running_mean")
    saved = load_arrays(prefix + "-model.params")
    assert list(saved) == list(net.collect_params())
    onp.testing.assert_array_equal(saved["5.weight"].asnumpy(), net[5].weight.data().asnumpy())

    other = netblk()
    other.load(prefix)
    assert other._active and not other[0]._active  # as saved: the top Block hybridized
    assert other[1].running_var._uuid == net[1].running_var._uuid
    onp.testing.assert_array_equal(other(X).asnumpy(), y)
    assert len(other._cached) == 1


def test_a_block_that_never_ran_hybridized_saves_no_graph(tmp_path):
    net = netblk()
    net.initialize()
    net(X)
    net.save(str(tmp_path / "plain"))
    with open(tmp_path / "plain-model.json") as f:
        top = json.load(f)["hybridsequential0"]
    assert top["hybridized"] is False and "symbol" not in top
    other = netblk()
    other.load(str(tmp_path / "plain"))
    assert not other._active
    onp.testing.assert_array_equal(other(X).asnumpy(), net(X).asnumpy())


@pytest.mark.parametrize("version,params", [("v2", "MyModel-model.params"), ("v1", "netblk-model.params")])
def test_loads_the_files_real_mxnet_wrote(version, params):
    net = netblk()
    net.load(os.path.join(DATA, version, "netblk"))  # 2.0.0b1 wrote its parameters to MyModel-model.params
    ref = load_arrays(os.path.join(DATA, version, params))
    for k, p in net.collect_params().items():
        onp.testing.assert_array_equal(p.data().asnumpy(), ref[k].asnumpy(), err_msg=k)
    assert net._active
    if version == "v2":
        assert net[0].weight._uuid == "3a0cf4ff-5f1f-481d-90a6-85806cf31fae"
        # MXNet's export of the model from the same session (same weights) gives the same outputs
        exported = mx.gluon.SymbolBlock.imports(os.path.join(DATA, "v2", "net-symbol.json"), "data",
                                                os.path.join(DATA, "v2", "net-0000.params"))
        onp.testing.assert_allclose(net(X).asnumpy(), exported(X).asnumpy(), rtol=1e-5, atol=1e-6)


def test_structure_mismatches_and_bad_files_are_clear_errors(tmp_path):
    net = netblk()
    net.initialize()
    net(X)
    prefix = str(tmp_path / "m")
    net.save(prefix)
    wrong = netblk()
    wrong._children["0"] = nn.Dense(4)
    with pytest.raises(MXNetError, match=r"expected hybridsequential0/dense1 \(Dense\), the file has "
                                         r"\['conv2d1', 'batchnorm2'"):
        wrong.load(prefix)
    short = nn.HybridSequential()
    short.add(nn.Conv2D(4, 3, padding=1))
    with pytest.raises(MXNetError, match="hybridsequential0 has 1 children, the file 7"):
        short.load(prefix)
    with pytest.raises(MXNetError, match="expected sequential0"):
        nn.Sequential().load(prefix)
    with pytest.raises(MXNetError, match="cannot read .*nothing-model.json"):
        net.load(str(tmp_path / "nothing"))
    (tmp_path / "bad-model.json").write_text("{not json")
    with pytest.raises(MXNetError, match="is not JSON"):
        net.load(str(tmp_path / "bad"))
    os.remove(prefix + "-model.params")
    with pytest.raises(MXNetError, match="m-model.params' not found"):
        netblk().load(prefix)


class KwargsBlock(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(2)

    def forward(self, x, scale=None):
        return self.dense(x) * scale


def test_a_failed_save_keeps_the_old_files(tmp_path):
    prefix = str(tmp_path / "k")
    net = KwargsBlock()
    net.initialize()
    net(mx.np.ones((1, 3)), 2.0)
    net.save(prefix)
    before = {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)}
    net.hybridize()
    net(mx.np.ones((1, 3)), scale=mx.np.ones((1, 2)))
    with pytest.raises(MXNetError, match="traced with keyword arguments"):
        net.save(prefix)
    assert {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)} == before
