"""``mx.nd``: MXNet 1.x's NDArray namespace, a thin layer over the same tensors."""
from .ndarray import *  # noqa: F401,F403
from ._nn import *  # noqa: F401,F403
from ._ops import *  # noqa: F401,F403
from . import contrib  # noqa: F401,E402
from .. import random  # noqa: F401,E402  (mx.nd.random is mx.random, as in MXNet 1.x)
