"""Feedback matrices that learn to mirror W (Akrout, Wilson, Humphreys,
Lillicrap & Tweed 2019, "Deep Learning without Weight Transport", NeurIPS)."""

from ..seeding import as_rng
from .linear import FALinear


class KPLinear(FALinear):
    """Kolen-Pollack (Kolen & Pollack 1994; Akrout et al. 2019): ``B`` is
    trained, explicitly, with the transpose of W's gradient:

        delta_in = delta @ B            (n, out) @ (out, in) -> (n, in)
        dW = x.T @ delta                (in, out)
        dB = dW.T = delta.T @ x         (out, in)

    The whole rule, in the four places it touches:

    - **B is a parameter** (``param_names``), so the optimizer moves it. Any
      elementwise optimizer (SGD, Adam) moves B by exactly the transpose of
      W's move: what W learns, B learns.
    - **Except in a model's first trained layer**, which sends no delta down:
      ``Sequential`` sets its ``sends_delta`` to False, and its B is left as
      drawn, since it would train for nothing.
    - **Decay aligns them.** Training never changes ``W - B.T``'s random start;
      only the optimizer's decoupled weight decay lambda shrinks it, by
      (1 - lr * lambda) every step, so B converges to W.T. Without decay the
      difference stays and only learning outgrows it.
    - **The recipe** (``decay_recipe``, which ``mlp``'s users get as
      ``minifa.model.WEIGHT_DECAY["kp"]``): lambda = 100 for the first 75
      steps, then 0.1. The strong start erases W - B.T's random start by
      (1 - 3e-4 * 100)^75 ~ 0.1 before much is learned; measured at Adam lr
      3e-4 (docs/learning-rules.md), since the factor depends on lr.
    """

    decay_recipe = {"start": 100.0, "steps": 75, "then": 0.1}  # WarmupDecay's arguments

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
