"""One training step of a 784-512-512-10 MLP (ReLU, batch 128, softmax cross-entropy, SGD), with
mxgluon's Gluon API and the same model in PyTorch when it is installed (not run in CI).

    ./scripts/dev-build --release && python3 benches/mlp.py [--steps 50]

Prints the median step time (forward, backward and update) over several timed rounds, eager and
hybridized (the whole forward one traced graph, run in one native call).
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

BATCH, SIZES = 128, (784, 512, 512, 10)


def mxgluon_step(x, y, hybridize=False):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(SIZES[1], activation="relu"), gluon.nn.Dense(SIZES[2], activation="relu"),
            gluon.nn.Dense(SIZES[3]))
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    x, y = mx.np.array(x), mx.np.array(y)

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(BATCH)
    return step


def torch_step(x, y):
    net = torch.nn.Sequential(torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(),
                              torch.nn.Linear(SIZES[1], SIZES[2]), torch.nn.ReLU(),
                              torch.nn.Linear(SIZES[2], SIZES[3]))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    rs = onp.random.RandomState(0)
    x = rs.uniform(size=(BATCH, SIZES[0])).astype("float32")
    y = rs.randint(0, SIZES[3], size=(BATCH,)).astype("int64")
    threads = mx._core.num_threads()
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, SGD step, {threads} threads")
    if torch is not None:
        torch.set_num_threads(threads)
    for name, hybridize in (("train step, eager (ms)", False), ("train step, hybridized (ms)", True)):
        side_by_side(name, mxgluon_step(x, y, hybridize), torch_step(x, y) if torch else None,
                     repeats=5, inner=args.steps)
    if torch is not None:
        print(f"torch {torch.__version__} (eager)")


if __name__ == "__main__":
    main()
