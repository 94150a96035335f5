"""Dense layers: backpropagation and feedback alignment side by side."""

from ..backend import get_backend
from ..errors import InputError
from ..init import check_dtype, glorot_uniform, zeros
from ..seeding import as_rng
from .base import Layer
from .checks import check_input


class Linear(Layer):
    """Dense layer trained by backpropagation.

        z = x @ W + b          (n, in) @ (in, out) + (out,) -> (n, out)
        dW = x.T @ delta       (in, n) @ (n, out) -> (in, out)
        db = sum_n delta       (n, out) -> (out,)
        delta_in = delta @ W.T (n, out) @ (out, in) -> (n, in)

    ``W`` is drawn Glorot-uniform from ``rng`` (a Generator or int seed), ``b``
    starts at zero; both live on ``backend`` in ``dtype``.
    """

    # for explain(): the lines grads() and feedback() compute, each beside its shapes
    grads_expr = (("dW_{l} = {x}.T @ {d}", "{W} = {x}.T @ {d}"),)
    feedback_expr, feedback_shapes = "{d} @ W_{l}.T", "{d} @ {W.T}"

    param_names = ("W", "b")
    cache_names = ("x",)

    def __init__(self, n_in, n_out, *, rng=None, dtype="float32", backend=None):
        init_dense(self, n_in, n_out, rng, dtype, backend)

    def forward(self, x):
        check_input(self, x)
        self.x = x
        z = x @ self.W  # (n, in) @ (in, out) -> (n, out)
        z += self.b  # z = x @ W + b, without a second (n, out) array
        return z

    def grads(self, delta):
        # dW = x.T @ delta, written over last step's dW: a new (in, out) array
        # each step would cost more in page faults than the product itself.
        self.xp.matmul(self.x.T, delta, out=self.dW)  # (in, n) @ (n, out) -> (in, out)
        delta.sum(axis=0, out=self.db)  # (n, out) -> (out,)

    def bp_feedback(self, delta):
        return delta @ self.W.T  # (n, out) @ (out, in) -> (n, in)

    def __repr__(self):
        return f"{type(self).__name__}({self.n_in}, {self.n_out})"


class FALinear(Linear):
    """Dense layer trained by feedback alignment (Lillicrap et al. 2016,
    "Random synaptic feedback weights support error backpropagation for deep
    learning", Nat. Commun. 7:13276).

    Forward and weight gradients are those of ``Linear``; only the error sent
    down changes, through a fixed random matrix ``B`` in place of ``W.T``:

        delta_in = delta @ B   (n, out) @ (out, in) -> (n, in)

    ``B`` (out, in) is drawn Glorot-uniform from ``feedback_rng``, on the same
    device and dtype as ``W``. It is never trained and is not a parameter.
    """

    feedback_expr, feedback_shapes = "{d} @ B_{l}", "{d} @ {B}"
    feedback_names = ("B",)

    def __init__(self, n_in, n_out, *, rng=None, feedback_rng=None, dtype="float32",
                 backend=None):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype, backend=backend)
        fb = as_rng(feedback_rng)
        self.B = glorot_uniform(fb, (self.n_out, self.n_in), self.dtype, self.backend)

    def feedback(self, delta):
        return delta @ self.B  # (n, out) @ (out, in) -> (n, in); BP: delta @ W.T


def init_dense(layer, n_in, n_out, rng, dtype, backend):
    """Give ``layer`` sizes, backend, dtype, W (in, out) Glorot-uniform from ``rng``,
    b = 0, and the dW, db its backward writes in place."""
    layer.n_in, layer.n_out = int(n_in), int(n_out)
    if layer.n_in < 1 or layer.n_out < 1:
        raise InputError(f"{type(layer).__name__}({n_in}, {n_out}): sizes must be positive "
                         "integers")
    layer.backend = get_backend(backend)
    layer.dtype = check_dtype(dtype)
    layer.xp = layer.backend.xp
    layer.W = glorot_uniform(as_rng(rng), (layer.n_in, layer.n_out), layer.dtype,
                             layer.backend)
    layer.b = zeros((layer.n_out,), layer.dtype, layer.backend)
    layer.dW = layer.xp.zeros_like(layer.W)
    layer.db = layer.xp.zeros_like(layer.b)
