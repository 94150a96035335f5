"""The layer protocol shared by every layer."""


class Parameter:
    """A handle on one trained array of a layer: ``value`` is ``layer.<name>``,
    ``grad`` is ``layer.d<name>``.

    Optimizers update ``value`` in place, so the layer keeps seeing its own
    array, and layers write ``d<name>`` in place each backward pass.
    """

    __slots__ = ("layer", "name")

    def __init__(self, layer, name):
        self.layer = layer
        self.name = name

    @property
    def value(self):
        return getattr(self.layer, self.name)

    @value.setter
    def value(self, array):
        setattr(self.layer, self.name, array)

    @property
    def grad(self):
        return getattr(self.layer, "d" + self.name)

    @grad.setter
    def grad(self, array):
        setattr(self.layer, "d" + self.name, array)

    def __repr__(self):
        return f"Parameter({type(self.layer).__name__}.{self.name}, shape={self.value.shape})"


class Layer:
    """``forward(x)`` maps (n, in) -> (n, out); ``backward(delta)`` takes the
    error at the output, stores gradients and returns the error for the layer
    below.

    ``backward`` is split so each learning rule is one visible change:
    ``grads(delta)`` computes ``dW, db`` from the delta the layer received, and
    ``feedback(delta)`` chooses how that delta travels down (``W.T`` for BP,
    ``B`` for FA). ``bp_feedback`` is always the exact gradient path. Both are
    pure functions of the layer's state, so diagnostics can call them freely;
    a rule whose feedback changes every step (a redrawn or mirrored ``B``)
    does so in ``update_feedback``, which only ``backward`` calls.
    """

    param_names = ()
    sends_delta = True  # False for a model's first trained layer: no layer below needs its delta

    def forward(self, x):
        raise NotImplementedError

    def grads(self, delta):
        """Store the gradients of the trained arrays; layers without any skip it."""

    def update_feedback(self):
        """Refresh the feedback before it is used this step; most rules have none."""

    def feedback(self, delta):
        return self.bp_feedback(delta)

    def bp_feedback(self, delta):
        raise NotImplementedError

    def backward(self, delta):
        self.grads(delta)
        self.update_feedback()
        return self.feedback(delta)

    def parameters(self):
        return [Parameter(self, name) for name in self.param_names]

    def __call__(self, x):
        return self.forward(x)
