"""Feedback matrices that learn to mirror W (Akrout, Wilson, Humphreys,
Lillicrap & Tweed 2019, "Deep Learning without Weight Transport", NeurIPS)."""

from ..seeding import as_rng
from .linear import FALinear


class KPLinear(FALinear):
    """Kolen-Pollack: ``B`` is trained, explicitly, with the transpose of W's
    gradient:

        delta_in = delta @ B            (n, out) @ (out, in) -> (n, in)
        dW = x.T @ delta                (in, out)
        dB = dW.T = delta.T @ x         (out, in)

    ``B`` is therefore a parameter here (``param_names``), except in a model's
    first trained layer, which sends no delta down (``sends_delta``): its
    ``B`` would train for nothing and is left as drawn. Any optimizer whose
    update is elementwise (SGD, Adam) then moves B by exactly the transpose of
    W's move, and its decoupled weight decay lambda (``weight_decay``) scales
    both alike, so ``W - B.T`` shrinks by the factor (1 - lr * lambda) every
    step and B converges to W.T (Kolen & Pollack 1994). Without decay the
    difference stays at its initial value and only learning outgrows it.
    """

    feedback_expr = "{d} @ B_{l}"
    feedback_note = "B_{l} trained: dB_{l} = dW_{l}.T"

    def __init__(self, n_in, n_out, **kwargs):
        super().__init__(n_in, n_out, **kwargs)
        self.dB = self.xp.zeros_like(self.B)

    @property
    def param_names(self):
        return ("W", "b", "B") if self.sends_delta else ("W", "b")

    def grads(self, delta):
        super().grads(delta)  # dW = x.T @ delta
        if self.sends_delta:
            self.dB[...] = self.dW.T  # dB = dW.T   (out, in)


class WMLinear(FALinear):
    """Weight mirror: ``B`` learns W.T from noise sent through the layer.

    Before each use (``update_feedback``), one mirror step with noise
    x ~ N(0, 1) of shape (n, in):

        y = x @ W                                  (n, in) @ (in, out) -> (n, out)
        B <- (1 - decay) B + lr_mirror * y.T @ x / n     (out, n) @ (n, in) -> (out, in)

    Since E[x.T @ x / n] = I, B tracks (lr_mirror / decay) W.T. The noise is
    drawn on the host from ``noise_rng`` and copied to the device each step. The
    first layer never sends a delta down, so it never mirrors.
    """

    feedback_expr = "{d} @ B_{l}"
    feedback_note = "B_{l} mirrored from noise before use"

    def __init__(self, n_in, n_out, *, noise_rng=None, lr_mirror=0.01, decay=0.01, **kwargs):
        super().__init__(n_in, n_out, **kwargs)
        self.noise_rng = as_rng(noise_rng)
        self.lr_mirror, self.decay = float(lr_mirror), float(decay)

    def update_feedback(self):
        self.mirror(self.x.shape[0])

    def mirror(self, n):
        noise = self.noise_rng.standard_normal((n, self.n_in)).astype(self.dtype)
        x = self.backend.asarray(noise)  # (n, in)
        y = x @ self.W  # (n, in) @ (in, out) -> (n, out)
        self.B *= 1.0 - self.decay
        self.B += (self.lr_mirror / n) * (y.T @ x)  # (out, n) @ (n, in) -> (out, in)
