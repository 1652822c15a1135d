"""Convolutional recurrent cells (ConvRNN, ConvLSTM, ConvGRU in 1-3 spatial dimensions): the
cells of rnn_cell with the input and recurrent products replaced by convolutions (npx.convolution),
the gates split along the channel axis."""
from ... import numpy as np
from ... import numpy_extension as npx
from ...base import MXNetValueError
from ..parameter import Parameter
from .rnn_cell import HybridRecurrentCell, _check_activation, _check_positive

__all__ = ["Conv1DRNNCell", "Conv2DRNNCell", "Conv3DRNNCell", "Conv1DLSTMCell", "Conv2DLSTMCell",
           "Conv3DLSTMCell", "Conv1DGRUCell", "Conv2DGRUCell", "Conv3DGRUCell"]

_LAYOUTS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


def _conv_out_size(dimensions, kernels, paddings, dilations):
    return tuple(x + 2 * p - d * (k - 1) if x else 0 for x, k, p, d in zip(dimensions, kernels, paddings, dilations))


class _BaseConvRNNCell(HybridRecurrentCell):
    """Shared by the convolutional cells. ``input_shape`` is one step of one sample in
    ``conv_layout`` without N ((C, W), (C, H, W), ... or channel-last); the state has
    ``hidden_channels`` channels and the spatial size of the input convolution's output (stride 1).
    The recurrent convolution pads ``h2h_dilate * (h2h_kernel - 1) / 2`` to keep that size, hence
    odd h2h kernels only. Parameters: i2h_weight (gates*hidden, C, *i2h_kernel), h2h_weight
    (gates*hidden, hidden, *h2h_kernel) (kernel before channels in channel-last layouts), i2h_bias and
    h2h_bias (gates*hidden,)."""

    _gate_names = ("",)

    def __init__(self, input_shape, hidden_channels, i2h_kernel, h2h_kernel, i2h_pad, i2h_dilate, h2h_dilate,
                 i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer,
                 dims, conv_layout, activation, prefix=None, params=None):
        super().__init__(prefix, params)
        cls = type(self).__name__
        self._hidden_channels = _check_positive(hidden_channels, "hidden_channels", cls)
        if conv_layout not in _LAYOUTS[dims]:
            raise MXNetValueError(f"{cls}: conv_layout must be one of {_LAYOUTS[dims]}, not {conv_layout!r}")
        self._conv_layout = conv_layout
        self._activation = _check_activation(activation, cls)

        def tup(v, what):
            t = (v,) * dims if isinstance(v, int) else tuple(v)
            if len(t) != dims or not all(isinstance(a, int) for a in t):
                raise MXNetValueError(f"{cls}: for {dims}D convolution, {what} must be an int or a list/tuple of "
                                      f"{dims} ints, got {v!r}")
            return t

        self._i2h_kernel = tup(i2h_kernel, "i2h_kernel")
        self._stride = (1,) * dims
        self._i2h_pad = tup(i2h_pad, "i2h_pad")
        self._i2h_dilate = tup(i2h_dilate, "i2h_dilate")
        self._h2h_kernel = tup(h2h_kernel, "h2h_kernel")
        if not all(k > 0 and k % 2 == 1 for k in self._h2h_kernel):
            raise MXNetValueError(f"{cls}: only odd h2h_kernel sizes are supported (the state keeps its size), "
                                  f"got h2h_kernel={h2h_kernel!r}")
        self._h2h_dilate = tup(h2h_dilate, "h2h_dilate")
        input_shape = tuple(input_shape) if not isinstance(input_shape, int) else (input_shape,)
        if len(input_shape) != dims + 1:
            raise MXNetValueError(f"{cls}: input_shape must have {dims + 1} entries (one step of one sample in "
                                  f"{conv_layout} without N), got {input_shape!r}")
        self._input_shape = input_shape

        self._channel_axis = conv_layout.find("C")
        channel_first = self._channel_axis == 1
        in_channels = input_shape[0] if channel_first else input_shape[-1]
        dimensions = input_shape[1:] if channel_first else input_shape[:-1]
        out_size = _conv_out_size(dimensions, self._i2h_kernel, self._i2h_pad, self._i2h_dilate)
        if any(x and s <= 0 for x, s in zip(dimensions, out_size)):
            raise MXNetValueError(f"{cls}: i2h_kernel {self._i2h_kernel} (dilate {self._i2h_dilate}, pad "
                                  f"{self._i2h_pad}) is larger than the input {dimensions}")
        self._in_channels = in_channels
        self._h2h_pad = tuple(d * (k - 1) // 2 for d, k in zip(self._h2h_dilate, self._h2h_kernel))
        total = hidden_channels * len(self._gate_names)
        h = hidden_channels
        if channel_first:
            self._state_shape = (h,) + out_size
            i2h_shape = (total, in_channels) + self._i2h_kernel
            h2h_shape = (total, h) + self._h2h_kernel
        else:
            self._state_shape = out_size + (h,)
            i2h_shape = (total,) + self._i2h_kernel + (in_channels,)
            h2h_shape = (total,) + self._h2h_kernel + (h,)
        self.i2h_weight = Parameter("i2h_weight", shape=i2h_shape, init=i2h_weight_initializer,
                                    allow_deferred_init=True)
        self.h2h_weight = Parameter("h2h_weight", shape=h2h_shape, init=h2h_weight_initializer,
                                    allow_deferred_init=True)
        self.i2h_bias = Parameter("i2h_bias", shape=(total,), init=i2h_bias_initializer, allow_deferred_init=True)
        self.h2h_bias = Parameter("h2h_bias", shape=(total,), init=h2h_bias_initializer, allow_deferred_init=True)

    def infer_shape(self, i, x=None, is_bidirect=False):
        """Infer the input channels (given as 0 in input_shape) from a step's input: the first call's
        ``infer_shape(inputs, states)``, or MXNet's ``infer_shape(layer_index, x, is_bidirect)``."""
        x = i if not isinstance(i, int) else x
        c = x.shape[-len(self._i2h_kernel) - 1:][self._channel_axis - 1]
        shape = list(self.i2h_weight.shape)
        shape[1 if self._channel_axis == 1 else -1] = c
        self.i2h_weight.shape = tuple(shape)

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size,) + self._state_shape, "__layout__": self._conv_layout}
                for _ in range(self._num_states)]

    _num_states = 1

    def __repr__(self):
        shape = self.i2h_weight.shape
        in_channels = shape[1 if self._channel_axis == 1 else -1]
        return (f"{type(self).__name__}({in_channels if in_channels else None} -> {shape[0]}, {self._activation}, "
                f"{self._conv_layout})")

    def _conv_forward(self, inputs, states):
        dev = inputs.device
        num_filter = self._hidden_channels * len(self._gate_names)
        i2h = npx.convolution(inputs, self.i2h_weight.data(dev), self.i2h_bias.data(dev), kernel=self._i2h_kernel,
                              stride=self._stride, pad=self._i2h_pad, dilate=self._i2h_dilate,
                              num_filter=num_filter, layout=self._conv_layout)
        h2h = npx.convolution(states[0].to_device(dev), self.h2h_weight.data(dev), self.h2h_bias.data(dev),
                              kernel=self._h2h_kernel, stride=self._stride, pad=self._h2h_pad,
                              dilate=self._h2h_dilate, num_filter=num_filter, layout=self._conv_layout)
        return i2h, h2h


class _ConvRNNCell(_BaseConvRNNCell):
    """h' = activation(W_i * x + b_i + R_i * h + b_h)."""

    def _alias(self):
        return "conv_rnn"

    def forward(self, inputs, states):
        i2h, h2h = self._conv_forward(inputs, states)
        output = self._get_activation(i2h + h2h, self._activation)
        return output, [output]


class _ConvLSTMCell(_BaseConvRNNCell):
    """Gates (i, f, c, o) split along the channel axis: i, f, o = sigmoid(W * x + R * h + b),
    c~ = activation(...); c' = f * c + i * c~; h' = o * activation(c'). States [h, c]."""

    _gate_names = ("_i", "_f", "_c", "_o")
    _num_states = 2

    def _alias(self):
        return "conv_lstm"

    def forward(self, inputs, states):
        i2h, h2h = self._conv_forward(inputs, states)
        i, f, c, o = np.split(i2h + h2h, 4, axis=self._channel_axis)
        in_transform = self._get_activation(c, self._activation)
        next_c = npx.sigmoid(f) * states[1].to_device(inputs.device) + npx.sigmoid(i) * in_transform
        next_h = npx.sigmoid(o) * self._get_activation(next_c, self._activation)
        return next_h, [next_h, next_c]


class _ConvGRUCell(_BaseConvRNNCell):
    """Gates (r, z, n) split along the channel axis: r, z = sigmoid(W * x + R * h + b);
    n = activation(W_n * x + b_n + r * (R_n * h + b_rn)); h' = (1 - z) * n + z * h."""

    _gate_names = ("_r", "_z", "_o")

    def _alias(self):
        return "conv_gru"

    def forward(self, inputs, states):
        i2h, h2h = self._conv_forward(inputs, states)
        i2h_r, i2h_z, i2h_n = np.split(i2h, 3, axis=self._channel_axis)
        h2h_r, h2h_z, h2h_n = np.split(h2h, 3, axis=self._channel_axis)
        reset_gate = npx.sigmoid(i2h_r + h2h_r)
        update_gate = npx.sigmoid(i2h_z + h2h_z)
        new = self._get_activation(i2h_n + reset_gate * h2h_n, self._activation)
        next_h = (1 - update_gate) * new + update_gate * states[0].to_device(inputs.device)
        return next_h, [next_h]


def _make(name, base, dims, doc):
    layout = _LAYOUTS[dims][0]
    zeros, ones = (0,) * dims, (1,) * dims

    def __init__(self, input_shape, hidden_channels, i2h_kernel, h2h_kernel, i2h_pad=zeros, i2h_dilate=ones,
                 h2h_dilate=ones, i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros", conv_layout=layout, activation="tanh",
                 prefix=None, params=None):
        base.__init__(self, input_shape, hidden_channels, i2h_kernel, h2h_kernel, i2h_pad, i2h_dilate, h2h_dilate,
                      i2h_weight_initializer, h2h_weight_initializer, i2h_bias_initializer, h2h_bias_initializer,
                      dims, conv_layout, activation, prefix, params)

    layouts = " and ".join(repr(v) for v in _LAYOUTS[dims])
    return type(name, (base,), {"__init__": __init__, "__module__": __name__,
                                "__doc__": f"{doc} over {dims} spatial dimension{'s' if dims > 1 else ''} "
                                           f"(conv_layout {layouts}). {base.__doc__}"})


Conv1DRNNCell = _make("Conv1DRNNCell", _ConvRNNCell, 1, "Convolutional RNN cell")
Conv2DRNNCell = _make("Conv2DRNNCell", _ConvRNNCell, 2, "Convolutional RNN cell")
Conv3DRNNCell = _make("Conv3DRNNCell", _ConvRNNCell, 3, "Convolutional RNN cell")
Conv1DLSTMCell = _make("Conv1DLSTMCell", _ConvLSTMCell, 1, "Convolutional LSTM cell (Xingjian et al. 2015)")
Conv2DLSTMCell = _make("Conv2DLSTMCell", _ConvLSTMCell, 2, "Convolutional LSTM cell (Xingjian et al. 2015)")
Conv3DLSTMCell = _make("Conv3DLSTMCell", _ConvLSTMCell, 3, "Convolutional LSTM cell (Xingjian et al. 2015)")
Conv1DGRUCell = _make("Conv1DGRUCell", _ConvGRUCell, 1, "Convolutional GRU cell")
Conv2DGRUCell = _make("Conv2DGRUCell", _ConvGRUCell, 2, "Convolutional GRU cell")
Conv3DGRUCell = _make("Conv3DGRUCell", _ConvGRUCell, 3, "Convolutional GRU cell")
