"""mx.gluon.rnn: recurrent cells (stepped or unrolled in Python, composed from core ops)."""
from .rnn_cell import *  # noqa: F401,F403
from .conv_rnn_cell import *  # noqa: F401,F403
