"""Elementwise activations."""

from ..backend import get_array_module
from .base import Layer


class ReLU(Layer):
    """h = max(z, 0);  delta_z = delta_h * 1[z > 0]   (n, d) -> (n, d).

    Its backward is the same under every learning rule.
    """

    derivative_expr = "1[z_{l} > 0]"

    def forward(self, z):
        self.z = z
        return get_array_module(z).maximum(z, 0)  # (n, d) -> (n, d)

    def bp_feedback(self, delta):
        return delta * (self.z > 0)  # (n, d) * (n, d) -> (n, d)

    def __repr__(self):
        return "ReLU()"
