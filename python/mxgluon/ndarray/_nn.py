"""MXNet 1.x's neural-network operators under their ``mx.nd`` names (``FullyConnected``, ``BatchNorm``,
...): the same core ops as ``mx.npx``, with 1.x argument names and NDArray results."""
from ..base import MXNetValueError
from ..numpy_extension import _conv as _npx_conv
from ..numpy_extension import _nn as _npx
from ..numpy_extension import _rnn as _npx_rnn
from ..numpy_extension import _sequence as _npx_seq
from .ndarray import _as_nd, _store

__all__ = ["FullyConnected", "BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm", "Embedding", "Dropout",
           "Activation", "LeakyReLU", "Convolution", "Deconvolution", "Pooling", "Pad", "RNN",
           "SequenceMask", "SequenceLast", "SequenceReverse"]


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
