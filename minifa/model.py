"""Sequential models and a builder for the multilayer perceptrons FA is studied on."""

from .backend import get_backend
from .errors import InputError
from .init import check_dtype, streams
from .layers import FALinear, Linear, ReLU


class Sequential:
    """Layers applied in order; ``backward`` walks them in reverse.

    The first layer only computes its gradients: no layer below it needs a
    delta, and under FA that product would cost as much as its forward pass.
    """

    def __init__(self, *layers):
        if not layers:
            raise InputError("Sequential needs at least one layer")
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, delta):
        for layer in reversed(self.layers[1:]):
            delta = layer.backward(delta)
        self.layers[0].grads(delta)

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    @property
    def n_in(self):
        return next(layer.n_in for layer in self.layers if hasattr(layer, "n_in"))

    @property
    def n_out(self):
        return next(layer.n_out for layer in reversed(self.layers) if hasattr(layer, "n_out"))

    @property
    def backend(self):
        return next(layer.backend for layer in self.layers if hasattr(layer, "backend"))

    @property
    def dtype(self):
        return next(layer.dtype for layer in self.layers if hasattr(layer, "dtype"))

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"


RULES = {"bp": Linear, "fa": FALinear}
ACTIVATIONS = {"relu": ReLU}


def mlp(sizes, rule="fa", activation="relu", seed=0, dtype="float32", backend=None):
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` whose every dense
    layer follows ``rule``, with ``activation`` between them (none after the last).

    Weights come from the seed's ``weights`` stream, feedback matrices from its
    ``feedback`` stream.
    """
    if rule not in RULES:
        raise InputError(f"unknown rule {rule!r}: choose one of {', '.join(RULES)}")
    if activation not in ACTIVATIONS:
        raise InputError(
            f"unknown activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}"
        )
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise InputError(f"mlp sizes must be at least two positive widths, got {sizes}")
    rngs = streams(seed)
    kwargs = dict(dtype=check_dtype(dtype), backend=get_backend(backend), rng=rngs.weights)
    if RULES[rule] is not Linear:
        kwargs["feedback_rng"] = rngs.feedback
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(RULES[rule](n_in, n_out, **kwargs))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return Sequential(*layers)
