"""``mx.sym`` / ``mx.symbol``: MXNet's Symbol, a graph with named outputs, on the Rust graph
(``_core.Graph``) that hybridize traces and symbol JSON files hold.

Symbols come from ``load``/``load_json`` (MXNet 1.x and 2.x files), from ``HybridBlock.export(None)``,
from calling a hybridized Block on ``var`` symbols, from ``var``/``Group``/``get_internals`` and
indexing, and by composition: ``mx.sym.FullyConnected(data=x, num_hidden=10, name='fc1')`` and every
other registered op by its MXNet 1.x name, and arithmetic (``x + 1``, ``x * y``).
``tojson``/``save`` write MXNet 1.x symbol JSON.
"""
import ast
import os

from . import _core
from .base import MXNetError, MXNetIndexError, MXNetTypeError, MXNetValueError
from .name import NameManager

__all__ = ["Symbol", "var", "Variable", "Group", "load", "load_json"]


class Symbol:
    """One or more outputs of a graph."""

    def __init__(self, graph, var_attrs=None):
        self._g = graph
        attrs = {k: dict(v) for k, v in graph.var_attrs().items()}
        for k, v in (var_attrs or {}).items():
            attrs.setdefault(k, {}).update(v)
        self._var_attrs = {k: sorted(v.items()) for k, v in attrs.items()}

    # --- structure
    @property
    def name(self):
        """The name of the node of a single-output symbol."""
        outs = self.list_outputs()
        if len(outs) != 1:
            return None
        return self._g.nodes()[self._g.output_nodes()[0]][0]

    def list_arguments(self):
        """The variables that are not auxiliary states, in graph order."""
        aux = set(self._g.aux())
        return [n for n in self._g.arguments() if n not in aux]

    def list_auxiliary_states(self):
        return self._g.aux()

    def list_inputs(self):
        """Every variable, auxiliary states included, in graph order."""
        return self._g.arguments()

    def list_outputs(self):
        return self._g.outputs()

    def get_internals(self):
        """A symbol whose outputs are every output of every node (variables included)."""
        return Symbol(self._g.internals(), self._var_attrs)

    def __len__(self):
        return len(self.list_outputs())

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        outs = self.list_outputs()
        if isinstance(index, str):
            if index not in outs:
                raise MXNetValueError(f"Symbol has no output named {index!r} (outputs: {outs})")
            index = outs.index(index)
        if not isinstance(index, int):
            raise MXNetTypeError(f"Symbol index must be an int or an output name, not {type(index).__name__}")
        if not -len(outs) <= index < len(outs):
            raise MXNetIndexError(f"Symbol index {index} out of range for {len(outs)} outputs")
        return Symbol(self._g.select([index % len(outs)]), self._var_attrs)

    def __repr__(self):
        outs = self.list_outputs()
        return f"<Symbol {outs[0] if len(outs) == 1 else 'group [' + ', '.join(outs) + ']'}>"

    # --- arithmetic, as MXNet 1.x spells it: elementwise ops between symbols, scalar ops with numbers
    def _arith(self, other, op, hint, scalar_op, scalar_hint):
        if isinstance(other, Symbol):
            return _compose(op, hint, (self, other), {})
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return _compose(scalar_op, scalar_hint, (self,), {"scalar": other})
        raise MXNetTypeError(f"Symbol arithmetic: type {type(other).__name__} is not supported "
                             "(a Symbol or a number)")

    def __add__(self, other):
        return self._arith(other, "elemwise_add", "_plus", "_plus_scalar", "_plusscalar")

    __radd__ = __add__

    def __sub__(self, other):
        return self._arith(other, "elemwise_sub", "_minus", "_minus_scalar", "_minusscalar")

    def __rsub__(self, other):
        return self._arith(other, "elemwise_sub", "_minus", "_rminus_scalar", "_rminusscalar")

    def __mul__(self, other):
        return self._arith(other, "elemwise_mul", "_mul", "_mul_scalar", "_mulscalar")

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._arith(other, "elemwise_div", "_div", "_div_scalar", "_divscalar")

    def __rtruediv__(self, other):
        return self._arith(other, "elemwise_div", "_div", "_rdiv_scalar", "_rdivscalar")

    def __pow__(self, other):
        return self._arith(other, "broadcast_power", "_power", "_power_scalar", "_powerscalar")

    def __rpow__(self, other):
        return self._arith(other, "broadcast_power", "_power", "_rpower_scalar", "_rpowerscalar")

    def __neg__(self):
        return self * -1.0

    def _renamed(self, names):
        """The symbol with its variables renamed (old -> new), their attributes kept."""
        return Symbol(self._g.renamed(names), {names.get(k, k): v for k, v in self._var_attrs.items()})

    # --- attributes
    def attr(self, key):
        """The attribute ``key`` of this variable (``__shape__``, ``__init__``, ...), or None."""
        return dict(self._var_attrs.get(self.name, [])).get(key)

    def attr_dict(self):
        """Attributes by node name, for the nodes that have some."""
        return {k: dict(v) for k, v in self._var_attrs.items() if v}

    # --- inference
    def _arg_metas(self, shapes, dtypes, who):
        unknown_names = sorted(set(shapes) - set(self.list_inputs()))
        if unknown_names:
            raise MXNetValueError(f"Symbol.{who}: {unknown_names} are not inputs of the symbol "
                                  f"(its inputs: {self.list_inputs()})")
        metas, unknown = [], []
        for n in self.list_inputs():
            attrs = dict(self._var_attrs.get(n, []))
            shape = shapes.get(n)
            if shape is None and "__shape__" in attrs:
                shape = ast.literal_eval(attrs["__shape__"])
            if shape is None or any(d in (0, -1) for d in shape):
                unknown.append(n)
                continue
            flag = attrs.get("__dtype__")
            dtype = dtypes.get(n) or (_core.dtype_of_mxnet_flag(int(flag)) if flag is not None else "float32")
            metas.append((list(shape), _dtype_name(dtype)))
        if unknown:
            raise MXNetValueError(
                f"Symbol.{who}: the shapes of {unknown} are not known: give them ({who}(NAME=shape) or "
                "mx.sym.var(NAME, shape=...)); mxgluon does not infer parameter shapes backward from the "
                "data yet")
        return metas

    def infer_shape(self, *args, **kwargs):
        """``(arg_shapes, out_shapes, aux_shapes)`` from input shapes given by position (in
        ``list_arguments()`` order) or by name; parameters' shapes come from their ``__shape__``."""
        shapes = dict(zip(self.list_arguments(), args)) | kwargs
        metas = self._arg_metas({k: tuple(v) for k, v in shapes.items()}, {}, "infer_shape")
        return self._split_args(metas, 0)

    def infer_type(self, *args, **kwargs):
        """``(arg_types, out_types, aux_types)`` from input dtypes by position or by name (the
        shapes come from ``__shape__`` where known; dtypes are NumPy dtypes)."""
        import numpy as onp
        dtypes = dict(zip(self.list_arguments(), args)) | kwargs
        shapes = {n: (1,) for n in self.list_inputs()
                  if "__shape__" not in dict(self._var_attrs.get(n, []))}
        metas = self._arg_metas(shapes, dtypes, "infer_type")
        a, o, x = self._split_args(metas, 1)
        conv = lambda v: [onp.dtype("float32" if d == "bfloat16" else d).type for d in v]
        return conv(a), conv(o), conv(x)

    def _split_args(self, metas, which):
        by_name = dict(zip(self.list_inputs(), metas))
        outs = self._g.infer(metas)
        pick = lambda m: tuple(m[0]) if which == 0 else m[1]
        return ([pick(by_name[n]) for n in self.list_arguments()], [pick(m) for m in outs],
                [pick(by_name[n]) for n in self.list_auxiliary_states()])

    # --- files
    def tojson(self, remove_amp_cast=True):
        """MXNet 1.x symbol JSON (loads in MXNet 1.9.1 and 2.x)."""
        return self._g.tojson(self._var_attrs)

    def save(self, fname, remove_amp_cast=True):
        """Write ``tojson()`` to ``fname`` (through a temporary file: a failure keeps the old file)."""
        from .serialization import write_atomic
        write_atomic(fname, self.tojson())

    def bind(self, *args, **kwargs):
        raise MXNetError("Symbol.bind (the Module/Executor API) is not part of mxgluon: "
                         "wrap the symbol in gluon.SymbolBlock and call it")


def _dtype_name(dtype):
    from .numpy.multiarray import dtype_name
    return dtype_name(dtype)


def var(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None, stype=None, **kwargs):
    """A variable symbol, with MXNet's node attributes for the given settings."""
    if not isinstance(name, str):
        raise MXNetTypeError(f"var: name must be a str, not {type(name).__name__}")
    attrs = _var_node_attrs(attr, shape, lr_mult, wd_mult, dtype, init, stype, **kwargs)
    return Symbol(_core.Graph.variable(name, sorted(attrs.items())))


def _var_node_attrs(attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None, stype=None,
                    **kwargs):
    """MXNet's attributes of a variable node (``__shape__``, ``__dtype__``, ...) for these settings."""
    attrs = dict(attr or {})
    if shape is not None:
        attrs["__shape__"] = str(tuple(shape))
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(float(lr_mult))
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(float(wd_mult))
    if dtype is not None:
        attrs["__dtype__"] = str(_core.mxnet_type_flag(_dtype_name(dtype)))
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        attrs["__storage_type__"] = {"default": "0", "row_sparse": "1", "csr": "2"}[stype]
    for k, v in kwargs.items():
        attrs[f"__{k}__" if not k.startswith("__") else k] = str(v)
    return attrs


Variable = var


def Group(symbols):
    """One symbol with the outputs of all of ``symbols``."""
    symbols = list(symbols)
    if not symbols or not all(isinstance(s, Symbol) for s in symbols):
        raise MXNetTypeError("Group: expected a non-empty list of Symbols")
    return Symbol(_core.Graph.group([s._g for s in symbols]), _merged_attrs(symbols))


def _merged_attrs(symbols):
    attrs = {}
    for s in symbols:
        attrs.update(s._var_attrs)
    return attrs


# --- composition ---------------------------------------------------------------------------------
def _flag(v):
    return v.lower() in ("true", "1") if isinstance(v, str) else bool(v)


def _unless_no_bias(default):
    return lambda a: not _flag(a.get("no_bias", default))


def _when(key):
    return lambda a: _flag(a.get(key, False))


_BINARY = ("lhs", "rhs")
# The array arguments of ops, in MXNet's order; (name, test) for one present only under some attributes.
# A missing one becomes the variable NAME_ARG, as MXNet creates it.
_ARGS = {
    "FullyConnected": ("data", "weight", ("bias", _unless_no_bias(False))),
    "Convolution": ("data", "weight", ("bias", _unless_no_bias(False))),
    "Deconvolution": ("data", "weight", ("bias", _unless_no_bias(True))),
    "BatchNorm": ("data", "gamma", "beta", "moving_mean", "moving_var"),
    "LayerNorm": ("data", "gamma", "beta"),
    "GroupNorm": ("data", "gamma", "beta"),
    "InstanceNorm": ("data", "gamma", "beta"),
    "Embedding": ("data", "weight"),
    "LeakyReLU": ("data", ("gamma", lambda a: a.get("act_type") == "prelu")),
    "RNN": ("data", "parameters", "state", ("state_cell", lambda a: a.get("mode") == "lstm"),
            ("sequence_length", _when("use_sequence_length"))),
    "SequenceMask": ("data", ("sequence_length", _when("use_sequence_length"))),
    "SequenceLast": ("data", ("sequence_length", _when("use_sequence_length"))),
    "SequenceReverse": ("data", ("sequence_length", _when("use_sequence_length"))),
    "softmax": ("data", ("length", _when("use_length"))),
    "where": ("condition", "x", "y"),
    "pick": ("data", "index"),
    "take": ("a", "indices"),
    "gather_nd": ("data", "indices"),
    **{op: _BINARY for op in (
        "elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "broadcast_add", "broadcast_sub",
        "broadcast_mul", "broadcast_div", "broadcast_plus", "broadcast_minus", "broadcast_power",
        "broadcast_maximum", "broadcast_minimum", "broadcast_mod", "broadcast_hypot", "broadcast_equal",
        "broadcast_not_equal", "broadcast_greater", "broadcast_greater_equal", "broadcast_lesser",
        "broadcast_lesser_equal", "broadcast_logical_and", "broadcast_logical_or", "broadcast_logical_xor",
        "broadcast_like", "reshape_like", "dot", "batch_dot", "_maximum", "_minimum")},
}
# Ops of any number of inputs, given by position; MXNet sets their num_args.
_VAR_ARGS = {"Concat", "concat", "stack", "add_n", "ElementWiseSum"}


def _num_outputs(op, attrs):
    """The outputs a node of ``op`` shows (MXNet's visible outputs)."""
    if op in ("SliceChannel", "split"):
        return int(attrs.get("num_outputs", 1))
    if op == "RNN" and _flag(attrs.get("state_outputs", False)):
        return 3 if attrs.get("mode") == "lstm" else 2
    if op in ("BatchNorm", "LayerNorm") and _flag(attrs.get("output_mean_var", False)):
        return 3
    if op == "topk" and attrs.get("ret_typ") == "both":
        return 2
    return 1


def _compose(op, hint, args, kwargs, name=None):
    """A node of ``op`` on the symbols in ``args`` and the Symbol values of ``kwargs`` (the other
    values are its attributes), named ``name`` or, like MXNet's NameManager, ``hint<n>``."""
    for i, a in enumerate(args):
        if not isinstance(a, Symbol):
            raise MXNetTypeError(f"{op}: positional arguments must be Symbols, argument {i} is a "
                                 f"{type(a).__name__} (give attributes by keyword)")
    sym_kw = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
    attrs = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol) and v is not None}
    if "dtype" in attrs and not isinstance(attrs["dtype"], str):
        attrs["dtype"] = _dtype_name(attrs["dtype"])
    name = NameManager.current().get(name, hint)
    spec = _ARGS.get(op)
    if op in _VAR_ARGS:
        if sym_kw:
            raise MXNetTypeError(f"{op}: give its inputs by position, not as {sorted(sym_kw)}")
        attrs["num_args"] = len(args)
        inputs = list(args)
    elif spec is None:
        if len(sym_kw) > 1:
            raise MXNetTypeError(f"{op}: the order of its inputs {sorted(sym_kw)} is not known to mxgluon: "
                                 "give them by position")
        inputs = list(args) + list(sym_kw.values())
    else:
        wanted = [a if isinstance(a, str) else a[0] for a in spec if isinstance(a, str) or a[1](attrs)]
        if len(args) > len(wanted):
            raise MXNetTypeError(f"{op}: takes {len(wanted)} inputs ({', '.join(wanted)}), got {len(args)}")
        given = dict(zip(wanted, args))
        for k, v in sym_kw.items():
            if k not in wanted:
                raise MXNetTypeError(f"{op}: {k!r} is not one of its inputs ({', '.join(wanted)}) "
                                     "with these attributes")
            if k in given:
                raise MXNetTypeError(f"{op}: input {k!r} given twice (by position and by keyword)")
            given[k] = v
        inputs = [given[a] if a in given else var(f"{name}_{a}") for a in wanted]
    if not inputs:
        raise MXNetValueError(f"{op}: no input symbols given")
    for i, s in enumerate(inputs):
        if len(s.list_outputs()) != 1:
            raise MXNetValueError(f"{op}: input {i} ({s!r}) has {len(s.list_outputs())} outputs; "
                                  "compose with one output (index the symbol)")
    graph = _core.Graph.compose(op, attrs, name, [s._g for s in inputs], _num_outputs(op, attrs))
    return Symbol(graph, _merged_attrs(inputs))


def _creator(op):
    def creator(*args, name=None, attr=None, out=None, **kwargs):
        if attr:
            raise MXNetValueError(f"{op}: attr= (node attributes such as lr_mult) is not supported on op "
                                  "nodes by mxgluon; set them on the variables (mx.sym.var(..., lr_mult=...))")
        return _compose(op, op.lower(), args, kwargs, name)
    spec = _ARGS.get(op)
    inputs = ", ".join(a if isinstance(a, str) else a[0] for a in spec) if spec else "by position"
    creator.__name__ = creator.__qualname__ = op
    creator.__doc__ = (f"MXNet's {op} on Symbols (inputs: {inputs}); attributes by keyword. A missing "
                       "parameter input becomes the variable NAME_INPUT.")
    return creator


def _is_op(name):
    if name in _OP_NAMES:
        return True
    return any(name.startswith(p) and name[len(p):] in _OP_NAMES for p in ("_npi_", "_np_", "_npx_"))


_OP_NAMES = frozenset(_core.op_names())


def __getattr__(name):
    """``mx.sym.OP``: a composing function for each op registered in the Rust core."""
    if name.startswith("__") or not _is_op(name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    f = globals()[name] = _creator(name)
    return f


def load_json(json_str):
    """A symbol from MXNet symbol JSON text (1.x or 2.x)."""
    if not isinstance(json_str, str):
        raise MXNetTypeError(f"load_json: expected a str, not {type(json_str).__name__}")
    return Symbol(_core.Graph.from_json(json_str))


def load(fname):
    """A symbol from an MXNet ``-symbol.json`` file (1.x or 2.x)."""
    fname = os.fspath(fname)
    try:
        with open(fname) as f:
            text = f.read()
    except OSError as e:
        raise MXNetValueError(f"symbol.load: cannot read {fname!r}: {e.strerror}") from None
    try:
        return load_json(text)
    except MXNetError as e:
        raise type(e)(f"{fname}: {e}") from None
