"""``mx.sym`` / ``mx.symbol``: MXNet's Symbol, a graph with named outputs, on the Rust graph
(``_core.Graph``) that hybridize traces and symbol JSON files hold.

Symbols come from ``load``/``load_json`` (MXNet 1.x and 2.x files), from ``HybridBlock.export(None)``,
from calling a hybridized Block on ``var`` symbols, and from ``var``/``Group``/``get_internals`` and
indexing; ``tojson``/``save`` write MXNet 1.x symbol JSON.
"""
import ast
import os

from . import _core
from .base import MXNetError, MXNetIndexError, MXNetTypeError, MXNetValueError

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

    # --- attributes
    def attr(self, key):
        """The attribute ``key`` of this variable (``__shape__``, ``__init__``, ...), or None."""
        return dict(self._var_attrs.get(self.name, [])).get(key)

    def attr_dict(self):
        """Attributes by node name, for the nodes that have some."""
        return {k: dict(v) for k, v in self._var_attrs.items() if v}

    # --- inference
    def _arg_metas(self, shapes, dtypes, who):
        metas = []
        for n in self.list_inputs():
            attrs = dict(self._var_attrs.get(n, []))
            shape = shapes.get(n)
            if shape is None and "__shape__" in attrs:
                shape = ast.literal_eval(attrs["__shape__"])
            if shape is None or any(d in (0, -1) for d in shape):
                raise MXNetValueError(f"Symbol.{who}: the shape of {n!r} is not known: pass it as {n}=shape")
            flag = attrs.get("__dtype__")
            dtype = dtypes.get(n) or (_core.dtype_of_mxnet_flag(int(flag)) if flag is not None else "float32")
            metas.append((list(shape), _dtype_name(dtype)))
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
    return Symbol(_core.Graph.variable(name, sorted(attrs.items())))


Variable = var


def Group(symbols):
    """One symbol with the outputs of all of ``symbols``."""
    symbols = list(symbols)
    if not symbols or not all(isinstance(s, Symbol) for s in symbols):
        raise MXNetTypeError("Group: expected a non-empty list of Symbols")
    attrs = {}
    for s in symbols:
        attrs.update(s._var_attrs)
    return Symbol(_core.Graph.group([s._g for s in symbols]), attrs)


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
