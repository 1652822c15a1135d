"""Writes the reference files of tests/test_legacy_zoo.py with real MXNet 1.9.1:
    python3 -m venv /tmp/mx19 && /tmp/mx19/bin/pip install mxnet==1.9.1 'numpy<1.24'
    /tmp/mx19/bin/python tests/data/legacy_zoo/gen_zoo.py
For each of resnet_v1 / resnet_v2 (tests/legacy_zoo_models.py's TinyResNet on BasicBlockV1 / V2):
NAME.params (save_parameters of the freshly initialized model, random BatchNorm statistics) and
NAME.npz (the input, the labels, the inference output, the loss of one SGD training step
(lr 0.1, batch statistics) and the inference output after that step)."""
import os
import sys

import mxnet as mx
import numpy as onp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from legacy_zoo_models import models, train_step  # noqa: E402

zoo = models(mx)
for name, block in (("resnet_v1", zoo.BasicBlockV1), ("resnet_v2", zoo.BasicBlockV2)):
    mx.random.seed(3)
    rs = onp.random.RandomState(11)
    net = zoo.TinyResNet(block)
    net.initialize(mx.init.Xavier(magnitude=2.0))
    x = mx.nd.array(rs.randn(2, 3, 6, 6))
    net(x)  # finishes the deferred initialization (the BatchNorms infer their channels)
    for p in net.collect_params(".*running_mean|.*running_var").values():
        p.set_data(mx.nd.array(rs.uniform(0.5, 1.5, p.shape) if p.name.endswith("var") else rs.randn(*p.shape) * 0.1))
    net.save_parameters(os.path.join(HERE, name + ".params"))
    label = mx.nd.array([0, 2])
    out = net(x)
    loss = train_step(mx, net, x, label)
    onp.savez(os.path.join(HERE, name + ".npz"), x=x.asnumpy(), label=label.asnumpy(), out=out.asnumpy(),
              loss=loss.asnumpy(), out_after=net(x).asnumpy())
    print(name, list(net.collect_params())[:3], "...", sorted(mx.nd.load(os.path.join(HERE, name + ".params")))[:4])
