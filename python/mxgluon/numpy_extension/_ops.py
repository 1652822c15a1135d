"""npx operators: reshape with MXNet's codes, stop_gradient, waitall, set_np/reset_np, ..."""
from ..numpy.multiarray import as_array, invoke

__all__ = ["save", "load", "savez", "from_dlpack", "to_dlpack_for_read", "to_dlpack_for_write", "reshape", "stop_gradient", "waitall", "set_np", "reset_np", "is_np_array", "is_np_shape", "batch_flatten"]


from ..numpy._creation import from_dlpack  # noqa: E402


def to_dlpack_for_read(data):
    """A DLPack capsule sharing ``data``'s memory."""
    return data.__dlpack__()


to_dlpack_for_write = to_dlpack_for_read


def reshape(a, newshape, reverse=False, order="C"):
    """Reshape with MXNet 2.x's special codes: -1 infer, -2 copy this dimension, -3 drop a dimension
    of size 1, -4 copy all remaining dimensions, -5 merge two dimensions, -6 split one into the next
    two values (one may be -1)."""
    shape = (newshape,) if isinstance(newshape, int) else tuple(newshape)
    return invoke("npx_reshape", [as_array(a)], newshape=shape, reverse=reverse)


def batch_flatten(x):
    """Collapse every dimension but the first: (d0, d1, ..., dk) -> (d0, d1*...*dk)."""
    return invoke("npx_reshape", [as_array(x)], newshape=(-2, -1))


def stop_gradient(data):
    """The same values, with no gradient flowing back."""
    return as_array(data).detach()


def waitall():
    """Computation is synchronous: nothing is pending."""


_np_active = [True]


def set_np(shape=True, array=True, dtype=False):
    """Accepted for compatibility: mxgluon always uses NumPy semantics."""
    _np_active[0] = True


def reset_np():
    """Accepted for compatibility."""


def is_np_array():
    return True


def is_np_shape():
    return True


def save(file, arr):
    """Save an ndarray, a list of them or a dict of name -> ndarray to ``file`` (NumPy ``.npz``,
    as MXNet 2.x's ``npx.savez`` writes). The file is written under a temporary name and renamed,
    so a failure never destroys an existing file. MXNet's binary format comes with Gluon's
    parameter files."""
    import os
    import tempfile

    import numpy as _onp

    from ..base import MXNetValueError
    from ..numpy.multiarray import ndarray

    if isinstance(arr, ndarray):
        arrays = {"arr_0": arr}
    elif isinstance(arr, (list, tuple)):
        arrays = {f"arr_{i}": a for i, a in enumerate(arr)}
    elif isinstance(arr, dict):
        arrays = dict(arr)
    else:
        raise MXNetValueError(f"npx.save: expected an ndarray, a list or a dict of ndarrays, got {type(arr).__name__}")
    for k, v in arrays.items():
        if not isinstance(v, ndarray):
            raise MXNetValueError(f"npx.save: {k!r} is a {type(v).__name__}, not an ndarray")
    d = os.path.dirname(os.path.abspath(file))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            _onp.savez(f, **{k: v.asnumpy() for k, v in arrays.items()})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)
    except BaseException:
        os.unlink(tmp)
        raise


def savez(file, *args, **kwds):
    """``numpy.savez`` for ndarrays: positional arrays are named ``arr_0``, ``arr_1``, ..."""
    arrays = {f"arr_{i}": a for i, a in enumerate(args)}
    arrays.update(kwds)
    save(file, arrays)


def load(file):
    """Load what ``save`` wrote: a dict of name -> ndarray (``arr_0``, ... for lists and single arrays)."""
    import zipfile

    import numpy as _onp

    from ..base import MXNetError
    from ..numpy.multiarray import from_numpy

    try:
        with _onp.load(file, allow_pickle=False) as z:
            if isinstance(z, _onp.ndarray):
                return from_numpy(z)
            return {k: from_numpy(z[k]) for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise MXNetError(f"npx.load: {file!r} is not a readable array file: {e}") from e
