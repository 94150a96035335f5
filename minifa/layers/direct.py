"""Direct feedback: hidden layers hear from the output, not from the layer above.

Under DFA and DRTP the layer-to-layer error path is cut. The model hands one
``OutputSignal`` to every layer of the rule; ``Sequential.backward`` fills it
with the output error ``e`` and the targets before walking down, and each layer
sends its own fixed random projection of that signal to the layer below.
"""

from ..backend import get_array_module
from ..init import as_rng, glorot_uniform
from .linear import Linear


class OutputSignal:
    """What the top of the network broadcasts to hidden layers on one minibatch:
    ``e`` (n, k), the error at the output (already divided by n, as every delta
    is), and ``y`` (n,), the integer targets."""

    def __init__(self):
        self.e = self.y = None
        self._eye = None

    def set(self, e, y):
        self.e, self.y = e, y

    def target(self):
        """y* = onehot(y) / n   (n,) -> (n, k), on e's device and dtype."""
        n, k = self.e.shape
        if self._eye is None or self._eye.shape[0] != k or not isinstance(self._eye, type(self.e)):
            self._eye = get_array_module(self.e).eye(k, dtype=self.e.dtype)
        return self._eye[self.y] * (1.0 / n)


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

    feedback_expr = "e @ B_{l}"

    def __init__(self, n_in, n_out, n_classes, signal, *, rng=None, feedback_rng=None,
                 dtype="float32", backend=None):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype, backend=backend)
        self.signal = signal
        self.B = glorot_uniform(as_rng(feedback_rng, 1), (int(n_classes), self.n_in),
                                self.dtype, self.backend)

    def feedback(self, delta):
        return self.signal.e @ self.B  # (n, k) @ (k, in) -> (n, in); BP: delta @ W.T


class DRTPLinear(DFALinear):
    """Dense layer trained by direct random target projection (Frenkel, Lefebvre
    & Bol 2021, "Learning Without Feedback: Fixed Random Learning Signals Allow
    for Feedforward Training of Deep Neural Networks", Front. Neurosci. 15:629892).

    The layer below receives the one-hot target ``y*`` (divided by n, like every
    delta) through a fixed random ``B`` (k, in) in place of any error:

        delta_in = y* @ B       (n, k) @ (k, in) -> (n, in);  BP: delta @ W.T

    The target is known before the forward pass ends, so no error has to travel
    back at all; only the output layer learns from ``e``.
    """

    feedback_expr = "y* @ B_{l}"

    def feedback(self, delta):
        return self.signal.target() @ self.B  # (n, k) @ (k, in) -> (n, in)
