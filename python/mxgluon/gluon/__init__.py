"""mx.gluon: Blocks, Parameters, layers, losses, the Trainer, metrics, data loading and utilities."""
from .parameter import Parameter, Constant, ParameterDict, DeferredInitializationError
from .block import Block, HybridBlock, SymbolBlock
from .trainer import Trainer
from . import nn, rnn, loss, utils, data, metric
