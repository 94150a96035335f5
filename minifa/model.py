"""Sequential models and a builder for the multilayer perceptrons FA is studied on."""

from .backend import get_backend
from .errors import InputError
from .init import check_dtype
from .layers import (
    BRSFLinear,
    DFALinear,
    DRTPLinear,
    FALinear,
    FRSFLinear,
    KPLinear,
    Layer,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
    USFLinear,
    WMLinear,
)
from .optim import WarmupDecay
from .seeding import streams
from .summary import summary
from .weights import load_weights, save_weights


class Sequential:
    """Layers applied in order; ``backward`` walks them in reverse.

    The first layer with parameters only computes its gradients: no layer
    below it needs a delta, and under FA that product would cost as much as
    its forward pass (layers before it, like a Reshape, are skipped).

    Layers with direct feedback (DFA, DRTP) are handed the output error ``e``
    (the delta ``backward`` starts from) and the labels ``y`` as well.
    """

    def __init__(self, *layers):
        if not layers:
            raise InputError("Sequential needs at least one layer")
        self.layers = list(layers)
        trained = [i for i, layer in enumerate(self.layers) if layer.param_names]
        self.first_trained = trained[0] if trained else len(self.layers)
        if trained:
            self.layers[trained[0]].sends_delta = False
        self.rule = None  # set by mlp(); checkpoints record it

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, delta, y=None):
        """Walk down from ``delta``, the error at the output (e / n), with labels ``y``."""
        if y is None and any(layer.needs_targets for layer in self.layers):
            names = sorted({type(la).__name__ for la in self.layers if la.needs_targets})
            raise InputError(f"{', '.join(names)} learns from the labels: call "
                             "model.backward(delta, y) with the minibatch's labels y")
        e = delta
        first = self.first_trained
        for layer in reversed(self.layers[first + 1:]):
            delta = layer.backward(delta, e, y) if layer.direct else layer.backward(delta)
        if first < len(self.layers):
            self.layers[first].grads(delta)

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def explain(self, batch_size=64, file=None, loss=None):
        """Print the backward equations this model's rule applies, with shapes."""
        from .explain import explain

        print("\n".join(explain(self, batch_size, loss)), file=file)

    def summary(self):
        """The layers as a table (output shape, trained values, feedback values per
        layer), the rule, dtype and backend, and the totals, as a string to print."""
        return summary(self)

    def predict(self, x, batch_size=1000, scale=None):
        """Class labels ``z.argmax(axis=1)`` (n,) int64 of the rows ``x`` (n, n_in),
        ``batch_size`` rows at a time, on the model's backend. Integer pixels
        are divided by ``scale`` per batch (``ds.scale``), as a DataLoader does."""
        backend = self.backend
        x = x if backend.owns(x) else backend.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise InputError(f"predict: x must be (samples, {self.n_in}), got {tuple(x.shape)}")
        if (scale is not None) != (x.dtype.kind != "f"):
            raise InputError(f"predict: x is {x.dtype.name}; give scale= (e.g. 255, or the "
                             "dataset's scale) exactly when x holds integer pixels")
        if int(batch_size) < 1:
            raise InputError(f"predict: batch_size must be at least 1, got {batch_size}")
        xp, bs = backend.xp, int(batch_size)
        labels = xp.empty(x.shape[0], dtype=xp.int64)
        for i in range(0, x.shape[0], bs):
            xb = x[i:i + bs]
            xb = xb.astype(self.dtype, copy=False) if scale is None else \
                xp.divide(xb, float(scale), dtype=self.dtype)
            labels[i:i + bs] = self.forward(xb).argmax(axis=1)
        return labels

    def save(self, path):
        """Write the weights and feedback (no training state) to ``path`` (.npz),
        atomically; ``load_weights`` reads them into a model built alike."""
        save_weights(self, path)

    def load_weights(self, path):
        """Copy the weights and feedback saved at ``path`` into this model."""
        return load_weights(self, path)

    @property
    def n_in(self):
        return self._first("n_in", self.layers)

    @property
    def n_out(self):
        return self._first("n_out", reversed(self.layers))

    @property
    def backend(self):
        return self._first("backend", self.layers)

    @property
    def dtype(self):
        return self._first("dtype", self.layers)

    def _first(self, name, layers):
        for layer in layers:
            if hasattr(layer, name):
                return getattr(layer, name)
        raise InputError(f"no layer of this Sequential has {name!r}: start a conv net with "
                         "Reshape and end every model with a dense layer")

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"


def _rule_layers(rule, n_classes, rngs, **common):
    """A factory ``make(n_in, n_out)`` for the dense layers of ``rule``."""
    feedback = dict(common, feedback_rng=rngs.feedback)
    noise = dict(common, noise_rng=rngs.noise)
    return {
        "bp": lambda i, o: Linear(i, o, **common),
        "fa": lambda i, o: FALinear(i, o, **feedback),
        "dfa": lambda i, o: DFALinear(i, o, n_classes, **feedback),
        "drtp": lambda i, o: DRTPLinear(i, o, n_classes, **feedback),
        "usf": lambda i, o: USFLinear(i, o, **common),
        "frsf": lambda i, o: FRSFLinear(i, o, **feedback),
        "brsf": lambda i, o: BRSFLinear(i, o, **noise),
        "kp": lambda i, o: KPLinear(i, o, **feedback),
        "wm": lambda i, o: WMLinear(i, o, **feedback, noise_rng=rngs.noise),
    }[rule]


RULES = {
    "bp": "backpropagation: delta @ W.T",
    "fa": "feedback alignment (Lillicrap et al. 2016): delta @ B, B fixed random",
    "dfa": "direct feedback alignment (Nokland 2016): e @ B_l from the output error",
    "usf": "uniform sign-concordant feedback (Liao et al. 2016): sign(W).T * std(W)",
    "brsf": "batchwise random-magnitude sign-concordant feedback: |R_t| * sign(W).T",
    "frsf": "fixed random-magnitude sign-concordant feedback: |R| * sign(W).T",
    "kp": "Kolen-Pollack (Akrout et al. 2019): B trained with W's update transposed",
    "wm": "weight mirror (Akrout et al. 2019): B learns W.T from noise",
    "drtp": "direct random target projection (Frenkel et al. 2021): y* @ B_l",
}
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}
# The decay each rule trains with: Kolen-Pollack's recipe (KPLinear says why);
# the other rules train without one, as the reference run does.
WEIGHT_DECAY = {"kp": WarmupDecay(**KPLinear.decay_recipe)}


def _activation_class(activation):
    """A Layer class from a name in ACTIVATIONS or the class itself."""
    if isinstance(activation, type) and issubclass(activation, Layer):
        return activation
    if isinstance(activation, Layer):
        raise InputError(f"activation={activation!r} is a layer instance, which every hidden "
                         f"layer would share: pass the class, {type(activation).__name__}")
    if activation not in ACTIVATIONS:
        raise InputError(f"unknown activation {activation!r}: choose one of "
                         f"{', '.join(ACTIVATIONS)}, or pass a Layer class")
    return ACTIVATIONS[activation]


def mlp(sizes, rule="fa", activation="relu", seed=0, dtype="float32", backend=None):
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` whose every dense
    layer follows ``rule`` (a key of ``RULES``), with ``activation`` between
    them (none after the last): a name in ``ACTIVATIONS`` or a ``Layer``
    class, of which each position gets its own instance.

    Weights come from the seed's ``weights`` stream, feedback matrices from its
    ``feedback`` stream and per-step noise from its ``noise`` stream, so every
    rule starts from the same forward weights for the same seed.
    """
    if rule not in RULES:
        raise InputError(f"unknown rule {rule!r}: choose one of {', '.join(RULES)}")
    activation = _activation_class(activation)
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise InputError(f"mlp sizes must be at least two positive widths, got {sizes}")
    rngs = streams(seed)
    make = _rule_layers(rule, sizes[-1], rngs, rng=rngs.weights, dtype=check_dtype(dtype),
                        backend=get_backend(backend))
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(make(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    model = Sequential(*layers)
    model.rule = rule
    return model
