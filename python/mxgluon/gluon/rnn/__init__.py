"""mx.gluon.rnn: recurrent layers."""
from .rnn_layer import *  # noqa: F401,F403
