"""Matrix products of ``mx.np``: dot, matmul, tensordot, einsum, inner, outer, vdot, kron.

Argument handling only; the products run in the Rust core (ops/linalg.rs).
"""
import numbers

from ..base import MXNetValueError
from .multiarray import as_array, invoke, ndarray

__all__ = ["dot", "matmul", "tensordot", "einsum", "inner", "outer", "vdot", "kron"]


def _pair(a, b):
    """Both operands as ndarrays (a non-ndarray takes the other's device and array class)."""
    if isinstance(a, ndarray):
        return a, as_array(b, like=a)
    b = as_array(b)
    return as_array(a, like=b), b


def _store(res, out):
    if out is None:
        return res
    out[...] = res
    return out


def dot(a, b, out=None):
    """NumPy ``dot``: 0-d operands multiply; otherwise the sum product of the last axis of ``a``
    with the second-to-last axis of ``b`` (its only axis when ``b`` is 1-D)."""
    a, b = _pair(a, b)
    return _store(invoke("_np_dot", [a, b]), out)


def matmul(a, b, out=None, **kwargs):
    """NumPy ``matmul``: 1-D operands are promoted to matrices, batch dimensions broadcast."""
    a, b = _pair(a, b)
    return _store(invoke("matmul", [a, b]), out)


def _axes_list(v):
    if isinstance(v, numbers.Integral):
        return (int(v),)
    return tuple(int(x) for x in v)


def tensordot(a, b, axes=2):
    """Sum products over ``axes``: an int N (the last N axes of ``a`` with the first N of ``b``)
    or a pair of axis sequences."""
    a, b = _pair(a, b)
    if isinstance(axes, numbers.Integral):
        return invoke("tensordot", [a, b], axes=int(axes))
    try:
        xa, xb = axes
    except (TypeError, ValueError):
        raise MXNetValueError(f"tensordot: axes must be an int or a pair of axis sequences, not {axes!r}")
    return invoke("tensordot", [a, b], a_axes_summed=_axes_list(xa), b_axes_summed=_axes_list(xb))


def einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    """Einstein summation: ``einsum('ij,jk->ik', a, b)``; implicit output, ``...`` and repeated
    subscripts (diagonals) are supported."""
    if not isinstance(subscripts, str):
        raise MXNetValueError("einsum: the first argument must be a subscripts string")
    if not operands:
        raise MXNetValueError("einsum: at least one operand is required")
    like = next((o for o in operands if isinstance(o, ndarray)), None)
    ops = [as_array(o, like=like) for o in operands]
    return _store(invoke("einsum", ops, subscripts=subscripts), out)


def inner(a, b):
    """Sum product over the last axes of ``a`` and ``b`` (multiplication for 0-d operands)."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([-1], [-1]))


def outer(a, b, out=None):
    """``outer(a, b)[i, j] = a.ravel()[i] * b.ravel()[j]``."""
    a, b = _pair(a, b)
    return _store(a.reshape(-1, 1) * b.reshape(1, -1), out)


def vdot(a, b):
    """Dot product of the flattened operands (real dtypes: no conjugation)."""
    a, b = _pair(a, b)
    return dot(a.reshape(-1), b.reshape(-1))


def kron(a, b):
    """Kronecker product."""
    a, b = _pair(a, b)
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    ia = tuple(x for d in sa for x in (d, 1))
    ib = tuple(x for d in sb for x in (1, d))
    prod = a.reshape(ia) * b.reshape(ib)
    return prod.reshape(tuple(x * y for x, y in zip(sa, sb)))
