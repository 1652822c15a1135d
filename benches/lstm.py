"""A fused LSTM training step side by side with PyTorch when it is installed (not run in CI):

a 2-layer LSTM (input 256, hidden 256), sequence 35, batch 32, TNC; loss = sum of squares of the
output, backward, SGD step. Also the forward alone at inference.

    ./scripts/dev-build --release && python3 benches/lstm.py [--steps 10] [--bidirectional]

Prints the median time per step (per forward for inference) over several timed rounds.
"""
import argparse
import os
import sys

import numpy as onp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import mxgluon as mx  # noqa: E402
from mxgluon import autograd, gluon  # noqa: E402

from core import side_by_side  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

T, N, I, H, L = 35, 32, 256, 256, 2


def mx_lstm(x, bidirectional):
    layer = gluon.rnn.LSTM(H, num_layers=L, input_size=I, bidirectional=bidirectional)
    layer.initialize(mx.init.Xavier())
    trainer = gluon.Trainer(layer.collect_params(), "sgd", {"learning_rate": 0.01})
    x = mx.np.array(x)

    def step():
        with autograd.record():
            loss = (layer(x) ** 2).sum()
        loss.backward()
        trainer.step(N)
        layer.rnn_param.data().wait_to_read()

    def infer():
        layer(x).wait_to_read()
    return step, infer


def torch_lstm(x, bidirectional):
    layer = torch.nn.LSTM(I, H, num_layers=L, bidirectional=bidirectional)
    opt = torch.optim.SGD(layer.parameters(), lr=0.01)
    x = torch.from_numpy(x)

    def step():
        opt.zero_grad()
        (layer(x)[0] ** 2).sum().backward()
        opt.step()

    def infer():
        with torch.no_grad():
            layer(x)
    return step, infer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bidirectional", action="store_true")
    args = ap.parse_args()
    x = onp.random.RandomState(0).uniform(-1, 1, size=(T, N, I)).astype("float32")
    threads = mx._core.num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    kind = "bidirectional" if args.bidirectional else "unidirectional"
    print(f"{threads} threads, {L}-layer {kind} LSTM, T={T} N={N} input={I} hidden={H}")
    ms = mx_lstm(x, args.bidirectional)
    ts = torch_lstm(x, args.bidirectional) if torch is not None else (None, None)
    for k, name in enumerate(("train step (ms)", "inference forward (ms)")):
        side_by_side(name, ms[k], ts[k], repeats=args.repeats, inner=args.steps, width=24)
    if torch is not None:
        print(f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
