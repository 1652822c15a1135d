"""Writes the reference files of tests/test_gluon_rnn_cells.py with real MXNet 2.0.0b1:
    python -m venv venv && venv/bin/pip install "numpy<1.24" mxnet==2.0.0b1 && venv/bin/python gen_cells.py
For each case: NAME.params (save_parameters of the cell, random weights) and NAME.npz (the inputs,
begin states and valid_length given to unroll, and the outputs and states it returned). The sizes are
given in full: MXNet 2.0.0b1's cells do not infer input_size when run eagerly."""
import os

import mxnet as mx
import numpy as onp
from mxnet import np
from mxnet.gluon import rnn

HERE = os.path.dirname(os.path.abspath(__file__))


def bidir():
    return rnn.BidirectionalCell(rnn.LSTMCell(3, input_size=3), rnn.GRUCell(2, input_size=3))


def stack():
    s = rnn.HybridSequentialRNNCell()
    s.add(rnn.LSTMCell(4, input_size=3))
    s.add(rnn.ResidualCell(rnn.GRUCell(4, input_size=4)))
    return s


# name: (make cell, data shape, layout, valid_length, begin_state given, merge_outputs)
CASES = {
    "rnn_relu": (lambda: rnn.RNNCell(4, activation="relu", input_size=3), (2, 3, 3), "NTC", None, True, True),
    "lstm": (lambda: rnn.LSTMCell(4, input_size=3), (3, 2, 3), "TNC", [2, 3], True, True),
    "lstm_acts": (lambda: rnn.LSTMCell(3, activation="softsign", recurrent_activation="tanh", input_size=2), (2, 3, 2), "NTC",
                  None, False, True),
    "gru": (lambda: rnn.GRUCell(4, input_size=3), (2, 4, 3), "NTC", [4, 1], True, True),
    "lstmp": (lambda: rnn.LSTMPCell(5, 2, input_size=3), (2, 3, 3), "NTC", [3, 2], True, True),
    "bidir": (bidir, (2, 4, 3), "NTC", [2, 4], False, True),
    "stack": (stack, (3, 2, 3), "TNC", [3, 1], False, True),
    "conv2d_lstm": (lambda: rnn.Conv2DLSTMCell((2, 5, 5), 3, 3, 3, i2h_pad=1), (2, 2, 2, 5, 5), "NTC", None,
                    True, True),
    "conv1d_gru": (lambda: rnn.Conv1DGRUCell((2, 7), 2, 3, 5, h2h_dilate=2), (2, 3, 2, 7), "NTC", [3, 2], False,
                   True),
    "conv3d_rnn": (lambda: rnn.Conv3DRNNCell((1, 3, 4, 4), 2, 2, 3, i2h_dilate=(1, 2, 1)), (1, 2, 1, 3, 4, 4),
                   "NTC", None, False, True),
}


def main():
    rs = onp.random.RandomState(42)
    for name, (make, shape, layout, vl, give_states, merge) in CASES.items():
        cell = make()
        cell.initialize()
        batch = shape[layout.find("N")]
        x = rs.randn(*shape).astype("float32")
        for p in cell.collect_params().values():
            p.set_data(np.array(rs.randn(*p.shape).astype("float32") * 0.5))
        states = [rs.randn(*i["shape"]).astype("float32") for i in cell.state_info(batch)] if give_states else None
        out, st = cell.unroll(shape[layout.find("T")], np.array(x),
                              begin_state=[np.array(s) for s in states] if states is not None else None,
                              layout=layout, merge_outputs=merge,
                              valid_length=np.array(vl, dtype="float32") if vl is not None else None)
        cell.save_parameters(os.path.join(HERE, name + ".params"))
        extra = {f"begin{i}": s for i, s in enumerate(states or [])}
        extra.update({f"state{i}": s.asnumpy() for i, s in enumerate(st)})
        if vl is not None:
            extra["valid_length"] = onp.array(vl, dtype="float32")
        onp.savez(os.path.join(HERE, name + ".npz"), data=x, out=out.asnumpy(), **extra)
        print(name, cell, out.shape, [s.shape for s in st])


if __name__ == "__main__":
    main()
