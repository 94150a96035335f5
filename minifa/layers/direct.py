"""Direct feedback: hidden layers hear from the output, not from the layer above.

Under DFA and DRTP the layer-to-layer error path is cut. ``Sequential.backward``
hands the output error ``e`` and the labels ``y`` to every layer marked
``direct``; such a layer sends down its own fixed random projection of a
signal built from them, ``signal(e, y) @ B``, in place of anything that came
from above. The projection itself is FA's line, ``delta @ B``.
"""

from ..init import glorot_uniform
from ..seeding import as_rng
from ..targets import one_hot
from .linear import Linear


class DFALinear(Linear):
    """Dense layer trained by direct feedback alignment (Nøkland 2016, "Direct
    Feedback Alignment Provides Learning in Deep Neural Networks", NeurIPS).

    The layer below receives the output error ``e`` through this layer's own
    fixed random matrix ``B`` (k, in), not the error that reached this layer:

        delta_in = e @ B        (n, k) @ (k, in) -> (n, in);  BP: delta @ W.T

    so hidden layer l learns from ``(e @ B_{l+1}) * f'(z_l)``. For the output
    layer ``delta`` is ``e`` itself, so its feedback is FA's. ``B`` is drawn
    Glorot-uniform from ``feedback_rng``, never trained, not a parameter.
    """

    feedback_expr, feedback_shapes = "e @ B_{l}", "{e} @ {B}"
    feedback_names = ("B",)
    direct = True

    def __init__(self, n_in, n_out, n_classes, *, rng=None, feedback_rng=None,
                 dtype="float32", backend=None):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype, backend=backend)
        self.B = glorot_uniform(as_rng(feedback_rng), (int(n_classes), self.n_in),
                                self.dtype, self.backend)

    def signal(self, e, y):
        """What travels down through B: the output error e   (n, k)."""
        return e

    def backward(self, delta, e, y=None):
        self.grads(delta)  # dW = x.T @ delta, from the delta this layer received
        return self.feedback(self.signal(e, y))  # signal @ B, whatever came from above

    def feedback(self, delta):
        return delta @ self.B  # (n, k) @ (k, in) -> (n, in); BP: delta @ W.T


class DRTPLinear(DFALinear):
    """Dense layer trained by direct random target projection (Frenkel, Lefebvre
    & Bol 2021, "Learning Without Feedback: Fixed Random Learning Signals Allow
    for Feedforward Training of Deep Neural Networks", Front. Neurosci. 15:629892).

    The layer below receives the one-hot target ``y* = onehot(y) / n`` (divided
    by n, like every delta) through a fixed random ``B`` (k, in) in place of
    any error:

        delta_in = y* @ B       (n, k) @ (k, in) -> (n, in);  BP: delta @ W.T

    The target is known before the forward pass ends, so no error has to travel
    back at all; only the output layer learns from ``e``.
    """

    feedback_expr = "y* @ B_{l}"
    needs_targets = True

    def signal(self, e, y):
        """y* = onehot(y) / n   (n,) -> (n, k), on e's device and dtype."""
        n, k = e.shape
        return one_hot(y, k, e.dtype) * (1.0 / n)
