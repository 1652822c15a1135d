"""Errors raised by mxgluon, as MXNet names them."""
from . import _core


class MXNetError(Exception):
    """Base class of mxgluon's errors (MXNet's ``mxnet.base.MXNetError``)."""


class MXNetValueError(MXNetError, ValueError):
    """A bad shape or argument value."""


class MXNetTypeError(MXNetError, TypeError):
    """A dtype the operation does not accept."""


class MXNetIndexError(MXNetError, IndexError):
    """An index out of range."""


_core.set_exceptions(MXNetError, MXNetValueError, MXNetTypeError, MXNetIndexError)

__all__ = ["MXNetError", "MXNetValueError", "MXNetTypeError", "MXNetIndexError"]
