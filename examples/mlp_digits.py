"""Train a two-layer perceptron on scikit-learn's handwritten digits with mx.np and autograd.

The data (1,797 8x8 images, 10 classes) ships inside scikit-learn. Prints the loss and accuracy per
epoch and the final test accuracy; exits non-zero if the test accuracy is below 90%.

    python examples/mlp_digits.py [--epochs 30] [--batch-size 64] [--lr 0.1]
"""
import argparse
import sys
import time

import numpy as onp
from sklearn.datasets import load_digits

import mxgluon as mx
from mxgluon import np, npx


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--hidden", type=int, default=128)
    args = p.parse_args()

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int64")
    perm = onp.random.RandomState(0).permutation(len(x))
    x, y = x[perm], y[perm]
    n_test = len(x) // 5
    x_train, y_train = np.array(x[n_test:]), np.array(y[n_test:])
    x_test, y_test = np.array(x[:n_test]), np.array(y[:n_test])

    mx.random.seed(42)
    w1 = np.random.normal(0, (2.0 / 64) ** 0.5, size=(64, args.hidden))
    b1 = np.zeros((args.hidden,))
    w2 = np.random.normal(0, (2.0 / args.hidden) ** 0.5, size=(args.hidden, 10))
    b2 = np.zeros((10,))
    params = [w1, b1, w2, b2]
    for prm in params:
        prm.attach_grad()

    def net(inputs):
        h = npx.relu(np.dot(inputs, w1) + b1)
        return np.dot(h, w2) + b2

    def accuracy(inputs, labels):
        return float((np.argmax(net(inputs), axis=1) == labels).mean())

    n = x_train.shape[0]
    for epoch in range(1, args.epochs + 1):
        tic = time.time()
        order = np.random.permutation(n) if hasattr(np.random, "permutation") else np.arange(n)
        total = 0.0
        for start in range(0, n, args.batch_size):
            idx = order[start:start + args.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            with mx.autograd.record():
                logp = npx.log_softmax(net(xb), axis=-1)
                loss = -npx.pick(logp, yb, axis=-1).mean()
            loss.backward()
            for prm in params:
                prm -= args.lr * prm.grad
            total += float(loss) * xb.shape[0]
        print(f"epoch {epoch:3d}  loss {total / n:.4f}  train acc {accuracy(x_train, y_train):.4f}  "
              f"test acc {accuracy(x_test, y_test):.4f}  ({time.time() - tic:.2f} s)")
    acc = accuracy(x_test, y_test)
    print(f"final test accuracy: {acc:.4f}")
    return 0 if acc >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
