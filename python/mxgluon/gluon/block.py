"""Block, HybridBlock and SymbolBlock: the base classes of layers and models."""
import ast as _ast
import json
import os
import re
import threading
import warnings
from collections import OrderedDict

from .. import _core
from .. import autograd as _autograd
from ..base import MXNetError, MXNetValueError, MXNetTypeError
from ..device import current_device
from ..numpy.multiarray import ndarray as _ndarray, _wrap
from ..name import NameManager
from .parameter import Parameter, ParameterDict, DeferredInitializationError, _load_into
from .utils import HookHandle, shape_is_known, _indent, _brief_print_list

__all__ = ["Block", "HybridBlock", "SymbolBlock"]


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

    def save(self, prefix):
        """MXNet 2.x's ``Block.save``: ``PREFIX-model.json`` holds the structure, each Block keyed by
        its lower-case class name and its index in a depth-first walk (``hybridsequential0`` holding
        ``conv2d1``, ...) with its Parameters' uuids; a hybridized Block that has run adds
        ``in_format``, ``out_format``, ``inputs`` and ``symbol`` (its graph, variables named
        ``UUID_NAME`` as 2.x names them). ``PREFIX-model.params`` holds the Parameters by structural
        name (MXNet 2.0.0b1 wrote ``MyModel-model.params`` whatever the prefix). Both files are
        written atomically, and nothing is written when the structure cannot be saved."""
        from ..serialization import write_atomic
        model = {}
        self._save_structure(model, 0)
        text = json.dumps(model)
        self.save_parameters(f"{prefix}-model.params")
        write_atomic(f"{prefix}-model.json", text)

    def _save_structure(self, structure, index):
        mdl = structure[f"{type(self).__name__.lower()}{index}"] = {}
        self._save_graph(mdl)
        mdl["params"] = {k: p._uuid for k, p in self._reg_params.items()}
        index += 1
        for child in self._children.values():
            index = child._save_structure(mdl, index)
        return index

    def _save_graph(self, mdl):
        """HybridBlocks record their traced graph in ``mdl``."""

    def load(self, prefix):
        """Load what ``save`` wrote (ours, MXNet 2.0.0b1's, whose parameters are in the
        ``MyModel-model.params`` beside the JSON or in the current directory, or MXNet 1.9.1's) into
        this model, built by the same code: the structure must match Block for Block. The saved
        Parameter uuids are restored and a Block saved hybridized is hybridized (its graph is traced
        again from the same code on the first call)."""
        path = f"{prefix}-model.json"
        try:
            with open(path) as f:
                model = json.load(f)
        except OSError as e:
            raise MXNetValueError(f"Block.load: cannot read '{path}': {e.strerror}") from None
        except ValueError as e:
            raise MXNetValueError(f"Block.load: '{path}' is not JSON: {e}") from None
        if not isinstance(model, dict):
            raise MXNetValueError(f"Block.load: '{path}' is not a saved model (a JSON object)")
        self._load_structure(model, 0, path, "")
        params = f"{prefix}-model.params"
        if not os.path.exists(params):
            beside = os.path.join(os.path.dirname(os.fspath(prefix)), "MyModel-model.params")
            found = [f for f in (beside, "MyModel-model.params") if os.path.exists(f)]
            if not found:
                raise MXNetValueError(f"Block.load: '{params}' not found (nor MXNet 2.0.0b1's MyModel-model.params)")
            params = found[0]
        self.load_parameters(params)

    def _load_structure(self, structure, index, path, where):
        key = f"{type(self).__name__.lower()}{index}"
        where = f"{where}/{key}" if where else key
        if not isinstance(structure.get(key), dict):
            saved = [k for k, v in structure.items() if isinstance(v, dict) and k not in ("params", "children")]
            raise MXNetValueError(f"Block.load: '{path}' does not match this model: expected {where} "
                                  f"({type(self).__name__}), the file has {saved or 'nothing'} there")
        mdl = structure[key]
        saved = [k for k, v in mdl.items() if isinstance(v, dict) and k not in ("params", "children")]
        if len(saved) != len(self._children):
            raise MXNetValueError(f"Block.load: '{path}' does not match this model: {where} has "
                                  f"{len(self._children)} children, the file {len(saved)} ({', '.join(saved)})")
        for name, uuid in mdl.get("params", {}).items():
            if name not in self._reg_params:
                raise MXNetValueError(f"Block.load: '{path}' does not match this model: {where} has no "
                                      f"Parameter '{name}' (it has {list(self._reg_params)})")
            self._reg_params[name]._uuid = uuid
        self._load_graph(mdl)
        index += 1
        for child in self._children.values():
            index = child._load_structure(mdl, index, path, where)
        return index

    def _load_graph(self, mdl):
        """HybridBlocks saved hybridized become hybridized."""

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
        """Register ``callback(name, op_name, array)`` on the HybridBlocks among the children (it
        sees the ops of their hybridized graphs)."""
        for child in self._children.values():
            child.register_op_hook(callback, monitor_all)

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
    """A Block that can be hybridized.

    Define ``forward(self, x, ...)`` (MXNet 2.x), or ``hybrid_forward(self, F, x, ..., **params)``
    (MXNet 1.x: ``F`` is ``mx.nd`` for NDArray inputs and ``mx.np`` otherwise, and the Block's own
    Parameters come as keyword arguments). A layer whose Parameters have unknown dimensions defines
    ``infer_shape(*args)`` to fill them in from the first inputs.

    After ``hybridize()``, the first call with a new input signature (shapes, dtypes, device,
    training mode, non-array arguments) runs ``forward`` eagerly while the Rust core traces it into
    a graph; later calls with that signature run the whole graph in one native call, recorded for
    autograd like eager code, so ``backward`` stays in Rust too."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)
        object.__setattr__(self, "_active", False)
        object.__setattr__(self, "_flags", {})
        object.__setattr__(self, "_cached", _GraphCache())
        object.__setattr__(self, "_op_hooks", [])

    def hybridize(self, active=True, partition_if_dynamic=True, static_alloc=False, static_shape=False,
                  inline_limit=2, forward_bulk_size=None, backward_bulk_size=None, **kwargs):
        """Run this Block (and its children) as traced graphs when ``active``. The flags are kept
        as given; the graph executor frees each intermediate value after its last use whatever
        ``static_alloc`` says, and re-traces on a new input shape whatever ``static_shape`` says."""
        object.__setattr__(self, "_active", bool(active))
        self._flags.update(partition_if_dynamic=partition_if_dynamic, static_alloc=static_alloc,
                           static_shape=static_shape, inline_limit=inline_limit,
                           forward_bulk_size=forward_bulk_size, backward_bulk_size=backward_bulk_size, **kwargs)
        self._cached.clear()
        super().hybridize(active, partition_if_dynamic=partition_if_dynamic, static_alloc=static_alloc,
                          static_shape=static_shape, inline_limit=inline_limit,
                          forward_bulk_size=forward_bulk_size, backward_bulk_size=backward_bulk_size, **kwargs)

    def optimize_for(self, x, *args, backend=None, backend_opts=None, clear=True, partition_if_dynamic=True,
                     static_alloc=False, static_shape=False, inline_limit=2, forward_bulk_size=None,
                     backward_bulk_size=None, **kwargs):
        """Hybridize and trace the graph for ``x`` now. mxgluon has one backend, its own executor:
        ``backend`` must be None."""
        if backend is not None:
            raise MXNetValueError(f"optimize_for: backend {backend!r} is not available in mxgluon "
                                  "(its graph executor is the only backend; pass backend=None)")
        if clear or not self._active:
            self.hybridize(True, partition_if_dynamic=partition_if_dynamic, static_alloc=static_alloc,
                           static_shape=static_shape, inline_limit=inline_limit,
                           forward_bulk_size=forward_bulk_size, backward_bulk_size=backward_bulk_size)
        self(x, *args)

    def register_op_hook(self, callback, monitor_all=False):
        """Call ``callback(name, op_name, array)`` on each op output of the hybridized graph as it
        runs (``name`` as MXNet reports it: ``NODE_output``), and on each op input too with
        ``monitor_all`` (named by the entry it reads)."""
        self._op_hooks.append((callback, bool(monitor_all)))
        for child in self._children.values():
            if isinstance(child, HybridBlock):
                child.register_op_hook(callback, monitor_all)

    def _forward(self, *args, **kwargs):
        if args and isinstance(args[0], _symbol().Symbol):
            return self._symbolic(*args)
        if self._active and not _core.trace_active():
            return self._call_graph(args, kwargs)
        return self._forward_eager(*args, **kwargs)

    def _forward_eager(self, *args, **kwargs):
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

    # --- graphs
    def _call_graph(self, args, kwargs):
        arrays, fmt = _flatten((args, kwargs))
        if not arrays:
            return self._forward_eager(*args, **kwargs)
        device = arrays[0].device
        key = (fmt, tuple((a.shape, a.dtype, a._t.device) for a in arrays), _autograd.is_training())
        entry = self._cached.get(key)
        if entry is None:
            return self._trace(key, arrays, device, args, kwargs)
        ins = [a._t for a in arrays] + _tensors_on(entry.params, arrays[0]._t.device, device)
        if self._op_hooks:
            outs = entry.graph.run_observed(ins, self._observer(), any(m for _, m in self._op_hooks))
        else:
            outs = entry.graph.run(ins)
        return _unflatten([_wrap(t, c) for t, c in zip(outs, entry.out_classes)], entry.out_fmt)

    def _trace(self, key, arrays, device, args, kwargs):
        names = ["data"] if len(arrays) == 1 else [f"data{i}" for i in range(len(arrays))]
        params = self.collect_params()

        def known():
            return [(k, p.data(device)._t) for k, p in params.items() if p._data is not None]

        _core.trace_start(list(zip(names, [a._t for a in arrays])), known())
        try:
            out = self._forward_eager(*args, **kwargs)
            outs, out_fmt = _flatten(out)
            if any(not isinstance(o, _ndarray) for o in _leaves(out)):
                raise MXNetError(f"{type(self).__name__}.forward returned something other than arrays "
                                 "(or nested lists/tuples of them): it cannot be hybridized")
            graph = _core.trace_finish([o._t for o in outs], known()).fused()
        except MXNetError as e:
            _core.trace_abort()
            if "cannot be traced" in str(e):
                raise MXNetError(f"{type(self).__name__} '{self.name}' cannot be hybridized: {e}") from None
            raise
        except BaseException:
            _core.trace_abort()
            raise
        by_name = dict(params.items())
        entry = _Graph(graph, [by_name[n] for n in graph.arguments()[len(arrays):]],
                       [type(o) for o in outs], out_fmt, names, key[0])
        self._cached.put(key, entry)
        return out

    def _observer(self):
        hooks = self._op_hooks
        from ..numpy.multiarray import ndarray

        def observe(name, op_name, t, is_input):
            for cb, monitor_all in hooks:
                if monitor_all or not is_input:
                    cb(name, op_name, _wrap(t, ndarray))
        return observe

    def _last_graph(self, what):
        entry = self._cached.last()
        if entry is None:
            raise MXNetError(f"{type(self).__name__}.{what}: call hybridize() and run a forward pass first; "
                             "the graph is traced from that call")
        return entry

    def _symbolic(self, *inputs):
        """Calling the Block on Symbols: the graph of its last traced call with the inputs renamed."""
        sym = _symbol()
        entry = self._last_graph("__call__(Symbol)")
        rename = {}
        for old, s in zip(entry.input_names, inputs):
            if not isinstance(s, sym.Symbol) or len(s.list_outputs()) != 1 or s.list_arguments() != [s.name]:
                raise MXNetTypeError(f"{type(self).__name__}: a Block is called on symbols made by mx.sym.var")
            rename[old] = s.name
        return sym.Symbol(entry.graph.renamed(rename))

    def export(self, path, epoch=0, remove_amp_cast=True):
        """Write ``path-symbol.json`` (MXNet 1.x op names, which MXNet 1.9.1 and 2.x load) and
        ``path-EPOCH.params`` (``arg:``/``aux:`` names) from the last traced call; returns the two
        file names. With ``path=None``, returns ``(Symbol, {name: array})`` instead. Arrays the
        forward made (constants of the graph, such as zero begin states) are saved with the
        parameters, as variables of their own."""
        entry = self._last_graph("export")
        n_in = len(entry.input_names)
        params = dict(zip(entry.graph.arguments()[n_in:], entry.params))
        sym = _symbol().Symbol(entry.graph, var_attrs={k: _var_attrs(p) for k, p in params.items()})
        arrays = {k: p._reduce() for k, p in params.items()}
        arrays.update((k, _wrap(t, _ndarray)) for k, t in entry.graph.constants())
        if path is None:
            return sym, arrays
        from ..serialization import save_arrays
        aux = set(entry.graph.aux())
        sym_file, param_file = f"{path}-symbol.json", f"{path}-{epoch:04d}.params"
        sym.save(sym_file)
        save_arrays(param_file, {("aux:" if k in aux else "arg:") + k: v for k, v in arrays.items()})
        return sym_file, param_file

    def _save_graph(self, mdl):
        entry = self._cached.last() if self._active else None
        if entry is not None:
            args_fmt, kwargs_fmt = entry.in_fmt[1]
            if kwargs_fmt[1]:
                raise MXNetValueError(f"{type(self).__name__}.save: the graph was traced with keyword arguments, "
                                      "which MXNet's in_format cannot describe")
            sym = _symbol()
            mdl["in_format"] = _mxnet_format(args_fmt)
            mdl["out_format"] = _mxnet_format(entry.out_fmt)
            mdl["inputs"] = [sym.var(n).tojson() for n in entry.input_names]
            graph, _ = self.export(None)
            names = {k: p._uuid.replace("-", "_") + "_" + k.rsplit(".", 1)[-1]
                     for k, p in zip(graph.list_inputs()[len(entry.input_names):], entry.params)}
            mdl["symbol"] = graph._renamed(names).tojson()
        mdl["hybridized"] = entry is not None

    def _load_graph(self, mdl):
        if mdl.get("hybridized"):
            object.__setattr__(self, "_active", True)
            self._cached.clear()

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


class _Graph:
    """A traced graph and what running it needs: the Parameters bound after the inputs, the
    output classes and nesting, the input variable names and nesting."""
    __slots__ = ("graph", "params", "out_classes", "out_fmt", "input_names", "in_fmt")

    def __init__(self, graph, params, out_classes, out_fmt, input_names, in_fmt):
        self.graph, self.params, self.out_classes = graph, params, out_classes
        self.out_fmt, self.input_names, self.in_fmt = out_fmt, input_names, in_fmt


class _GraphCache:
    """The graphs of a Block by input signature, the most recently used last; a bounded number,
    so memory stays bounded when input shapes keep changing."""
    LIMIT = 16

    def __init__(self):
        self._d = OrderedDict()

    def get(self, key):
        e = self._d.get(key)
        if e is not None:
            self._d.move_to_end(key)
        return e

    def put(self, key, entry):
        self._d[key] = entry
        while len(self._d) > self.LIMIT:
            self._d.popitem(last=False)

    def last(self):
        return next(reversed(self._d.values()), None)

    def clear(self):
        self._d.clear()

    def __len__(self):
        return len(self._d)


def _tensors_on(params, pair, device):
    """The core tensors of ``params`` on ``device`` (``pair`` its core spelling); a Parameter with
    one copy, on that device, is the fast path of every hybridized call."""
    out = []
    for p in params:
        d = p._data
        if d is not None and len(d) == 1 and d[0]._t.device == pair:
            out.append(d[0]._t)
        else:
            out.append(p.data(device)._t)
    return out


def _flatten(x):
    """The arrays in a nested structure of lists/tuples/dicts, and a hashable description of the
    rest (non-array values by value), from which ``_unflatten`` rebuilds it."""
    arrays = []
    return arrays, _describe(x, arrays)


# Module-level recursion, not nested closures: a closure that calls itself is a reference cycle,
# which kept every hybridized call's input and output arrays alive until the garbage collector
# ran (a ResNet block's process grew from 99 to 483 MB).
def _describe(v, arrays):
    if isinstance(v, _ndarray):
        arrays.append(v)
        return _ARRAY
    if isinstance(v, (list, tuple)):
        return (type(v), tuple(_describe(i, arrays) for i in v))
    if isinstance(v, dict):
        return (dict, tuple((k, _describe(i, arrays)) for k, i in sorted(v.items())))
    try:
        hash(v)
    except TypeError:
        raise MXNetTypeError(f"hybridized forward: argument {v!r} is neither an array nor hashable") from None
    return ("value", v)


def _unflatten(arrays, fmt):
    return _build(fmt, iter(arrays))


def _build(f, it):
    if f is _ARRAY:
        return next(it)
    kind, items = f
    if kind == "value":
        return items
    if kind is dict:
        return {k: _build(i, it) for k, i in items}
    return kind(_build(i, it) for i in items)


def _mxnet_format(fmt):
    """MXNet's spelling of a ``_flatten`` description: 0 an array, -1 None, a list for a list/tuple."""
    if fmt is _ARRAY:
        return 0
    kind, items = fmt
    if kind in (list, tuple):
        return [_mxnet_format(i) for i in items]
    if kind == "value" and items is None:
        return -1
    raise MXNetValueError(f"save: an input or output {items!r} of the traced graph has no MXNet format "
                          "(arrays, None and lists of them)")


def _leaves(x):
    if isinstance(x, (list, tuple)):
        for i in x:
            yield from _leaves(i)
    else:
        yield x


_ARRAY = ("array",)


def _var_attrs(p):
    """The attributes MXNet 1.x writes on a parameter's variable node (an initializer named by
    string only)."""
    init = p.init if isinstance(p.init, str) else None
    return sorted(_symbol()._var_node_attrs(None, p.shape, p.lr_mult, p.wd_mult, p.dtype, init, "default").items())


def _symbol():
    from .. import symbol
    return symbol


class SymbolBlock(HybridBlock):
    """A Block running a Symbol: ``outputs`` (a Symbol or a list of them) computed from ``inputs``
    (``var`` symbols). The symbol's other variables are the Block's Parameters, by their variable
    names, taken from ``params`` (e.g. another Block's ``collect_params()``) where it has them."""

    def __init__(self, outputs, inputs, params=None):
        super().__init__()
        sym = _symbol()
        if not isinstance(outputs, sym.Symbol):
            outputs = sym.Group(list(outputs))
        inputs = [inputs] if isinstance(inputs, sym.Symbol) else list(inputs)
        names = [s.name for s in inputs]
        unknown = [n for n in names if n not in outputs.list_inputs()]
        if unknown:
            warnings.warn(f"SymbolBlock: inputs {unknown} are not used by the symbol "
                          f"(its variables: {outputs.list_inputs()})", stacklevel=2)
        object.__setattr__(self, "_symbol", outputs)
        object.__setattr__(self, "_input_names", names)
        object.__setattr__(self, "_json", outputs.tojson())
        object.__setattr__(self, "_graphs", {})
        aux = set(outputs.list_auxiliary_states())
        attrs = {k: dict(v) for k, v in outputs._var_attrs.items()}
        for n in outputs.list_inputs():
            if n in names:
                continue
            if params is not None and n in params:
                self._reg_params[n] = params[n]
                continue
            a = attrs.get(n, {})
            shape = _ast.literal_eval(a["__shape__"]) if "__shape__" in a else None
            flag = a.get("__dtype__")
            self._reg_params[n] = Parameter(
                n, grad_req="null" if n in aux else "write", shape=shape, allow_deferred_init=True,
                dtype=_core.dtype_of_mxnet_flag(int(flag)) if flag is not None else "float32",
                init=a.get("__init__"))

    @staticmethod
    def imports(symbol_file, input_names, param_file=None, device=None, allow_missing=False,
                ignore_extra=False, ctx=None):
        """A SymbolBlock of an exported model (MXNet 1.x or 2.x ``-symbol.json``), its Parameters
        loaded from ``param_file`` when given."""
        sym = _symbol()
        if isinstance(input_names, str):
            input_names = [input_names]
        block = SymbolBlock(sym.load(symbol_file), [sym.var(n) for n in input_names])
        if param_file is not None:
            from ..serialization import load_arrays
            loaded = load_arrays(param_file)
            if loaded == []:  # MXNet writes a model without parameters as an empty list
                loaded = {}
            if isinstance(loaded, list):
                raise MXNetValueError(f"SymbolBlock.imports: '{param_file}' holds an unnamed list of arrays, "
                                      "not named parameters")
            block.load_dict(loaded, device if device is not None else ctx, allow_missing, ignore_extra,
                            cast_dtype=True, dtype_source="saved", _source=f"file: {param_file}")
        return block

    def forward(self, *args):
        if len(args) != len(self._input_names):
            raise MXNetValueError(f"SymbolBlock takes {len(self._input_names)} inputs "
                                  f"({', '.join(self._input_names)}), got {len(args)}")
        training = _autograd.is_training()
        graph = self._graphs.get(training)
        if graph is None:  # ops such as BatchNorm are made for one mode
            graph = self._graphs[training] = _core.Graph.from_json(self._json)
        given = dict(zip(self._input_names, args))
        device = args[0].device
        ins = [given[n]._t if n in given else self._reg_params[n].data(device)._t for n in graph.arguments()]
        cls = type(args[0])
        outs = [_wrap(t, cls) for t in graph.run(ins)]
        return outs[0] if len(outs) == 1 else outs

    def infer_shape(self, *args):
        missing = [k for k, p in self._reg_params.items() if not shape_is_known(p.shape)]
        raise DeferredInitializationError(
            f"SymbolBlock: the shapes of {missing} are unknown (the symbol gives no __shape__): give them "
            "with mx.sym.var(NAME, shape=...) or load the parameters first (mxgluon does not infer "
            "parameter shapes from the inputs yet)")
