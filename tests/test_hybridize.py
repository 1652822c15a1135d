"""hybridize: traced graphs run in one native call and equal eager code, forward and backward;
re-tracing on new signatures; the refusals; hooks; export to MXNet's files and SymbolBlock."""
import json
import os
import re

import numpy as onp
import pytest

import mxgluon as mx
from mxgluon import autograd, gluon, nd
from mxgluon.base import MXNetError
from mxgluon.gluon import nn

DATA = os.path.join(os.path.dirname(__file__), "data", "mxnet")


def lenet():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(6, 5, activation="relu"), nn.MaxPool2D(2), nn.Conv2D(16, 3), nn.BatchNorm(),
            nn.Activation("relu"), nn.AvgPool2D(2), nn.Flatten(), nn.Dense(32, activation="tanh"),
            nn.Dropout(0.3), nn.Dense(10))
    return net


def mlp():
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu"), nn.Dense(8), nn.LeakyReLU(0.1), nn.Dense(3))
    return net


def twin(make, x):
    """Two copies of one initialized net, the second hybridized."""
    a, b = make(), make()
    a.initialize(mx.init.Xavier())
    a(x)
    b.initialize()
    b(x)
    b.load_dict({k: v.data() for k, v in a.collect_params().items()})
    b.hybridize()
    return a, b


def step(net, x, y):
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    mx.random.seed(7)
    with autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    return loss.asnumpy(), {k: p.grad().asnumpy() for k, p in net.collect_params().items() if p.grad_req != "null"}


@pytest.mark.parametrize("make,shape", [(mlp, (5, 12)), (lenet, (4, 1, 16, 16))])
def test_hybridized_training_steps_equal_eager_exactly(make, shape):
    rs = onp.random.RandomState(0)
    x = mx.np.array(rs.uniform(-1, 1, size=shape).astype("float32"))
    y = mx.np.array(rs.randint(0, 3, size=shape[0]))
    a, b = twin(make, x)
    for i in range(3):  # the first hybridized call traces, the next ones run the graph
        la, ga = step(a, x, y)
        lb, gb = step(b, x, y)
        onp.testing.assert_array_equal(la, lb)
        for k in ga:
            onp.testing.assert_array_equal(ga[k], gb[k], err_msg=f"step {i} {k}")
    assert len(b._cached) == 1
    for k, p in a.collect_params().items():  # BatchNorm's running statistics moved the same
        onp.testing.assert_array_equal(p.data().asnumpy(), b.collect_params()[k].data().asnumpy())
    onp.testing.assert_array_equal(a(x).asnumpy(), b(x).asnumpy())  # inference mode: a second graph
    assert len(b._cached) == 2


def test_each_graph_run_draws_a_new_dropout_mask():
    net = nn.HybridSequential()
    net.add(nn.Dropout(0.5))
    net.hybridize()
    x = mx.np.ones((64, 64))
    with autograd.record():
        masks = [net(x).asnumpy() != 0 for _ in range(3)]
    assert (masks[1] != masks[2]).mean() > 0.3 and (masks[0] != masks[1]).mean() > 0.3
    x.attach_grad()
    with autograd.record():
        y = net(x)
    y.backward()
    onp.testing.assert_array_equal(x.grad.asnumpy(), (y.asnumpy() != 0) * 2.0)  # the same mask


def test_new_shapes_retrace_and_the_cache_is_bounded():
    net = mlp()
    net.initialize()
    net.hybridize()
    for n in range(1, 20):
        x = mx.np.ones((n, 12))
        onp.testing.assert_allclose(net(x).asnumpy(), net(x).asnumpy())
    assert len(net._cached) == net._cached.LIMIT
    net.hybridize(False)
    assert net(mx.np.ones((2, 12))).shape == (2, 3)


def test_graph_runs_once_per_call_and_children_do_not_trace_again():
    net = mlp()
    net.initialize()
    net.hybridize()
    x = mx.np.ones((2, 12))
    net(x)
    entry = net._cached.last()
    ops = [op for _, op, _ in entry.graph.nodes() if op != "null"]
    # Dense+relu arrives fused; the LeakyReLU stays its own op.
    assert ops == ["FullyConnected", "FullyConnected", "LeakyReLU", "FullyConnected"]
    assert all(len(child._cached) == 0 for child in net._children.values())


class ReadsValues(nn.HybridBlock):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent Python control flow
            return x * 2
        return x


class WritesInPlace(nn.HybridBlock):
    def forward(self, x):
        y = x * 1
        y[0] = 5
        return y


@pytest.mark.parametrize("block,what", [(ReadsValues, "reading the values"), (WritesInPlace, "x[key] = value")])
def test_untraceable_blocks_fail_naming_the_block_and_the_call(block, what):
    b = block()
    b.hybridize()
    with pytest.raises(MXNetError, match=f"{block.__name__} .* cannot be hybridized.*{re.escape(what)}"):
        b(mx.np.ones((2, 2)))
    assert not mx._core.trace_active()
    b.hybridize(False)
    assert b(mx.np.ones((2, 2))).shape == (2, 2)


class TwoOutputs(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(3, in_units=4)

    def forward(self, x, y, scale=2.0):
        h = self.dense(x)
        return h * scale, [h + y, mx.np.ones((1,))]


def test_nested_outputs_arguments_and_legacy_arrays():
    b = TwoOutputs()
    b.initialize()
    x, y = mx.np.ones((2, 4)), mx.np.full((2, 3), 0.5)
    want = b(x, y, scale=3.0)
    b.hybridize()
    for _ in range(2):
        got = b(x, y, scale=3.0)
        onp.testing.assert_array_equal(got[0].asnumpy(), want[0].asnumpy())
        onp.testing.assert_array_equal(got[1][0].asnumpy(), want[1][0].asnumpy())
        onp.testing.assert_array_equal(got[1][1].asnumpy(), [1.0])
    assert len(b._cached) == 1
    b(x, y, scale=4.0)
    assert len(b._cached) == 2
    out = b(nd.ones((2, 4)), nd.ones((2, 3)))
    assert isinstance(out[0], nd.NDArray)


def test_a_hybridized_call_leaves_no_reference_cycle():
    """Its arrays are freed when the caller drops them, not at the next garbage collection (a
    cycle kept every call's inputs and outputs alive until then)."""
    import gc
    b = TwoOutputs()
    b.initialize()
    b.hybridize()
    x, y = mx.np.ones((2, 4)), mx.np.full((2, 3), 0.5)
    b(x, y)
    gc.collect()
    gc.disable()
    try:
        out = b(x, y)
        with autograd.record():
            b(x, y)[0].sum().backward()
        del out
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_op_hook_sees_each_op_of_the_graph():
    net = mlp()
    net.initialize()
    net.hybridize()
    x = mx.np.ones((2, 12))
    net(x)
    seen = []
    net.register_op_hook(lambda name, op, arr: seen.append((name, op, arr.shape)))
    net(x)
    assert [s[1] for s in seen] == ["FullyConnected", "FullyConnected", "LeakyReLU", "FullyConnected"]
    assert seen[0][0] == "fullyconnected0_output" and seen[-1][2] == (2, 3)


def test_export_writes_mxnet_files_that_symbolblock_imports(tmp_path):
    rs = onp.random.RandomState(1)
    x = mx.np.array(rs.uniform(size=(2, 1, 16, 16)).astype("float32"))
    net = lenet()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    want = net(x).asnumpy()
    sym_file, param_file = net.export(str(tmp_path / "lenet"), epoch=3)
    assert param_file.endswith("lenet-0003.params")
    doc = json.load(open(sym_file))
    ops = [n["op"] for n in doc["nodes"] if n["op"] != "null"]
    assert ops == ["Convolution", "Activation", "Pooling", "Convolution", "BatchNorm", "Activation",
                   "Pooling", "Reshape", "FullyConnected", "Activation", "Dropout", "FullyConnected"]
    assert doc["attrs"] == {"mxnet_version": ["int", 10901]}
    names = mx.nd.load(param_file)
    assert "aux:3.running_mean" in names and "arg:0.weight" in names
    net2 = gluon.SymbolBlock.imports(sym_file, ["data"], param_file)
    onp.testing.assert_allclose(net2(x).asnumpy(), want, rtol=1e-6)
    sym, params = net.export(None)
    assert sym.list_auxiliary_states() == ["3.running_mean", "3.running_var"]
    assert set(params) == set(sym.list_arguments()[1:]) | set(sym.list_auxiliary_states())


def test_symbolblock_trains_and_reexports(tmp_path):
    net = mlp()
    net.initialize()
    net.hybridize()
    x = mx.np.ones((4, 12))
    net(x)
    f = net.export(str(tmp_path / "m"))
    sb = gluon.SymbolBlock.imports(*f[:1], ["data"], f[1])
    trainer = gluon.Trainer(sb.collect_params(), "sgd", {"learning_rate": 0.1})
    y = mx.np.array([0, 1, 2, 0])
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    losses = []
    for _ in range(5):
        with autograd.record():
            loss = loss_fn(sb(x), y)
        loss.backward()
        trainer.step(4)
        losses.append(float(loss.mean()))
    assert losses[-1] < losses[0]
    sb.hybridize()
    sb(x)
    g = sb.export(str(tmp_path / "again"))
    again = gluon.SymbolBlock.imports(g[0], ["data"], g[1])
    onp.testing.assert_allclose(again(x).asnumpy(), sb(x).asnumpy(), rtol=1e-6)


def test_symbol_api_on_a_loaded_file():
    sym = mx.sym.load(os.path.join(DATA, "v1", "net-symbol.json"))
    assert sym.list_arguments()[:3] == ["data", "hybridsequential0_conv0_weight", "hybridsequential0_conv0_bias"]
    assert sym.list_auxiliary_states() == ["hybridsequential0_batchnorm0_running_mean",
                                           "hybridsequential0_batchnorm0_running_var"]
    assert sym.list_outputs() == ["hybridsequential0_dropout0_fwd_output"]
    arg, out, aux = sym.infer_shape(data=(2, 1, 8, 8))
    assert out == [(2, 10)] and arg[1] == (4, 1, 3, 3) and aux == [(4,), (4,)]
    internals = sym.get_internals()
    assert "hybridsequential0_relu0_fwd_output" in internals.list_outputs()
    relu = internals["hybridsequential0_relu0_fwd_output"]
    assert relu.list_outputs() == ["hybridsequential0_relu0_fwd_output"]
    assert relu.infer_shape(data=(2, 1, 8, 8))[1] == [(2, 4, 8, 8)]
    assert relu.attr("__shape__") is None
    assert internals["hybridsequential0_conv0_weight"].attr("__shape__") == "(4, 1, 3, 3)"
    both = mx.sym.Group([relu, sym])
    assert both.list_outputs() == ["hybridsequential0_relu0_fwd_output", "hybridsequential0_dropout0_fwd_output"]
    assert len(both) == 2 and both[1].list_outputs() == sym.list_outputs()
    again = mx.sym.load_json(sym.tojson())
    assert again.list_inputs() == sym.list_inputs()
    v = mx.sym.var("x", shape=(2, 3), dtype="float16", lr_mult=2)
    assert v.list_arguments() == ["x"] and v.attr("__shape__") == "(2, 3)" and v.attr("__dtype__") == "2"


def test_feature_extraction_through_get_internals():
    sym = mx.sym.load(os.path.join(DATA, "v1", "net-symbol.json"))
    feat = sym.get_internals()["hybridsequential0_relu0_fwd_output"]
    full = gluon.SymbolBlock.imports(os.path.join(DATA, "v1", "net-symbol.json"), ["data"],
                                     os.path.join(DATA, "v1", "net-0000.params"))
    part = gluon.SymbolBlock(feat, mx.sym.var("data"), params=full.collect_params())
    x = mx.np.ones((2, 1, 8, 8))
    h = part(x)
    assert h.shape == (2, 4, 8, 8) and float(h.min()) >= 0


@pytest.mark.parametrize("v", ["v1", "v2"])
def test_real_exports_import_and_match_our_layers(v):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"), nn.MaxPool2D(2), nn.Flatten(),
            nn.Dense(10), nn.Dropout(0.5))
    net.initialize()
    x = mx.np.array(onp.random.RandomState(2).uniform(size=(2, 1, 8, 8)).astype("float32"))
    net(x)
    imported = gluon.SymbolBlock.imports(os.path.join(DATA, v, "net-symbol.json"), ["data"],
                                         os.path.join(DATA, v, "net-0000.params"))
    theirs = list(imported.collect_params().values())
    assert len(theirs) == 8
    for p, q in zip(net.collect_params().values(), theirs):  # the same order: conv, BatchNorm, dense
        p.set_data(q.data())
    onp.testing.assert_array_equal(imported(x).asnumpy(), net(x).asnumpy())
    with autograd.record():  # training mode: BatchNorm's batch statistics, Dropout's mask
        imported(x)  # builds the training-mode graph (its Dropout draws a key when made)
        mx.random.seed(3)
        a = imported(x)
        mx.random.seed(3)
        b = net(x)
    onp.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


@pytest.mark.parametrize("name", sorted({f[:-len("-symbol.json")] for f in os.listdir(os.path.join(DATA, "ops"))
                                         if f.endswith("-symbol.json")}))
def test_every_real_layer_export_imports_with_its_parameters(name):
    if name in ("LSTM_1", "GRU_1"):
        # 1.x writes the begin states as _zeros of shape (L, 0, H): the batch is left to MXNet's
        # backward shape inference, which mxgluon's graphs do not have.
        with pytest.raises(MXNetError, match="needs its full shape"):
            mx.sym.load(os.path.join(DATA, "ops", f"{name}-symbol.json"))
        return
    block = gluon.SymbolBlock.imports(os.path.join(DATA, "ops", f"{name}-symbol.json"), ["data"],
                                      os.path.join(DATA, "ops", f"{name}-0000.params"))
    sym = mx.sym.load(os.path.join(DATA, "ops", f"{name}-symbol.json"))
    assert sorted(block.collect_params()) == sorted(n for n in sym.list_inputs() if n != "data")


def test_calling_a_traced_block_on_a_symbol_gives_its_graph_for_feature_extraction():
    net = mlp()
    net.initialize()
    net.hybridize()
    x = mx.np.array(onp.random.RandomState(4).uniform(size=(3, 12)).astype("float32"))
    want = net(x).asnumpy()
    inputs = mx.sym.var("data")
    out = net(inputs)
    assert isinstance(out, mx.sym.Symbol) and out.list_arguments()[0] == "data"
    internals = out.get_internals()
    first = internals["fullyconnected0_output"]  # the first Dense with its relu fused
    feat = gluon.SymbolBlock([first, out], inputs, params=net.collect_params())
    h, y = feat(x)
    onp.testing.assert_array_equal(y.asnumpy(), want)
    w, b = net[0].weight.data().asnumpy(), net[0].bias.data().asnumpy()
    onp.testing.assert_allclose(h.asnumpy(), onp.maximum(x.asnumpy() @ w.T + b, 0), rtol=1e-5, atol=1e-6)
    fresh = mlp()
    with pytest.raises(MXNetError, match="run a forward pass first"):
        fresh(mx.sym.var("data"))


class Slices(nn.HybridBlock):
    def forward(self, x):
        return x[:, 1:3] * 2 + x[:, -1:], x[::2]


class IntIndex(nn.HybridBlock):
    def forward(self, x):
        return x[0]


def test_slicing_exports_as_mxnet_slice_and_integer_indexing_is_refused(tmp_path):
    b = Slices()
    b.hybridize()
    x = mx.np.array(onp.arange(24.0).reshape(4, 6))
    want = [o.asnumpy() for o in b(x)]
    a = x.asnumpy()
    onp.testing.assert_array_equal(want[0], a[:, 1:3] * 2 + a[:, -1:])
    onp.testing.assert_array_equal(want[1], a[::2])
    sym_file, param_file = b.export(str(tmp_path / "s"))
    doc = json.load(open(sym_file))
    slices = [n["attrs"] for n in doc["nodes"] if n["op"] == "slice"]
    assert {"begin": "(None, 1)", "end": "(None, 3)", "step": "(None, None)"} in slices
    assert {"begin": "(None, -1)", "end": "(None, None)", "step": "(None, None)"} in slices
    assert {"begin": "(None,)", "end": "(None,)", "step": "(2,)"} in slices
    back = gluon.SymbolBlock.imports(sym_file, ["data"], param_file)
    for got, w in zip(back(x), want):
        onp.testing.assert_array_equal(got.asnumpy(), w)
    i = IntIndex()
    i.hybridize()
    i(x)
    with pytest.raises(MXNetError, match="node slice0 .*integers, None or"):
        i.export(str(tmp_path / "i"))


def test_mx_sym_knows_the_registered_ops():
    assert "FullyConnected" in mx._core.op_names() and "slice" in mx._core.op_names()
    assert callable(mx.sym.FullyConnected) and callable(mx.sym._npi_add)
    with pytest.raises(AttributeError):
        mx.sym.NoSuchOperator
