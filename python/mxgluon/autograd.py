"""Automatic differentiation: ``record``, ``pause``, ``backward``, ``grad`` and custom ``Function``."""
from . import _core
from .base import MXNetValueError
from .numpy.multiarray import _wrap, _wrap_out, ndarray


class _Scope:
    """Sets the recording and training flags for a ``with`` block and restores them after."""

    def __init__(self, recording, training):
        self._rec, self._train = recording, training
        self._old = None

    def __enter__(self):
        rec = _core.set_recording(self._rec) if self._rec is not None else None
        train = _core.set_training(self._train) if self._train is not None else None
        self._old = (rec, train)
        return self

    def __exit__(self, *exc):
        rec, train = self._old
        if self._rec is not None:
            _core.set_recording(rec)
        if self._train is not None:
            _core.set_training(train)


def record(train_mode=True):
    """Record operations for differentiation inside the ``with`` block (training mode by default)."""
    return _Scope(True, train_mode)


def pause(train_mode=False):
    """Stop recording inside the ``with`` block."""
    return _Scope(False, train_mode)


def train_mode():
    """Training mode (dropout active, batch statistics) without changing recording."""
    return _Scope(None, True)


def predict_mode():
    """Inference mode without changing recording."""
    return _Scope(None, False)


def is_recording():
    return _core.is_recording()


def is_training():
    return _core.is_training()


def set_recording(is_recording):
    """Set the recording flag; returns the previous one."""
    return _core.set_recording(bool(is_recording))


def set_training(train_mode):
    """Set the training flag; returns the previous one."""
    return _core.set_training(bool(train_mode))


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def mark_variables(variables, gradients, grad_reqs="write"):
    """Mark arrays as variables whose gradients go into ``gradients``."""
    variables, gradients = _as_list(variables), _as_list(gradients)
    if isinstance(grad_reqs, str):
        grad_reqs = [grad_reqs] * len(variables)
    if not (len(variables) == len(gradients) == len(grad_reqs)):
        raise MXNetValueError("mark_variables: variables, gradients and grad_reqs must have the same length")
    for v, g, r in zip(variables, gradients, grad_reqs):
        _core.mark_variable(v._t, r, g._t)


def _head_grads(heads, head_grads):
    if head_grads is None:
        return [None] * len(heads)
    head_grads = _as_list(head_grads)
    if len(head_grads) != len(heads):
        raise MXNetValueError(f"backward: {len(heads)} heads but {len(head_grads)} head_grads")
    return [None if g is None else g._t for g in head_grads]


def backward(heads, head_grads=None, retain_graph=False, train_mode=True):
    """Compute the gradients of ``heads`` with respect to the marked variables, into their ``.grad``."""
    heads = _as_list(heads)
    _core.backward([h._t for h in heads], _head_grads(heads, head_grads), None, retain_graph, False, train_mode)


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph=False, train_mode=True):
    """Return the gradients of ``heads`` with respect to ``variables`` (``.grad`` is left alone).

    With ``create_graph=True`` the gradients are themselves recorded, so they can be differentiated
    again (higher-order gradients)."""
    single = isinstance(variables, ndarray)
    heads, variables = _as_list(heads), _as_list(variables)
    if retain_graph is None:
        retain_graph = create_graph
    out = _core.backward(
        [h._t for h in heads], _head_grads(heads, head_grads), [v._t for v in variables],
        retain_graph, create_graph, train_mode,
    )
    res = [_wrap(t, type(v)) for t, v in zip(out, variables)]
    return res[0] if single else res


def get_symbol(x):
    raise MXNetValueError("autograd.get_symbol needs the graph engine, which comes with hybridize")


class Function:
    """A custom differentiable operation with ``forward`` and ``backward`` written in Python.

    Subclass it, define ``forward(self, *inputs)`` and ``backward(self, *output_grads)`` (both on
    ndarrays), and call the instance. ``save_for_backward`` keeps values for ``backward`` in
    ``self.saved_tensors``."""

    def __init__(self):
        self.saved_tensors = ()

    def save_for_backward(self, *args):
        self.saved_tensors = args

    def forward(self, *inputs):
        raise NotImplementedError("Function subclasses define forward")

    def backward(self, *output_grads):
        raise NotImplementedError("Function subclasses define backward")

    def __call__(self, *inputs):
        return _wrap_out(_core.custom_function(self, [x._t for x in inputs]), type(inputs[0]))
