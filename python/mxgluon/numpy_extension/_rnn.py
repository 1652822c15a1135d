"""npx.rnn: MXNet's fused recurrent operator (ops/rnn.rs), the op the Gluon layers ``gluon.rnn.RNN``,
``LSTM`` and ``GRU`` run on."""
from ..base import MXNetValueError
from ..numpy.multiarray import as_array, invoke

__all__ = ["rnn"]


def rnn(data=None, parameters=None, state=None, state_cell=None, sequence_length=None, mode=None,
        state_size=None, num_layers=None, bidirectional=False, state_outputs=False, p=0.0,
        use_sequence_length=False, projection_size=None, lstm_state_clip_min=None, lstm_state_clip_max=None,
        lstm_state_clip_nan=False, **kwargs):
    """A multi-layer (optionally bidirectional) recurrent network over ``data`` (T, N, C), with every
    weight and bias in the flat ``parameters`` vector packed as MXNet packs it. ``mode`` is
    'rnn_relu', 'rnn_tanh', 'lstm' or 'gru'; ``state`` (num_layers*directions, N, state_size) is the
    initial hidden state, ``state_cell`` the LSTM's initial cell state. ``p`` is the dropout between
    layers (training only). Returns the output (T, N, directions*state_size), and with
    ``state_outputs`` the list [output, final state(, final cell state)]."""
    if mode is None or state_size is None or num_layers is None:
        raise MXNetValueError("rnn: mode, state_size and num_layers are required")
    data = as_array(data)
    inputs = [data, as_array(parameters, like=data), as_array(state, like=data)]
    if mode == "lstm":
        if state_cell is None:
            raise MXNetValueError("rnn: mode='lstm' needs state_cell, the initial cell state")
        inputs.append(as_array(state_cell, like=data))
    if use_sequence_length:
        if sequence_length is None:
            raise MXNetValueError("rnn: use_sequence_length=True needs the sequence_length array")
        inputs.append(as_array(sequence_length, like=data))
    attrs = {"mode": str(mode), "state_size": int(state_size), "num_layers": int(num_layers),
             "bidirectional": bool(bidirectional), "state_outputs": bool(state_outputs), "p": float(p),
             "use_sequence_length": bool(use_sequence_length),
             "projection_size": int(projection_size) if projection_size else None,
             "lstm_state_clip_min": None if lstm_state_clip_min is None else float(lstm_state_clip_min),
             "lstm_state_clip_max": None if lstm_state_clip_max is None else float(lstm_state_clip_max),
             "lstm_state_clip_nan": bool(lstm_state_clip_nan)}
    out = invoke("rnn", inputs, **attrs)
    return list(out) if isinstance(out, tuple) else out
