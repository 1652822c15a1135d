"""Basic layers: containers, Dense, Dropout, the normalisations, Embedding, Flatten, lambdas."""
import inspect
from math import prod

from ... import numpy as np
from ... import numpy_extension as npx
from ...base import MXNetValueError
from ..block import Block, HybridBlock
from ..parameter import Parameter
from ..utils import _indent
from .activations import Activation

__all__ = ["Sequential", "HybridSequential", "Dense", "Dropout", "BatchNorm", "BatchNormReLU", "SyncBatchNorm",
           "InstanceNorm", "LayerNorm", "GroupNorm", "Embedding", "Flatten", "Lambda", "HybridLambda",
           "Identity", "Concatenate", "HybridConcatenate"]


class _SequentialMixin:
    def add(self, *blocks):
        """Append blocks, in order."""
        for block in blocks:
            self.register_child(block)

    def forward(self, x, *args):
        for block in self._children.values():
            x = block(x, *args)
            args = ()
            if isinstance(x, (tuple, list)):
                x, args = x[0], tuple(x[1:])
        return (x,) + args if args else x

    def __repr__(self):
        mods = "\n".join(f"  ({key}): {_indent(repr(block), 2)}" for key, block in self._children.items())
        return f"{type(self).__name__}(\n{mods}\n)"

    def __getitem__(self, key):
        layers = list(self._children.values())[key]
        if isinstance(layers, list):
            net = type(self)()
            net.add(*layers)
            return net
        return layers

    def __len__(self):
        return len(self._children)


class Sequential(_SequentialMixin, Block):
    """Runs its children one after the other."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)


class HybridSequential(_SequentialMixin, HybridBlock):
    """Runs its (hybridizable) children one after the other."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)


def _param_device(x):
    return getattr(x, "device", None)


# Activations the Dense and convolution ops apply in their own pass over the output.
_FUSED_ACTS = ("relu", "sigmoid", "tanh", "softrelu", "softsign", "log_sigmoid")


class Dense(HybridBlock):
    """``activation(dot(x, weight.T) + bias)``, one fused op. With ``flatten`` the input is collapsed
    to (batch, -1); otherwise the layer acts on the last axis. ``in_units=0`` is inferred from the
    first input."""

    def __init__(self, units, activation=None, use_bias=True, flatten=True, dtype="float32",
                 weight_initializer=None, bias_initializer="zeros", in_units=0, **kwargs):
        super().__init__(**kwargs)
        self._units = units
        self._in_units = in_units
        self._flatten = flatten
        self.weight = Parameter("weight", shape=(units, in_units), init=weight_initializer, dtype=dtype,
                                allow_deferred_init=True)
        self.bias = (Parameter("bias", shape=(units,), init=bias_initializer, dtype=dtype,
                               allow_deferred_init=True) if use_bias else None)
        self.act = Activation(activation) if activation is not None else None

    def infer_shape(self, x, *args):
        in_units = prod(x.shape[1:]) if self._flatten else x.shape[-1]
        self.weight.shape = (self._units, in_units)

    def forward(self, x):
        dev = _param_device(x)
        bias = self.bias.data(dev) if self.bias is not None else None
        act = self.act._act_type if self.act is not None else None
        fused = act in _FUSED_ACTS
        out = npx.fully_connected(x, self.weight.data(dev), bias, num_hidden=self._units, no_bias=bias is None,
                                  flatten=self._flatten, act_type=act if fused else None)
        if act is not None and not fused:
            out = self.act(out)
        return out

    def __repr__(self):
        shape = self.weight.shape
        act = self.act if self.act is not None else "linear"
        return f"{type(self).__name__}({shape[1] if shape[1] else None} -> {shape[0]}, {act})"


class Dropout(HybridBlock):
    """Zeroes each element with probability ``rate`` during training (scaling the rest by
    1/(1-rate)); the mask is shared along ``axes``. Identity at inference."""

    def __init__(self, rate, axes=(), **kwargs):
        super().__init__(**kwargs)
        self._rate = rate
        self._axes = axes

    def forward(self, x):
        if self._rate > 0:
            return npx.dropout(x, p=self._rate, axes=self._axes)
        return x

    def __repr__(self):
        return f"{type(self).__name__}(p = {self._rate}, axes={self._axes})"


class _Norm(HybridBlock):
    """Shared by the normalisation layers: gamma and beta of ``in_channels`` (inferred from the input's
    ``axis``), trainable only when ``scale`` / ``center``."""

    def __init__(self, axis, center, scale, beta_initializer, gamma_initializer, in_channels, kwargs_repr,
                 **kwargs):
        super().__init__(**kwargs)
        self._axis = axis
        self._kwargs = kwargs_repr
        self.gamma = Parameter("gamma", grad_req="write" if scale else "null", shape=(in_channels,),
                               init=gamma_initializer, allow_deferred_init=True, differentiable=scale)
        self.beta = Parameter("beta", grad_req="write" if center else "null", shape=(in_channels,),
                              init=beta_initializer, allow_deferred_init=True, differentiable=center)

    def _channel_params(self):
        return [self.gamma, self.beta]

    def infer_shape(self, x, *args):
        axis = self._axis if self._axis >= 0 else self._axis + x.ndim
        if not 0 <= axis < x.ndim:
            raise MXNetValueError(f"{type(self).__name__}: axis {self._axis} is out of range for input of shape "
                                  f"{x.shape}")
        for p in self._channel_params():
            p.shape = (x.shape[axis],)

    def cast(self, dtype):
        # Half-precision layers keep float32 statistics and affine parameters, as MXNet does.
        if str(dtype) in ("float16", "bfloat16"):
            dtype = "float32"
        super().cast(dtype)

    def __repr__(self):
        content = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        in_channels = self.gamma.shape[0]
        return f"{type(self).__name__}({content}, in_channels={in_channels if in_channels else None})"


class BatchNorm(_Norm):
    """Normalises each channel (``axis``) by the batch statistics in training and by the running
    statistics (updated in training with ``momentum``) at inference; then scales by gamma and shifts
    by beta. One fused op, forward and backward."""

    _act_type = None

    def __init__(self, axis=1, momentum=0.9, epsilon=1e-5, center=True, scale=True, use_global_stats=False,
                 beta_initializer="zeros", gamma_initializer="ones", running_mean_initializer="zeros",
                 running_variance_initializer="ones", in_channels=0, **kwargs):
        kw = {"axis": axis, "eps": epsilon, "momentum": momentum, "fix_gamma": not scale,
              "use_global_stats": use_global_stats}
        super().__init__(axis, center, scale, beta_initializer, gamma_initializer, in_channels, kw, **kwargs)
        self.running_mean = Parameter("running_mean", grad_req="null", shape=(in_channels,),
                                      init=running_mean_initializer, allow_deferred_init=True,
                                      differentiable=False)
        self.running_var = Parameter("running_var", grad_req="null", shape=(in_channels,),
                                     init=running_variance_initializer, allow_deferred_init=True,
                                     differentiable=False)

    def _channel_params(self):
        return [self.gamma, self.beta, self.running_mean, self.running_var]

    def forward(self, x):
        dev = _param_device(x)
        return npx.batch_norm(x, self.gamma.data(dev), self.beta.data(dev), self.running_mean.data(dev),
                              self.running_var.data(dev), act_type=self._act_type, **self._kwargs)


class BatchNormReLU(BatchNorm):
    """BatchNorm followed by ReLU, fused in one op."""

    _act_type = "relu"


class SyncBatchNorm(BatchNorm):
    """Cross-device batch normalisation. With one device (what mxgluon runs today) it is BatchNorm
    on axis 1; ``num_devices`` is accepted for compatibility."""

    def __init__(self, in_channels=0, num_devices=None, momentum=0.9, epsilon=1e-5, center=True, scale=True,
                 use_global_stats=False, beta_initializer="zeros", gamma_initializer="ones",
                 running_mean_initializer="zeros", running_variance_initializer="ones", **kwargs):
        super().__init__(1, momentum, epsilon, center, scale, use_global_stats, beta_initializer,
                         gamma_initializer, running_mean_initializer, running_variance_initializer, in_channels,
                         **kwargs)
        self._num_devices = num_devices


class InstanceNorm(_Norm):
    """Normalises each sample and channel over the remaining axes, then scales and shifts per channel."""

    def __init__(self, axis=1, epsilon=1e-5, center=True, scale=False, beta_initializer="zeros",
                 gamma_initializer="ones", in_channels=0, **kwargs):
        super().__init__(axis, center, scale, beta_initializer, gamma_initializer, in_channels,
                         {"eps": epsilon, "axis": axis, "center": center, "scale": scale}, **kwargs)
        self._epsilon = epsilon

    def forward(self, x):
        dev = _param_device(x)
        gamma, beta = self.gamma.data(dev), self.beta.data(dev)
        if self._axis == 1:
            return npx.instance_norm(x, gamma, beta, eps=self._epsilon)
        x = np.swapaxes(x, 1, self._axis)
        return np.swapaxes(npx.instance_norm(x, gamma, beta, eps=self._epsilon), 1, self._axis)


class LayerNorm(_Norm):
    """Normalises along ``axis`` (per sample), then scales and shifts along it."""

    def __init__(self, axis=-1, epsilon=1e-5, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", in_channels=0, **kwargs):
        super().__init__(axis, center, scale, beta_initializer, gamma_initializer, in_channels,
                         {"eps": epsilon, "axis": axis, "center": center, "scale": scale}, **kwargs)
        self._epsilon = epsilon

    def forward(self, x):
        dev = _param_device(x)
        return npx.layer_norm(x, self.gamma.data(dev), self.beta.data(dev), axis=self._axis, eps=self._epsilon)


class GroupNorm(_Norm):
    """Normalises each of ``num_groups`` groups of channels (axis 1) per sample, then scales and
    shifts per channel."""

    def __init__(self, num_groups=1, epsilon=1e-5, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", in_channels=0, **kwargs):
        super().__init__(1, center, scale, beta_initializer, gamma_initializer, in_channels,
                         {"eps": epsilon, "num_groups": num_groups, "center": center, "scale": scale},
                         **kwargs)
        self._num_groups = num_groups
        self._epsilon = epsilon

    def forward(self, x):
        dev = _param_device(x)
        return npx.group_norm(x, self.gamma.data(dev), self.beta.data(dev), num_groups=self._num_groups,
                              eps=self._epsilon)


class Embedding(HybridBlock):
    """Maps integer indices to rows of a (input_dim, output_dim) weight."""

    def __init__(self, input_dim, output_dim, dtype="float32", weight_initializer=None, sparse_grad=False,
                 **kwargs):
        if sparse_grad:
            raise MXNetValueError("Embedding: sparse_grad=True (row_sparse gradients) is not supported by mxgluon")
        super().__init__(**kwargs)
        self._kwargs = {"input_dim": input_dim, "output_dim": output_dim, "dtype": dtype}
        self.weight = Parameter("weight", shape=(input_dim, output_dim), init=weight_initializer, dtype=dtype,
                                allow_deferred_init=True)

    def forward(self, x):
        return npx.embedding(x, self.weight.data(_param_device(x)), **self._kwargs)

    def __repr__(self):
        k = self._kwargs
        return f"{type(self).__name__}({k['input_dim']} -> {k['output_dim']}, {k['dtype']})"


class Flatten(HybridBlock):
    """Collapses every axis but the first."""

    def forward(self, x):
        return npx.batch_flatten(x)

    def __repr__(self):
        return type(self).__name__


def _lookup(function, cls_name):
    for mod in (np, npx):
        if hasattr(mod, function):
            return getattr(mod, function)
    raise MXNetValueError(f"{cls_name}: function name {function!r} is not found in mx.np or mx.npx")


class Lambda(Block):
    """Wraps a function (or the name of an ``mx.np`` / ``mx.npx`` function) as a Block."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix)
        if isinstance(function, str):
            self._func_name = function
            self._func = _lookup(function, type(self).__name__)
        elif callable(function):
            self._func_name = getattr(function, "__name__", repr(function))
            self._func = function
        else:
            raise MXNetValueError(f"Unrecognized function in lambda: {function} of type {type(function)}")

    def forward(self, *args):
        return self._func(*args)

    def __repr__(self):
        return f"{type(self).__name__}({self._func_name})"


class HybridLambda(HybridBlock):
    """Wraps a function as a HybridBlock: a name in ``mx.np`` / ``mx.npx``, a function of the inputs,
    or an MXNet 1.x function ``f(F, x, *args)`` (its first argument named ``F``)."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix)
        if isinstance(function, str):
            self._func_name = function
            self._func = _lookup(function, type(self).__name__)
        elif callable(function):
            self._func_name = getattr(function, "__name__", repr(function))
            try:
                first = next(iter(inspect.signature(function).parameters), None)
            except (TypeError, ValueError):
                first = None
            self._func = (lambda *a: function(np, *a)) if first == "F" else function
        else:
            raise MXNetValueError(f"Unrecognized function in lambda: {function} of type {type(function)}")

    def forward(self, x, *args):
        return self._func(x, *args)

    def __repr__(self):
        return f"{type(self).__name__}({self._func_name})"


class Identity(HybridBlock):
    """Returns its input."""

    def forward(self, x):
        return x


class Concatenate(Sequential):
    """Runs each child on the same input and concatenates the outputs along ``axis``."""

    def __init__(self, axis=-1, prefix=None, params=None):
        super().__init__(prefix, params)
        self.axis = axis

    def forward(self, x):
        return np.concatenate([block(x) for block in self._children.values()], axis=self.axis)


class HybridConcatenate(HybridSequential):
    """Runs each child on the same input and concatenates the outputs along ``axis``."""

    def __init__(self, axis=-1, prefix=None, params=None):
        super().__init__(prefix, params)
        self.axis = axis

    def forward(self, x):
        return np.concatenate([block(x) for block in self._children.values()], axis=self.axis)
