"""Parameters: the weights of Blocks, with their gradient buffers, per device."""
import uuid
import warnings
from collections import OrderedDict

import numpy as _onp

from .. import _core, autograd
from ..base import MXNetError, MXNetValueError
from ..device import Device, cpu, current_device, as_device
from ..numpy.multiarray import ndarray, as_array, dtype_name
from .. import numpy as _np
from .utils import shape_is_known, _brief_print_list

__all__ = ["DeferredInitializationError", "Parameter", "Constant", "ParameterDict", "tensor_types"]

tensor_types = (ndarray,)


class DeferredInitializationError(MXNetError):
    """A Parameter's data was needed before its shape was known (deferred initialization)."""


def _dtype_str(dtype):
    return dtype_name(dtype) if dtype is not None else None


def _device_list(device, ctx=None):
    device = device if device is not None else ctx
    if device is None:
        return [current_device()]
    if isinstance(device, (list, tuple)):
        return [as_device(d) for d in device]
    return [as_device(device)]


class Parameter:
    """A weight of a Block: one array per device once initialized, and a gradient buffer for each
    unless ``grad_req`` is ``'null'``.

    A dimension given as 0 or -1 in ``shape`` is unknown; with ``allow_deferred_init`` the data is
    made on the first forward pass, when the layer has seen its input (deferred initialization).
    Only dense storage is supported.
    """

    def __init__(self, name="weight", grad_req="write", shape=None, dtype="float32", lr_mult=1.0,
                 wd_mult=1.0, init=None, allow_deferred_init=False, differentiable=True,
                 stype="default", grad_stype="default"):
        for what, st in (("stype", stype), ("grad_stype", grad_stype)):
            if st not in ("default", "row_sparse", "csr"):
                raise MXNetValueError(f"Parameter '{name}': {what} must be 'default', 'row_sparse' or 'csr', "
                                      f"got {st!r}")
            if st != "default":
                raise MXNetValueError(f"Parameter '{name}': {what}={st!r} is not supported by mxgluon "
                                      "(only dense 'default' storage)")
        self._name = name
        self._legacy_name = None  # the MXNet 1.x name (``dense0_weight``), set when a Block adopts it
        self._uuid = str(uuid.uuid4())
        self._data = None
        self._grad = None
        self._devices = None
        self._deferred_init = ()
        self._differentiable = differentiable
        self._allow_deferred_init = allow_deferred_init
        self._grad_req = None
        self._trainer = None
        self._stype = stype
        self._grad_stype = grad_stype
        self._shape = (shape,) if isinstance(shape, int) else (tuple(shape) if shape is not None else None)
        self._dtype = _dtype_str(dtype)
        self.lr_mult = lr_mult
        self.wd_mult = wd_mult
        self.init = init
        self.grad_req = grad_req

    def __repr__(self):
        return f"Parameter (shape={self.shape}, dtype={self.dtype})"

    @property
    def name(self):
        return self._name

    @property
    def grad_req(self):
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req):
        if req not in ("write", "add", "null"):
            raise MXNetValueError(f"grad_req must be one of 'write', 'add', or 'null', but got {req!r}")
        if not self._differentiable:
            req = "null"
        if self._grad_req == req:
            return
        self._grad_req = req
        if req == "null" and self._grad is not None:
            self._grad = None
            self._data = [d.detach() for d in self._data]
        elif self._data is not None:
            self._init_grad()

    @property
    def dtype(self):
        return self._dtype

    @dtype.setter
    def dtype(self, dtype):
        self.cast(dtype)

    @property
    def stype(self):
        return self._stype

    @property
    def shape(self):
        """The shape; an unknown dimension is -1 (NumPy shape semantics)."""
        if self._shape is None:
            return None
        return tuple(d if d > 0 else -1 for d in self._shape)

    @shape.setter
    def shape(self, new_shape):
        new_shape = (new_shape,) if isinstance(new_shape, int) else tuple(new_shape)
        if self._shape is not None:
            ok = len(self._shape) == len(new_shape) and all(
                old <= 0 or old == new for old, new in zip(self._shape, new_shape))
            if not ok:
                raise MXNetValueError(f"Parameter '{self.name}': expected shape {new_shape} is incompatible "
                                      f"with given shape {self.shape}")
        self._shape = new_shape

    # --- initialization
    def initialize(self, init=None, device=None, default_init=None, force_reinit=False, ctx=None):
        """Make the data (and gradient) arrays on ``device`` (a Device or a list; default: the current
        device), filled by ``init``, else this Parameter's ``init``, else ``default_init``
        (``mx.init.Uniform()``). With an unknown shape and ``allow_deferred_init`` the work waits
        for the first forward pass."""
        if self._data is not None and not force_reinit:
            warnings.warn(f"Parameter '{self.name}' is already initialized, ignoring. "
                          "Set force_reinit=True to re-initialize.", stacklevel=2)
            return
        self._data = self._grad = None
        devices = _device_list(device, ctx)
        if default_init is None:
            from .. import initializer
            default_init = initializer.Uniform()
        if init is None:
            init = default_init if self.init is None else self.init
        self._deferred_init = (init, devices, default_init, None)
        if not shape_is_known(self.shape):
            if self._allow_deferred_init:
                return
            self._deferred_init = ()
            raise MXNetValueError(f"Cannot initialize Parameter '{self.name}' because it has invalid "
                                  f"shape: {self.shape}.")
        self._finish_deferred_init()

    def _finish_deferred_init(self):
        if not self._deferred_init:
            return
        init, devices, default_init, data = self._deferred_init
        if not shape_is_known(self.shape):
            raise DeferredInitializationError(
                f"Cannot initialize Parameter '{self.name}' because it has invalid shape: {self.shape}. "
                "Please specify in_units, in_channels, etc. for `Block`s.")
        self._deferred_init = ()
        with autograd.pause():
            if data is None:
                data = self._initial_data(init, default_init)
            self._init_impl(data, devices)

    def _initial_data(self, init, default_init):
        from .. import initializer
        data = _np.zeros(self._shape, dtype=self._dtype, device=cpu())
        initializer.create(default_init)(initializer.InitDesc(self.name, {"__init__": init}), data)
        return data

    def _init_impl(self, data, devices):
        self._devices = list(devices)
        data = as_array(data).as_np_ndarray()  # an mx.nd.NDArray from a 1.x file becomes mx.np
        if data.dtype != self._dtype:
            data = data.astype(self._dtype)
        self._data = [data.copy() if data.device == d else data.to_device(d) for d in self._devices]
        self._init_grad()

    def _init_grad(self):
        if self._grad_req == "null":
            self._grad = None
            return
        self._grad = [_np.zeros_like(d) for d in self._data]
        autograd.mark_variables(self._data, self._grad, self._grad_req)

    def _load_init(self, data, device=None, cast_dtype=False, dtype_source="current"):
        """(Re)initialize from loaded ``data``."""
        if dtype_source not in ("current", "saved"):
            raise MXNetValueError(f"dtype_source must be 'current' or 'saved', got {dtype_source!r}")
        data = as_array(data)
        if self._shape is not None:
            if len(self._shape) != data.ndim or any(
                    s > 0 and s != d for s, d in zip(self._shape, data.shape)):
                raise MXNetValueError(f"Failed loading Parameter '{self.name}' from saved params: shape "
                                      f"incompatible expected {self.shape} vs saved {data.shape}")
        self._shape = tuple(data.shape)
        if data.dtype != self._dtype:
            if not cast_dtype:
                raise MXNetValueError(
                    f"Failed loading Parameter '{self.name}' from saved params: dtype incompatible expected "
                    f"{self._dtype} vs saved {data.dtype}. Set cast_dtype=True to cast the dtype of saved params.")
            if dtype_source == "current":
                data = data.astype(self._dtype)
            else:
                self.cast(data.dtype)
        if self._data is None:
            if self._deferred_init:
                devices = self._deferred_init[1]
            else:
                devices = _device_list(device) if device is not None else [cpu()]
            self._deferred_init = ()
            with autograd.pause():
                self._init_impl(data, devices)
        else:
            self.set_data(data)
        self._deferred_init = ()

    # --- access
    def _check_and_get(self, arrs, device):
        if arrs is not None:
            if device is list:
                return arrs
            if device is None:
                if len(arrs) == 1:
                    return arrs[0]
                device = current_device()
            device = as_device(device)
            for d, a in zip(self._devices, arrs):
                if d == device:
                    return a
            raise MXNetValueError(f"Parameter '{self.name}' was not initialized on device {device}. "
                                  f"It was only initialized on {self._devices}.")
        if self._deferred_init:
            raise DeferredInitializationError(
                f"Parameter '{self.name}' has not been initialized yet because initialization was deferred. "
                "Actual initialization happens during the first forward pass. Please pass one batch of data "
                "through the network before accessing Parameters. You can also avoid deferred initialization "
                "by specifying in_units, num_features, etc., for network layers.")
        raise MXNetError(f"Parameter '{self.name}' has not been initialized. Note that you should initialize "
                         "parameters and create Trainer with Block.collect_params() instead of Block.params "
                         "because the later does not include Parameters of nested child Blocks")

    def data(self, device=None, ctx=None):
        """The data on ``device`` (the only copy when there is one)."""
        return self._check_and_get(self._data, device if device is not None else ctx)

    def list_data(self):
        """The data on every device, in the order of ``list_device()``."""
        return self._check_and_get(self._data, list)

    def grad(self, device=None, ctx=None):
        """The gradient buffer on ``device``."""
        if self._data is not None and self._grad is None:
            raise MXNetError(f"Cannot get gradient array for Parameter '{self.name}' because grad_req='null'")
        return self._check_and_get(self._grad, device if device is not None else ctx)

    def list_grad(self):
        """The gradient buffers on every device."""
        if self._data is not None and self._grad is None:
            raise MXNetError(f"Cannot get gradient array for Parameter '{self.name}' because grad_req='null'")
        return self._check_and_get(self._grad, list)

    def list_device(self):
        """The devices this Parameter lives on."""
        if self._data is None:
            if self._deferred_init:
                return self._deferred_init[1]
            raise MXNetError(f"Parameter '{self.name}' has not been initialized")
        return self._devices

    list_ctx = list_device

    def set_data(self, data):
        """Write ``data`` into every copy (or into the pending data of a deferred initialization)."""
        self.shape = tuple(_onp.shape(data)) if not hasattr(data, "shape") else tuple(data.shape)
        if self._data is None:
            if not self._deferred_init:
                raise MXNetError(f"Parameter '{self.name}' has not been initialized")
            init, devices, default_init, _ = self._deferred_init
            self._deferred_init = (init, devices, default_init, as_array(data).astype(self._dtype))
            return
        for arr in self._data:
            arr[:] = data

    def zero_grad(self):
        """Set the gradient buffers to 0."""
        if self._grad is None:
            return
        for g in self._grad:
            g[:] = 0

    def reset_device(self, device):
        """Move the data (and new gradient buffers) to ``device`` (a Device or a list)."""
        devices = _device_list(device)
        if self._data is not None:
            data = self._data[0]
            with autograd.pause():
                self._init_impl(data.detach(), devices)
        elif self._deferred_init:
            init, _, default_init, data = self._deferred_init
            self._deferred_init = (init, devices, default_init, data)
        else:
            raise MXNetValueError(f"Cannot reset device for Parameter '{self.name}' because it has not been "
                                  "initialized.")

    reset_ctx = reset_device

    def cast(self, dtype):
        """Convert the data and gradients to ``dtype``."""
        self._dtype = _dtype_str(dtype)
        if self._data is None:
            return
        with autograd.pause():
            self._data = [d.detach().astype(self._dtype) for d in self._data]
            if self._grad is not None:
                self._init_grad()

    def var(self):
        """The symbol variable of this Parameter (``mx.sym.var`` with its MXNet 1.x name, such as
        ``dense0_weight``, where it has one, its shape, dtype, multipliers and initializer)."""
        from .. import symbol
        return symbol.var(self._legacy_name or self.name, shape=self.shape, dtype=self.dtype, lr_mult=self.lr_mult,
                          wd_mult=self.wd_mult, init=self.init)

    def row_sparse_data(self, row_id):
        raise MXNetValueError(f"Parameter '{self.name}': row_sparse storage is not supported by mxgluon")

    list_row_sparse_data = row_sparse_data

    def _reduce(self):
        """The data averaged over the devices, on the CPU."""
        arrs = self.list_data()
        data = arrs[0].to_device(cpu())
        for a in arrs[1:]:
            data = data + a.to_device(cpu())
        return data / len(arrs) if len(arrs) > 1 else data

    def _fresh_grads(self, clear=False):
        """For each copy: whether backward wrote its gradient since the last update."""
        return [bool(_core.fresh_grad(d._t, clear)) for d in self.list_data()]


class Constant(Parameter):
    """A Parameter holding a fixed value: no gradient, never updated by the Trainer. ``set_data``
    still changes it. ``Constant(value)`` or, as in MXNet 1.x, ``Constant(name, value)``."""

    def __init__(self, name_or_value, value=None):
        if value is None:
            name, value = "const", name_or_value
        else:
            name = name_or_value
        value = value if isinstance(value, ndarray) else as_array(_onp.asarray(value, dtype="float32")
                                                                 if not hasattr(value, "dtype") else value)
        self.value = value
        super().__init__(name=name, grad_req="null", shape=value.shape, dtype=value.dtype,
                         init="zeros", differentiable=False)

    def __repr__(self):
        return f"Constant {self.name} (shape={self.shape}, dtype={self.dtype})"

    def _initial_data(self, init, default_init):
        return self.value.to_device(cpu()).copy()

    @Parameter.grad_req.setter
    def grad_req(self, req):
        if req != "null":
            warnings.warn(f'Constant parameter "{self.name}" does not support grad_req other than "null", '
                          f'and new value "{req}" is ignored.', stacklevel=2)
        Parameter.grad_req.fset(self, "null")


class ParameterDict(OrderedDict):
    """A dict of Parameters (what ``collect_params`` returns), with the MXNet 1.x methods that act
    on all of them: ``initialize``, ``zero_grad``, ``setattr``, ``reset_device``, ``save``, ``load``,
    and ``get``/``get_constant`` that create a Parameter when the name is new. A Parameter is also
    found by its MXNet 1.x name (``params['dense0_weight']``, ``'dense0_weight' in params``).

    ``ParameterDict('net_')`` keys its Parameters by full name (``'net_w'``), as in 1.x; a Block's
    own dict (``block.params``) keys them by the short name (``'weight'``), as in 2.x."""

    def __init__(self, prefix="", shared=None, create=False, short_keys=False):
        super().__init__()
        self._prefix = prefix
        self._shared = shared
        self._create = create
        self._short_keys = short_keys

    def __repr__(self):
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self.items()) + "}"

    def __missing__(self, key):
        for p in self.values():
            if isinstance(key, str) and p._legacy_name == key:
                return p
        raise KeyError(key)

    def __contains__(self, key):
        return super().__contains__(key) or (isinstance(key, str) and any(p._legacy_name == key
                                                                          for p in self.values()))

    @property
    def prefix(self):
        return self._prefix

    def _adopt(self, key, param):
        """Register ``param`` under ``key``, naming it the 1.x way; when this dict shares from another
        (``Block(params=...)``) that holds a Parameter of the same 1.x name, that one is used instead."""
        if param._legacy_name is None:
            full = self._prefix + param.name
            if self._shared is not None and full in self._shared:
                param = self._shared[full]
            else:
                param._legacy_name = full
        self[key] = param
        return param

    def get(self, name, *default, **kwargs):
        full = self._prefix + name
        key = name if self._short_keys else full
        if key in self:
            param = self[key]
            for k, v in kwargs.items():
                if k == "shape" and v is not None:
                    param.shape = v
                elif getattr(param, k, v) is None:
                    setattr(param, k, v)
            return param
        if self._shared is not None and full in self._shared:
            self[key] = self._shared[full]
            return self[key]
        if not (kwargs or self._create):
            return default[0] if default else None
        param = Parameter(key, **kwargs)
        param._legacy_name = full
        self[key] = param
        return param

    def get_constant(self, name, value=None):
        full = self._prefix + name
        key = name if self._short_keys else full
        if key not in self:
            if value is None:
                raise MXNetValueError(f"No constant named '{full}'. Please specify value to create it.")
            self[key] = Constant(key, value)
            self[key]._legacy_name = full
        return self[key]

    def initialize(self, init=None, device=None, verbose=False, force_reinit=False, ctx=None):
        for p in self.values():
            p.initialize(None, device if device is not None else ctx, init, force_reinit=force_reinit)

    def zero_grad(self):
        for p in self.values():
            p.zero_grad()

    def reset_device(self, device):
        for p in self.values():
            p.reset_device(device)

    reset_ctx = reset_device

    def setattr(self, name, value):
        for p in self.values():
            setattr(p, name, value)

    def list_device(self):
        return sorted({d for p in self.values() for d in p.list_device()}, key=str)

    list_ctx = list_device

    def save(self, filename, strip_prefix="", format="binary"):
        """Save the Parameters under their 1.x names (``dense0_weight``), less ``strip_prefix``."""
        from ..serialization import save_arrays
        arrays = {}
        for p in self.values():
            full = p._legacy_name or p.name
            name = full[len(strip_prefix):] if strip_prefix and full.startswith(strip_prefix) else full
            arrays[name] = p._reduce()
        save_arrays(filename, arrays, format=format)

    def load(self, filename, device=None, allow_missing=False, ignore_extra=False, restore_prefix="",
             cast_dtype=False, dtype_source="current", ctx=None):
        from ..serialization import load_arrays
        loaded = load_arrays(filename)
        loaded = {restore_prefix + (k[4:] if k.startswith(("arg:", "aux:")) else k): v
                  for k, v in loaded.items()}
        _load_into(self, loaded, f"file: {filename}", device if device is not None else ctx,
                   allow_missing, ignore_extra, cast_dtype, dtype_source)


def _load_into(params, loaded, source, device, allow_missing, ignore_extra, cast_dtype, dtype_source):
    """Load ``loaded`` (name -> array) into ``params`` (name -> Parameter), MXNet's way."""
    if not allow_missing:
        names_of = {}
        for k, p in params.items():
            names_of.setdefault(id(p), [p._legacy_name]).append(k)
        for k, p in params.items():
            if not any(n in loaded for n in names_of[id(p)]):
                raise MXNetValueError(
                    f"Parameter '{k}' is missing in '{source}', which contains parameters: "
                    f"[{_brief_print_list(loaded)}]. Set allow_missing=True to ignore missing parameters.")
    for name, value in loaded.items():
        if name not in params:
            if ignore_extra:
                continue
            raise MXNetValueError(
                f"Parameter '{name}' loaded from '{source}' is not present in the model, which contains "
                f"parameters [{_brief_print_list(params)}]. Set ignore_extra=True to ignore.")
        params[name]._load_init(value, device, cast_dtype=cast_dtype, dtype_source=dtype_source)
