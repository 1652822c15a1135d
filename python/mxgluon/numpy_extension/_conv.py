"""npx convolution-family ops: convolution, deconvolution, pooling, the deformable convolutions and
pad. Each is one core op (ops/conv.rs, pool.rs, deform.rs) with MXNet's attribute names; the Gluon
layers in ``gluon.nn.conv_layers`` call these."""
from ..base import MXNetValueError
from ..numpy.multiarray import as_array, invoke

__all__ = ["convolution", "deconvolution", "pooling", "deformable_convolution",
           "modulated_deformable_convolution", "pad"]


def _tuple(v, n=None, what="value"):
    if v is None:
        return None
    t = (int(v),) * (n or 1) if isinstance(v, (int, float)) else tuple(int(a) for a in v)
    if n is not None and len(t) != n:
        raise MXNetValueError(f"{what} must have {n} values (one per spatial dimension), got {t}")
    return t


def _conv_attrs(kernel, stride, dilate, pad, num_filter, num_group, no_bias, layout):
    if kernel is None:
        raise MXNetValueError("convolution: kernel is required")
    kernel = _tuple(kernel, what="kernel")
    n = len(kernel)
    attrs = {"kernel": kernel, "num_filter": int(num_filter), "num_group": int(num_group),
             "no_bias": bool(no_bias)}
    for name, v, default in (("stride", stride, 1), ("dilate", dilate, 1), ("pad", pad, 0)):
        v = _tuple(v, n, name) if v is not None and v != () else (default,) * n
        attrs[name] = v
    if layout is not None:
        attrs["layout"] = str(layout)
    return attrs


def _inputs(name, data, weight, bias, no_bias, *extra):
    data = as_array(data)
    inputs = [data] + [as_array(a, like=data) for a in extra] + [as_array(weight, like=data)]
    if not no_bias:
        if bias is None:
            raise MXNetValueError(f"{name}: no_bias=False needs the bias array")
        inputs.append(as_array(bias, like=data))
    return inputs


def convolution(data=None, weight=None, bias=None, kernel=None, stride=None, dilate=None, pad=None,
                num_filter=1, num_group=1, workspace=1024, no_bias=False, cudnn_tune=None, cudnn_off=False,
                layout=None, act_type=None, **kwargs):
    """N-d convolution (1-3 spatial dimensions) of ``data`` with ``weight`` (num_filter,
    C/num_group, *kernel) (channel-last layouts: (num_filter, *kernel, C/num_group)), plus ``bias``.
    Output size per spatial axis: floor((x + 2*pad - dilate*(k-1) - 1) / stride) + 1.
    ``act_type`` (an mxgluon extension) applies an activation in the same pass."""
    attrs = _conv_attrs(kernel, stride, dilate, pad, num_filter, num_group, no_bias, layout)
    if act_type is not None:
        attrs["act_type"] = act_type
    return invoke("convolution", _inputs("convolution", data, weight, bias, attrs["no_bias"]), **attrs)


def deconvolution(data=None, weight=None, bias=None, kernel=None, stride=None, dilate=None, pad=None,
                  adj=None, target_shape=None, num_filter=1, num_group=1, workspace=512, no_bias=True,
                  cudnn_tune=None, cudnn_off=False, layout=None, act_type=None, **kwargs):
    """Transposed convolution (the gradient of ``convolution`` with respect to its data) with
    ``weight`` (C, num_filter/num_group, *kernel). Output size per spatial axis:
    (x - 1)*stride - 2*pad + dilate*(k-1) + 1 + adj, or ``target_shape`` when given."""
    attrs = _conv_attrs(kernel, stride, dilate, pad, num_filter, num_group, no_bias, layout)
    n = len(attrs["kernel"])
    attrs["adj"] = _tuple(adj, n, "adj") if adj is not None and adj != () else (0,) * n
    if target_shape is not None and target_shape != ():
        attrs["target_shape"] = _tuple(target_shape, n, "target_shape")
    if act_type is not None:
        attrs["act_type"] = act_type
    return invoke("deconvolution", _inputs("deconvolution", data, weight, bias, attrs["no_bias"]), **attrs)


def pooling(data=None, kernel=None, pool_type="max", global_pool=False, cudnn_off=False,
            pooling_convention="valid", stride=None, pad=None, p_value=None, count_include_pad=None,
            layout=None, **kwargs):
    """Max, average, sum or Lp pooling over 1-3 spatial dimensions. ``pooling_convention`` 'valid'
    rounds the output size down, 'full' up; ``global_pool`` pools the whole spatial extent."""
    data = as_array(data)
    if kernel is None or kernel == ():
        if not global_pool:
            raise MXNetValueError("pooling: kernel is required unless global_pool=True")
        kernel = (1,) * (data.ndim - 2)
    kernel = _tuple(kernel, what="kernel")
    n = len(kernel)
    attrs = {"kernel": kernel, "pool_type": str(pool_type), "global_pool": bool(global_pool),
             "pooling_convention": str(pooling_convention),
             "stride": _tuple(stride, n, "stride") if stride is not None and stride != () else (1,) * n,
             "pad": _tuple(pad, n, "pad") if pad is not None and pad != () else (0,) * n}
    if p_value is not None:
        attrs["p_value"] = int(p_value)
    if count_include_pad is not None:
        attrs["count_include_pad"] = bool(count_include_pad)
    if layout is not None:
        attrs["layout"] = str(layout)
    return invoke("pooling", [data], **attrs)


def _deform_attrs(kernel, stride, dilate, pad, num_filter, num_group, num_deformable_group, no_bias, layout):
    attrs = _conv_attrs(kernel, stride, dilate, pad, num_filter, num_group, no_bias, layout)
    attrs["num_deformable_group"] = int(num_deformable_group)
    return attrs


def deformable_convolution(data=None, offset=None, weight=None, bias=None, kernel=None, stride=None,
                           dilate=None, pad=None, num_filter=1, num_group=1, num_deformable_group=1,
                           workspace=1024, no_bias=False, layout=None, **kwargs):
    """Deformable convolution v1 (Dai et al., 2017): each kernel tap samples ``data`` bilinearly at
    its grid position plus a learned ``offset`` (N, 2*num_deformable_group*kh*kw, Ho, Wo), zero
    outside the input."""
    attrs = _deform_attrs(kernel, stride, dilate, pad, num_filter, num_group, num_deformable_group,
                          no_bias, layout)
    return invoke("deformable_convolution",
                  _inputs("deformable_convolution", data, weight, bias, attrs["no_bias"], offset), **attrs)


def modulated_deformable_convolution(data=None, offset=None, mask=None, weight=None, bias=None, kernel=None,
                                     stride=None, dilate=None, pad=None, num_filter=1, num_group=1,
                                     num_deformable_group=1, workspace=1024, no_bias=False, im2col_step=64,
                                     layout=None, **kwargs):
    """Modulated deformable convolution v2 (Zhu et al., 2018): v1 with each sample scaled by
    ``mask`` (N, num_deformable_group*kh*kw, Ho, Wo)."""
    attrs = _deform_attrs(kernel, stride, dilate, pad, num_filter, num_group, num_deformable_group,
                          no_bias, layout)
    return invoke("modulated_deformable_convolution",
                  _inputs("modulated_deformable_convolution", data, weight, bias, attrs["no_bias"], offset,
                          mask), **attrs)


def pad(data=None, mode="constant", pad_width=None, constant_value=0.0, **kwargs):
    """MXNet's Pad: ``pad_width`` is a flat tuple (before, after) per axis, 2*ndim values;
    mode 'constant' (with ``constant_value``), 'edge' or 'reflect'."""
    data = as_array(data)
    if pad_width is None:
        raise MXNetValueError("pad: pad_width is required")
    pw = tuple(int(v) for v in pad_width)
    if len(pw) != 2 * data.ndim:
        raise MXNetValueError(f"pad: pad_width must have 2 values per axis ({2 * data.ndim} for input of "
                              f"shape {data.shape}), got {len(pw)}")
    if mode not in ("constant", "edge", "reflect"):
        raise MXNetValueError(f"pad: mode must be 'constant', 'edge' or 'reflect', not {mode!r}")
    return invoke("pad", [data], pad_width=pw, mode=mode, constant_values=float(constant_value))
