"""``npx.one_hot``, ``npx.pick`` and ``npx.boolean_mask`` (MXNet's indexing operators)."""
from ..base import MXNetValueError
from ..numpy.multiarray import as_array, dtype_name, invoke, ndarray

__all__ = ["one_hot", "pick", "boolean_mask"]


def one_hot(data, depth=None, on_value=1.0, off_value=0.0, dtype="float32"):
    """Rows of ``depth`` values, ``on_value`` at each index and ``off_value`` elsewhere (indices out
    of range give rows of ``off_value``); the result has shape ``data.shape + (depth,)``."""
    if depth is None:
        raise MXNetValueError("one_hot: depth is required")
    data = as_array(data)
    return invoke("one_hot", [data], depth=int(depth), on_value=float(on_value), off_value=float(off_value),
                  dtype=dtype_name(dtype) or "float32")


def pick(data, index, axis=-1, mode="clip", keepdims=False):
    """``data`` picked along ``axis`` at ``index`` (of data's shape without ``axis``); mode 'clip' or
    'wrap' for out-of-range indices. Differentiable with respect to ``data``."""
    data = as_array(data)
    if mode not in ("clip", "wrap"):
        raise MXNetValueError(f"pick: mode {mode!r} is not one of 'clip', 'wrap'")
    index = index if isinstance(index, ndarray) else as_array(index)
    index = index.to_device(data.device)
    return invoke("pick", [data, index], axis=int(axis), keepdims=bool(keepdims), mode=mode)


def boolean_mask(data, index, axis=0):
    """The slices of ``data`` along ``axis`` where the 1-d ``index`` is non-zero."""
    data = as_array(data)
    index = index if isinstance(index, ndarray) else as_array(index)
    return invoke("boolean_mask", [data, index.to_device(data.device)], axis=int(axis))
