"""The legacy ``NDArray`` class and 1.x functions (filled in by its own change)."""
from ..numpy.multiarray import ndarray

__all__ = ["NDArray"]


class NDArray(ndarray):
    """MXNet 1.x's array: the same data and operators as ``mx.np.ndarray``, with 1.x methods."""

    __slots__ = ()
