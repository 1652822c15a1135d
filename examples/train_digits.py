"""Train a network on scikit-learn's bundled 8x8 digits with the Gluon API: a HybridSequential (an
MLP of Dense layers, or with ``--model cnn`` a small CNN of Conv2D, BatchNorm and MaxPool2D layers),
a DataLoader, softmax cross-entropy, a Trainer and the Accuracy metric.

    pip install . scikit-learn && python examples/train_digits.py [--model cnn]
"""
import argparse
import sys
import time

import numpy as onp
from sklearn.datasets import load_digits

import mxgluon as mx
from mxgluon import autograd, gluon
from mxgluon.gluon import nn


def progress(i, n, width=30):
    done = width * i // n
    return f"[{'=' * done}{'>' if done < width else ''}{'.' * (width - done - 1)}] {i}/{n}"


def evaluate(net, loader):
    metric = gluon.metric.Accuracy()
    for x, y in loader:
        metric.update(y, net(x))
    return metric.get()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    ap.add_argument("--epochs", type=int, default=None, help="default: 30 for the MLP, 15 for the CNN")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    if args.epochs is None:
        args.epochs = 30 if args.model == "mlp" else 15

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")
    x = x.reshape(len(x), -1) if args.model == "mlp" else x[:, None]  # (N, 64) or (N, 1, 8, 8)
    y = digits.target.astype("int64")
    order = onp.random.RandomState(args.seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    train = gluon.data.ArrayDataset(x[:split], y[:split])
    test = gluon.data.ArrayDataset(x[split:], y[split:])
    train_loader = gluon.data.DataLoader(train, batch_size=args.batch_size, shuffle=True)
    test_loader = gluon.data.DataLoader(test, batch_size=256)

    mx.random.seed(args.seed)
    net = nn.HybridSequential()
    if args.model == "mlp":
        net.add(nn.Dense(128, activation="relu"), nn.Dropout(0.1), nn.Dense(64, activation="relu"), nn.Dense(10))
    else:
        net.add(nn.Conv2D(32, 3, padding=1, use_bias=False), nn.BatchNorm(), nn.Activation("relu"),
                nn.Conv2D(32, 3, padding=1, activation="relu"), nn.MaxPool2D(2),  # 8x8 -> 4x4
                nn.Conv2D(64, 3, padding=1, activation="relu"), nn.MaxPool2D(2),  # 4x4 -> 2x2
                nn.Flatten(), nn.Dropout(0.2), nn.Dense(128, activation="relu"), nn.Dense(10))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    steps = args.epochs * len(train_loader)
    schedule = mx.lr_scheduler.CosineScheduler(max_update=steps, base_lr=args.lr, final_lr=args.lr / 100)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": args.lr, "lr_scheduler": schedule})
    print(f"digits: {len(train)} training and {len(test)} test images of 8x8 pixels, 10 classes; model: {args.model}")

    start = time.time()
    for epoch in range(1, args.epochs + 1):
        metric = gluon.metric.Accuracy()
        total_loss, seen = 0.0, 0
        n = len(train_loader)
        for i, (xb, yb) in enumerate(train_loader, 1):
            with autograd.record():
                out = net(xb)
                loss = loss_fn(out, yb)
            loss.backward()
            trainer.step(xb.shape[0])
            total_loss += float(loss.sum())
            seen += xb.shape[0]
            metric.update(yb, out)
            if sys.stdout.isatty():
                print(f"\repoch {epoch:2d} {progress(i, n)} loss {total_loss / seen:.4f}", end="", flush=True)
        test_acc = evaluate(net, test_loader)
        print(f"\repoch {epoch:2d} {progress(n, n)} loss {total_loss / seen:.4f} "
              f"train acc {metric.get()[1]:.4f} test acc {test_acc:.4f} ({time.time() - start:.1f}s)")
    print(f"final test accuracy: {test_acc:.4f}")
    return test_acc


if __name__ == "__main__":
    main()
