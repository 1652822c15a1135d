"""Writes lstmp_v1.params / lstmp_v1.npz with real MXNet 1.9.1 (a venv with "numpy<1.24" mxnet==1.9.1):
the ParameterDict.save of an LSTMPCell (gluon.contrib.rnn in 1.x), whose names carry the 1.x prefix
('lstmp0_i2h_weight', ...) and are matched to ours by creation order, and one unroll on it."""
import os

import mxnet as mx
import numpy as onp
from mxnet.gluon.contrib import rnn

HERE = os.path.dirname(os.path.abspath(__file__))

rs = onp.random.RandomState(7)
cell = rnn.LSTMPCell(5, 2, input_size=3, prefix="lstmp0_")
cell.initialize()
for p in cell.collect_params().values():
    p.set_data(mx.nd.array(rs.randn(*p.shape) * 0.5))
x = rs.randn(2, 3, 3).astype("float32")
out, st = cell.unroll(3, mx.nd.array(x), layout="NTC", merge_outputs=True)
cell.collect_params().save(os.path.join(HERE, "lstmp_v1.params"))
onp.savez(os.path.join(HERE, "lstmp_v1.npz"), data=x, out=out.asnumpy(), state0=st[0].asnumpy(),
          state1=st[1].asnumpy())
print(list(cell.collect_params().keys()))
