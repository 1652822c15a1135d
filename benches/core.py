"""Core micro-benchmarks, side by side with PyTorch when it is installed (not run in CI).

    ./scripts/dev-build --release && python3 benches/core.py

Prints the median of several timed repeats for: a 16x16 float32 add (per op, loops of 1000),
a 1024^3 float32 matmul (GFLOP/s), a 1e7-element float32 add (GB/s moved: 2 reads + 1 write)
and a 1e7-element float32 sum (GB/s read).
"""
import os
import statistics
import sys
import time

import numpy as onp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import mxgluon as mx  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def median_time(f, repeats=7, inner=1):
    f()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
        ts.append((time.perf_counter() - t0) / inner)
    return statistics.median(ts)


def side_by_side(name, mx_fn, torch_fn, repeats, inner, width=40):
    """Print one row: mxgluon's median ms per call, and PyTorch's with the ratio when `torch_fn`."""
    t = median_time(mx_fn, repeats=repeats, inner=inner)
    line = f"{name:{width}s} mxgluon {t * 1e3:8.2f}"
    if torch_fn is not None:
        tt = median_time(torch_fn, repeats=repeats, inner=inner)
        line += f"   torch {tt * 1e3:8.2f}   mxgluon/torch = {t / tt:.2f}"
    print(line)


def workloads(lib):
    rng = onp.random.RandomState(0)
    if lib == "mxgluon":
        arr = lambda a: mx.np.array(a, dtype="float32")  # noqa: E731
        matmul = mx.np.matmul
        total = lambda x: x.sum()  # noqa: E731
        sync = lambda x: x.asnumpy() if x.size == 1 else x  # noqa: E731
    else:
        arr = lambda a: torch.from_numpy(onp.ascontiguousarray(a, dtype="float32"))  # noqa: E731
        matmul = torch.matmul
        total = lambda x: x.sum()  # noqa: E731
        sync = lambda x: x  # noqa: E731
    a16, b16 = arr(rng.rand(16, 16)), arr(rng.rand(16, 16))
    m1, m2 = arr(rng.rand(1024, 1024)), arr(rng.rand(1024, 1024))
    v1, v2 = arr(rng.rand(10**7)), arr(rng.rand(10**7))

    def small_adds():
        for _ in range(1000):
            a16 + b16

    res = {}
    res["16x16 add (us/op)"] = median_time(small_adds) / 1000 * 1e6
    t = median_time(lambda: matmul(m1, m2), repeats=5)
    res["1024^3 matmul (GFLOP/s)"] = 2 * 1024**3 / t / 1e9
    t = median_time(lambda: v1 + v2)
    res["1e7 add (GB/s)"] = 3 * 4 * 10**7 / t / 1e9
    t = median_time(lambda: sync(total(v1)))
    res["1e7 sum (ms)"] = t * 1e3
    return res


def main():
    libs = ["mxgluon"] + (["torch"] if torch is not None else [])
    if torch is not None:
        env = os.environ.get("MXNET_CPU_WORKER_NTHREADS") or os.environ.get("OMP_NUM_THREADS")
        torch.set_num_threads(int(env) if env else os.cpu_count())
    results = {lib: workloads(lib) for lib in libs}
    names = list(results["mxgluon"])
    print(f"{'workload':28s}" + "".join(f"{lib:>12s}" for lib in libs))
    for n in names:
        print(f"{n:28s}" + "".join(f"{results[lib][n]:12.3f}" for lib in libs))
    if torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
