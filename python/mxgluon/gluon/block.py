"""Block and HybridBlock: the base classes of layers and models."""
import re
import threading
import warnings
from collections import OrderedDict

from ..base import MXNetError, MXNetValueError, MXNetTypeError
from ..device import current_device
from ..name import NameManager
from .parameter import Parameter, ParameterDict, DeferredInitializationError, _load_into
from .utils import HookHandle, shape_is_known, _indent, _brief_print_list

__all__ = ["Block", "HybridBlock"]


class _BlockScope:
    """MXNet 1.x naming. A Block created outside every ``name_scope()`` is named from a process-wide
    count per hint (``dense0_``, ``dense1_``; ``mx.name.NameManager()`` starts a fresh count); one
    created inside ``with parent.name_scope():`` is named ``<parent prefix><hint><n>_``, counted per
    hint in that parent. Its Parameters' 1.x names are its prefix plus their own (``dense0_weight``)."""

    _current = threading.local()

    def __init__(self, block):
        self._block = block
        self._counter = {}
        self._old = None

    @staticmethod
    def create(prefix, params, hint):
        """The prefix and the ParameterDict of a new Block (``params``: one to share Parameters from)."""
        current = getattr(_BlockScope._current, "value", None)
        if current is None:
            if prefix is None:
                prefix = NameManager.current().get(None, hint) + "_"
            pdict_prefix = params.prefix if params is not None else prefix
            return prefix, ParameterDict(pdict_prefix, shared=params, create=True, short_keys=True)
        if prefix is None:
            count = current._counter.get(hint, 0)
            current._counter[hint] = count + 1
            prefix = f"{hint}{count}_"
        parent = current._block._reg_params
        if params is None:
            pdict = ParameterDict(parent.prefix + prefix, shared=parent._shared, create=True, short_keys=True)
        else:
            pdict = ParameterDict(params.prefix, shared=params, create=True, short_keys=True)
        return current._block.prefix + prefix, pdict

    def __enter__(self):
        self._old = getattr(_BlockScope._current, "value", None)
        _BlockScope._current.value = self
        return self

    def __exit__(self, *exc):
        _BlockScope._current.value = self._old
        return False


class Block:
    """The base class of layers and models. Assign child Blocks and Parameters as attributes and they
    are registered; override ``forward``. Parameter names are structural (``'0.weight'``,
    ``'dense0.bias'``) as in MXNet 2.x; MXNet 1.x's ``prefix``, ``params`` (Parameters to share, by
    their 1.x names), ``name_scope()`` and prefixed names (``collect_params()['dense0_weight']``) work too."""

    def __init__(self, prefix=None, params=None):
        prefix, reg_params = _BlockScope.create(prefix, params, self._alias())
        object.__setattr__(self, "_children", OrderedDict())
        object.__setattr__(self, "_reg_params", reg_params)
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_scope", _BlockScope(self))

    def _alias(self):
        """The hint MXNet 1.x names instances by (``dense`` for Dense, ``conv`` for the convolutions)."""
        return type(self).__name__.lower()

    def _check_init(self):
        if "_children" not in self.__dict__:
            raise MXNetError(f"{type(self).__name__}: call super().__init__() in __init__ before assigning "
                             "Blocks or Parameters to attributes")

    def __setattr__(self, name, value):
        if isinstance(value, (Block, Parameter)):
            self._check_init()
        existing = self.__dict__.get(name)
        if isinstance(existing, (Parameter, Block)) and not isinstance(value, type(existing)):
            raise MXNetTypeError(f"Changing attribute type for {name} from {type(existing)} to {type(value)} "
                                 "is not allowed.")
        if isinstance(value, Block):
            self.register_child(value, name)
        elif isinstance(value, Parameter):
            value = self._reg_params._adopt(name, value)
        object.__setattr__(self, name, value)

    def __repr__(self):
        mods = "\n".join(f"  ({key}): {_indent(repr(block), 2)}" for key, block in self._children.items())
        return f"{type(self).__name__}(\n{mods}\n)"

    # --- structure
    @property
    def prefix(self):
        return self._prefix

    @property
    def name(self):
        return self._prefix[:-1] if self._prefix.endswith("_") else self._prefix

    @property
    def params(self):
        """This Block's own Parameters (not its children's)."""
        return self._reg_params

    def name_scope(self):
        """MXNet 1.x: ``with self.name_scope():`` names the Blocks created in it after this one
        (``<prefix><hint><n>_``); structural names are unchanged."""
        return self._scope

    def register_child(self, block, name=None):
        """Register ``block`` as a child (attributes that are Blocks are registered automatically)."""
        self._check_init()
        if name is None:
            name = str(len(self._children))
        self._children[name] = block

    def apply(self, fn):
        """Call ``fn(block)`` on every child, recursively, then on this Block; returns self."""
        for child in self._children.values():
            child.apply(fn)
        fn(self)
        return self

    def collect_params(self, select=None):
        """This Block's and its children's Parameters by structural name (``'0.weight'``), also found
        by their 1.x names (``['hybridsequential0_dense0_weight']``); ``select`` is a regular
        expression that one of the two names must match."""
        return self._collect_params_with_prefix(select=re.compile(select) if select else None)

    def _collect_params_with_prefix(self, prefix="", select=None):
        if prefix:
            prefix += "."
        ret = ParameterDict(self._reg_params.prefix)
        for key, p in self._reg_params.items():
            if select is None or select.match(prefix + key) or (p._legacy_name and select.match(p._legacy_name)):
                ret[prefix + key] = p
        for name, child in self._children.items():
            ret.update(child._collect_params_with_prefix(prefix + name, select))
        return ret

    # --- parameters
    def initialize(self, init=None, device=None, verbose=False, force_reinit=False, ctx=None):
        """Initialize the Parameters of this Block and its children. ``init`` (default
        ``mx.init.Uniform()``) is used where a Parameter has no ``init`` of its own."""
        from .. import initializer
        init = initializer.Uniform() if init is None else init
        unique = {id(p): p for p in self.collect_params().values()}  # shared ones once
        for p in unique.values():
            p.initialize(None, device if device is not None else ctx, init, force_reinit=force_reinit)

    def zero_grad(self):
        """Set every gradient buffer to 0."""
        for p in self.collect_params().values():
            p.zero_grad()

    def reset_device(self, device):
        """Move every Parameter to ``device`` (a Device or a list of them)."""
        for p in self.collect_params().values():
            p.reset_device(device)

    def reset_ctx(self, ctx):
        """Deprecated spelling of ``reset_device``."""
        self.reset_device(ctx)

    def setattr(self, name, value):
        """Set attribute ``name`` (``grad_req``, ``lr_mult``, ...) of every Parameter."""
        for p in self.collect_params().values():
            setattr(p, name, value)

    def cast(self, dtype):
        """Convert every Parameter to ``dtype``."""
        for child in self._children.values():
            child.cast(dtype)
        for p in self._reg_params.values():
            p.cast(dtype)

    def share_parameters(self, shared):
        """Use the Parameters in ``shared`` (structural name -> Parameter, e.g. another Block's
        ``collect_params()``) in place of this Block's ones of the same name; returns self."""
        if shared is None:
            return self
        if not isinstance(shared, dict):
            raise MXNetValueError(f"'shared' should be in type of Dict. Get type {type(shared)}!")
        unused = set(shared)
        self._share(shared, unused, "")
        for name in sorted(unused):
            warnings.warn(f"Parameter name {name} is not in the current model!", stacklevel=2)
        return self

    def _share(self, shared, unused, prefix):
        prefix = prefix + "." if prefix else ""
        for name in list(self._reg_params):
            p = shared[prefix + name] if prefix + name in shared else None
            if p is not None:
                setattr(self, name, p)
                unused.discard(prefix + name)
        for name, child in self._children.items():
            child._share(shared, unused, prefix + name)

    def save_parameters(self, filename, deduplicate=False, format="binary"):
        """Save the Parameters by structural name. ``format`` is ``'binary'`` (MXNet's NDArray file,
        which MXNet 1.x and 2.x both load; the default) or ``'npz'`` (what MXNet 2.x writes). With
        ``deduplicate`` a shared Parameter is saved once."""
        from ..serialization import save_arrays
        params = self._collect_params_with_prefix()
        if deduplicate:
            name_of = {}
            for k, p in params.items():
                name_of.setdefault(id(p), (k, p))
            params = dict(name_of.values())
        save_arrays(filename, {k: p._reduce() for k, p in params.items()}, format=format)

    def load_parameters(self, filename, device=None, allow_missing=False, ignore_extra=False,
                        cast_dtype=False, dtype_source="current", ctx=None):
        """Load Parameters saved by ``save_parameters`` (ours or MXNet's, 1.x or 2.x)."""
        from ..serialization import load_arrays
        loaded = load_arrays(filename)
        if isinstance(loaded, list):
            raise MXNetValueError(f"load_parameters: '{filename}' holds an unnamed list of arrays, "
                                  "not named parameters")
        self.load_dict(loaded, device if device is not None else ctx, allow_missing, ignore_extra,
                       cast_dtype, dtype_source, _source=f"file: {filename}")

    def load_dict(self, param_dict, device=None, allow_missing=False, ignore_extra=False, cast_dtype=False,
                  dtype_source="current", ctx=None, _source="param_dict"):
        """Load Parameters from a dict name -> array (``arg:``/``aux:`` prefixes are dropped)."""
        loaded = {k[4:] if k.startswith(("arg:", "aux:")) else k: v for k, v in param_dict.items()}
        loaded = self._pack_legacy(loaded)
        params = self.collect_params()
        if loaded and params and not any("." in k for k in loaded) and not set(loaded) & set(params):
            loaded = self._legacy_names(loaded, params, _source)
        _load_into(params, loaded, _source, device if device is not None else ctx, allow_missing,
                   ignore_extra, cast_dtype, dtype_source)

    def _pack_legacy(self, loaded, prefix=""):
        """Let each Block that defines ``_load_legacy(loaded, prefix)`` rewrite the loaded entries of its
        own Parameters (the fused RNN layers pack MXNet 1.x's per-weight arrays into one)."""
        hook = getattr(self, "_load_legacy", None)
        if hook is not None:
            loaded = hook(loaded, prefix)
        for name, child in self._children.items():
            loaded = child._pack_legacy(loaded, prefix + name + ".")
        return loaded

    def _legacy_names(self, loaded, params, source):
        """MXNet 1.x ``ParameterDict.save`` files name parameters by prefix (``dense0_weight``): match
        them by this model's 1.x names, else (a model counted differently, ``dense3_weight``) in the
        order the Parameters were created."""
        unique = list(OrderedDict((id(p), (k, p)) for k, p in params.items()).values())
        by_name = {p._legacy_name: k for k, p in unique}
        if set(loaded) <= set(by_name):
            return {by_name[name]: value for name, value in loaded.items()}
        if len(unique) != len(loaded):
            raise MXNetValueError(
                f"'{source}' names its {len(loaded)} parameters the MXNet 1.x way ([{_brief_print_list(loaded)}]) and "
                f"the model has {len(unique)}: cannot match them by order")
        mapped = {}
        for (k, p), (name, value) in zip(unique, loaded.items()):
            if not name.endswith(k.rsplit(".", 1)[-1]) or (
                    shape_is_known(p.shape) and tuple(p.shape) != tuple(value.shape)):
                raise MXNetValueError(f"'{source}': parameter '{name}' {tuple(value.shape)} does not match "
                                      f"'{k}' {p.shape} of the model")
            mapped[k] = value
        return mapped

    # --- hooks
    def register_forward_pre_hook(self, hook):
        """Call ``hook(block, inputs)`` before each forward; returns a HookHandle."""
        handle = HookHandle()
        handle.attach(self._forward_pre_hooks, hook)
        return handle

    def register_forward_hook(self, hook):
        """Call ``hook(block, inputs, outputs)`` after each forward; returns a HookHandle."""
        handle = HookHandle()
        handle.attach(self._forward_hooks, hook)
        return handle

    def register_op_hook(self, callback, monitor_all=False):
        """Op-level monitoring of a hybridized graph: not available until hybridize runs graphs."""
        raise MXNetError(f"{type(self).__name__}.register_op_hook needs a hybridized graph, which mxgluon "
                         "does not build yet")

    # --- running
    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            hook(self, args)
        out = self._forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            hook(self, args, out)
        return out

    def _forward(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args):
        """Override: the computation of this Block."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def hybridize(self, active=True, **kwargs):
        """Calls ``hybridize`` on the HybridBlocks among the children."""
        for child in self._children.values():
            child.hybridize(active, **kwargs)

    def summary(self, *inputs):
        """Print a table of each layer's output shape and parameter count for ``inputs``, and the
        totals, as MXNet does. The Block must be initialized."""
        rows = [("Input", _shape_str(inputs), 0, 0, 0)]
        seen = set()
        handles = []

        def hook(block, _, outputs):
            n = trainable = shared = 0
            for p in block.params.values():
                size = p.data().size
                n += size
                trainable += 0 if p.grad_req == "null" else size
                if id(p) in seen:
                    shared += size
                seen.add(id(p))
            rows.append((f"{type(block).__name__}-{len(rows)}", _shape_str(outputs), n, trainable, shared))

        def register(block):
            if isinstance(block, HybridBlock) and block._active:
                raise MXNetError(f'"{block.name}" must not be hybridized to print summary.')
            from .nn.basic_layers import Sequential, HybridSequential
            if not isinstance(block, (Sequential, HybridSequential)):
                handles.append(block.register_forward_hook(hook))

        try:
            self.apply(register)
            self(*inputs)
        finally:
            for h in handles:
                h.detach()
        line = "{:>20}  {:>42} {:>15}"
        out = ["-" * 80, line.format("Layer (type)", "Output Shape", "Param #"), "=" * 80]
        out += [line.format(name, shape, n) for name, shape, n, _, _ in rows]
        total = sum(r[2] for r in rows)
        trainable = sum(r[3] for r in rows)
        shared = sum(r[4] for r in rows)
        out += ["=" * 80, "Parameters in forward computation graph, duplicate included",
                f"   Total params: {total}", f"   Trainable params: {trainable}",
                f"   Non-trainable params: {total - trainable}",
                f"Shared params in forward computation graph: {shared}",
                f"Unique parameters in model: {total - shared}", "-" * 80]
        print("\n".join(out))


def _shape_str(x):
    """MXNet's summary spelling of the shapes in a (nested) output."""
    def shapes(v):
        if isinstance(v, (list, tuple)):
            return [shapes(i) for i in v]
        return v.shape if hasattr(v, "shape") else v
    s = shapes(x)
    return str(s)[1:-1] if isinstance(s, list) else str(s)


class HybridBlock(Block):
    """A Block that can be hybridized. Until mxgluon's graph engine arrives, a HybridBlock always
    runs eagerly: ``hybridize()`` records the settings and changes nothing else.

    Define ``forward(self, x, ...)`` (MXNet 2.x), or ``hybrid_forward(self, F, x, ..., **params)``
    (MXNet 1.x: ``F`` is ``mx.nd`` for NDArray inputs and ``mx.np`` otherwise, and the Block's own
    Parameters come as keyword arguments). A layer whose Parameters have unknown dimensions defines
    ``infer_shape(*args)`` to fill them in from the first inputs."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)
        object.__setattr__(self, "_active", False)
        object.__setattr__(self, "_flags", {})

    def hybridize(self, active=True, partition_if_dynamic=True, static_alloc=False, static_shape=False,
                  inline_limit=2, forward_bulk_size=None, backward_bulk_size=None, **kwargs):
        """Record the hybridization settings (applied to the children too). The graph engine is not in
        mxgluon yet, so the Block keeps running eagerly with the same results."""
        object.__setattr__(self, "_active", bool(active))
        self._flags.update(partition_if_dynamic=partition_if_dynamic, static_alloc=static_alloc,
                           static_shape=static_shape, inline_limit=inline_limit,
                           forward_bulk_size=forward_bulk_size, backward_bulk_size=backward_bulk_size, **kwargs)
        super().hybridize(active, partition_if_dynamic=partition_if_dynamic, static_alloc=static_alloc,
                          static_shape=static_shape, inline_limit=inline_limit,
                          forward_bulk_size=forward_bulk_size, backward_bulk_size=backward_bulk_size, **kwargs)

    def _forward(self, *args, **kwargs):
        try:
            return self.forward(*args, **kwargs)
        except DeferredInitializationError:
            pending = [p for p in self._reg_params.values() if p._deferred_init]
            if not pending:
                raise
            self.infer_shape(*args, **kwargs)
            for p in pending:
                p._finish_deferred_init()
            return self.forward(*args, **kwargs)

    def infer_shape(self, *args, **kwargs):
        """Fill in the unknown dimensions of this Block's Parameters from the inputs."""
        unknown = [f"{k} {p.shape}" for k, p in self._reg_params.items() if not shape_is_known(p.shape)]
        raise DeferredInitializationError(
            f"{type(self).__name__} has Parameters of unknown shape ({', '.join(unknown)}) and does not define "
            "infer_shape(*inputs) to infer them: give the shapes in full, or define infer_shape")

    def infer_type(self, *args):
        """Parameter dtypes follow the first input's dtype where unset (MXNet infers them on the graph)."""

    def forward(self, x, *args, **kwargs):
        if type(self).hybrid_forward is HybridBlock.hybrid_forward:
            raise NotImplementedError(f"{type(self).__name__} defines neither forward nor hybrid_forward")
        from .. import ndarray as nd, numpy as np
        F = nd if isinstance(x, nd.NDArray) else np
        device = getattr(x, "device", None) or current_device()
        params = {}
        for k, p in self._reg_params.items():
            d = p.data(device)
            params[k] = d.as_nd_ndarray() if F is nd else d
        return self.hybrid_forward(F, x, *args, **params, **kwargs)

    def hybrid_forward(self, F, x, *args, **kwargs):
        """MXNet 1.x: override to compute with ``F`` (``mx.nd`` or ``mx.np``)."""
        raise NotImplementedError
