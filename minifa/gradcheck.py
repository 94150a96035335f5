"""Gradient checks for any layer or model, built-in or written by a user: the
analytic backward against float64 central differences, as chainer's
``gradient_check`` and torch's ``autograd.gradcheck`` do.

    check_layer(layer, x)       every d<name> after grads(delta), and bp_feedback(delta),
                                against dL/d<name> and dL/dx for L = sum(forward(x) * delta)
    check_feedback(layer, x)    the rule's delta, feedback(delta), against the exact
                                bp_feedback(delta): passes exactly when the rule is BP here
    check_model(model, x, y)    every parameter's gradient of the loss, for a BP model

A disagreement raises ``GradientCheckError``, an AssertionError (pytest reports
a failed test), in one line: the array, its worst entry, the two values and
their relative error. Checks run in float64: float32 central differences are
too coarse to tell a right gradient from a slightly wrong one.
"""

import contextlib

import numpy

from .backend import backend_of
from .errors import GradientCheckError, InputError, MinifaError
from .losses import SoftmaxCrossEntropy
from .optim import move_into
from .seeding import generators


def numerical_grad(f, a, eps=1e-6):
    """d f() / d a by central differences, (f(a + eps) - f(a - eps)) / 2 eps for
    one entry at a time, perturbing ``a`` in place (restored afterwards).
    ``f`` returns a Python float. Returns a host NumPy array of a's shape."""
    grad = numpy.zeros(a.shape)
    for i in numpy.ndindex(*a.shape):
        old = float(a[i])
        a[i] = old + eps
        up = f()
        a[i] = old - eps
        down = f()
        a[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def check_layer(layer, x, *, seed=0, eps=1e-6, rtol=1e-5, atol=1e-8, wrt=None):
    """Check ``layer``'s gradients at input ``x`` (float64) against central differences.

    A random upstream ``delta`` of the output's shape (drawn from ``seed``)
    defines L = sum(forward(x) * delta), whose exact gradients are what
    ``grads(delta)`` must store in ``d<name>`` for every trained array and what
    ``bp_feedback(delta)`` must return for x. ``wrt`` limits the check to some
    of those names (``"x"`` for the input), e.g. ``("x", "b")`` for a binary
    layer whose sign(W) has no gradient. Trained feedback (Kolen-Pollack's B)
    does not enter the forward pass; its ``dB`` is the rule's and is skipped.
    Random generators the layer holds are rewound before every forward pass,
    so a stochastic forward is the same function throughout.
    """
    _check_float64("check_layer", x, [layer])
    names = [n for n in layer.param_names if n not in layer.feedback_names] + ["x"]
    if wrt is not None:
        unknown = sorted(set(wrt) - set(names))
        if unknown:
            raise InputError(f"check_layer: {layer!r} has no trained array {unknown[0]!r} to "
                             f"check; choose among {', '.join(names)}")
        names = [n for n in names if n in wrt]
    x = x.copy()  # perturbed in place below
    with _rewound(layer) as rewind:
        def forward():
            rewind()
            return _call(layer.forward, x, layer, "forward(x)")

        z = forward()
        delta = backend_of(x).asarray(numpy.random.default_rng(seed).standard_normal(z.shape))
        _call(layer.grads, delta, layer, "grads(delta)")
        analytic = {n: _host(getattr(layer, "d" + n)) for n in names if n != "x"}
        analytic["x"] = _host(_call(layer.bp_feedback, delta, layer, "bp_feedback(delta)"))

        def loss():
            return float((forward() * delta).sum())

        for name in names:
            a = x if name == "x" else getattr(layer, name)
            what = "bp_feedback(delta)" if name == "x" else f"d{name}"
            _compare(f"{layer!r} {what}", analytic[name], numerical_grad(loss, a, eps),
                     rtol, atol, "numeric")


def check_feedback(layer, x, *, seed=0, rtol=1e-7, atol=1e-10, e=None, y=None):
    """Check that the rule's delta equals the exact one on ``layer`` at input ``x``.

    Runs what a training step runs, ``forward(x)``, ``grads(delta)``,
    ``update_feedback()`` (which advances a redrawn or mirrored feedback
    once), then compares ``feedback(delta)`` with ``bp_feedback(delta)`` for a
    random ``delta``. This is how a rule shows it is backprop when its
    feedback is set to ``W.T`` (FA with ``B = W.T``), and that a random ``B``
    is not. Layers with direct feedback (DFA, DRTP) send ``signal(e, y) @ B``:
    ``e`` defaults to ``delta`` (the layer taken as the output layer) and ``y``
    to random labels.

    First the trained arrays are moved into new storage, as every optimizer
    moves them, so a feedback that keeps a view of the old ``W`` fails here.
    """
    _check_float64("check_feedback", x, [layer])
    params = layer.parameters()
    if params:
        xp = backend_of(x).xp
        size = sum(p.value.size for p in params)
        try:
            move_into(params, xp.empty(size, dtype=x.dtype), xp.zeros(size, dtype=x.dtype))
        except InputError as exc:
            raise GradientCheckError(f"{layer!r}: {exc}") from None
    z = _call(layer.forward, x.copy(), layer, "forward(x)")
    delta = backend_of(x).asarray(numpy.random.default_rng(seed).standard_normal(z.shape))
    _call(layer.grads, delta, layer, "grads(delta)")
    layer.update_feedback()
    exact = _call(layer.bp_feedback, delta, layer, "bp_feedback(delta)")
    source = delta
    if layer.direct:
        k = getattr(layer, "B", delta).shape[0]
        if e is None and k != delta.shape[1]:
            raise InputError(f"check_feedback: {layer!r} projects a signal of {k} columns, not "
                             f"the {delta.shape[1]} of its output: pass e, an (n, {k}) error")
        e = delta if e is None else e
        if y is None:
            y = backend_of(x).asarray(numpy.random.default_rng(seed + 1).integers(0, k, len(e)))
        source = layer.signal(e, y)
    rule = _call(layer.feedback, source, layer, "feedback(delta)")
    _compare(f"{layer!r} feedback(delta)", _host(rule), _host(exact), rtol, atol, "exact",
             angle=True)


def check_model(model, x, y, loss=None, *, eps=1e-6, rtol=1e-5, atol=1e-8):
    """Check every parameter's gradient of ``loss`` (default softmax
    cross-entropy) on ``(x, y)``, as ``model.backward`` leaves it, against
    central differences. Only backprop delivers the exact gradient: under any
    other rule the hidden layers' gradients differ by design, which
    ``check_feedback`` shows layer by layer.
    """
    if not all(callable(getattr(model, m, None)) for m in ("forward", "backward", "parameters")) \
            or not hasattr(model, "layers"):
        raise InputError(f"check_model needs a model with forward, backward and parameters "
                         f"(a minifa.Sequential), got {type(model).__name__}")
    _check_float64("check_model", x, model.layers)
    loss = loss or SoftmaxCrossEntropy()
    with contextlib.ExitStack() as stack:
        rewinds = [stack.enter_context(_rewound(layer)) for layer in model.layers]

        def value():
            for rewind in rewinds:
                rewind()
            return loss.forward(_call(model.forward, x, model, "forward(x)"), y)

        value()
        model.backward(loss.backward(), y)
        analytic = [(p, _host(p.grad)) for p in model.parameters()]
        for i, (p, grad) in enumerate(analytic):
            numeric = numerical_grad(lambda: float(value()), p.value, eps)
            _compare(f"parameter {i} ({type(p.layer).__name__}.{p.name}) gradient", grad,
                     numeric, rtol, atol, "numeric")


def _check_float64(who, x, layers):
    try:
        backend_of(x)
    except MinifaError:
        raise InputError(f"{who}: x must be an array, got {type(x).__name__}") from None
    for layer in layers:
        if not callable(getattr(layer, "forward", None)):
            raise InputError(f"{who} needs layers with forward(x); {type(layer).__name__} "
                             "has none")
    arrays = [("x", x)] + [(f"{type(p.layer).__name__}.{p.name}", p.value)
                           for layer in layers for p in layer.parameters()]
    for name, a in arrays:
        if a.dtype != numpy.float64:
            raise InputError(f"{who} runs in float64 (float32 central differences cannot "
                             f"resolve a gradient), but {name} is {a.dtype.name}: build the "
                             "layers with dtype='float64' and pass float64 x")


def _call(method, arg, owner, what):
    """``method(arg)``, a user's code: anything but a minifa error becomes one line."""
    try:
        return method(arg)
    except MinifaError:
        raise
    except NotImplementedError as exc:
        raise InputError(f"{owner!r} cannot be checked: {exc}") from None
    except Exception as exc:
        shape = getattr(arg, "shape", None)
        detail = " ".join(str(exc).split())
        raise InputError(f"{owner!r}.{what} failed on an input of shape {shape}: "
                         f"{type(exc).__name__}: {detail}") from None


@contextlib.contextmanager
def _rewound(layer):
    """Yield ``rewind()``, which puts every Generator the layer holds back to its
    state at entry; the states at entry are restored on exit as well."""
    gens = list(generators(layer).values())
    states = [g.bit_generator.state for g in gens]

    def rewind():
        for g, s in zip(gens, states):
            g.bit_generator.state = s

    try:
        yield rewind
    finally:
        rewind()


def _host(a):
    return numpy.array(backend_of(a).to_host(a), dtype=numpy.float64)


def _compare(what, got, want, rtol, atol, want_name, angle=False):
    """Raise GradientCheckError unless |got - want| <= atol + rtol |want| everywhere."""
    if got.shape != want.shape:
        raise GradientCheckError(f"{what} has shape {got.shape}, expected {want.shape}")
    err = numpy.abs(got - want)
    excess = err - (atol + rtol * numpy.abs(want))
    if not (excess > 0).any() and numpy.isfinite(got).all():
        return
    i = numpy.unravel_index(numpy.nanargmax(numpy.where(numpy.isfinite(got), excess, numpy.inf)),
                            got.shape)
    scale = max(abs(got[i]), abs(want[i]), numpy.finfo(float).tiny)
    extra = ""
    if angle:
        cos = (got.ravel() @ want.ravel()) / (numpy.linalg.norm(got) * numpy.linalg.norm(want))
        extra = f"; angle between them {numpy.degrees(numpy.arccos(numpy.clip(cos, -1, 1))):.1f}°"
    index = ", ".join(str(int(k)) for k in i)
    raise GradientCheckError(
        f"{what} disagrees with the {want_name} value: at [{index}] {got[i]:.6g} vs "
        f"{want[i]:.6g} (relative error {err[i] / scale:.2g}; rtol {rtol:g}, atol {atol:g})"
        f"{extra}")
