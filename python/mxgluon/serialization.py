"""MXNet's array files through the Rust core: the binary NDArray list (``mx.nd.save``, 1.x
parameter files), NumPy ``.npz`` (2.x parameter files) and ``.npy``.

Loading detects the format by the first bytes; sparse arrays in a file load as dense arrays, and
int16/uint16 (uint32/uint64) arrays as int32 (int64). Saving writes ``FNAME.tmp-<pid>`` beside
the file, syncs it and renames it, so a failed save leaves the old file untouched.
"""
import os

from . import _core
from .base import MXNetTypeError, MXNetValueError
from .numpy.multiarray import _wrap, ndarray

__all__ = ["save_arrays", "load_arrays", "write_atomic"]

_FORMATS = ("binary", "npz", "npy")


def _path(fname, who):
    try:
        return os.fspath(fname)
    except TypeError:
        raise MXNetTypeError(f"{who}: fname must be a str or path, not {type(fname).__name__}") from None


def _split(data, who):
    """(names or None, arrays) of a dict name -> array, a list of arrays or one array."""
    if isinstance(data, ndarray):
        return None, [data]
    if isinstance(data, dict):
        items = list(data.items())
        for k, v in items:
            if not isinstance(k, str) or not isinstance(v, ndarray):
                raise MXNetTypeError(
                    f"{who}: only a dict of str -> ndarray or a list of ndarrays can be saved, "
                    f"got {type(k).__name__} -> {type(v).__name__}")
        return [k for k, _ in items], [v for _, v in items]
    if isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            if not isinstance(v, ndarray):
                raise MXNetTypeError(
                    f"{who}: only a dict of str -> ndarray or a list of ndarrays can be saved, "
                    f"item {i} is a {type(v).__name__}")
        return None, list(data)
    raise MXNetValueError(
        f"{who}: data must be an ndarray, a dict of str -> ndarray or a list of ndarrays, "
        f"not {type(data).__name__}")


def write_atomic(fname, data):
    """Write ``data`` (str or bytes) to ``fname`` through ``FNAME.tmp-<pid>``, synced and renamed:
    a failure leaves the old file untouched."""
    fname = os.fspath(fname)
    tmp = f"{fname}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w" if isinstance(data, str) else "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, fname)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_arrays(fname, data, format="binary"):
    """Save ``data`` (a dict name -> array, a list of arrays, or one array; ``mx.np.ndarray`` or
    ``mx.nd.NDArray``) to ``fname`` as ``format``: ``"binary"`` (MXNet's NDArray list, read by
    MXNet 1.x and 2.x), ``"npz"`` (as MXNet 2.x writes parameters; a list is named ``arr_0``,
    ``arr_1``, ...) or ``"npy"`` (one array)."""
    path = _path(fname, "save_arrays")
    if format not in _FORMATS:
        raise MXNetValueError(f"save_arrays: format must be one of {_FORMATS}, not {format!r}")
    names, arrays = _split(data, "save_arrays")
    if format == "npy" and len(arrays) != 1:
        raise MXNetValueError(f"save_arrays: an npy file holds one array, not {len(arrays)}")
    _core.save_arrays(path, names, [a._t for a in arrays], format)


def load_arrays(fname, cls=None):
    """Load an array file of any of the three formats: a dict name -> array when the file names
    its arrays (npz, a binary dict), else a list (an npy file gives a list of one). Arrays are
    ``mx.np.ndarray`` on the CPU, or ``cls`` (e.g. ``mx.nd.NDArray``)."""
    names, tensors, _format, _records = _core.load_arrays(_path(fname, "load_arrays"))
    arrays = [_wrap(t, cls) for t in tensors]
    return arrays if names is None else dict(zip(names, arrays))
