"""``npx.sequence_mask``, ``npx.sequence_last`` and ``npx.sequence_reverse``: MXNet's operators on
padded batches of sequences, each one core op (ops/sequence.rs) with its own backward.

``data`` has the time axis ``axis`` and the batch axis the other of the first two: (T, N, ...) for
axis 0, (N, T, ...) for axis 1. With ``use_sequence_length=True``, ``sequence_length`` (N,) gives
each sequence's length (any numeric dtype; floats are truncated, lengths are clamped into [0, T]);
without it every sequence has all T steps and ``sequence_length`` is ignored, as in MXNet."""
from ..base import MXNetValueError
from ..numpy.multiarray import as_array, invoke, ndarray

__all__ = ["sequence_mask", "sequence_last", "sequence_reverse"]


def _inputs(name, data, sequence_length, use_sequence_length):
    data = as_array(data)
    if not use_sequence_length:
        return [data]
    if sequence_length is None:
        raise MXNetValueError(f"{name}: use_sequence_length=True needs the sequence_length array")
    length = sequence_length if isinstance(sequence_length, ndarray) else as_array(sequence_length)
    return [data, length.to_device(data.device)]


def sequence_mask(data, sequence_length=None, use_sequence_length=False, value=0.0, axis=0):
    """``data`` with the steps at or beyond each sequence's length set to ``value`` (the identity
    without ``use_sequence_length``)."""
    inputs = _inputs("sequence_mask", data, sequence_length, use_sequence_length)
    return invoke("sequence_mask", inputs, use_sequence_length=bool(use_sequence_length), value=float(value),
                  axis=int(axis))


def sequence_last(data, sequence_length=None, use_sequence_length=False, axis=0):
    """The last step of each sequence (step ``length - 1``; step T - 1 without
    ``use_sequence_length``), of shape (N, ...): ``data`` without its time axis."""
    inputs = _inputs("sequence_last", data, sequence_length, use_sequence_length)
    return invoke("sequence_last", inputs, use_sequence_length=bool(use_sequence_length), axis=int(axis))


def sequence_reverse(data, sequence_length=None, use_sequence_length=False, axis=0):
    """``data`` (T, N, ...) with the first ``length`` steps of each sequence reversed and the
    padding after them left in place (all T steps reversed without ``use_sequence_length``).
    Only ``axis=0`` is supported, as in MXNet."""
    inputs = _inputs("sequence_reverse", data, sequence_length, use_sequence_length)
    return invoke("sequence_reverse", inputs, use_sequence_length=bool(use_sequence_length), axis=int(axis))
