"""mxgluon: the Gluon API of Apache MXNet on a Rust core. ``import mxgluon as mx``."""
from . import _core
from . import base
from .base import MXNetError
from . import device
from .device import Context, Device, cpu, cpu_pinned, gpu, num_gpus, current_device, current_context
from . import numpy as np
from . import numpy_extension as npx
from . import ndarray as nd
from . import ndarray
from . import autograd
from . import random
from . import symbol
from . import symbol as sym
from . import name

context = device
__version__ = _core.__version__
from . import initializer
from . import initializer as init
from . import lr_scheduler
from . import optimizer
from . import gluon
from .gluon import metric
from . import test_utils
from ._mxnet_alias import install_as_mxnet
