"""The Trainer: applies an optimizer to a set of Parameters."""
from .. import optimizer as opt
from ..base import MXNetValueError
from .parameter import Parameter

__all__ = ["Trainer"]


class Trainer:
    """Updates ``params`` (a dict from ``collect_params()`` or a list of Parameters) with
    ``optimizer`` (a name such as ``'sgd'`` with ``optimizer_params``, or an Optimizer).

    ``step(batch_size)`` sums the gradients of each Parameter's copies across devices, then updates
    every copy with gradients rescaled by ``rescale_grad / batch_size``. A Parameter whose gradient
    backward has not written since the last update raises MXNet's stale-gradient error unless
    ``ignore_stale_grad``. The kvstore arguments are accepted; the reduction runs in-process.
    """

    def __init__(self, params, optimizer, optimizer_params=None, kvstore="device", compression_params=None,
                 update_on_kvstore=None):
        names = {}
        if isinstance(params, dict):
            names = {id(params[k]): k for k in sorted(params, reverse=True)}
            params = [params[k] for k in sorted(params)]
        if not isinstance(params, (list, tuple)):
            raise MXNetValueError(f"First argument must be a list or dict of Parameters, got {type(params)}.")
        self._params = []
        seen = set()
        for p in params:
            if not isinstance(p, Parameter):
                raise MXNetValueError(f"First argument must be a list or dict of Parameters, got list of {type(p)}.")
            if p._uuid in seen:  # a shared Parameter is updated once
                continue
            seen.add(p._uuid)
            self._params.append(p)
            p._trainer = self
        self._names = [names.get(id(p), p.name) for p in self._params]
        if update_on_kvstore:
            raise MXNetValueError("Trainer: update_on_kvstore=True needs a kvstore server, which mxgluon does not "
                                  "have; use update_on_kvstore=False or None")
        self._kvstore = kvstore
        self._update_on_kvstore = False
        self._compression_params = compression_params
        self._init_optimizer(optimizer, optimizer_params or {})
        self._scale = self._optimizer.rescale_grad

    def _init_optimizer(self, optimizer, optimizer_params):
        param_dict = dict(enumerate(self._params))
        if isinstance(optimizer, opt.Optimizer):
            if optimizer_params:
                raise MXNetValueError("optimizer_params must be None if optimizer is an instance of Optimizer "
                                      "instead of str")
            self._optimizer = optimizer
            # Not copied: changes to a Parameter's lr_mult / wd_mult take effect.
            self._optimizer.param_dict = param_dict
        else:
            self._optimizer = opt.create(optimizer, param_dict=param_dict, **optimizer_params)
        # One updater (one set of optimizer states) per device copy, as in MXNet.
        self._updaters = [opt.get_updater(self._optimizer)]

    @property
    def optimizer(self):
        return self._optimizer

    @property
    def learning_rate(self):
        return self._optimizer.learning_rate

    def set_learning_rate(self, lr):
        """Set a new learning rate."""
        self._optimizer.set_learning_rate(lr)

    def step(self, batch_size, ignore_stale_grad=False):
        """One update: reduce gradients across devices, then apply the optimizer with gradients
        scaled by ``1 / batch_size``."""
        self._optimizer.rescale_grad = self._scale / batch_size
        self._allreduce_grads()
        self._update(ignore_stale_grad)

    def allreduce_grads(self):
        """Sum each Parameter's gradients over its devices (for use with ``update``)."""
        self._allreduce_grads()

    def update(self, batch_size, ignore_stale_grad=False):
        """Apply the optimizer without reducing gradients first (after ``allreduce_grads``)."""
        self._optimizer.rescale_grad = self._scale / batch_size
        self._update(ignore_stale_grad)

    def _allreduce_grads(self):
        for p in self._params:
            if p.grad_req == "null":
                continue
            grads = p.list_grad()
            if len(grads) > 1:
                total = grads[0].copy()
                for g in grads[1:]:
                    total += g.to_device(total.device)
                for g in grads:
                    g[:] = total.to_device(g.device)

    def _update(self, ignore_stale_grad=False):
        updates = []
        for i, p in enumerate(self._params):
            if p.grad_req == "null":
                continue
            fresh = p._fresh_grads()
            if not ignore_stale_grad:
                for data, f in zip(p.list_data(), fresh):
                    if not f:
                        raise UserWarning(
                            f"Gradient of Parameter `{self._names[i]}` on context {data.device} has not been updated by "
                            "backward since last `step`. This could mean a bug in your model that made it only use "
                            "a subset of the Parameters (Blocks) for this iteration. If you are intentionally only "
                            "using a subset, call step with ignore_stale_grad=True to suppress this warning and "
                            "skip updating of Parameters with stale gradient")
            p._fresh_grads(clear=True)
            for j, (w, g, f) in enumerate(zip(p.list_data(), p.list_grad(), fresh)):
                while len(updates) <= j:
                    updates.append(([], [], []))
                if f:
                    updates[j][0].append(i)
                    updates[j][1].append(g)
                    updates[j][2].append(w)
        while len(self._updaters) < len(updates):
            self._updaters.append(opt.get_updater(self._optimizer))
        for updater, (indices, grads, weights) in zip(self._updaters, updates):
            if indices:
                updater(indices, grads, weights)

    def save_states(self, fname):
        """Save the optimizer and its states (mxgluon's format: a pickle of NumPy arrays, see
        ``mx.optimizer.Updater.get_states``). The write is atomic."""
        from ..serialization import write_atomic
        write_atomic(fname, self._updaters[0].get_states(dump_optimizer=True))

    def load_states(self, fname):
        """Load what ``save_states`` wrote (optimizer included)."""
        with open(fname, "rb") as f:
            states = f.read()
        for updater in self._updaters:
            updater.set_states(states)
            updater.optimizer = self._updaters[0].optimizer
        self._optimizer = self._updaters[0].optimizer
        self._optimizer.param_dict = dict(enumerate(self._params))
