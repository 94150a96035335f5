"""Sign-symmetric feedback: B shares W's signs but not its magnitudes.

Liao, Leibo & Poggio 2016, "How Important Is Weight Symmetry in
Backpropagation?", AAAI. Variant names as in BioTorch (Sanfiz & Akrout 2021).
``B`` is rebuilt from the current ``W`` at every backward pass (in
``update_feedback``), so it follows W's signs as they change; it is never a
parameter.
"""

from ..init import glorot_uniform
from ..seeding import as_rng
from .linear import Linear


class SignConcordantLinear(Linear):
    """What the three variants share: ``B`` has W's signs, its magnitudes are the
    variant's ``feedback_matrix()``, and it is rebuilt from the current W before
    every use:

        B = feedback_matrix()           (out, in), in update_feedback
        delta_in = delta @ B            (n, out) @ (out, in) -> (n, in)
    """

    feedback_names = ("B",)

    def feedback_matrix(self):
        raise NotImplementedError

    def update_feedback(self):
        self.B = self.feedback_matrix()

    def feedback(self, delta):
        return delta @ self.B  # (n, out) @ (out, in) -> (n, in); BP: delta @ W.T


class USFLinear(SignConcordantLinear):
    """Uniform sign-concordant feedback (uSF): every feedback weight has W's
    sign and one common magnitude, W's current spread:

        B = sign(W).T * std(W)          (out, in)

    Liao et al. give every feedback weight magnitude 1, BioTorch a fixed
    Xavier-sized one; minifa scales by W's current std so that delta_in keeps
    the size W.T would give it.
    """

    feedback_expr = "{d} @ (sign(W_{l}).T * std(W_{l}))"

    def __init__(self, n_in, n_out, *, rng=None, dtype="float32", backend=None):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype, backend=backend)
        self.B = self.feedback_matrix()

    def feedback_matrix(self):
        return self.xp.sign(self.W).T * self.W.std()  # (out, in); std stays a 0-d array


class FRSFLinear(SignConcordantLinear):
    """Fixed random-magnitude sign-concordant feedback (frSF):

        B = |R| * sign(W).T             (out, in), R drawn once (Glorot uniform)
    """

    feedback_expr = "{d} @ (|R_{l}| * sign(W_{l}).T)"
    feedback_names = ("B", "R")

    def __init__(self, n_in, n_out, *, rng=None, feedback_rng=None, dtype="float32",
                 backend=None):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype, backend=backend)
        R = glorot_uniform(as_rng(feedback_rng), (self.n_out, self.n_in), self.dtype,
                           self.backend)
        self.R = self.xp.abs(R)
        self.B = self.feedback_matrix()

    def feedback_matrix(self):
        return self.R * self.xp.sign(self.W).T  # |R| * sign(W).T   (out, in)


class BRSFLinear(SignConcordantLinear):
    """Batchwise random-magnitude sign-concordant feedback (brSF):

        B = |R_t| * sign(W).T           (out, in), R_t redrawn every step

    ``R_t`` is drawn on the host from ``noise_rng`` (Glorot-uniform scale) and
    copied to the device: one (out, in) transfer per step.
    """

    feedback_expr = "{d} @ (|R_t| * sign(W_{l}).T)"

    def __init__(self, n_in, n_out, *, rng=None, noise_rng=None, dtype="float32", backend=None):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype, backend=backend)
        self.noise_rng = as_rng(noise_rng)
        self.B = self.feedback_matrix()

    def feedback_matrix(self):
        R = glorot_uniform(self.noise_rng, (self.n_out, self.n_in), self.dtype, self.backend)
        return self.xp.abs(R) * self.xp.sign(self.W).T  # |R_t| * sign(W).T   (out, in)
