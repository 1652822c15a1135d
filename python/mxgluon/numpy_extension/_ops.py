"""npx operators: reshape with MXNet's codes, stop_gradient, waitall, set_np/reset_np, ..."""
from ..numpy.multiarray import as_array, invoke

__all__ = ["from_dlpack", "to_dlpack_for_read", "to_dlpack_for_write", "reshape", "stop_gradient", "waitall", "set_np", "reset_np", "is_np_array", "is_np_shape", "batch_flatten"]


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
