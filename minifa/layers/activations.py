"""Elementwise activations: no parameters and no learning rule; every rule
sends the delta back through the derivative, which each ``backward`` computes."""

from .. import fast
from ..backend import get_array_module
from .base import Layer


class Activation(Layer):
    """h = f(z) elementwise; ``backward(delta)`` returns delta_z = delta_h * f'(z),
    the exact gradient under every rule (so it is also ``bp_feedback``)."""

    def bp_feedback(self, delta):
        return self.backward(delta)

    def feedback(self, delta):
        return self.backward(delta)

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(Activation):
    """h = max(z, 0);  delta_z = delta_h * 1[z > 0]   (n, d) -> (n, d)."""

    derivative_expr = "1[z_{l} > 0]"
    cache_names = ("z",)

    def forward(self, z):
        self.z = z
        fused = fast.relu(z)  # the line below as one CPU loop, where there is one
        return get_array_module(z).maximum(z, 0) if fused is None else fused  # (n, d) -> (n, d)

    def backward(self, delta):
        fused = fast.relu_backward(delta, self.z)  # the line below as one kernel, if there is one
        return delta * (self.z > 0) if fused is None else fused  # (n, d) * (n, d) -> (n, d)


class Tanh(Activation):
    """h = tanh(z);  delta_z = delta_h * (1 - h^2)   (n, d) -> (n, d).

    Saturating: its derivative vanishes for large |z|, which bounds rules
    whose hidden signal never shrinks (DRTP).
    """

    derivative_expr = "(1 - h_{l}^2)"
    cache_names = ("h",)

    def forward(self, z):
        self.h = get_array_module(z).tanh(z)
        return self.h

    def backward(self, delta):
        return delta * (1.0 - self.h * self.h)  # (n, d) * (n, d) -> (n, d)


class Sigmoid(Activation):
    """h = 1 / (1 + exp(-z));  delta_z = delta_h * h * (1 - h)   (n, d) -> (n, d).

    The logistic unit of the classic FA experiments (Lillicrap et al. 2016;
    Akrout et al. 2019). Computed as exp(-softplus(-z)), softplus(u) =
    logaddexp(0, u): the same function, without exp overflowing for very
    negative z, and to full relative precision there.
    """

    derivative_expr = "h_{l} (1 - h_{l})"
    cache_names = ("h",)

    def forward(self, z):
        xp = get_array_module(z)
        self.h = xp.exp(-xp.logaddexp(0.0, -z))  # 1 / (1 + exp(-z))   (n, d) -> (n, d)
        return self.h

    def backward(self, delta):
        return delta * self.h * (1.0 - self.h)  # (n, d) * (n, d) -> (n, d)
