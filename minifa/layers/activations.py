"""Elementwise activations."""

from ..backend import backend_of, get_array_module
from .base import Layer


class ReLU(Layer):
    """h = max(z, 0);  delta_z = delta_h * 1[z > 0]   (n, d) -> (n, d).

    Its backward is the same under every learning rule.
    """

    derivative_expr = "1[z_{l} > 0]"
    cache_names = ("z",)

    def forward(self, z):
        self.z = z
        return get_array_module(z).maximum(z, 0)  # (n, d) -> (n, d)

    def bp_feedback(self, delta):
        fused = backend_of(delta).elementwise(  # one GPU kernel for the line below
            "T delta, T z", "T out", "out = z > 0 ? delta : (T)0;", "minifa_relu_backward")
        if fused is not None:
            return fused(delta, self.z)
        return delta * (self.z > 0)  # (n, d) * (n, d) -> (n, d)

    def __repr__(self):
        return "ReLU()"


class Tanh(Layer):
    """h = tanh(z);  delta_z = delta_h * (1 - h^2)   (n, d) -> (n, d).

    Saturating: its derivative vanishes for large |z|, which bounds rules
    whose hidden signal never shrinks (DRTP).
    """

    derivative_expr = "(1 - h_{l}^2)"
    cache_names = ("h",)

    def forward(self, z):
        self.h = get_array_module(z).tanh(z)
        return self.h

    def bp_feedback(self, delta):
        return delta * (1.0 - self.h * self.h)  # (n, d) * (n, d) -> (n, d)

    def __repr__(self):
        return "Tanh()"


class Sigmoid(Layer):
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

    def bp_feedback(self, delta):
        return delta * self.h * (1.0 - self.h)  # (n, d) * (n, d) -> (n, d)

    def __repr__(self):
        return "Sigmoid()"
