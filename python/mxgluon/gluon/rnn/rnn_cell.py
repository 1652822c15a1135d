"""Recurrent cells: one time step of an RNN, LSTM, LSTMP or GRU, the containers that stack or
reverse cells, and the modifier cells (dropout, zoneout, residual). Each step is composed from
core ops (fully_connected, activation, split, where, take); ``unroll`` runs the steps in Python,
masking the padded steps MXNet's way when ``valid_length`` is given."""
from math import prod

from ... import numpy as np
from ... import numpy_extension as npx
from ...base import MXNetValueError, MXNetError
from ...device import current_device
from ..block import Block, HybridBlock
from ..parameter import Parameter
from ..utils import _indent
from ..nn.activations import LeakyReLU

__all__ = ["RecurrentCell", "HybridRecurrentCell", "RNNCell", "LSTMCell", "GRUCell", "SequentialRNNCell",
           "HybridSequentialRNNCell", "DropoutCell", "ModifierCell", "ZoneoutCell", "ResidualCell",
           "BidirectionalCell", "VariationalDropoutCell", "LSTMPCell"]


def _is_tensor(x):
    return isinstance(x, np.ndarray)


# --- sequence helpers -------------------------------------------------------------------------
# Masking, last states and reversal go through npx.sequence_mask / sequence_last /
# sequence_reverse, as in MXNet.

def _split(x, axis):
    """The slices of ``x`` along ``axis``, that axis removed."""
    return [np.squeeze(p, axis=axis) for p in np.split(x, x.shape[axis], axis=axis)]


def _lengths(valid_length, like):
    vl = valid_length if _is_tensor(valid_length) else np.array(valid_length, device=like.device)
    if vl.ndim != 1:
        raise MXNetValueError(f"valid_length must have shape (batch_size,), got {vl.shape}")
    return vl.to_device(like.device).astype("int32")  # truncated, as the sequence ops read them


def _sequence_mask(data, valid_length, axis):
    """``data`` with the steps at or beyond ``valid_length`` (along the time ``axis``, 0 or 1; the
    batch axis is the other one) set to 0."""
    if axis not in (0, 1):
        raise MXNetValueError(f"valid_length needs a layout with the time and batch axes first ('NTC' or 'TNC'), "
                              f"not a time axis at {axis}")
    return npx.sequence_mask(data, _lengths(valid_length, data), use_sequence_length=True, axis=axis)


def _format_sequence(length, inputs, layout, merge, in_layout=None):
    """(inputs as a list of steps (merge False) / one tensor (merge True) / as given (None), the
    time axis of ``layout``, the batch size)."""
    if inputs is None:
        raise MXNetValueError("unroll(inputs=None) is not supported: pass the input sequence")
    if not isinstance(layout, str) or "T" not in layout or "N" not in layout:
        raise MXNetValueError(f"unroll: layout must name a time axis 'T' and a batch axis 'N', got {layout!r}")
    axis = layout.find("T")
    in_axis = in_layout.find("T") if in_layout is not None else axis
    if _is_tensor(inputs):
        if inputs.ndim <= max(axis, layout.find("N")):
            raise MXNetValueError(f"unroll: input of shape {inputs.shape} does not match layout {layout!r}")
        batch_size = inputs.shape[layout.find("N")]
        if length is not None and length != inputs.shape[in_axis]:
            raise MXNetValueError(f"unroll: length={length} but the input has {inputs.shape[in_axis]} steps "
                                  f"(shape {inputs.shape}, layout {layout!r})")
        if merge is False:
            inputs = _split(inputs, in_axis)
    else:
        if not isinstance(inputs, (list, tuple)) or not inputs or not all(_is_tensor(i) for i in inputs):
            raise MXNetValueError("unroll: inputs must be an array or a non-empty list of arrays, got "
                                  f"{type(inputs).__name__}")
        if length is not None and len(inputs) != length:
            raise MXNetValueError(f"unroll: length={length} but {len(inputs)} input steps were given")
        batch_size = inputs[0].shape[0]
        if merge is True:
            inputs = np.stack(inputs, axis=axis)
            in_axis = axis
    if _is_tensor(inputs) and axis != in_axis:
        inputs = np.swapaxes(inputs, axis, in_axis)
    return inputs, axis, batch_size


def _mask_sequence_variable_length(data, length, valid_length, time_axis, merge):
    if not _is_tensor(data):
        data = np.stack(data, axis=time_axis)
    outputs = _sequence_mask(data, valid_length, time_axis)
    return outputs if merge else _split(outputs, time_axis)


def _reverse_sequences(sequences, unroll_step, valid_length=None):
    if valid_length is None:
        return list(reversed(sequences))
    data = np.stack(sequences, axis=0)
    return _split(npx.sequence_reverse(data, _lengths(valid_length, data), use_sequence_length=True, axis=0), 0)


def _cells_state_info(cells, batch_size):
    return sum([c.state_info(batch_size) for c in cells], [])


def _cells_begin_state(cells, **kwargs):
    return sum([c.begin_state(**kwargs) for c in cells], [])


def _get_begin_state(cell, begin_state, inputs, batch_size):
    if begin_state is None:
        first = inputs if _is_tensor(inputs) else inputs[0]
        with first.device:
            begin_state = cell.begin_state(func=np.zeros, batch_size=batch_size, dtype=first.dtype)
    return begin_state


_ACT_FUNCS = {"tanh": np.tanh, "relu": npx.relu, "sigmoid": npx.sigmoid}
_ACT_TYPES = ("relu", "sigmoid", "tanh", "softrelu", "softsign", "log_sigmoid", "mish", "silu", "gelu",
              "gelu_tanh")


def _check_activation(activation, cls, what="activation"):
    if isinstance(activation, str):
        if activation not in _ACT_TYPES:
            raise MXNetValueError(f"{cls}: {what} must be one of {_ACT_TYPES} or a Block/callable, "
                                  f"got {activation!r}")
    elif not callable(activation):
        raise MXNetValueError(f"{cls}: {what} must be an activation name or a Block/callable, got {activation!r}")
    return activation


def _check_positive(v, what, cls):
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise MXNetValueError(f"{cls}: {what} must be a positive int, got {v!r}")
    return v


def _check_rate(v, what, cls):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
        raise MXNetValueError(f"{cls}: {what} must be a number in [0, 1), got {v!r}")
    return v


# --- base classes -----------------------------------------------------------------------------
class RecurrentCell(Block):
    """Abstract base class for RNN cells: ``forward(inputs, states)`` computes one time step and
    returns ``(output, new_states)``; ``unroll`` runs a whole sequence."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)
        self._modified = False
        self.reset()

    def reset(self):
        """Reset before re-using the cell for another sequence."""
        self._init_counter = -1
        self._counter = -1
        for cell in self._children.values():
            if isinstance(cell, RecurrentCell):
                cell.reset()

    def state_info(self, batch_size=0):
        """The shape and layout of each state: a list of dicts ``{'shape': ..., '__layout__': ...}``."""
        raise NotImplementedError(f"{type(self).__name__} does not define state_info")

    def begin_state(self, batch_size=0, func=np.zeros, **kwargs):
        """The initial states: ``func(shape=..., device=..., dtype=..., **kwargs)`` for each entry of
        ``state_info(batch_size)`` (default: zeros, float32, on the current device)."""
        if self._modified:
            raise MXNetError(f"{type(self).__name__}: after applying modifier cells (e.g. ZoneoutCell) the base "
                             "cell cannot be called directly. Call the modifier cell instead.")
        states = []
        for info in self.state_info(batch_size):
            self._init_counter += 1
            info = dict(info or {})
            info.update(kwargs)
            info.pop("__layout__", None)
            shape = info.pop("shape", ())
            device, ctx = info.pop("device", None), info.pop("ctx", None)
            device = device or ctx or current_device()
            dtype = info.pop("dtype", "float32")
            states.append(func(shape=shape, device=device, dtype=dtype, **info))
        return states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None):
        """Run ``length`` steps over ``inputs`` (one array in ``layout``, or a list of per-step
        (batch, ...) arrays). Returns ``(outputs, states)``: outputs as a list of steps
        (``merge_outputs=False``), one array in ``layout`` (True), or whichever is at hand (None).
        With ``valid_length`` (batch,), outputs past each sequence's length are 0 and the states
        are those of its last valid step."""
        self.reset()
        inputs, axis, batch_size = _format_sequence(length, inputs, layout, False)
        begin_state = _get_begin_state(self, begin_state, inputs, batch_size)
        states = begin_state
        outputs, all_states = [], []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
            if valid_length is not None:
                all_states.append(states)
        if valid_length is not None:
            vl = _lengths(valid_length, outputs[0])
            states = [npx.sequence_last(np.stack(list(ele), axis=0), vl, use_sequence_length=True, axis=0)
                      for ele in zip(*all_states)]
            outputs = _mask_sequence_variable_length(outputs, length, valid_length, axis, True)
        outputs, _, _ = _format_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def _get_activation(self, inputs, activation, **kwargs):
        """Apply ``activation``: a name (npx.activation's act_type), a LeakyReLU, or any callable."""
        if isinstance(activation, str):
            func = _ACT_FUNCS.get(activation)
            return func(inputs) if func else npx.activation(inputs, act_type=activation)
        if isinstance(activation, LeakyReLU):
            return npx.leaky_relu(inputs, act_type="leaky", slope=activation._alpha)
        return activation(inputs, **kwargs)

    def forward(self, inputs, states):
        """One time step: ``(output, new_states)``."""
        self._counter += 1
        return super().forward(inputs, states)


class HybridRecurrentCell(RecurrentCell, HybridBlock):
    """A RecurrentCell that can be hybridized. Subclasses define ``forward(inputs, states)`` (or the
    MXNet 1.x ``hybrid_forward(F, inputs, states, **params)``)."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)


# --- the basic cells --------------------------------------------------------------------------
class _GatedCell(HybridRecurrentCell):
    """Shared by RNNCell, LSTMCell, GRUCell and LSTMPCell: i2h_weight (gates*hidden, input_size),
    h2h_weight (gates*hidden, hidden or projection_size), [h2r_weight (projection_size, hidden),]
    i2h_bias and h2h_bias (gates*hidden,); input_size=0 is inferred from the first input."""

    _gates = 1

    def __init__(self, hidden_size, i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                 h2h_bias_initializer, input_size, projection_size=None, h2r_weight_initializer=None, prefix=None,
                 params=None):
        super().__init__(prefix, params)
        cls = type(self).__name__
        self._hidden_size = _check_positive(hidden_size, "hidden_size", cls)
        if not isinstance(input_size, int) or input_size < 0:
            raise MXNetValueError(f"{cls}: input_size must be an int >= 0 (0: inferred), got {input_size!r}")
        self._input_size = input_size
        g = self._gates * hidden_size
        self.i2h_weight = Parameter("i2h_weight", shape=(g, input_size), init=i2h_weight_initializer,
                                    allow_deferred_init=True)
        self.h2h_weight = Parameter("h2h_weight", shape=(g, projection_size or hidden_size),
                                    init=h2h_weight_initializer, allow_deferred_init=True)
        if projection_size:  # LSTMP; created in MXNet's order, which MXNet 1.x files rely on
            self.h2r_weight = Parameter("h2r_weight", shape=(projection_size, hidden_size),
                                        init=h2r_weight_initializer, allow_deferred_init=True)
        self.i2h_bias = Parameter("i2h_bias", shape=(g,), init=i2h_bias_initializer, allow_deferred_init=True)
        self.h2h_bias = Parameter("h2h_bias", shape=(g,), init=h2h_bias_initializer, allow_deferred_init=True)

    def _output_size(self):
        return self._hidden_size

    def infer_shape(self, i, x=None, is_bidirect=False):
        """Infer input_size: from the step input (``infer_shape(inputs, states)``, as the first call
        does), or MXNet's ``infer_shape(layer_index, x, is_bidirect)``: from ``x`` for layer 0, else the
        output size of the layer below (doubled when bidirectional)."""
        if isinstance(i, int):
            size = x.shape[-1] if i == 0 else self._output_size() * (2 if is_bidirect else 1)
        else:
            size = prod(i.shape[1:])
        self.i2h_weight.shape = (self._gates * self._hidden_size, size)

    def _projections(self, inputs, states):
        dev = inputs.device
        g = self._gates * self._hidden_size
        i2h = npx.fully_connected(inputs, self.i2h_weight.data(dev), self.i2h_bias.data(dev), num_hidden=g,
                                  no_bias=False)
        h2h = npx.fully_connected(states[0].to_device(dev), self.h2h_weight.data(dev), self.h2h_bias.data(dev),
                                  num_hidden=g, no_bias=False)
        return i2h, h2h

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def __repr__(self):
        shape = self.i2h_weight.shape
        return f"{type(self).__name__}({shape[1] if shape[1] else None} -> {shape[0]}{self._repr_extra()})"

    def _repr_extra(self):
        return ""


class RNNCell(_GatedCell):
    r"""Elman RNN cell: ``h_t = activation(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, activation tanh
    (default) or relu (or any activation name or Block). One state of shape (batch, hidden_size)."""

    def __init__(self, hidden_size, activation="tanh", i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size=0, prefix=None,
                 params=None):
        super().__init__(hidden_size, i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, input_size, prefix=prefix, params=params)
        self._activation = _check_activation(activation, type(self).__name__)

    def _alias(self):
        return "rnn"

    def _repr_extra(self):
        return f", {self._activation}"

    def forward(self, inputs, states):
        i2h, h2h = self._projections(inputs, states)
        output = self._get_activation(i2h + h2h, self._activation)
        return output, [output]


class _TwoActivationCell(_GatedCell):
    """LSTMCell and GRUCell: gates with ``recurrent_activation``, the candidate with ``activation``."""

    def __init__(self, hidden_size, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", input_size=0, activation="tanh",
                 recurrent_activation="sigmoid", prefix=None, params=None):
        super().__init__(hidden_size, i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, input_size, prefix=prefix, params=params)
        cls = type(self).__name__
        self._activation = _check_activation(activation, cls)
        self._recurrent_activation = _check_activation(recurrent_activation, cls, "recurrent_activation")


class LSTMCell(_TwoActivationCell):
    r"""LSTM cell, gates in MXNet's order (input, forget, cell, output)::

        i = rec_act(W_ii x + b_ii + W_hi h + b_hi)    f = rec_act(W_if x + b_if + W_hf h + b_hf)
        g = act(W_ig x + b_ig + W_hg h + b_hg)        o = rec_act(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g                            h' = o * act(c')

    ``activation`` tanh and ``recurrent_activation`` sigmoid by default. States: [h, c], each
    (batch, hidden_size)."""

    _gates = 4

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._hidden_size), "__layout__": "NC"},
                {"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def _alias(self):
        return "lstm"

    def forward(self, inputs, states):
        i2h, h2h = self._projections(inputs, states)
        i, f, g, o = np.split(i2h + h2h, 4, axis=1)
        act, rec = self._activation, self._recurrent_activation
        next_c = self._get_activation(f, rec) * states[1].to_device(inputs.device) + \
            self._get_activation(i, rec) * self._get_activation(g, act)
        next_h = self._get_activation(o, rec) * self._get_activation(next_c, act)
        return next_h, [next_h, next_c]


class GRUCell(_TwoActivationCell):
    r"""GRU cell as cuDNN and MXNet compute it (the reset gate applied after the recurrent
    product), gates in the order (reset, update, new)::

        r = rec_act(W_ir x + b_ir + W_hr h + b_hr)    z = rec_act(W_iz x + b_iz + W_hz h + b_hz)
        n = act(W_in x + b_in + r * (W_hn h + b_hn))  h' = (1 - z) * n + z * h

    One state of shape (batch, hidden_size)."""

    _gates = 3

    def _alias(self):
        return "gru"

    def forward(self, inputs, states):
        prev_h = states[0].to_device(inputs.device)
        i2h, h2h = self._projections(inputs, states)
        i2h_r, i2h_z, i2h_n = np.split(i2h, 3, axis=1)
        h2h_r, h2h_z, h2h_n = np.split(h2h, 3, axis=1)
        reset_gate = self._get_activation(i2h_r + h2h_r, self._recurrent_activation)
        update_gate = self._get_activation(i2h_z + h2h_z, self._recurrent_activation)
        new = self._get_activation(i2h_n + reset_gate * h2h_n, self._activation)
        next_h = (1 - update_gate) * new + update_gate * prev_h
        return next_h, [next_h]


class LSTMPCell(_GatedCell):
    r"""LSTM with a projected recurrent state (https://arxiv.org/abs/1402.1128): the LSTM step on
    the projection ``r`` of the previous step, then ``r' = W_hr h'``. Parameters i2h_weight
    (4*hidden, input_size), h2h_weight (4*hidden, projection_size), h2r_weight (projection_size,
    hidden), i2h_bias, h2h_bias. States: [r (batch, projection_size), c (batch, hidden_size)];
    the output is r'."""

    _gates = 4

    def __init__(self, hidden_size, projection_size, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 h2r_weight_initializer=None, i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 input_size=0, prefix=None, params=None):
        cls = type(self).__name__
        self._projection_size = _check_positive(projection_size, "projection_size", cls)
        super().__init__(hidden_size, i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer,
                         h2h_bias_initializer, input_size, projection_size, h2r_weight_initializer, prefix=prefix,
                         params=params)

    def _alias(self):
        return "lstmp"

    def _output_size(self):
        return self._projection_size

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._projection_size), "__layout__": "NC"},
                {"shape": (batch_size, self._hidden_size), "__layout__": "NC"}]

    def _alias(self):
        return "lstmp"

    def __repr__(self):
        shape = self.i2h_weight.shape
        return (f"{type(self).__name__}({shape[1] if shape[1] else None} -> {shape[0]} -> "
                f"{self.h2r_weight.shape[0]})")

    def forward(self, inputs, states):
        dev = inputs.device
        i2h, h2h = self._projections(inputs, states)
        i, f, g, o = np.split(i2h + h2h, 4, axis=1)
        next_c = npx.sigmoid(f) * states[1].to_device(dev) + npx.sigmoid(i) * np.tanh(g)
        hidden = npx.sigmoid(o) * np.tanh(next_c)
        next_r = npx.fully_connected(hidden, self.h2r_weight.data(dev), num_hidden=self._projection_size,
                                     no_bias=True)
        return next_r, [next_r, next_c]


# --- containers -------------------------------------------------------------------------------
class _SequentialCellMixin:
    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)
        self._layers = []

    def add(self, cell):
        """Append a cell to the stack."""
        if not isinstance(cell, RecurrentCell):
            raise MXNetValueError(f"{type(self).__name__}.add: expected a RecurrentCell, got {type(cell).__name__}")
        self._layers.append(cell)
        self.register_child(cell)

    def __repr__(self):
        mods = "\n".join(f"({i}): {_indent(repr(m), 2)}" for i, m in self._children.items())
        return f"{type(self).__name__}(\n{mods}\n)"

    def state_info(self, batch_size=0):
        return _cells_state_info(self._children.values(), batch_size)

    def begin_state(self, batch_size=0, func=np.zeros, **kwargs):
        if self._modified:
            raise MXNetError(f"{type(self).__name__}: after applying modifier cells (e.g. ZoneoutCell) the base "
                             "cell cannot be called directly. Call the modifier cell instead.")
        return _cells_begin_state(self._children.values(), batch_size=batch_size, func=func, **kwargs)

    def _has_bidirectional(self):
        return any(isinstance(c, BidirectionalCell) for c in self._children.values())

    def forward(self, inputs, states):
        self._counter += 1
        if self._has_bidirectional():
            raise MXNetError(f"{type(self).__name__} holds a BidirectionalCell, which cannot be stepped: "
                             "use unroll")
        next_states = []
        p = 0
        for cell in self._children.values():
            n = len(cell.state_info())
            inputs, state = cell(inputs, states[p:p + n])
            p += n
            next_states.append(state)
        return inputs, sum(next_states, [])

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None):
        self.reset()
        inputs, _, batch_size = _format_sequence(length, inputs, layout, None)
        num_cells = len(self._children)
        begin_state = _get_begin_state(self, begin_state, inputs, batch_size)
        p = 0
        next_states = []
        for i, cell in enumerate(self._children.values()):
            n = len(cell.state_info())
            states = begin_state[p:p + n]
            p += n
            inputs, states = cell.unroll(length, inputs=inputs, begin_state=states, layout=layout,
                                         merge_outputs=None if i < num_cells - 1 else merge_outputs,
                                         valid_length=valid_length)
            next_states.extend(states)
        return inputs, next_states

    def __getitem__(self, i):
        return self._children[str(i)]

    def __len__(self):
        return len(self._children)

    def infer_shape(self, _, x=None, is_bidirect=False):
        for i, child in enumerate(self._layers):
            child.infer_shape(i, x, is_bidirect)


class SequentialRNNCell(_SequentialCellMixin, RecurrentCell):
    """Stacks cells: each step runs them in order, the output of one the input of the next; the
    states are the concatenation of the cells' states."""


class HybridSequentialRNNCell(_SequentialCellMixin, HybridRecurrentCell):
    """Stacks hybridizable cells (see SequentialRNNCell)."""


class DropoutCell(HybridRecurrentCell):
    """Applies dropout (``rate``, mask shared along ``axes``) to the input; no states. Unrolled on
    one array it drops over the whole sequence at once."""

    def __init__(self, rate, axes=(), prefix=None, params=None):
        super().__init__(prefix, params)
        self._rate = _check_rate(rate, "rate", type(self).__name__)
        self._axes = tuple(axes)

    def __repr__(self):
        return f"{type(self).__name__}(rate={self._rate}, axes={self._axes})"

    def state_info(self, batch_size=0):
        return []

    def _alias(self):
        return "dropout"

    def forward(self, inputs, states):
        if self._rate > 0:
            inputs = npx.dropout(inputs, p=self._rate, axes=self._axes)
        return inputs, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None):
        self.reset()
        inputs, _, _ = _format_sequence(length, inputs, layout, merge_outputs)
        if _is_tensor(inputs):
            return self.forward(inputs, begin_state if begin_state else [])
        return super().unroll(length, inputs, begin_state=begin_state, layout=layout, merge_outputs=merge_outputs,
                              valid_length=None)


class ModifierCell(HybridRecurrentCell):
    """Base class of the cells that modify another (``base_cell``, a child named 'base_cell'). Once
    modified, the base cell is used through the modifier only."""

    def __init__(self, base_cell):
        if not isinstance(base_cell, RecurrentCell):
            raise MXNetValueError(f"{type(self).__name__}: base_cell must be a RecurrentCell, got "
                                  f"{type(base_cell).__name__}")
        if base_cell._modified:
            raise MXNetValueError(f"{type(self).__name__}: cell {base_cell.name} is already modified. One cell "
                                  "cannot be modified twice")
        base_cell._modified = True
        super().__init__()
        self.base_cell = base_cell

    @property
    def params(self):
        return self.base_cell.params

    def state_info(self, batch_size=0):
        return self.base_cell.state_info(batch_size)

    def begin_state(self, batch_size=0, func=np.zeros, **kwargs):
        if self._modified:
            raise MXNetError(f"{type(self).__name__}: after applying modifier cells the base cell cannot be "
                             "called directly. Call the modifier cell instead.")
        self.base_cell._modified = False
        try:
            return self.base_cell.begin_state(batch_size=batch_size, func=func, **kwargs)
        finally:
            self.base_cell._modified = True

    def forward(self, inputs, states):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def infer_shape(self, i, x=None, is_bidirect=False):
        self.base_cell.infer_shape(i, x, is_bidirect)

    def __repr__(self):
        return f"{type(self).__name__}({self.base_cell})"


def _refuse_bidirectional(base_cell, cls, what):
    if isinstance(base_cell, BidirectionalCell) or (
            isinstance(base_cell, _SequentialCellMixin) and base_cell._has_bidirectional()):
        raise MXNetValueError(f"{cls}: a BidirectionalCell (or a stack holding one) does not support {what}, "
                              f"since it cannot be stepped. Apply {cls} to the cells underneath instead.")


class ZoneoutCell(ModifierCell):
    """Zoneout (https://arxiv.org/abs/1606.01305): in training, each output and state element keeps
    its previous value with probability ``zoneout_outputs`` / ``zoneout_states`` instead of taking
    the new one. At inference it is the base cell unchanged."""

    def __init__(self, base_cell, zoneout_outputs=0.0, zoneout_states=0.0):
        cls = type(self).__name__
        _refuse_bidirectional(base_cell, cls, "zoneout")
        _check_rate(zoneout_outputs, "zoneout_outputs", cls)
        _check_rate(zoneout_states, "zoneout_states", cls)
        super().__init__(base_cell)
        self.zoneout_outputs = zoneout_outputs
        self.zoneout_states = zoneout_states
        self._prev_output = None

    def __repr__(self):
        return (f"{type(self).__name__}(p_out={self.zoneout_outputs}, p_state={self.zoneout_states}, "
                f"{self.base_cell})")

    def _alias(self):
        return "zoneout"

    def reset(self):
        super().reset()
        self._prev_output = None

    def forward(self, inputs, states):
        dev = inputs.device
        p_outputs, p_states = self.zoneout_outputs, self.zoneout_states
        next_output, next_states = self.base_cell(inputs, states)

        def mask(p, like):  # 0 where the old value is kept (training only; all ones otherwise)
            return npx.dropout(np.ones(like.shape, dtype=like.dtype, device=dev), p=p)

        prev_output = self._prev_output
        if prev_output is None:
            prev_output = np.zeros(next_output.shape, dtype=next_output.dtype, device=dev)
        output = np.where(mask(p_outputs, next_output), next_output, prev_output) if p_outputs else next_output
        if p_states:
            next_states = [np.where(mask(p_states, new), new, old.to_device(dev))
                           for new, old in zip(next_states, states)]
        self._prev_output = output
        return output, next_states


class ResidualCell(ModifierCell):
    """Adds the input to the base cell's output (Wu et al, 2016, https://arxiv.org/abs/1609.08144);
    the input and output sizes must match."""

    def forward(self, inputs, states):
        output, states = self.base_cell(inputs, states)
        return output + inputs, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None):
        self.reset()
        self.base_cell._modified = False
        try:
            outputs, states = self.base_cell.unroll(length, inputs=inputs, begin_state=begin_state, layout=layout,
                                                    merge_outputs=merge_outputs, valid_length=valid_length)
        finally:
            self.base_cell._modified = True
        merge_outputs = _is_tensor(outputs) if merge_outputs is None else merge_outputs
        inputs, axis, _ = _format_sequence(length, inputs, layout, merge_outputs)
        if valid_length is not None:
            inputs = _mask_sequence_variable_length(inputs, length, valid_length, axis, merge_outputs)
        if merge_outputs:
            return outputs + inputs, states
        return [o + i for o, i in zip(outputs, inputs)], states


class BidirectionalCell(HybridRecurrentCell):
    """Runs ``l_cell`` forward and ``r_cell`` backward in time over the sequence and concatenates
    their outputs (forward first) on the feature axis; states are l_cell's then r_cell's. It can
    only be unrolled, not stepped."""

    def __init__(self, l_cell, r_cell):
        super().__init__()
        for what, c in (("l_cell", l_cell), ("r_cell", r_cell)):
            if not isinstance(c, RecurrentCell):
                raise MXNetValueError(f"BidirectionalCell: {what} must be a RecurrentCell, got {type(c).__name__}")
        self.l_cell = l_cell
        self.r_cell = r_cell

    def forward(self, inputs, states):
        raise NotImplementedError("BidirectionalCell cannot be stepped. Please use unroll")

    def __repr__(self):
        return f"{type(self).__name__}(forward={self.l_cell}, backward={self.r_cell})"

    def state_info(self, batch_size=0):
        return _cells_state_info(self._children.values(), batch_size)

    def begin_state(self, batch_size=0, func=np.zeros, **kwargs):
        if self._modified:
            raise MXNetError("BidirectionalCell: after applying modifier cells the base cell cannot be called "
                             "directly. Call the modifier cell instead.")
        return _cells_begin_state(self._children.values(), batch_size=batch_size, func=func, **kwargs)

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None):
        self.reset()
        inputs, axis, batch_size = _format_sequence(length, inputs, layout, False)
        reversed_inputs = _reverse_sequences(inputs, length, valid_length)
        begin_state = _get_begin_state(self, begin_state, inputs, batch_size)
        l_cell, r_cell = self.l_cell, self.r_cell
        n_l = len(l_cell.state_info(batch_size))
        l_outputs, l_states = l_cell.unroll(length, inputs=inputs, begin_state=begin_state[:n_l], layout=layout,
                                            merge_outputs=merge_outputs, valid_length=valid_length)
        r_outputs, r_states = r_cell.unroll(length, inputs=reversed_inputs, begin_state=begin_state[n_l:],
                                            layout=layout, merge_outputs=False, valid_length=valid_length)
        reversed_r_outputs = _reverse_sequences(r_outputs, length, valid_length)
        if merge_outputs is None:
            merge_outputs = _is_tensor(l_outputs)
            l_outputs, _, _ = _format_sequence(None, l_outputs, layout, merge_outputs)
            reversed_r_outputs, _, _ = _format_sequence(None, reversed_r_outputs, layout, merge_outputs)
        if merge_outputs:
            if not _is_tensor(reversed_r_outputs):
                reversed_r_outputs = np.stack(reversed_r_outputs, axis=axis)
            outputs = np.concatenate([l_outputs, reversed_r_outputs], axis=2)
        else:
            outputs = [np.concatenate([l_o, r_o], axis=1) for l_o, r_o in zip(l_outputs, reversed_r_outputs)]
        if valid_length is not None:
            outputs = _mask_sequence_variable_length(outputs, length, valid_length, axis, merge_outputs)
        return outputs, l_states + r_states

    def infer_shape(self, i, x=None, is_bidirect=False):
        self.l_cell.infer_shape(i, x, True)
        self.r_cell.infer_shape(i, x, True)


class VariationalDropoutCell(ModifierCell):
    """Variational dropout (https://arxiv.org/abs/1512.05287): one dropout mask for the whole
    sequence (drawn at the first step, kept until ``reset()``, which ``unroll`` calls) for the
    inputs (``drop_inputs``), the first state h (``drop_states``) and the outputs
    (``drop_outputs``); the three masks are independent."""

    def __init__(self, base_cell, drop_inputs=0.0, drop_states=0.0, drop_outputs=0.0):
        cls = type(self).__name__
        if drop_states:
            _refuse_bidirectional(base_cell, cls, "variational state dropout")
        for what, v in (("drop_inputs", drop_inputs), ("drop_states", drop_states), ("drop_outputs", drop_outputs)):
            _check_rate(v, what, cls)
        super().__init__(base_cell)
        self.drop_inputs = drop_inputs
        self.drop_states = drop_states
        self.drop_outputs = drop_outputs
        self.drop_inputs_mask = None
        self.drop_states_mask = None
        self.drop_outputs_mask = None

    def _alias(self):
        return "vardrop"

    def reset(self):
        super().reset()
        self.drop_inputs_mask = None
        self.drop_states_mask = None
        self.drop_outputs_mask = None

    @staticmethod
    def _mask(like, p):
        return npx.dropout(np.ones(like.shape, dtype=like.dtype, device=like.device), p=p)

    def forward(self, inputs, states):
        dev = inputs.device
        if self.drop_states and self.drop_states_mask is None:
            self.drop_states_mask = self._mask(states[0].to_device(dev), self.drop_states)
        if self.drop_inputs and self.drop_inputs_mask is None:
            self.drop_inputs_mask = self._mask(inputs, self.drop_inputs)
        if self.drop_states:
            states = list(states)
            states[0] = states[0].to_device(dev) * self.drop_states_mask  # only h, always the first state
        if self.drop_inputs:
            inputs = inputs * self.drop_inputs_mask
        next_output, next_states = self.base_cell(inputs, states)
        if self.drop_outputs and self.drop_outputs_mask is None:
            self.drop_outputs_mask = self._mask(next_output, self.drop_outputs)
        if self.drop_outputs:
            next_output = next_output * self.drop_outputs_mask
        return next_output, next_states

    def __repr__(self):
        return f"{type(self).__name__}(p_out = {self.drop_outputs}, p_state = {self.drop_states})"

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None, valid_length=None):
        # Without state dropout, the input and output masks apply to the whole sequence at once.
        if self.drop_states:
            return super().unroll(length, inputs, begin_state, layout, merge_outputs, valid_length=valid_length)
        self.reset()
        inputs, axis, batch_size = _format_sequence(length, inputs, layout, True)
        states = _get_begin_state(self, begin_state, inputs, batch_size)
        if self.drop_inputs:
            inputs = npx.dropout(inputs, p=self.drop_inputs, axes=(axis,))
        outputs, states = self.base_cell.unroll(length, inputs, states, layout, merge_outputs=True,
                                                valid_length=valid_length)
        if self.drop_outputs:
            outputs = npx.dropout(outputs, p=self.drop_outputs, axes=(axis,))
        merge_outputs = _is_tensor(outputs) if merge_outputs is None else merge_outputs
        outputs, _, _ = _format_sequence(length, outputs, layout, merge_outputs)
        if valid_length is not None:
            outputs = _mask_sequence_variable_length(outputs, length, valid_length, axis, merge_outputs)
        return outputs, states


def dynamic_unroll(cell, inputs, begin_state, drop_inputs=0, drop_outputs=0, layout="TNC", valid_length=None):
    """Run ``cell`` step by step over the whole of ``inputs`` (one array in ``layout``), as MXNet's
    ``rnn_cell.dynamic_unroll`` (which loops with npx.foreach): dropout on the inputs and outputs with
    one mask shared over time, and with ``valid_length`` each state stops changing after its
    sequence's last step (a length of 0 keeps ``begin_state``) and the padded outputs are 0.
    Returns ``(outputs in layout, states)``."""
    inputs, axis, _ = _format_sequence(None, inputs, layout, True)
    if drop_inputs:
        inputs = npx.dropout(inputs, p=drop_inputs, axes=(axis,))
    states = list(begin_state)
    vl = _lengths(valid_length, inputs) if valid_length is not None else None
    outputs = []
    for t, x in enumerate(_split(inputs, axis)):
        out, new_states = cell(x, states)
        if vl is not None:
            keep = vl > t
            new_states = [np.where(keep.reshape((-1,) + (1,) * (s.ndim - 1)), s, old)
                          for s, old in zip(new_states, states)]
        outputs.append(out)
        states = new_states
    outputs = np.stack(outputs, axis=axis)
    if drop_outputs:
        outputs = npx.dropout(outputs, p=drop_outputs, axes=(axis,))
    if vl is not None:
        outputs = _sequence_mask(outputs, vl, axis)
    return outputs, states
