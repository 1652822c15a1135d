"""The fused recurrent layers RNN, LSTM and GRU (MXNet 2.x): one flat ``rnn_param`` Parameter holding
every weight and bias, packed as MXNet packs it, and the whole sequence in one ``npx.rnn`` call (the
``RNN`` op of ops/rnn.rs, forward and backward in Rust). MXNet 1.x files, whose layers name each weight
(``l0_i2h_weight``, ``r1_h2h_bias``, ...; or ``_unfused.0.i2h_weight``), load too: the layer packs them."""
import re

from ... import numpy as np
from ... import numpy_extension as npx
from ... import initializer
from ...base import MXNetValueError
from ...device import cpu
from ..block import HybridBlock
from ..parameter import Parameter

__all__ = ["RNN", "LSTM", "GRU"]

_GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def _pieces(mode, num_layers, hidden_size, bidirectional, projection_size, input_size):
    """(name, shape) of every weight and bias in ``rnn_param``, in MXNet's packing order: the weights of
    each layer and direction (i2h, h2h, then h2r with a projection), then the biases in the same order."""
    ng, nh, dirs = _GATES[mode], hidden_size, ["l", "r"][:2 if bidirectional else 1]
    nr = projection_size or nh
    weights, biases = [], []
    ni = input_size
    for layer in range(num_layers):
        for d in dirs:
            weights.append((f"{d}{layer}_i2h_weight", (ng * nh, ni)))
            weights.append((f"{d}{layer}_h2h_weight", (ng * nh, nr)))
            if projection_size:
                weights.append((f"{d}{layer}_h2r_weight", (nr, nh)))
        for d in dirs:
            biases.append((f"{d}{layer}_i2h_bias", (ng * nh,)))
            biases.append((f"{d}{layer}_h2h_bias", (ng * nh,)))
        ni = nr * len(dirs)
    # biases of every layer after all the weights, layer by layer, direction by direction
    return weights + biases


def _param_size(mode, num_layers, hidden_size, bidirectional, projection_size, input_size):
    total = 0
    for _, shape in _pieces(mode, num_layers, hidden_size, bidirectional, projection_size, input_size):
        n = 1
        for s in shape:
            n *= s
        total += n
    return total


@initializer.register
class RNNFused(initializer.Initializer):
    """Initializes the flat parameter vector of a fused RNN layer piece by piece: each i2h/h2h/h2r
    weight with its own initializer (default: the global one), each bias with its own (zeros)."""

    def __init__(self, mode, num_layers, state_size, bidirectional=False, projection_size=None,
                 i2h_weight_initializer=None, h2h_weight_initializer=None, i2h_bias_initializer=None,
                 h2h_bias_initializer=None, h2r_weight_initializer=None):
        super().__init__(mode=mode, num_layers=num_layers, state_size=state_size, bidirectional=bidirectional,
                         projection_size=projection_size)
        self._mode, self._num_layers, self._state_size = mode, num_layers, state_size
        self._bidirectional, self._projection_size = bidirectional, projection_size
        self._inits = {"i2h_weight": i2h_weight_initializer, "h2h_weight": h2h_weight_initializer,
                       "h2r_weight": h2r_weight_initializer, "i2h_bias": i2h_bias_initializer,
                       "h2h_bias": h2h_bias_initializer}

    def _input_size(self, total):
        # the size is affine in the input size: total = size(0) + input_size * G*H*D
        base = _param_size(self._mode, self._num_layers, self._state_size, self._bidirectional,
                           self._projection_size, 0)
        per = _GATES[self._mode] * self._state_size * (2 if self._bidirectional else 1)
        if total < base or (total - base) % per:
            raise MXNetValueError(f"RNNFused: a parameter vector of {total} values does not fit mode={self._mode}, "
                                  f"num_layers={self._num_layers}, state_size={self._state_size}")
        return (total - base) // per

    def _init_weight(self, name, arr):
        global_init = getattr(name, "global_init", None)
        if global_init is None or global_init is self:
            global_init = initializer.Uniform()
        total = arr.shape[0]
        pieces = _pieces(self._mode, self._num_layers, self._state_size, self._bidirectional,
                         self._projection_size, self._input_size(total))
        parts = []
        for pname, shape in pieces:
            part = np.zeros(shape, dtype=arr.dtype)
            spec = self._inits[pname.split("_", 1)[1]]
            if spec is None:
                global_init(initializer.InitDesc(pname, {}, global_init), part)
            else:
                init = initializer.create(spec)
                if isinstance(init, initializer.Initializer):
                    init._init_weight(pname, part)
                else:
                    init(initializer.InitDesc(pname, {}, global_init), part)
            parts.append(part.reshape(-1))
        arr[:] = np.concatenate(parts)


_LEGACY = re.compile(r"(?:([lr])(\d+)_|_unfused\.(\d+)\.(?:([lr])_cell\.)?)(i2h|h2h|h2r)_(weight|bias)\Z")


class _RNNLayer(HybridBlock):
    """Shared by RNN, LSTM and GRU."""

    def __init__(self, hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                 i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer,
                 mode, projection_size, h2r_weight_initializer, lstm_state_clip_min, lstm_state_clip_max,
                 lstm_state_clip_nan, dtype, use_sequence_length=False, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        if layout not in ("TNC", "NTC"):
            raise MXNetValueError(f"{cls}: invalid layout {layout!r}; must be one of ['TNC' or 'NTC']")
        if hidden_size <= 0 or num_layers <= 0:
            raise MXNetValueError(f"{cls}: hidden_size ({hidden_size}) and num_layers ({num_layers}) must be "
                                  "positive")
        if not 0 <= dropout < 1:
            raise MXNetValueError(f"{cls}: dropout must be in [0, 1), got {dropout}")
        self._hidden_size = int(hidden_size)
        self._projection_size = int(projection_size) if projection_size else None
        self._num_layers = int(num_layers)
        self._mode = mode
        self._layout = layout
        self._dropout = dropout
        self._dir = 2 if bidirectional else 1
        self._input_size = int(input_size)
        self._lstm_state_clip_min = lstm_state_clip_min
        self._lstm_state_clip_max = lstm_state_clip_max
        self._lstm_state_clip_nan = lstm_state_clip_nan
        self._dtype = dtype
        self._use_sequence_length = use_sequence_length
        self.skip_states = None
        self._gates = _GATES[mode]
        init = RNNFused(mode, self._num_layers, self._hidden_size, bidirectional, self._projection_size,
                        i2h_weight_initializer=i2h_weight_initializer,
                        h2h_weight_initializer=h2h_weight_initializer,
                        i2h_bias_initializer=i2h_bias_initializer, h2h_bias_initializer=h2h_bias_initializer,
                        h2r_weight_initializer=h2r_weight_initializer)
        size = self._size(self._input_size) if self._input_size else -1
        self.rnn_param = Parameter("rnn_param", shape=(size,), init=init, allow_deferred_init=True, dtype=dtype)

    def _size(self, input_size):
        return _param_size(self._mode, self._num_layers, self._hidden_size, self._dir == 2,
                           self._projection_size, input_size)

    def __repr__(self):
        s = f"{type(self).__name__}({self._input_size or None} -> {self._hidden_size}, {self._layout}"
        if self._num_layers != 1:
            s += f", num_layers={self._num_layers}"
        if self._dropout != 0:
            s += f", dropout={self._dropout}"
        if self._dir == 2:
            s += ", bidirectional"
        return s + ")"

    def state_info(self, batch_size=0):
        raise NotImplementedError(f"{type(self).__name__} does not define state_info")

    def cast(self, dtype):
        super().cast(dtype)
        self._dtype = dtype

    def begin_state(self, batch_size=0, func=None, **kwargs):
        """The initial states: ``func(shape=..., device=..., dtype=...)`` (default ``mx.np.zeros``)
        for each entry of ``state_info(batch_size)``; ``kwargs`` (device, dtype, ...) override."""
        func = np.zeros if func is None else func
        states = []
        for info in self.state_info(batch_size):
            info = dict(info or {})
            info.update(kwargs)
            info.pop("__layout__", None)
            if "ctx" in info:
                info.setdefault("device", info.pop("ctx"))
            states.append(func(shape=info.pop("shape", ()), device=info.pop("device", None) or cpu(),
                               dtype=info.pop("dtype", "float32"), **info))
        return states

    def __call__(self, inputs, states=None, sequence_length=None, **kwargs):
        self.skip_states = states is None
        if states is None:
            batch_size = inputs.shape[self._layout.find("N")]
            states = self.begin_state(batch_size, device=inputs.device, dtype=inputs.dtype)
        if not isinstance(states, (list, tuple)):
            states = [states]
        if self._use_sequence_length:
            return super().__call__(inputs, list(states), sequence_length, **kwargs)
        return super().__call__(inputs, list(states), **kwargs)

    def infer_shape(self, inputs, *args):
        if inputs.ndim != 3:
            raise MXNetValueError(f"{type(self).__name__}: input data should be rank-3 tensor of dim [sequence "
                                  f"length, batch size, input size] (layout {self._layout}), got shape "
                                  f"{inputs.shape}")
        self._input_size = inputs.shape[2]
        self.rnn_param.shape = (self._size(self._input_size),)

    def forward(self, inputs, states, sequence_length=None):
        batch_size = inputs.shape[self._layout.find("N")]
        infos = self.state_info(batch_size)
        if len(states) != len(infos):
            raise MXNetValueError(f"{type(self).__name__}: expected {len(infos)} recurrent states, got {len(states)}")
        for state, info in zip(states, infos):
            if tuple(state.shape) != info["shape"]:
                raise MXNetValueError(
                    f"Invalid recurrent state shape. Expecting {info['shape']}, got {tuple(state.shape)}.")
        if self._use_sequence_length and sequence_length is None:
            raise MXNetValueError(f"{type(self).__name__}: use_sequence_length=True needs sequence_length")
        device = inputs.device
        if self._layout == "NTC":
            inputs = np.swapaxes(inputs, 0, 1)
        args = [s.to_device(device) if s.device != device else s for s in states]
        out = npx.rnn(inputs, self.rnn_param.data(device), *args,
                      sequence_length=sequence_length if self._use_sequence_length else None,
                      use_sequence_length=self._use_sequence_length, state_size=self._hidden_size,
                      projection_size=self._projection_size, num_layers=self._num_layers,
                      bidirectional=self._dir == 2, p=self._dropout, state_outputs=True, mode=self._mode,
                      lstm_state_clip_min=self._lstm_state_clip_min,
                      lstm_state_clip_max=self._lstm_state_clip_max,
                      lstm_state_clip_nan=self._lstm_state_clip_nan)
        outputs, new_states = out[0], list(out[1:])
        if self._layout == "NTC":
            outputs = np.swapaxes(outputs, 0, 1)
        return outputs if self.skip_states else (outputs, new_states)

    def _load_legacy(self, loaded, prefix):
        """Pack MXNet 1.x per-weight entries (``{prefix}l0_i2h_weight``, ``{prefix}_unfused.0.i2h_weight``,
        ``{prefix}_unfused.0.l_cell.i2h_weight``, or a 1.x ParameterDict name ``lstm0_l0_i2h_weight``) of
        this layer into one ``rnn_param`` entry; other entries are kept as they are, in order."""
        if prefix + "rnn_param" in loaded:
            return loaded
        found, key_of = {}, None
        for k in loaded:
            if not k.startswith(prefix):
                continue
            m = _LEGACY.match(k[len(prefix):])
            if m:
                found[self._legacy_key(m)] = k
        if found:
            key_of = prefix + "rnn_param"
        elif not any("." in k for k in loaded):
            # a 1.x ParameterDict file: names are '<1.x prefix>l0_i2h_weight'; take the first unclaimed group
            groups = {}
            for k in loaded:
                m = re.match(r"(.*?)([lr]\d+_(?:i2h|h2h|h2r)_(?:weight|bias))\Z", k)
                if m and _LEGACY.match(m.group(2)):
                    groups.setdefault(m.group(1), {})[self._legacy_key(_LEGACY.match(m.group(2)))] = k
            if not groups:
                return loaded
            pfx, found = next(iter(groups.items()))
            key_of = pfx + "rnn_param"
        else:
            return loaded
        pieces = _pieces(self._mode, self._num_layers, self._hidden_size, self._dir == 2, self._projection_size,
                         0)
        missing = [n for n, _ in pieces if n not in found]
        extra = [found[n] for n in found if n not in dict(pieces)]
        if missing or extra:
            raise MXNetValueError(
                f"{type(self).__name__}: the MXNet 1.x weights {sorted(found.values())} do not match this layer "
                f"(mode={self._mode}, num_layers={self._num_layers}, bidirectional={self._dir == 2}, "
                f"projection_size={self._projection_size}): missing {missing}, unexpected {extra}")
        arrays = {n: np.array(loaded[found[n]].asnumpy()) for n, _ in pieces}
        input_size = arrays["l0_i2h_weight"].shape[1]
        want = dict(_pieces(self._mode, self._num_layers, self._hidden_size, self._dir == 2,
                            self._projection_size, input_size))
        for n, a in arrays.items():
            if tuple(a.shape) != want[n]:
                raise MXNetValueError(f"{type(self).__name__}: MXNet 1.x weight '{found[n]}' has shape "
                                      f"{tuple(a.shape)}, expected {want[n]}")
        packed = np.concatenate([arrays[n].reshape(-1) for n, _ in pieces])
        self._input_size = input_size
        used = set(found.values())
        out, placed = {}, False
        for k, v in loaded.items():
            if k in used:
                if not placed:
                    out[key_of] = packed
                    placed = True
                continue
            out[k] = v
        return out

    @staticmethod
    def _legacy_key(m):
        d, layer, ulayer, cell, g, t = m.groups()
        if d is None:
            d, layer = cell or "l", ulayer
        return f"{d}{layer}_{g}_{t}"


class RNN(_RNNLayer):
    """A multi-layer Elman RNN: each layer computes ``h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)``
    with ``act`` ReLU (``activation='relu'``) or tanh, ``x_t`` being the input (first layer) or the output
    of the layer below. Inputs: data (T, N, C) in layout 'TNC' (or (N, T, C) for 'NTC') and optionally the
    initial state (num_layers*directions, N, hidden_size); output (T, N, directions*hidden_size), with
    the final state too when states were given."""

    def __init__(self, hidden_size, num_layers=1, activation="relu", layout="TNC", dropout=0, bidirectional=False,
                 i2h_weight_initializer=None, h2h_weight_initializer=None, i2h_bias_initializer="zeros",
                 h2h_bias_initializer="zeros", input_size=0, dtype="float32", use_sequence_length=False, **kwargs):
        if activation not in ("relu", "tanh"):
            raise MXNetValueError(f"RNN: activation must be 'relu' or 'tanh', not {activation!r}")
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer,
                         "rnn_" + activation, None, None, None, None, False, dtype,
                         use_sequence_length=use_sequence_length, **kwargs)

    def _alias(self):
        return "rnn"

    def state_info(self, batch_size=0):
        return [{"shape": (self._num_layers * self._dir, batch_size, self._hidden_size), "__layout__": "LNC",
                 "dtype": self._dtype}]


class LSTM(_RNNLayer):
    """A multi-layer LSTM: gates ``i, f, o = sigmoid(W_i* x_t + b_i* + W_h* h_(t-1) + b_h*)``,
    ``g = tanh(...)``, cell ``c_t = f * c_(t-1) + i * g`` (clipped to [state_clip_min, state_clip_max] when
    given; NaN clipped too with state_clip_nan) and ``h_t = o * tanh(c_t)``, projected to
    ``r_t = W_hr h_t`` with ``projection_size``. States: [h (num_layers*directions, N, projection_size or
    hidden_size), c (num_layers*directions, N, hidden_size)]."""

    def __init__(self, hidden_size, num_layers=1, layout="TNC", dropout=0, bidirectional=False, input_size=0,
                 i2h_weight_initializer=None, h2h_weight_initializer=None, i2h_bias_initializer="zeros",
                 h2h_bias_initializer="zeros", projection_size=None, h2r_weight_initializer=None,
                 state_clip_min=None, state_clip_max=None, state_clip_nan=False, dtype="float32",
                 use_sequence_length=False, **kwargs):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer,
                         "lstm", projection_size, h2r_weight_initializer, state_clip_min, state_clip_max,
                         state_clip_nan, dtype, use_sequence_length=use_sequence_length, **kwargs)

    def _alias(self):
        return "lstm"

    def state_info(self, batch_size=0):
        n = self._num_layers * self._dir
        return [{"shape": (n, batch_size, self._projection_size or self._hidden_size), "__layout__": "LNC",
                 "dtype": self._dtype},
                {"shape": (n, batch_size, self._hidden_size), "__layout__": "LNC", "dtype": self._dtype}]


class GRU(_RNNLayer):
    """A multi-layer GRU (cuDNN's form): ``r, z = sigmoid(W_i* x_t + b_i* + W_h* h_(t-1) + b_h*)``,
    ``n = tanh(W_in x_t + b_in + r * (W_hn h_(t-1) + b_hn))``, ``h_t = (1 - z) * n + z * h_(t-1)``.
    States: [h (num_layers*directions, N, hidden_size)]."""

    def __init__(self, hidden_size, num_layers=1, layout="TNC", dropout=0, bidirectional=False, input_size=0,
                 i2h_weight_initializer=None, h2h_weight_initializer=None, i2h_bias_initializer="zeros",
                 h2h_bias_initializer="zeros", dtype="float32", use_sequence_length=False, **kwargs):
        super().__init__(hidden_size, num_layers, layout, dropout, bidirectional, input_size,
                         i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer,
                         "gru", None, None, None, None, False, dtype, use_sequence_length=use_sequence_length,
                         **kwargs)

    def _alias(self):
        return "gru"

    def state_info(self, batch_size=0):
        return [{"shape": (self._num_layers * self._dir, batch_size, self._hidden_size), "__layout__": "LNC",
                 "dtype": self._dtype}]
