"""Activation layers. Each is one fused Rust op (npx.activation / npx.leaky_relu)."""
from ... import numpy_extension as npx
from ...base import MXNetValueError
from ..block import HybridBlock
from ..parameter import Parameter

__all__ = ["Activation", "LeakyReLU", "PReLU", "ELU", "SELU", "GELU", "SiLU", "Swish"]


class Activation(HybridBlock):
    """Applies an activation: relu, sigmoid, tanh, softrelu, softsign, log_sigmoid, mish, silu or gelu."""

    def __init__(self, activation, **kwargs):
        self._act_type = activation  # before Block.__init__, which names the layer after it (1.x)
        super().__init__(**kwargs)

    def _alias(self):
        return self._act_type

    def forward(self, x):
        return npx.activation(x, act_type=self._act_type)

    def __repr__(self):
        return f"{type(self).__name__}({self._act_type})"


class LeakyReLU(HybridBlock):
    """``x`` for ``x >= 0``, ``alpha * x`` below."""

    def __init__(self, alpha, **kwargs):
        if alpha < 0:
            raise MXNetValueError(f"LeakyReLU: slope coefficient alpha must be >= 0, got {alpha}")
        super().__init__(**kwargs)
        self._alpha = alpha

    def forward(self, x):
        return npx.leaky_relu(x, act_type="leaky", slope=self._alpha)

    def __repr__(self):
        return f"{type(self).__name__}({self._alpha})"


class PReLU(HybridBlock):
    """Leaky ReLU with a learned slope: one (``in_channels=1``) or one per channel of axis 1."""

    def __init__(self, alpha_initializer=None, in_channels=1, **kwargs):
        super().__init__(**kwargs)
        if alpha_initializer is None:
            from ... import initializer
            alpha_initializer = initializer.Constant(0.25)
        self.alpha = Parameter("alpha", shape=(in_channels,), init=alpha_initializer)

    def forward(self, x):
        return npx.leaky_relu(x, gamma=self.alpha.data(x.device), act_type="prelu")


class ELU(HybridBlock):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self._alpha = alpha

    def forward(self, x):
        return npx.leaky_relu(x, act_type="elu", slope=self._alpha)


class SELU(HybridBlock):
    """Scaled ELU with the self-normalising constants."""

    def forward(self, x):
        return npx.leaky_relu(x, act_type="selu")


class GELU(HybridBlock):
    """Gaussian error linear unit, exact (``approximation='erf'``) or the tanh approximation."""

    def __init__(self, approximation="erf", **kwargs):
        if approximation not in ("erf", "tanh"):
            raise MXNetValueError(f"GELU: approximation must be 'erf' or 'tanh', got {approximation!r}")
        super().__init__(**kwargs)
        self._act = "gelu" if approximation == "erf" else "gelu_tanh"

    def forward(self, x):
        return npx.leaky_relu(x, act_type=self._act)


class SiLU(HybridBlock):
    """``x * sigmoid(x)``."""

    def forward(self, x):
        return npx.activation(x, act_type="silu")


class Swish(HybridBlock):
    """``x * sigmoid(beta * x)``."""

    def __init__(self, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self._beta = beta

    def forward(self, x):
        if self._beta == 1.0:
            return npx.activation(x, act_type="silu")
        return x * npx.sigmoid(self._beta * x)
