"""Convolution workloads side by side with PyTorch when it is installed (not run in CI):

- a LeNet training step: conv 5x5x20, maxpool 2, conv 5x5x50, maxpool 2, dense 500 (relu), dense 10;
  batch 64 of 1x28x28, softmax cross-entropy, SGD;
- a ResNet basic block at inference: conv3x3-BN-relu-conv3x3-BN + identity, relu; batch 32,
  64 channels, 32x32.

    ./scripts/dev-build --release && python3 benches/cnn.py [--steps 20] [--layout NCHW|NHWC]

Prints the median time per step (per forward for the block) over several timed rounds, eager and
hybridized, against PyTorch eager.
"""
import argparse
import os
import sys

import numpy as onp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import mxgluon as mx  # noqa: E402
from mxgluon import autograd, gluon  # noqa: E402
from mxgluon.gluon import nn  # noqa: E402

from core import side_by_side  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

LENET_BATCH, BLOCK_BATCH = 64, 32


def mx_lenet(x, y, layout, hybridize=False):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(20, 5, activation="relu", layout=layout), nn.MaxPool2D(2, layout=layout),
            nn.Conv2D(50, 5, activation="relu", layout=layout), nn.MaxPool2D(2, layout=layout),
            nn.Flatten(), nn.Dense(500, activation="relu"), nn.Dense(10))
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    x = mx.np.array(x if layout == "NCHW" else x.transpose(0, 2, 3, 1))
    y = mx.np.array(y)

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(LENET_BATCH)
    return step


class MxBasicBlock(nn.HybridBlock):
    def __init__(self, channels, layout):
        super().__init__()
        axis = layout.find("C")
        self.conv1 = nn.Conv2D(channels, 3, padding=1, use_bias=False, layout=layout)
        self.bn1 = nn.BatchNorm(axis=axis)
        self.conv2 = nn.Conv2D(channels, 3, padding=1, use_bias=False, layout=layout)
        self.bn2 = nn.BatchNorm(axis=axis)

    def forward(self, x):
        out = mx.npx.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return mx.npx.relu(out + x)


def mx_block(x, layout, hybridize=False):
    block = MxBasicBlock(64, layout)
    block.initialize(mx.init.Xavier())
    if hybridize:
        block.hybridize()
    x = mx.np.array(x if layout == "NCHW" else x.transpose(0, 2, 3, 1))
    block(x)

    def forward():
        block(x).wait_to_read()
    return forward


def torch_lenet(x, y):
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 20, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(20, 50, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(800, 500), torch.nn.ReLU(),
                              torch.nn.Linear(500, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
    return step


def torch_block(x):
    class Block(torch.nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(c)
            self.conv2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = torch.nn.BatchNorm2d(c)

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + x)

    block = Block(64).eval()
    x = torch.from_numpy(x)

    def forward():
        with torch.no_grad():
            block(x)
    return forward


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--layout", default="NCHW", choices=["NCHW", "NHWC"])
    args = ap.parse_args()
    rs = onp.random.RandomState(0)
    xl = rs.uniform(size=(LENET_BATCH, 1, 28, 28)).astype("float32")
    yl = rs.randint(0, 10, size=(LENET_BATCH,)).astype("int64")
    xb = rs.uniform(size=(BLOCK_BATCH, 64, 32, 32)).astype("float32")
    threads = mx._core.num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"{threads} threads, mxgluon layout {args.layout}")
    rows = [("LeNet train step (ms)", lambda: mx_lenet(xl, yl, args.layout),
             (lambda: torch_lenet(xl, yl)) if torch else None),
            ("LeNet train step, hybridized (ms)", lambda: mx_lenet(xl, yl, args.layout, True),
             (lambda: torch_lenet(xl, yl)) if torch else None),
            ("ResNet basic block inference (ms)", lambda: mx_block(xb, args.layout),
             (lambda: torch_block(xb)) if torch else None),
            ("ResNet block inference, hybridized (ms)", lambda: mx_block(xb, args.layout, True),
             (lambda: torch_block(xb)) if torch else None)]
    for name, mk_mx, mk_torch in rows:
        side_by_side(name, mk_mx(), mk_torch() if mk_torch else None, repeats=5, inner=args.steps)
    if torch is not None:
        print(f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
