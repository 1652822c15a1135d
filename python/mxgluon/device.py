"""Devices: ``mx.cpu()``, ``mx.gpu(i)``, ``mx.device.num_gpus()``; ``Context`` is the 1.x name."""
import threading

from . import _core
from .base import MXNetValueError


class Device:
    """A device: ``Device('cpu', 0)`` or ``Device('gpu', 1)``. Usable as a context manager that
    makes it the default device."""

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {v: k for k, v in devtype2str.items()}
    _default = threading.local()

    def __init__(self, device_type, device_id=0):
        if isinstance(device_type, Device):
            device_type, device_id = device_type.device_type, device_type.device_id
        if device_type not in self.devstr2type:
            raise MXNetValueError(f"unknown device type {device_type!r}: expected one of {sorted(self.devstr2type)}")
        self.device_type = device_type
        self.device_id = int(device_id)
        self._old = None

    @property
    def device_typeid(self):
        return self.devstr2type[self.device_type]

    def _pair(self):
        return ("gpu" if self.device_type == "gpu" else "cpu", self.device_id)

    def __eq__(self, other):
        return isinstance(other, Device) and self._pair() == other._pair()

    def __hash__(self):
        return hash(self._pair())

    def __repr__(self):
        return f"{self.device_type}({self.device_id})"

    __str__ = __repr__

    def __enter__(self):
        self._old = current_device()
        Device._default.value = self
        return self

    def __exit__(self, *exc):
        Device._default.value = self._old

    def empty_cache(self):
        """Accepted for compatibility: the CPU allocator keeps no cache."""


Context = Device


def cpu(device_id=0):
    return Device("cpu", device_id)


def cpu_pinned(device_id=0):
    return Device("cpu_pinned", device_id)


def gpu(device_id=0):
    return Device("gpu", device_id)


def num_gpus():
    """The number of CUDA GPUs this build can use (0 without CUDA or without a GPU)."""
    return _core.num_gpus()


def current_device():
    return getattr(Device._default, "value", None) or Device("cpu", 0)


current_context = current_device


def as_device(device=None, ctx=None):
    """The device an argument names (``device=`` or the 1.x ``ctx=``), else the current one."""
    d = device if device is not None else ctx
    if d is None:
        return current_device()
    if isinstance(d, Device):
        return d
    if isinstance(d, str):
        name, _, rest = d.partition("(")
        return Device(name.strip(), int(rest.rstrip(")") or 0))
    raise MXNetValueError(f"not a device: {d!r}")
