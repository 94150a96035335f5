"""The layer protocol shared by every layer, built-in or written by a user.

docs/writing-a-rule.md walks through it on a rule written from scratch.
"""


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
    """``forward(x)`` maps the layer's input to its output; ``backward(delta)``
    takes the error at the output, stores gradients and returns the error for
    the layer below. ``backward`` is split so that a learning rule is one
    visible method:

        grads(delta)        d<name> of every trained array, from the delta this layer received
        update_feedback()   refresh a feedback that changes every step (redrawn, mirrored)
        feedback(delta)     the delta the rule sends down: FA's delta @ B    (n, out) -> (n, in)
        bp_feedback(delta)  the exact delta dL/dx: BP's delta @ W.T          (n, out) -> (n, in)

    ``feedback`` and ``bp_feedback`` are pure functions of the layer's state,
    so diagnostics and ``minifa.gradcheck`` can call them freely; only
    ``backward`` calls ``update_feedback``.

    Arrays a layer holds, by role:

        param_names     trained: ``layer.<name>`` with gradient ``layer.d<name>``;
                        an optimizer moves them into its flat storage
                        (``parameters_moved`` is then called)
        feedback_names  the backward path alone (B, R): never trained unless
                        also in ``param_names`` (Kolen-Pollack)
        cache_names     what ``forward`` keeps for ``backward`` (x, z, h, ...):
                        recomputed every step, so checkpoints skip them

    A checkpoint saves every other array attribute and every
    ``numpy.random.Generator`` too (a user layer's fixed noise, say), and
    refuses at save time a list or dict holding arrays, which it cannot
    restore. Python numbers and strings are configuration that ``__init__``
    sets; state that changes as training runs belongs in an array.

    Text for ``model.explain()`` (minifa/explain.py), all optional. Equations
    are format strings in {l}, the layer's number (1 = the model's first layer
    with parameters), {d}, the delta it receives, {x}, its input, and {layer};
    each shapes string beside one reads the same names as shapes, plus the
    layer's arrays by name ({W}, {B}; {W.T} is transposed), the output error
    {e} and what ``explain_shapes`` adds:

        grads_expr       (equation, shapes) lines of what grads() computes
        feedback_steps   (equation, shapes) lines feedback() computes first
        feedback_expr    what feedback() sends down, "{d} @ B_{l}"
        feedback_shapes  beside it, "{d} @ {B}"
        feedback_note    one more line, e.g. how B is trained
        derivative_expr  an elementwise layer's factor, "1[z_{l} > 0]"
        backward_expr    a layer that only moves the delta, "{d}.reshape{shape}"
                         ({shape}: its input's)

    A layer with none of them is shown as one line saying so.
    """

    param_names = ()
    feedback_names = ()
    cache_names = ()
    sends_delta = True  # False for a model's first trained layer: no layer below needs its delta
    direct = False  # True: backward(delta, e, y) hears from the output (DFA, DRTP)
    needs_targets = False  # True: its feedback is built from the labels y (DRTP)
    grads_expr = feedback_steps = ()
    feedback_expr = feedback_shapes = feedback_note = derivative_expr = backward_expr = None

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} defines no forward(x)")

    def grads(self, delta):
        """Store the gradients of the trained arrays; layers without any skip it."""

    def update_feedback(self):
        """Refresh the feedback before it is used this step; most rules have none."""

    def feedback(self, delta):
        return self.bp_feedback(delta)

    def bp_feedback(self, delta):
        raise NotImplementedError(f"{type(self).__name__} defines no bp_feedback(delta)")

    def backward(self, delta):
        self.grads(delta)
        self.update_feedback()
        return self.feedback(delta)

    def explain_shapes(self, x, z):
        """Shapes, by name, of the arrays this layer's explain() text names beyond
        its own, for input shape ``x`` and output shape ``z``."""
        return {}

    def parameters(self):
        return [Parameter(self, name) for name in self.param_names]

    def parameters_moved(self):
        """Called by an optimizer once it has moved this layer's trained arrays
        into its flat storage: ``self.W`` is then a new array holding the same
        values. A layer that kept a view of its own weights (``self.Wt =
        self.W.T``) rebuilds it here; an optimizer refuses a view that still
        points at the old array, since it would stop following W."""

    def __call__(self, x):
        return self.forward(x)
