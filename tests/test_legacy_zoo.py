"""MXNet 1.x style models (tests/legacy_zoo_models.py: ResNet v1/v2 basic blocks, F.Convolution and
friends in hybrid_forward, name_scope, params.get) built, run and trained one step, against the
outputs real MXNet 1.9.1 gave for the same model and weights (tests/data/legacy_zoo)."""
import os

import numpy as onp
import pytest

import mxgluon as mx
from legacy_zoo_models import models, train_step

DATA = os.path.join(os.path.dirname(__file__), "data", "legacy_zoo")
ZOO = models(mx)
BLOCKS = {"resnet_v1": ZOO.BasicBlockV1, "resnet_v2": ZOO.BasicBlockV2}


def load(name):
    net = ZOO.TinyResNet(BLOCKS[name])
    net.load_parameters(os.path.join(DATA, name + ".params"))
    return net, onp.load(os.path.join(DATA, name + ".npz"))


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_mxnet_1_9_1_parameters_give_mxnet_outputs(name):
    net, ref = load(name)
    out = net(mx.nd.array(ref["x"]))
    assert isinstance(out, mx.nd.NDArray) and out.shape == (2, 3)
    onp.testing.assert_allclose(out.asnumpy(), ref["out"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_one_training_step_matches_mxnet_1_9_1(name):
    net, ref = load(name)
    x, label = mx.nd.array(ref["x"]), mx.nd.array(ref["label"])
    loss = train_step(mx, net, x, label)
    onp.testing.assert_allclose(loss.asnumpy(), ref["loss"], rtol=1e-4, atol=1e-5)
    # the weights after the SGD step and the updated BatchNorm statistics
    onp.testing.assert_allclose(net(x).asnumpy(), ref["out_after"], rtol=1e-4, atol=1e-5)


def test_zoo_names_and_structure():
    with mx.name.NameManager():
        net = ZOO.TinyResNet(ZOO.BasicBlockV1)
    params = net.collect_params()
    assert list(params)[:3] == ["stem_weight", "fc_weight", "fc_bias"]
    assert "features.1.downsample.0.weight" in params and "features.0.downsample.0.weight" not in params
    # MXNet 1.9.1's prefixed names of the same model: the blocks do not enter their own name_scope, so
    # their layers are counted in the enclosing HybridSequential's
    assert params["tinyresnet0_stem_weight"] is net.stem_weight
    assert params["tinyresnet0_hybridsequential0_conv4_weight"] is net.features[1].downsample[0].weight
    assert params["tinyresnet0_hybridsequential0_batchnorm1_gamma"] is net.features[0].body[4].gamma
    assert net.features[1].prefix == "tinyresnet0_hybridsequential0_basicblockv11_"


def test_basic_blocks_shapes_and_gradients_from_fresh_initialization():
    for block in (ZOO.BasicBlockV1, ZOO.BasicBlockV2):
        b = block(4, 2, True, in_channels=2)
        b.initialize(mx.init.Xavier())
        x = mx.nd.array(onp.random.RandomState(0).randn(1, 2, 6, 6))
        with mx.autograd.record():
            y = b(x)
        assert y.shape == (1, 4, 3, 3)
        y.backward()
        grads = [p.grad().asnumpy() for p in b.collect_params().values() if p.grad_req != "null"]
        assert all(onp.isfinite(g).all() for g in grads) and any(onp.abs(g).sum() > 0 for g in grads)
