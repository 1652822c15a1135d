"""Convolution layers: ConvND and ConvNDTranspose, max/average and global pooling, the deformable
convolutions, pixel shuffle and reflection padding. Each layer's work is one core op (npx.convolution,
npx.deconvolution, npx.pooling, ...), with the bias and a plain activation fused into the convolution."""
from ... import numpy as np
from ... import numpy_extension as npx
from ...base import MXNetValueError
from ..block import HybridBlock
from ..parameter import Parameter
from .activations import Activation
from .basic_layers import _FUSED_ACTS, _param_device

__all__ = ["Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
           "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
           "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
           "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
           "ReflectionPad2D", "DeformableConvolution", "ModulatedDeformableConvolution",
           "PixelShuffle1D", "PixelShuffle2D", "PixelShuffle3D"]

_LAYOUTS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


def _ntuple(v, n, what, cls):
    t = (int(v),) * n if isinstance(v, (int, float)) else tuple(int(a) for a in v)
    if len(t) != n:
        raise MXNetValueError(f"{cls}: {what} must be a number or a list of {n} ints, got {v!r}")
    return t


def _check_layout(layout, n, cls):
    if layout not in _LAYOUTS[n]:
        raise MXNetValueError(f"{cls}: layout must be one of {_LAYOUTS[n]}, not {layout!r}")
    return layout


def _activation(activation):
    return Activation(activation) if activation is not None else None


def _apply_act(layer, out):
    return layer.act(out) if layer.act is not None else out


class _Conv(HybridBlock):
    """Shared by the convolution layers: ``weight`` and ``bias`` of the shapes the op expects
    (in_channels=0 is inferred from the first input) and the fused forward."""

    _op = None  # npx.convolution or npx.deconvolution
    _transposed = False

    def __init__(self, n, channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                 activation, use_bias, weight_initializer, bias_initializer, output_padding=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self._layout = _check_layout(layout, n, cls)
        if channels <= 0 or groups <= 0:
            raise MXNetValueError(f"{cls}: channels ({channels}) and groups ({groups}) must be positive")
        self._channels, self._in_channels, self._groups = channels, in_channels, groups
        kernel = _ntuple(kernel_size, n, "kernel_size", cls)
        self._kwargs = {"kernel": kernel, "stride": _ntuple(strides, n, "strides", cls),
                        "dilate": _ntuple(dilation, n, "dilation", cls), "pad": _ntuple(padding, n, "padding", cls),
                        "num_filter": channels, "num_group": groups, "no_bias": not use_bias, "layout": layout}
        if output_padding is not None:
            self._kwargs["adj"] = _ntuple(output_padding, n, "output_padding", cls)
        self.weight = Parameter("weight", shape=self._weight_shape(in_channels), init=weight_initializer,
                                allow_deferred_init=True)
        self.bias = (Parameter("bias", shape=(channels,), init=bias_initializer, allow_deferred_init=True)
                     if use_bias else None)
        self.act = _activation(activation)

    def _weight_shape(self, in_channels):
        g, kernel = self._groups, self._kwargs["kernel"]
        if self._transposed:  # (C_in, channels / groups, *kernel)
            outer, inner = in_channels, self._channels // g
        else:  # (channels, C_in / groups, *kernel)
            outer, inner = self._channels, in_channels // g
        if self._layout[1] == "C":
            return (outer, inner) + kernel
        return (outer,) + kernel + (inner,)

    def infer_shape(self, x, *args):
        c = self._layout.find("C")
        if x.ndim != len(self._layout):
            raise MXNetValueError(f"{type(self).__name__}: expected {len(self._layout)}-d input in layout "
                                  f"{self._layout}, got shape {x.shape}")
        if not self._transposed and x.shape[c] % self._groups:
            raise MXNetValueError(f"{type(self).__name__}: {x.shape[c]} input channels (input shape {x.shape}) "
                                  f"are not divisible by groups={self._groups}")
        self.weight.shape = self._weight_shape(x.shape[c])

    def forward(self, x):
        dev = _param_device(x)
        bias = self.bias.data(dev) if self.bias is not None else None
        act = self.act._act_type if self.act is not None else None
        fused = act in _FUSED_ACTS
        out = type(self)._op(x, self.weight.data(dev), bias, act_type=act if fused else None, **self._kwargs)
        return out if fused else _apply_act(self, out)

    def _alias(self):
        return "conv"

    def __repr__(self):
        # The weight's (outer, inner) channel dimensions: (out, in / groups) or, transposed, (in, out / groups).
        shape = self.weight.shape
        outer, inner = shape[0], (shape[1] if self._layout[1] == "C" else shape[-1])
        ins, outs = (outer, inner) if self._transposed else (inner, outer)
        # An unknown in_channels shows as -1, as MXNet 2.x prints it.
        return _conv_repr(self, f"{ins} -> {outs}", self._kwargs, self.bias is not None)


def _conv_repr(layer, mapping, k, bias):
    n = len(k["kernel"])
    s = f"{type(layer).__name__}({mapping}, kernel_size={k['kernel']}, stride={k['stride']}"
    if k["pad"] != (0,) * n:
        s += f", padding={k['pad']}"
    if k["dilate"] != (1,) * n:
        s += f", dilation={k['dilate']}"
    if k.get("adj", (0,) * n) != (0,) * n:
        s += f", output_padding={k['adj']}"
    if k["num_group"] != 1:
        s += f", groups={k['num_group']}"
    if not bias:
        s += ", bias=False"
    if layer.act is not None:
        s += f", {layer.act}"
    return s + ")"


class _ConvForward(_Conv):
    _op = staticmethod(npx.convolution)


class _ConvTranspose(_Conv):
    _op = staticmethod(npx.deconvolution)
    _transposed = True


class Conv1D(_ConvForward):
    """1-D convolution over the W axis: out_width = floor((width + 2*padding - dilation*(kernel_size-1)
    - 1) / strides) + 1. Layouts 'NCW' and 'NWC'."""

    def __init__(self, channels, kernel_size, strides=1, padding=0, dilation=1, groups=1, layout="NCW",
                 activation=None, use_bias=True, weight_initializer=None, bias_initializer="zeros",
                 in_channels=0, **kwargs):
        super().__init__(1, channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                         activation, use_bias, weight_initializer, bias_initializer, **kwargs)


class Conv2D(_ConvForward):
    """2-D convolution over H and W: out = floor((size + 2*padding - dilation*(kernel_size-1) - 1) /
    strides) + 1 per axis. Layouts 'NCHW' and 'NHWC'."""

    def __init__(self, channels, kernel_size, strides=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                 layout="NCHW", activation=None, use_bias=True, weight_initializer=None,
                 bias_initializer="zeros", in_channels=0, **kwargs):
        super().__init__(2, channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                         activation, use_bias, weight_initializer, bias_initializer, **kwargs)


class Conv3D(_ConvForward):
    """3-D convolution over D, H and W, sizes as Conv2D per axis. Layouts 'NCDHW' and 'NDHWC'."""

    def __init__(self, channels, kernel_size, strides=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1),
                 groups=1, layout="NCDHW", activation=None, use_bias=True, weight_initializer=None,
                 bias_initializer="zeros", in_channels=0, **kwargs):
        super().__init__(3, channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                         activation, use_bias, weight_initializer, bias_initializer, **kwargs)


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution: out_width = (width-1)*strides - 2*padding + dilation*(kernel_size-1)
    + 1 + output_padding. Layouts 'NCW' and 'NWC'."""

    def __init__(self, channels, kernel_size, strides=1, padding=0, output_padding=0, dilation=1, groups=1,
                 layout="NCW", activation=None, use_bias=True, weight_initializer=None, bias_initializer="zeros",
                 in_channels=0, **kwargs):
        super().__init__(1, channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                         activation, use_bias, weight_initializer, bias_initializer, output_padding, **kwargs)


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution, sizes as Conv1DTranspose per axis. Layouts 'NCHW' and 'NHWC'."""

    def __init__(self, channels, kernel_size, strides=(1, 1), padding=(0, 0), output_padding=(0, 0),
                 dilation=(1, 1), groups=1, layout="NCHW", activation=None, use_bias=True,
                 weight_initializer=None, bias_initializer="zeros", in_channels=0, **kwargs):
        super().__init__(2, channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                         activation, use_bias, weight_initializer, bias_initializer, output_padding, **kwargs)


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution, sizes as Conv1DTranspose per axis. Layouts 'NCDHW' and 'NDHWC'."""

    def __init__(self, channels, kernel_size, strides=(1, 1, 1), padding=(0, 0, 0), output_padding=(0, 0, 0),
                 dilation=(1, 1, 1), groups=1, layout="NCDHW", activation=None, use_bias=True,
                 weight_initializer=None, bias_initializer="zeros", in_channels=0, **kwargs):
        super().__init__(3, channels, kernel_size, strides, padding, dilation, groups, layout, in_channels,
                         activation, use_bias, weight_initializer, bias_initializer, output_padding, **kwargs)


# --- pooling


class _Pooling(HybridBlock):
    """Shared by the pooling layers: one npx.pooling call with MXNet's attributes."""

    def __init__(self, n, pool_size, strides, padding, ceil_mode, global_pool, pool_type, layout,
                 count_include_pad=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        pool_size = _ntuple(pool_size, n, "pool_size", cls)
        strides = pool_size if strides is None else _ntuple(strides, n, "strides", cls)
        self._kwargs = {"kernel": pool_size, "stride": strides, "pad": _ntuple(padding, n, "padding", cls),
                        "global_pool": global_pool, "pool_type": pool_type,
                        "layout": _check_layout(layout, n, cls),
                        "pooling_convention": "full" if ceil_mode else "valid"}
        if count_include_pad is not None:
            self._kwargs["count_include_pad"] = count_include_pad

    def forward(self, x):
        return npx.pooling(x, **self._kwargs)

    def _alias(self):
        return "pool"

    def __repr__(self):
        k = self._kwargs
        return (f"{type(self).__name__}(size={k['kernel']}, stride={k['stride']}, padding={k['pad']}, "
                f"ceil_mode={k['pooling_convention'] == 'full'}, global_pool={k['global_pool']}, "
                f"pool_type={k['pool_type']}, layout={k['layout']})")


class MaxPool1D(_Pooling):
    """Max pooling over W: out_width = floor((width + 2*padding - pool_size) / strides) + 1 (ceil with
    ``ceil_mode``); ``strides=None`` means ``pool_size``."""

    def __init__(self, pool_size=2, strides=None, padding=0, layout="NCW", ceil_mode=False, **kwargs):
        super().__init__(1, pool_size, strides, padding, ceil_mode, False, "max", layout, **kwargs)


class MaxPool2D(_Pooling):
    """Max pooling over H and W, sizes as MaxPool1D per axis."""

    def __init__(self, pool_size=(2, 2), strides=None, padding=0, layout="NCHW", ceil_mode=False, **kwargs):
        super().__init__(2, pool_size, strides, padding, ceil_mode, False, "max", layout, **kwargs)


class MaxPool3D(_Pooling):
    """Max pooling over D, H and W, sizes as MaxPool1D per axis."""

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding=0, ceil_mode=False, layout="NCDHW",
                 **kwargs):
        super().__init__(3, pool_size, strides, padding, ceil_mode, False, "max", layout, **kwargs)


class AvgPool1D(_Pooling):
    """Average pooling over W, sizes as MaxPool1D; ``count_include_pad`` counts the padding in the
    divisor."""

    def __init__(self, pool_size=2, strides=None, padding=0, layout="NCW", ceil_mode=False,
                 count_include_pad=True, **kwargs):
        super().__init__(1, pool_size, strides, padding, ceil_mode, False, "avg", layout, count_include_pad,
                         **kwargs)


class AvgPool2D(_Pooling):
    """Average pooling over H and W, sizes as MaxPool1D per axis."""

    def __init__(self, pool_size=(2, 2), strides=None, padding=0, ceil_mode=False, layout="NCHW",
                 count_include_pad=True, **kwargs):
        super().__init__(2, pool_size, strides, padding, ceil_mode, False, "avg", layout, count_include_pad,
                         **kwargs)


class AvgPool3D(_Pooling):
    """Average pooling over D, H and W, sizes as MaxPool1D per axis."""

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding=0, ceil_mode=False, layout="NCDHW",
                 count_include_pad=True, **kwargs):
        super().__init__(3, pool_size, strides, padding, ceil_mode, False, "avg", layout, count_include_pad,
                         **kwargs)


def _global(n, pool_type, default_layout):
    class _Global(_Pooling):
        def __init__(self, layout=default_layout, **kwargs):
            super().__init__(n, (1,) * n, None, 0, True, True, pool_type, layout, **kwargs)
    return _Global


class GlobalMaxPool1D(_global(1, "max", "NCW")):
    """Max over the whole W axis: (N, C, W) -> (N, C, 1)."""


class GlobalMaxPool2D(_global(2, "max", "NCHW")):
    """Max over H and W: (N, C, H, W) -> (N, C, 1, 1)."""


class GlobalMaxPool3D(_global(3, "max", "NCDHW")):
    """Max over D, H and W: (N, C, D, H, W) -> (N, C, 1, 1, 1)."""


class GlobalAvgPool1D(_global(1, "avg", "NCW")):
    """Mean over the whole W axis: (N, C, W) -> (N, C, 1)."""


class GlobalAvgPool2D(_global(2, "avg", "NCHW")):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1)."""


class GlobalAvgPool3D(_global(3, "avg", "NCDHW")):
    """Mean over D, H and W: (N, C, D, H, W) -> (N, C, 1, 1, 1)."""


# --- padding and pixel shuffle


class ReflectionPad2D(HybridBlock):
    """Pads H and W of (N, C, H, W) input by reflecting it at the border: an int pads all four sides;
    a tuple of 8 is MXNet's flat pad_width (before, after for each axis)."""

    def __init__(self, padding=0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (0, 0, 0, 0, padding, padding, padding, padding)
        padding = tuple(int(p) for p in padding)
        if len(padding) != 8:
            raise MXNetValueError(f"ReflectionPad2D: padding must be an int or 8 values, got {padding}")
        self._padding = padding

    def forward(self, x):
        return npx.pad(x, mode="reflect", pad_width=self._padding)

    def __repr__(self):
        return f"{type(self).__name__}({self._padding})"


class _PixelShuffle(HybridBlock):
    """(N, f1*...*fn*C, *S) -> (N, C, S1*f1, ..., Sn*fn): channel groups become blocks of pixels."""

    def __init__(self, n, factor):
        super().__init__()
        self._factors = _ntuple(factor, n, "factor", type(self).__name__)

    def forward(self, x):
        fs = self._factors
        n = len(fs)
        x = npx.reshape(x, (-2, -6, -1, _prod(fs)) + (-2,) * n)  # (N, C, f1*...*fn, *S)
        for i, f in enumerate(fs[:-1]):  # split the factors: (N, C, f1, ..., fn, *S)
            x = npx.reshape(x, (-2,) * (2 + i) + (-6, f, -1) + (-2,) * n)
        # (N, C, S1, f1, S2, f2, ...), then merge each (Si, fi).
        x = np.transpose(x, (0, 1) + sum(((2 + n + i, 2 + i) for i in range(n)), ()))
        return npx.reshape(x, (-2, -2) + (-5,) * n)

    def __repr__(self):
        f = self._factors
        return f"{type(self).__name__}({f[0] if len(f) == 1 else f})"


def _prod(fs):
    p = 1
    for f in fs:
        p *= f
    return p


class PixelShuffle1D(_PixelShuffle):
    """Pixel shuffle along W: (N, f*C, W) -> (N, C, W*f)."""

    def __init__(self, factor):
        super().__init__(1, factor)


class PixelShuffle2D(_PixelShuffle):
    """Pixel shuffle along H and W: (N, f1*f2*C, H, W) -> (N, C, H*f1, W*f2); ``factor`` an int or 2 ints."""

    def __init__(self, factor):
        super().__init__(2, factor)


class PixelShuffle3D(_PixelShuffle):
    """Pixel shuffle along D, H and W: (N, f1*f2*f3*C, D, H, W) -> (N, C, D*f1, H*f2, W*f3)."""

    def __init__(self, factor):
        super().__init__(3, factor)


# --- deformable convolutions


class _Deformable(HybridBlock):
    """Shared by the deformable convolutions: an ordinary convolution of the input computes the
    offsets (and, for v2, the masks); the deformable op then samples the input at the shifted
    positions."""

    _offset_parts = 2  # offset values per kernel tap and deformable group (v2 adds the mask: 3)

    def __init__(self, channels, kernel_size=(1, 1), strides=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                 num_deformable_group=1, layout="NCHW", use_bias=True, in_channels=0, activation=None,
                 weight_initializer=None, bias_initializer="zeros", offset_weight_initializer="zeros",
                 offset_bias_initializer="zeros", offset_use_bias=True, op_name=None, adj=None):
        super().__init__()
        cls = type(self).__name__
        if layout != "NCHW":
            raise MXNetValueError(f"{cls}: only the NCHW layout is supported, not {layout!r}")
        kernel = _ntuple(kernel_size, 2, "kernel_size", cls)
        common = {"kernel": kernel, "stride": _ntuple(strides, 2, "strides", cls),
                  "dilate": _ntuple(dilation, 2, "dilation", cls), "pad": _ntuple(padding, 2, "padding", cls),
                  "num_group": groups, "layout": layout}
        if adj:
            raise MXNetValueError(f"{cls}: adj (output padding) does not apply to a forward convolution")
        taps = kernel[0] * kernel[1] * num_deformable_group
        self._split = 2 * taps
        self._channels, self._groups = channels, groups
        self._kwargs_offset = dict(common, num_filter=self._offset_parts * taps, no_bias=not offset_use_bias)
        self._kwargs_deformable_conv = dict(common, num_filter=channels, num_deformable_group=num_deformable_group,
                                            no_bias=not use_bias)
        self.offset_weight = Parameter("offset_weight", shape=self._offset_weight_shape(in_channels),
                                       init=offset_weight_initializer, allow_deferred_init=True)
        self.offset_bias = (Parameter("offset_bias", shape=(self._offset_parts * taps,),
                                      init=offset_bias_initializer, allow_deferred_init=True)
                            if offset_use_bias else None)
        self.deformable_conv_weight = Parameter("deformable_conv_weight",
                                                shape=(channels, in_channels // groups) + kernel,
                                                init=weight_initializer, allow_deferred_init=True)
        self.deformable_conv_bias = (Parameter("deformable_conv_bias", shape=(channels,), init=bias_initializer,
                                               allow_deferred_init=True) if use_bias else None)
        self.act = _activation(activation)

    def _offset_weight_shape(self, in_channels):
        return (self._kwargs_offset["num_filter"], in_channels // self._groups) + self._kwargs_offset["kernel"]

    def infer_shape(self, x, *args):
        if x.ndim != 4:
            raise MXNetValueError(f"{type(self).__name__}: expected 4-d NCHW input, got shape {x.shape}")
        c = x.shape[1]
        if c % self._groups:
            raise MXNetValueError(f"{type(self).__name__}: {c} input channels are not divisible by "
                                  f"groups={self._groups}")
        self.offset_weight.shape = self._offset_weight_shape(c)
        self.deformable_conv_weight.shape = (self._channels, c // self._groups) + self._kwargs_offset["kernel"]

    def _offset(self, x, dev):
        bias = self.offset_bias.data(dev) if self.offset_bias is not None else None
        return npx.convolution(x, self.offset_weight.data(dev), bias, **self._kwargs_offset)

    def _conv_args(self, dev):
        bias = self.deformable_conv_bias.data(dev) if self.deformable_conv_bias is not None else None
        return dict(weight=self.deformable_conv_weight.data(dev), bias=bias, **self._kwargs_deformable_conv)

    def _alias(self):
        return "deformable_conv"

    def __repr__(self):
        k = self._kwargs_deformable_conv
        return _conv_repr(self, f"{self.deformable_conv_weight.shape[1]} -> {k['num_filter']}", k,
                          self.deformable_conv_bias is not None)


class DeformableConvolution(_Deformable):
    """Deformable convolution v1 (Dai et al., 2017) over NCHW input: a convolution of the input
    learns 2*num_deformable_group*kh*kw offset maps, and the output convolution samples the input
    (bilinearly, zero outside) at the regular grid shifted by them. Output size as Conv2D."""

    def forward(self, x):
        dev = _param_device(x)
        out = npx.deformable_convolution(x, self._offset(x, dev), **self._conv_args(dev))
        return _apply_act(self, out)


class ModulatedDeformableConvolution(_Deformable):
    """Modulated deformable convolution v2 (Zhu et al., 2018): as DeformableConvolution, and the
    offset convolution also yields num_deformable_group*kh*kw masks (2 * sigmoid) that scale each
    sample."""

    _offset_parts = 3

    def forward(self, x):
        dev = _param_device(x)
        offset_mask = self._offset(x, dev)
        offset = offset_mask[:, :self._split]
        mask = npx.sigmoid(offset_mask[:, self._split:]) * 2
        out = npx.modulated_deformable_convolution(x, offset, mask, **self._conv_args(dev))
        return _apply_act(self, out)

    def _alias(self):
        return "modulated_deformable_conv"
