"""npx sorting operators: MXNet's ``topk``."""
from ..numpy.multiarray import as_array, dtype_name, invoke

__all__ = ["topk"]


def topk(data, axis=-1, k=1, ret_typ="indices", is_ascend=False, dtype="float32"):
    """The ``k`` largest elements along ``axis`` (smallest with ``is_ascend``; None: the flattened
    array; ``k < 1``: all of them), in order. ``ret_typ``: 'value', 'indices' (of ``dtype``,
    float32 by default as in MXNet), 'mask' (ones at the selected positions, input-shaped) or
    'both' (values, indices). Values carry gradients."""
    if ret_typ not in ("value", "indices", "mask", "both"):
        raise ValueError(f"topk: ret_typ must be 'value', 'indices', 'mask' or 'both', not {ret_typ!r}")
    return invoke(
        "topk", [as_array(data)], axis=None if axis is None else int(axis), k=int(k), ret_typ=ret_typ,
        is_ascend=bool(is_ascend), dtype=dtype_name(dtype),
    )
