"""``mx.npx.random``: MXNet 2.x's extra samplers, sharing ``mx.np.random``'s generator."""
from ..numpy.random import bernoulli, normal_n, seed, uniform_n  # noqa: F401

__all__ = ["seed", "bernoulli", "uniform_n", "normal_n"]
