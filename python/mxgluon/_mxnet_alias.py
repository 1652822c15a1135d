"""``mxgluon.install_as_mxnet()``: make ``import mxnet`` (and every ``mxnet.x.y``) give the mxgluon
modules, so that scripts written for MXNet run unchanged."""
import importlib
import importlib.abc
import importlib.util
import sys
import types

from .base import MXNetError

__all__ = ["install_as_mxnet"]

_ALIAS, _REAL = "mxnet", "mxgluon"


def _real_module(fullname):
    """The mxgluon module that ``mxnet...`` name ``fullname`` stands for, or None when there is none.
    A name that is a module-valued attribute rather than a file (``mxnet.context``, ``mxnet.nd``)
    counts too."""
    real = _REAL + fullname[len(_ALIAS):]
    if importlib.util.find_spec(real) is not None:
        return importlib.import_module(real)
    parent, _, last = real.rpartition(".")
    attr = getattr(importlib.import_module(parent), last, None) if parent else None
    return attr if isinstance(attr, types.ModuleType) else None


class _MXNetFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``mxnet`` and ``mxnet.*`` and loads them as the already-imported mxgluon modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        if _real_module(fullname) is None:
            return None  # no such module: the import fails as usual
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return _real_module(spec.name)

    def exec_module(self, module):
        """The module is mxgluon's, already executed."""


def install_as_mxnet():
    """Make ``import mxnet``, ``from mxnet import gluon, nd, np, npx, autograd``, ``from mxnet.gluon
    import nn``, ``import mxnet.ndarray`` and the like resolve to mxgluon. Idempotent. Raises
    MXNetError when the real MXNet is already imported in this process."""
    current = sys.modules.get(_ALIAS)
    if current is not None and current is not sys.modules[_REAL]:
        raise MXNetError("install_as_mxnet: the real 'mxnet' is already imported in this process; call "
                         "mxgluon.install_as_mxnet() before anything imports mxnet")
    if not any(isinstance(f, _MXNetFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MXNetFinder())
    sys.modules[_ALIAS] = sys.modules[_REAL]
