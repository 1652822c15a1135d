"""``mx.np``: NumPy's API on mxgluon arrays."""
from . import random  # noqa: F401
from ._creation import *  # noqa: F401,F403
from ._math import *  # noqa: F401,F403
from ._shape import *  # noqa: F401,F403
from ._manip import *  # noqa: F401,F403
from ._reduce import *  # noqa: F401,F403
from ._linalg import *  # noqa: F401,F403
from . import linalg  # noqa: F401
from .multiarray import ndarray

from numpy import bool_, float16, float32, float64, int8, int32, int64, uint8  # noqa: E402,F401

bfloat16 = "bfloat16"
pi = 3.141592653589793
e = 2.718281828459045
inf = float("inf")
nan = float("nan")
newaxis = None

__all__ = ["ndarray"]
