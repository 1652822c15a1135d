"""Two builds of the core side by side in one process, for A/B figures on a noisy machine:

    python3 benches/ab_conv.py OLD/_core.abi3.so NEW/_core.abi3.so [--dw] [conv1 conv2 res]

Loads both extension modules, then times one op (forward, or with --dw forward and weight
gradient) from each, calls alternated, 60 pairs. The median of the per-pair ratios new/old is
steadier than either build's own figures when other load comes and goes. Cases: LeNet's two
convolutions (batch 64), the ResNet block's 3x3 (batch 32, 64 channels, 32x32), and `lstm`, the
fused 2-layer LSTM of `lstm.py` (T=35, batch 32, input and hidden 256; not run by default).
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


def op_call(core, op, arrays, attrs, dw):
    """Runs `op` on the arrays; with dw, also the gradient of its first output w.r.t. the second
    array (the weights)."""
    dev = ("cpu", 0)
    ts = [core.from_address(a.ctypes.data, "float32", list(a.shape), dev) for a in arrays]
    if dw:
        core.mark_variable(ts[1], "write", core.full(list(arrays[1].shape), 0.0, "float32", dev))

    def f():
        core.set_recording(dw)
        y = core.invoke(op, ts, attrs)
        core.set_recording(False)
        if dw:
            core.backward([y[0] if isinstance(y, (list, tuple)) else y], [None], None,
                          False, False, True)
    return f


def case(name, rng):
    """(op, arrays, attrs) of one case."""
    if name == "lstm":
        t, n, i, h = 35, 32, 256, 256
        size = 2 * (4 * h * (i + h) + 8 * h)
        arrays = [rng.uniform(-1, 1, (t, n, i)), rng.uniform(-0.06, 0.06, size),
                  onp.zeros((2, n, h)), onp.zeros((2, n, h))]
        attrs = {"mode": "lstm", "state_size": h, "num_layers": 2}
        return "rnn", [a.astype("float32") for a in arrays], attrs
    xs, ws, pad = CASES[name]
    arrays = [rng.standard_normal(s).astype("float32") for s in (xs, ws)]
    attrs = {"kernel": str(ws[2:]), "num_filter": str(ws[0]), "pad": str((pad, pad)),
             "no_bias": "True"}
    return "convolution", arrays, attrs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--dw", action="store_true")
    ap.add_argument("cases", nargs="*", default=list(CASES))
    args = ap.parse_intermixed_args()
    cores = load("old", args.old), load("new", args.new)
    for name in args.cases:
        op, arrays, attrs = case(name, onp.random.default_rng(0))
        fs = [op_call(c, op, arrays, attrs, args.dw) for c in cores]
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
