"""mx.gluon: Blocks, Parameters, layers, losses, the Trainer, metrics, data loading and utilities."""
from .parameter import Parameter, Constant, ParameterDict, DeferredInitializationError
from .block import Block, HybridBlock
from .trainer import Trainer
from . import nn, loss, utils, data, metric, rnn
