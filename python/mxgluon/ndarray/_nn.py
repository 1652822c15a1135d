"""MXNet 1.x's neural-network operators under their ``mx.nd`` names (``FullyConnected``, ``BatchNorm``,
...): the same core ops as ``mx.npx``, with 1.x argument names and NDArray results."""
from math import prod

from .. import autograd
from .. import numpy as _np
from ..base import MXNetValueError
from ..numpy_extension import _conv as _npx_conv
from ..numpy_extension import _index as _npx_index
from ..numpy_extension import _nn as _npx
from ..numpy_extension import _rnn as _npx_rnn
from ..numpy_extension import _sequence as _npx_seq
from .ndarray import _as_nd, _nd, _scalar_1, _store, clip

__all__ = ["FullyConnected", "BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm", "Embedding", "Dropout",
           "Activation", "LeakyReLU", "Convolution", "Deconvolution", "Pooling", "Pad", "pad", "RNN",
           "SequenceMask", "SequenceLast", "SequenceReverse", "softmax", "log_softmax", "softmin",
           "SoftmaxActivation", "SoftmaxOutput", "Softmax", "softmax_cross_entropy", "L2Normalization",
           "smooth_l1", "hard_sigmoid", "log_sigmoid", "mish", "UpSampling"]


def FullyConnected(data, weight, bias=None, num_hidden=None, no_bias=False, flatten=True, **kwargs):
    if not no_bias and bias is None:
        raise MXNetValueError("FullyConnected: no_bias=False needs the bias array")
    return _npx.fully_connected(_as_nd(data), weight, bias, num_hidden=num_hidden, no_bias=no_bias,
                                flatten=flatten, **kwargs)


def BatchNorm(data, gamma, beta, moving_mean, moving_var, eps=1e-3, momentum=0.9, fix_gamma=True,
              use_global_stats=False, output_mean_var=False, axis=1, cudnn_off=False, **kwargs):
    return _npx.batch_norm(_as_nd(data), gamma, beta, moving_mean, moving_var, eps=eps, momentum=momentum,
                           fix_gamma=fix_gamma, use_global_stats=use_global_stats,
                           output_mean_var=output_mean_var, axis=axis, cudnn_off=cudnn_off, **kwargs)


def LayerNorm(data, gamma, beta, axis=-1, eps=1e-5, output_mean_var=False, **kwargs):
    return _npx.layer_norm(_as_nd(data), gamma, beta, axis=axis, eps=eps, output_mean_var=output_mean_var)


def GroupNorm(data, gamma, beta, num_groups=1, eps=1e-5, output_mean_var=False, **kwargs):
    return _npx.group_norm(_as_nd(data), gamma, beta, num_groups=num_groups, eps=eps,
                           output_mean_var=output_mean_var)


def InstanceNorm(data, gamma, beta, eps=1e-3, **kwargs):
    return _npx.instance_norm(_as_nd(data), gamma, beta, eps=eps)


def Embedding(data, weight, input_dim, output_dim, dtype="float32", sparse_grad=False, **kwargs):
    return _npx.embedding(_as_nd(data), weight, input_dim=input_dim, output_dim=output_dim, dtype=dtype,
                          sparse_grad=sparse_grad)


def Dropout(data, p=0.5, mode="training", axes=(), cudnn_off=False, **kwargs):
    return _npx.dropout(_as_nd(data), p=p, mode=mode, axes=axes)


def Activation(data, act_type="relu", **kwargs):
    return _npx.activation(_as_nd(data), act_type=act_type)


def LeakyReLU(data, gamma=None, act_type="leaky", slope=0.25, lower_bound=0.125, upper_bound=0.334, **kwargs):
    return _npx.leaky_relu(_as_nd(data), gamma=gamma, act_type=act_type, slope=slope)


def Convolution(data, weight, bias=None, kernel=None, stride=(), dilate=(), pad=(), num_filter=1, num_group=1,
                workspace=1024, no_bias=False, cudnn_tune=None, cudnn_off=False, layout=None, **kwargs):
    return _npx_conv.convolution(_as_nd(data), weight, bias, kernel=kernel, stride=stride, dilate=dilate, pad=pad,
                                 num_filter=num_filter, num_group=num_group, no_bias=no_bias, layout=layout)


def Deconvolution(data, weight, bias=None, kernel=None, stride=(), dilate=(), pad=(), adj=(), target_shape=(),
                  num_filter=1, num_group=1, workspace=512, no_bias=True, cudnn_tune=None, cudnn_off=False,
                  layout=None, **kwargs):
    return _npx_conv.deconvolution(_as_nd(data), weight, bias, kernel=kernel, stride=stride, dilate=dilate,
                                   pad=pad, adj=adj, target_shape=target_shape, num_filter=num_filter,
                                   num_group=num_group, no_bias=no_bias, layout=layout)


def Pooling(data, kernel=(), pool_type="max", global_pool=False, cudnn_off=False, pooling_convention="valid",
            stride=(), pad=(), p_value=None, count_include_pad=None, layout=None, **kwargs):
    return _npx_conv.pooling(_as_nd(data), kernel=kernel, pool_type=pool_type, global_pool=global_pool,
                             pooling_convention=pooling_convention, stride=stride, pad=pad, p_value=p_value,
                             count_include_pad=count_include_pad, layout=layout)


def Pad(data, mode="constant", pad_width=None, constant_value=0.0, **kwargs):
    return _npx_conv.pad(_as_nd(data), mode=mode, pad_width=pad_width, constant_value=constant_value)


pad = Pad


def RNN(data=None, parameters=None, state=None, state_cell=None, sequence_length=None, state_size=None,
        num_layers=None, bidirectional=False, mode=None, p=0.0, state_outputs=False, projection_size=None,
        lstm_state_clip_min=None, lstm_state_clip_max=None, lstm_state_clip_nan=False, use_sequence_length=False,
        **kwargs):
    return _npx_rnn.rnn(_as_nd(data), parameters, state, state_cell, sequence_length, mode=mode,
                        state_size=state_size, num_layers=num_layers, bidirectional=bidirectional,
                        state_outputs=state_outputs, p=p, use_sequence_length=use_sequence_length,
                        projection_size=projection_size, lstm_state_clip_min=lstm_state_clip_min,
                        lstm_state_clip_max=lstm_state_clip_max, lstm_state_clip_nan=lstm_state_clip_nan)


def SequenceMask(data, sequence_length=None, use_sequence_length=False, value=0.0, axis=0, out=None, **kwargs):
    return _store(_npx_seq.sequence_mask(_as_nd(data), sequence_length, use_sequence_length=use_sequence_length,
                                         value=value, axis=axis), out)


def SequenceLast(data, sequence_length=None, use_sequence_length=False, axis=0, out=None, **kwargs):
    return _store(_npx_seq.sequence_last(_as_nd(data), sequence_length, use_sequence_length=use_sequence_length,
                                         axis=axis), out)


def SequenceReverse(data, sequence_length=None, use_sequence_length=False, axis=0, out=None, **kwargs):
    return _store(_npx_seq.sequence_reverse(_as_nd(data), sequence_length,
                                            use_sequence_length=use_sequence_length, axis=axis), out)


# --- softmax family ----------------------------------------------------------------------------


def softmax(data, length=None, axis=-1, temperature=None, dtype=None, use_length=False, out=None, **kwargs):
    """exp(data / temperature) normalised along ``axis`` (``use_length``: over the first ``length``
    entries of each line, the rest 0)."""
    return _store(_npx.softmax(_as_nd(data), length, axis=axis, temperature=temperature,
                               use_length=use_length, dtype=dtype), out)


def log_softmax(data, length=None, axis=-1, temperature=None, dtype=None, use_length=False, out=None, **kwargs):
    """log(softmax(data)) along ``axis``, computed stably."""
    return _store(_npx.log_softmax(_as_nd(data), axis=axis, length=length, temperature=temperature,
                                   use_length=use_length, dtype=dtype), out)


def softmin(data, axis=-1, temperature=None, dtype=None, use_length=False, length=None, out=None, **kwargs):
    """softmax(-data): the smallest entries get the largest weights."""
    return softmax(-_as_nd(data), length, axis=axis, temperature=temperature, dtype=dtype,
                   use_length=use_length, out=out)


def SoftmaxActivation(data, mode="instance", out=None, **kwargs):
    """1.x's softmax layer: ``mode='instance'`` normalises each sample over all its other axes,
    ``'channel'`` over axis 1 at each position."""
    data = _as_nd(data)
    if mode == "channel":
        return _store(_npx.softmax(data, axis=1), out)
    if mode != "instance":
        raise MXNetValueError(f"SoftmaxActivation: mode {mode!r} is not one of 'instance', 'channel'")
    return _store(_npx.softmax(data.reshape((0, -1)), axis=1).reshape(data.shape), out)


class _SoftmaxOutput(autograd.Function):
    """Forward: softmax along the class axis. Backward: MXNet's fixed gradient
    ``(softmax - target) * grad_scale / normaliser``, the output gradient unused unless ``out_grad``."""

    def __init__(self, axis, grad_scale, ignore_label, use_ignore, normalization, out_grad, smooth_alpha,
                 multi_output):
        super().__init__()
        self.axis, self.grad_scale, self.ignore_label = axis, float(grad_scale), float(ignore_label)
        self.use_ignore, self.normalization = bool(use_ignore), normalization
        self.out_grad, self.smooth_alpha, self.multi_output = bool(out_grad), float(smooth_alpha), multi_output

    def forward(self, data, label):
        out = _npx.softmax(data, axis=self.axis)
        self.save_for_backward(out, label)
        return out

    def backward(self, dy):
        out, label = self.saved_tensors
        k = out.shape[self.axis]
        target = _npx_index.one_hot(label, depth=k, dtype=out.dtype)
        if self.smooth_alpha and not self.multi_output:  # MXNet smooths only the single-output forms
            a = self.smooth_alpha / (k - 1)
            target = target * (1 - self.smooth_alpha - a) + a
        grad = out - _np.moveaxis(target, -1, self.axis)
        keep = (label != self.ignore_label).astype(out.dtype)
        if self.use_ignore:
            grad = grad * _np.expand_dims(keep, self.axis)
        if self.normalization == "batch":
            norm = label.size
        elif self.normalization == "valid":  # MXNet counts the labels that are not ignore_label
            norm = max(float(keep.sum().item()), 1.0)
        else:  # 'null': the multi-output form still averages over the positions
            norm = label.size // label.shape[0] if self.multi_output else 1
        grad = grad * (self.grad_scale / norm)
        if self.out_grad:
            grad = grad * dy
        return grad, _np.zeros_like(label)


def SoftmaxOutput(data, label, grad_scale=1.0, ignore_label=-1.0, multi_output=False, use_ignore=False,
                  preserve_shape=False, normalization="null", out_grad=False, smooth_alpha=0.0, out=None,
                  **kwargs):
    """1.x's softmax output layer: the forward is a softmax (over the flattened features of each
    sample; axis 1 with ``multi_output``; the last axis with ``preserve_shape``), and the backward
    is the cross-entropy gradient ``(softmax - one_hot(label)) * grad_scale``, divided by the number
    of labels (``normalization='batch'``) or of labels that are not ``ignore_label`` (``'valid'``);
    with ``'null'`` the multi-output form divides by the positions per sample. Labels equal to
    ``ignore_label`` get no gradient when ``use_ignore``; ``smooth_alpha`` moves that much of the
    target to the other classes (single-output forms, as in MXNet). Without ``multi_output`` or
    ``preserve_shape`` the label has one entry per sample."""
    data = _as_nd(data)
    label = _as_nd(label, like=data)
    if normalization not in ("null", "batch", "valid"):
        raise MXNetValueError(f"SoftmaxOutput: normalization {normalization!r} is not one of 'null', 'batch', "
                              "'valid'")
    if preserve_shape:
        x, axis, want = data, data.ndim - 1, data.shape[:-1]
    elif multi_output:
        x, axis, want = data, 1, data.shape[:1] + data.shape[2:]
    else:
        x, axis, want = data.reshape((0, -1)), 1, data.shape[:1]
    if label.size != prod(want):
        raise MXNetValueError(f"SoftmaxOutput: label {label.shape} does not fit data {data.shape} (expected "
                              f"{want})")
    fn = _SoftmaxOutput(axis, grad_scale, ignore_label, use_ignore, normalization, out_grad, smooth_alpha,
                        bool(multi_output) and not preserve_shape)
    res = fn(x, label.reshape(want))
    return _store(_nd(res).reshape(data.shape), out)


Softmax = SoftmaxOutput  # the 1.x alias


def softmax_cross_entropy(data, label, out=None, **kwargs):
    """The summed cross-entropy ``-sum(log_softmax(data)[i, label[i]])`` of 2-D ``data``, shape (1,)."""
    data = _as_nd(data)
    picked = _npx_index.pick(_npx.log_softmax(data, axis=-1), _as_nd(label, like=data), axis=-1)
    return _store(_scalar_1(-_np.sum(picked)), out)


# --- composed activations and normalisation ----------------------------------------------------


def L2Normalization(data, eps=1e-10, mode="instance", out=None, **kwargs):
    """``data / sqrt(sum(data ** 2) + eps)``, the sum over every axis but the first
    (``mode='instance'``), over axis 1 (``'channel'``) or over the axes after 1 (``'spatial'``)."""
    data = _as_nd(data)
    axes = {"instance": tuple(range(1, data.ndim)), "channel": (1,),
            "spatial": tuple(range(2, data.ndim))}.get(mode)
    if axes is None:
        raise MXNetValueError(f"L2Normalization: mode {mode!r} is not one of 'instance', 'channel', 'spatial'")
    return _store(data / _np.sqrt(_np.sum(data * data, axis=axes, keepdims=True) + eps), out)


def smooth_l1(data, scalar=1.0, out=None, **kwargs):
    """0.5 (scalar * x)^2 where |x| < 1 / scalar^2, else |x| - 0.5 / scalar^2."""
    data = _as_nd(data)
    s2 = float(scalar) ** 2
    return _store(_np.where(_np.abs(data) < 1.0 / s2, 0.5 * s2 * data * data, _np.abs(data) - 0.5 / s2), out)


def hard_sigmoid(data, alpha=0.2, beta=0.5, out=None, **kwargs):
    """clip(alpha * data + beta, 0, 1)."""
    return clip(_as_nd(data) * alpha + beta, 0.0, 1.0, out=out)


def log_sigmoid(data, out=None, **kwargs):
    """log(1 / (1 + exp(-data)))."""
    return _store(Activation(data, act_type="log_sigmoid"), out)


def mish(data, out=None, **kwargs):
    """data * tanh(log(1 + exp(data)))."""
    return _store(Activation(data, act_type="mish"), out)


def UpSampling(*data, scale=1, sample_type="nearest", num_filter=0, multi_input_mode="concat", num_args=None,
               workspace=512, out=None, **kwargs):
    """Nearest-neighbour upsampling of (N, C, H, W) inputs by ``scale``; several inputs are each
    brought to the first one's size times ``scale`` and joined on the channels (``'concat'``) or
    added (``'sum'``). ``sample_type='bilinear'`` (a deconvolution with a weight input) is not
    supported."""
    if sample_type != "nearest":
        raise MXNetValueError(f"UpSampling: sample_type {sample_type!r} is not supported (only 'nearest')")
    if multi_input_mode not in ("concat", "sum"):
        raise MXNetValueError(f"UpSampling: multi_input_mode {multi_input_mode!r} is not one of 'concat', 'sum'")
    arrs = [_as_nd(d) for d in data]
    if not arrs or any(a.ndim != 4 for a in arrs):
        raise MXNetValueError(f"UpSampling: needs 4-D (N, C, H, W) inputs, got {[a.shape for a in arrs]}")
    size = arrs[0].shape[2] * int(scale)
    ups = []
    for a in arrs:
        if size % a.shape[2]:
            raise MXNetValueError(f"UpSampling: input {a.shape} does not scale to height {size}")
        f = size // a.shape[2]
        ups.append(_np.repeat(_np.repeat(a, f, axis=2), f, axis=3))
    if len(ups) == 1:
        res = ups[0]
    elif multi_input_mode == "sum":
        res = ups[0]
        for u in ups[1:]:
            res = res + u
    else:
        res = _np.concatenate(ups, axis=1)
    return _store(_nd(res), out)
