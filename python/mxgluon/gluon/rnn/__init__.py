"""mx.gluon.rnn: recurrent cells (stepped or unrolled in Python, composed from core ops) and the fused
layers RNN, LSTM and GRU (one Rust op for the whole sequence)."""
from .rnn_cell import *  # noqa: F401,F403
from .conv_rnn_cell import *  # noqa: F401,F403
from .rnn_layer import *  # noqa: F401,F403
