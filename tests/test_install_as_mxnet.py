"""mxgluon.install_as_mxnet(): ``import mxnet`` and its submodules give mxgluon's. Each check runs in
a fresh interpreter so that this process' sys.modules stays clean."""
import os
import subprocess
import sys
import textwrap

import mxgluon

# The fresh interpreter imports the mxgluon this one tests (the source tree with a development
# build, or the installed wheel).
SRC = os.path.dirname(os.path.dirname(os.path.abspath(mxgluon.__file__)))


def run(code):
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_mxnet_names_resolve_to_mxgluon_modules():
    out = run("""
        import mxgluon
        mxgluon.install_as_mxnet()
        mxgluon.install_as_mxnet()  # idempotent
        import sys
        assert sum(type(f).__name__ == "_MXNetFinder" for f in sys.meta_path) == 1
        import mxnet
        import mxnet as mx
        assert mx is mxgluon
        from mxnet.gluon import nn
        from mxnet import gluon, autograd, np, npx, nd, init, optimizer
        import mxnet.ndarray
        import mxnet.ndarray.ndarray
        import mxnet.gluon.nn.basic_layers
        import mxnet.context
        import mxnet.test_utils as tu
        assert nn is mxgluon.gluon.nn and gluon is mxgluon.gluon and np is mxgluon.np and npx is mxgluon.npx
        assert mxnet.ndarray is mxgluon.ndarray and autograd is mxgluon.autograd and nd is mxgluon.nd
        assert mxnet.context is mxgluon.device and tu is mxgluon.test_utils
        assert sys.modules["mxnet.gluon.nn"] is mxgluon.gluon.nn
        from mxnet.gluon.nn import Dense
        assert Dense is mxgluon.gluon.nn.Dense
        net = nn.Dense(2, in_units=3)
        net.initialize(mx.init.One())
        print(net(mx.nd.ones((1, 3))).asnumpy().tolist())
        for name in ("mxnet.no_such_module", "mxnet.gluon.data.vision"):
            try:
                __import__(name)
            except ModuleNotFoundError as e:
                assert name in str(e)
            else:
                raise AssertionError(name)
    """)
    assert out.strip() == "[[3.0, 3.0]]"


def test_refuses_when_another_mxnet_is_imported():
    out = run("""
        import sys, types
        sys.modules["mxnet"] = types.ModuleType("mxnet")
        import mxgluon
        try:
            mxgluon.install_as_mxnet()
        except mxgluon.MXNetError as e:
            print(e)
    """)
    assert "the real 'mxnet' is already imported" in out
