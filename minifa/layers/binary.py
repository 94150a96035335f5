"""Binary weights and straight-through-estimator (STE) activations.

The forward pass uses a binarized value (sign, a coin flip, a clip); the
backward pass replaces its derivative, zero almost everywhere, by a surrogate
that each class states in its docstring. Random draws come from a seeded host
Generator (``noise_rng``): one draw and one host-to-device copy per forward
pass of a stochastic layer.
"""

from ..backend import backend_of, get_array_module
from ..errors import InputError
from ..seeding import as_rng
from .activations import Activation
from .checks import check_input
from .linear import Linear


def hardsigmoid(z):
    """clip((z + 1) / 2, 0, 1)   (n, d) -> (n, d): the probability of +1."""
    return get_array_module(z).clip((z + 1.0) * 0.5, 0.0, 1.0)


def plus_minus_one(mask, dtype):
    """{False, True} -> {-1, +1} in ``dtype``: 2 * mask - 1."""
    return mask.astype(dtype) * 2.0 - 1.0


class BinaryLinear(Linear):
    """Dense layer with binary weights, trained through the straight-through
    estimator (Courbariaux, Bengio & David 2015, "BinaryConnect: Training Deep
    Neural Networks with binary weights during propagations", NeurIPS).

    ``W`` stays real-valued and is what the optimizer trains; the forward pass
    uses its binarization ``Wb`` in {-1, +1}:

        Wb = sign(W), sign(0) = +1                  (in, out) -> (in, out)
        Wb = +1 w.p. hardsigmoid(W), else -1        (stochastic=True)
             hardsigmoid(W) = clip((W + 1) / 2, 0, 1)
        z = x @ Wb + b          (n, in) @ (in, out) + (out,) -> (n, out)
        dW = x.T @ delta        (in, n) @ (n, out) -> (in, out)   d/dWb, passed to W
        db = sum_n delta        (n, out) -> (out,)
        delta_in = delta @ Wb.T (n, out) @ (out, in) -> (n, in)   BP through Wb

    ``clamp()`` clips ``W`` to [-1, 1] in place (BinaryConnect clips after each
    update; Bender.jl's MNIST example after each epoch): beyond that range a
    weight's sign no longer moves and its stochastic draw is already certain.

    ``W`` is drawn Glorot-uniform from ``rng``, ``b`` starts at zero. The
    stochastic variant draws one U[0, 1) array of W's shape from ``noise_rng``
    (a Generator or int seed) on the host at every forward pass, in ``dtype``,
    and copies it to the device: one host draw and one copy per forward.
    """

    feedback_expr = "{d} @ Wb_{l}.T"  # for explain(), with feedback_note
    cache_names = ("x", "Wb")

    def __init__(self, n_in, n_out, *, stochastic=False, rng=None, noise_rng=None,
                 dtype="float32", backend=None):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype, backend=backend)
        self.stochastic = bool(stochastic)
        self.noise_rng = as_rng(noise_rng)

    def binarize(self):
        """The binary weights of this forward pass, Wb (in, out) in {-1, +1}."""
        if self.stochastic:
            u = self.backend.asarray(self.noise_rng.random(self.W.shape, dtype=self.dtype))
            return plus_minus_one(u < hardsigmoid(self.W), self.dtype)  # +1 w.p. hardsigmoid(W)
        return plus_minus_one(self.W >= 0, self.dtype)  # sign(W), sign(0) = +1

    def forward(self, x):
        check_input(self, x)
        self.x = x
        self.Wb = self.binarize()
        z = x @ self.Wb  # (n, in) @ (in, out) -> (n, out)
        z += self.b  # z = x @ Wb + b
        return z

    # grads: Linear's, dW = x.T @ delta and db = sum_n delta; the STE treats
    # dL/dWb as dL/dW.

    def bp_feedback(self, delta):
        return delta @ self.Wb.T  # (n, out) @ (out, in) -> (n, in)

    @property
    def feedback_note(self):
        if self.stochastic:
            return "Wb_{l} = +1 with probability hardsigmoid(W_{l}), else -1, drawn by forward"
        return "Wb_{l} = sign(W_{l}), sign(0) = +1"

    def clamp(self):
        """Clip ``W`` to [-1, 1] in place (``W`` may be a view of the optimizer's array)."""
        self.xp.clip(self.W, -1.0, 1.0, out=self.W)

    def __repr__(self):
        extra = ", stochastic=True" if self.stochastic else ""
        return f"BinaryLinear({self.n_in}, {self.n_out}{extra})"


def _check_float(layer, z):
    if z.dtype.name not in ("float32", "float64"):
        raise InputError(f"{layer!r} expects float32 or float64 input, got {z.dtype.name}")


class SignSTE(Activation):
    """h = sign(z), sign(0) = +1;  delta_z = delta_h * 1[|z| <= 1]   (n, d) -> (n, d).

    The straight-through estimator of Hubara et al. 2016 ("Binarized Neural
    Networks", NeurIPS; BinaryNet): the gradient of hardtanh(z), i.e. identity
    inside [-1, 1] and cancelled outside. ``clip`` sets that bound; ``clip=None``
    passes every delta through unchanged, the plain STE of Bengio et al. 2013
    that Bender.jl's ``sign_STE`` uses.
    """

    cache_names = ("z",)

    def __init__(self, clip=1.0):
        self.clip = None if clip is None else float(clip)

    @property
    def derivative_expr(self):  # for explain()
        return "1" if self.clip is None else f"1[|z_{{l}}| <= {self.clip:g}]"

    def forward(self, z):
        _check_float(self, z)
        self.z = z
        return plus_minus_one(z >= 0, z.dtype)  # (n, d) -> (n, d)

    def backward(self, delta):
        if self.clip is None:
            return delta
        return delta * (get_array_module(self.z).abs(self.z) <= self.clip)  # (n, d) -> (n, d)

    def __repr__(self):
        return "SignSTE()" if self.clip == 1.0 else f"SignSTE(clip={self.clip})"


class StochasticSignSTE(SignSTE):
    """h = +1 with probability hardsigmoid(z) = clip((z + 1) / 2, 0, 1), else -1;
    delta_z = delta_h * 1[|z| <= 1]   (n, d) -> (n, d).

    Stochastic binarization (Courbariaux et al. 2015; Hubara et al. 2016) with
    the same straight-through backward as ``SignSTE`` (``clip`` likewise). One
    U[0, 1) array of z's shape and dtype is drawn from ``noise_rng`` (a
    Generator or int seed) on the host and copied to z's device at every
    forward pass.
    """

    def __init__(self, noise_rng=None, clip=1.0):
        super().__init__(clip)
        self.noise_rng = as_rng(noise_rng)

    def forward(self, z):
        _check_float(self, z)
        self.z = z
        u = backend_of(z).asarray(self.noise_rng.random(z.shape, dtype=z.dtype))  # U[0, 1)
        return plus_minus_one(u < hardsigmoid(z), z.dtype)  # +1 with probability hardsigmoid(z)

    def __repr__(self):
        return "StochasticSignSTE()" if self.clip == 1.0 else \
            f"StochasticSignSTE(clip={self.clip})"


class HardTanh(Activation):
    """h = clip(z, -1, 1), with the adaptive straight-through backward of AdaSTE
    (Le, Høier, Lin & Zach 2022, "AdaSTE: An Adaptive Straight-Through Estimator
    to Train Binary Neural Networks", CVPR; arXiv:2112.02880):

        delta_z = delta_h                     if |z| < 1
                = delta_h * 2 / (1 + |z|)     if |z| >= 1 and delta_h * z > 0
                = 0                           if |z| >= 1 and delta_h * z <= 0
                                                            (n, d) -> (n, d)

    Inside [-1, 1] it is hardtanh's own derivative. In saturation a step that
    would push z further out gets nothing, while one that pulls z back in gets
    the finite-difference slope 2 / (1 + |z|) (from (z, sign z) to (-sign z,
    -sign z)) instead of hardtanh's 0: a "leaky" slope that shrinks the deeper
    z sits. These are the four cases of Bender.jl's ``hardtanh_AdaSTE``
    (its equation comment); there are no hyper-parameters.
    """

    derivative_expr = "adaste'(z_{l})"  # for explain(): the three cases above
    cache_names = ("z",)

    def forward(self, z):
        self.z = z
        return get_array_module(z).clip(z, -1.0, 1.0)  # (n, d) -> (n, d)

    def backward(self, delta):
        xp, z = get_array_module(self.z, delta), self.z
        a = xp.abs(z)
        keep = (a < 1.0) | (delta * z > 0)  # inside, or pulled back inside
        slope = 2.0 / (1.0 + xp.maximum(a, 1.0))  # 1 inside, 2 / (1 + |z|) outside
        return delta * keep * slope  # (n, d) -> (n, d)


class HardSigmoid(Activation):
    """h = clip((z + 1) / 2, 0, 1);  delta_z = delta_h * 0.5 * 1[|z| <= 1]   (n, d) -> (n, d).

    The probability of +1 in stochastic binarization (Courbariaux et al. 2015),
    as an activation with its own (sub)gradient.
    """

    derivative_expr = "0.5 * 1[|z_{l}| <= 1]"
    cache_names = ("z",)

    def forward(self, z):
        self.z = z
        return hardsigmoid(z)  # (n, d) -> (n, d)

    def backward(self, delta):
        return delta * (get_array_module(self.z).abs(self.z) <= 1.0) * 0.5  # (n, d) -> (n, d)


def clamp_weights(model):
    """Call ``clamp()`` on every layer of ``model`` (a Sequential, a list of
    layers, or one layer) that has it; returns how many were clamped."""
    layers = getattr(model, "layers", None)
    if layers is None:
        layers = model if isinstance(model, (list, tuple)) else [model]
    clamped = [layer for layer in layers if callable(getattr(layer, "clamp", None))]
    for layer in clamped:
        layer.clamp()
    return len(clamped)
