"""``mx.npx``: MXNet's operators beyond NumPy."""
from ._ops import *  # noqa: F401,F403
