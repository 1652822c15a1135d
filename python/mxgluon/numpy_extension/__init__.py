"""``mx.npx``: MXNet's operators beyond NumPy."""
from ._ops import *  # noqa: F401,F403
from ._nn import *  # noqa: F401,F403
from ._conv import *  # noqa: F401,F403
from ._rnn import *  # noqa: F401,F403
from ._index import *  # noqa: F401,F403
from ._sort import *  # noqa: F401,F403
from ._sequence import *  # noqa: F401,F403
from . import random  # noqa: F401,E402
