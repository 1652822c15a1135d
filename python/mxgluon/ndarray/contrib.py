"""``mx.nd.contrib``: MXNet 1.x's contrib operators that Gluon layers use (the deformable convolutions)."""
from ..numpy_extension import _conv as _npx_conv
from .ndarray import _as_nd

__all__ = ["DeformableConvolution", "ModulatedDeformableConvolution"]


def DeformableConvolution(data, offset, weight, bias=None, kernel=None, stride=(), dilate=(), pad=(),
                          num_filter=1, num_group=1, num_deformable_group=1, workspace=1024, no_bias=False,
                          layout=None, **kwargs):
    return _npx_conv.deformable_convolution(
        _as_nd(data), offset, weight, bias, kernel=kernel, stride=stride, dilate=dilate, pad=pad,
        num_filter=num_filter, num_group=num_group, num_deformable_group=num_deformable_group, no_bias=no_bias,
        layout=layout)


def ModulatedDeformableConvolution(data, offset, mask, weight, bias=None, kernel=None, stride=(), dilate=(),
                                   pad=(), num_filter=1, num_group=1, num_deformable_group=1, workspace=1024,
                                   no_bias=False, im2col_step=64, layout=None, **kwargs):
    return _npx_conv.modulated_deformable_convolution(
        _as_nd(data), offset, mask, weight, bias, kernel=kernel, stride=stride, dilate=dilate, pad=pad,
        num_filter=num_filter, num_group=num_group, num_deformable_group=num_deformable_group, no_bias=no_bias,
        layout=layout)
