"""Radial-basis layer: units respond to distance from a learned centre."""

from ..init import glorot_uniform
from ..seeding import as_rng
from .base import Layer
from .checks import check_input
from .linear import init_dense


class Radial(Layer):
    """Radial-basis layer (as Bender.jl's ``radial``): unit j has centre w_j, the
    j-th column of W (in, out), and bias b_j:

        z_ij = -||x_i - w_j||^2 + b_j
             = 2 (x @ W)_ij - ||x_i||^2 - ||w_j||^2 + b_j      (n, in) @ (in, out) -> (n, out)

    Backward, with r = delta.sum(1) (n,) and c = delta.sum(0) (out,):

        dW = 2 (x.T @ delta - W * c)            (in, n) @ (n, out) -> (in, out)
        db = c                                  (out,)
        delta_in = 2 (delta @ W.T - x * r)      (n, out) @ (out, in) -> (n, in)
    """

    param_names = ("W", "b")
    cache_names = ("x",)
    # for explain(): the lines grads() and feedback() compute, each beside its shapes
    grads_expr = (("dW_{l} = 2 ({x}.T @ {d} - W_{l} * {d}.sum(0))",
                   "{W} = 2 ({x}.T @ {d} - {W} * {c})"),)
    feedback_expr = "2 ({d} @ W_{l}.T - {x} * {d}.sum(1, keepdims=True))"
    feedback_shapes = "2 ({d} @ {W.T} - {x} * {r})"

    def __init__(self, n_in, n_out, *, rng=None, dtype="float32", backend=None):
        init_dense(self, n_in, n_out, rng, dtype, backend)

    def forward(self, x):
        check_input(self, x)
        self.x = x
        sq_x = (x * x).sum(axis=1, keepdims=True)  # (n, 1)
        sq_w = (self.W * self.W).sum(axis=0)  # (out,)
        return 2.0 * (x @ self.W) - sq_x - sq_w + self.b  # (n, out)

    def grads(self, delta):
        c = delta.sum(axis=0)  # (out,)
        self.dW[...] = 2.0 * (self.x.T @ delta - self.W * c)  # (in, out)
        self.db[...] = c

    def bp_feedback(self, delta):
        r = delta.sum(axis=1, keepdims=True)  # (n, 1)
        return 2.0 * (delta @ self.W.T - self.x * r)  # (n, out) @ (out, in) -> (n, in)

    def explain_shapes(self, x, z):
        return {"c": (z[1],), "r": (z[0], 1)}  # delta.sum(0), delta.sum(1, keepdims=True)

    def __repr__(self):
        return f"{type(self).__name__}({self.n_in}, {self.n_out})"


class FARadial(Radial):
    """Radial-basis layer trained by feedback alignment: a fixed random ``B``
    (out, in) replaces W in the input gradient, nowhere else:

        delta_in = 2 (delta @ B - x * r)        (n, out) @ (out, in) -> (n, in)

    The weight gradient stays Radial's exact one, ``W * c`` in its norm term
    included; Bender.jl's ``radial_asym`` puts ``B`` there too.
    """

    feedback_names = ("B",)
    feedback_expr = "2 ({d} @ B_{l} - {x} * {d}.sum(1, keepdims=True))"
    feedback_shapes = "2 ({d} @ {B} - {x} * {r})"

    def __init__(self, n_in, n_out, *, rng=None, feedback_rng=None, dtype="float32",
                 backend=None):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype, backend=backend)
        self.B = glorot_uniform(as_rng(feedback_rng), (self.n_out, self.n_in), self.dtype,
                                self.backend)

    def feedback(self, delta):
        r = delta.sum(axis=1, keepdims=True)  # (n, 1)
        return 2.0 * (delta @ self.B - self.x * r)  # BP: 2 (delta @ W.T - x * r)
