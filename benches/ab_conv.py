"""Two builds of the core side by side in one process, for A/B figures on a noisy machine:

    python3 benches/ab_conv.py OLD/_core.abi3.so NEW/_core.abi3.so [--dw] [conv1 conv2 res]

Loads both extension modules, then times one convolution (forward, or with --dw forward and
weight gradient) from each, calls alternated, 60 pairs. The median of the per-pair ratios
new/old is steadier than either build's own figures when other load comes and goes. Cases:
LeNet's two convolutions (batch 64) and the ResNet block's 3x3 (batch 32, 64 channels, 32x32).
"""
import argparse
import importlib.util
import statistics
import time

import numpy as onp

CASES = {"conv1": ((64, 1, 28, 28), (20, 1, 5, 5), 0),
         "conv2": ((64, 20, 12, 12), (50, 20, 5, 5), 0),
         "res": ((32, 64, 32, 32), (64, 64, 3, 3), 1)}


def load(tag, path):
    # The init symbol follows the last name component, so both load as "<tag>._core".
    spec = importlib.util.spec_from_file_location(f"{tag}._core", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def conv_call(core, xn, wn, attrs, dw):
    dev = ("cpu", 0)
    x = core.from_address(xn.ctypes.data, "float32", list(xn.shape), dev)
    w = core.from_address(wn.ctypes.data, "float32", list(wn.shape), dev)
    if dw:
        core.mark_variable(w, "write", core.full(list(wn.shape), 0.0, "float32", dev))

    def f():
        core.set_recording(dw)
        y = core.invoke("convolution", [x, w], attrs)
        core.set_recording(False)
        if dw:
            core.backward([y[0] if isinstance(y, (list, tuple)) else y], [None], None,
                          False, False, True)
    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--dw", action="store_true")
    ap.add_argument("cases", nargs="*", default=list(CASES))
    args = ap.parse_intermixed_args()
    cores = load("old", args.old), load("new", args.new)
    for name in args.cases:
        xs, ws, pad = CASES[name]
        rng = onp.random.default_rng(0)
        xn = rng.standard_normal(xs).astype("float32")
        wn = rng.standard_normal(ws).astype("float32")
        attrs = {"kernel": str(ws[2:]), "num_filter": str(ws[0]), "pad": str((pad, pad)),
                 "no_bias": "True"}
        fs = [conv_call(c, xn, wn, attrs, args.dw) for c in cores]
        for f in fs:
            f()
            f()
        ts = [[], []]
        for _ in range(60):
            for f, t in zip(fs, ts):
                t0 = time.perf_counter()
                f()
                t.append(time.perf_counter() - t0)
        ratio = statistics.median(b / a for a, b in zip(*ts))
        old, new = (statistics.median(t) * 1e3 for t in ts)
        print(f"{name}: old {old:.2f} ms, new {new:.2f} ms, median ratio new/old {ratio:.3f}")


if __name__ == "__main__":
    main()
