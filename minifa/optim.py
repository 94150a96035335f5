"""Optimizers: they update ``Parameter.value`` in place from ``Parameter.grad``.

Feedback matrices are not parameters, so no optimizer ever touches them
(a rule that trains its feedback says so itself). Hyper-parameters are Python
floats: a NumPy float64 scalar would upcast every float32 expression it enters.
"""

import math

from .backend import get_array_module
from .errors import InputError
from .fast import adam_step, prepare_adam


class Optimizer:
    """Holds every parameter in one flat array ``w`` and every gradient in one
    flat array ``g``; each layer's ``W`` and ``dW`` become views into them.

    An update is then a few passes over one array instead of a few per
    parameter: on a 784-128-64-10 net that halves Adam's time per step. Layers
    write their gradients in place; one that rebinds ``dW`` instead still
    works (``gather`` copies it in). ``move_into`` says what moving means for
    a layer that keeps views of its own weights. ``state_names`` are the
    arrays a subclass keeps between steps (momentum, moments): checkpoints
    save them.
    """

    state_names = ()

    def __init__(self, params, lr, weight_decay=0.0):
        params = list(params)
        if not params:
            raise InputError("the optimizer got no parameters: pass model.parameters()")
        if len({(id(p.layer), p.name) for p in params}) != len(params):
            raise InputError("a parameter is listed twice: pass model.parameters() once")
        dtypes = {p.value.dtype for p in params}
        if len(dtypes) != 1:
            raise InputError(f"parameters mix dtypes {sorted(d.name for d in dtypes)}: "
                             "build every layer with the same dtype")
        self.xp = xp = get_array_module(*(p.value for p in params))
        self.lr = check_hyper("lr", lr, low=0.0, low_open=True)
        self.weight_decay = weight_decay if callable(weight_decay) else float(weight_decay)
        check_decay(self.lr, self.weight_decay)
        self.t = 0
        self.params = params
        n = sum(p.value.size for p in params)
        self.w = xp.empty(n, dtype=params[0].value.dtype)
        self.g = xp.zeros_like(self.w)
        self.views = move_into(params, self.w, self.g)

    def gather(self):
        """Bring rebound arrays back into the flat storage (normally a no-op)."""
        for p, (w, g) in zip(self.params, self.views):
            if p.value is not w:
                w[...] = p.value
                p.value = w
            if p.grad is not g:
                g[...] = p.grad
                p.grad = g

    def decay(self):
        """Decoupled weight decay (Loshchilov & Hutter 2019): W <- (1 - lr * lambda) W.

        ``weight_decay`` is a float lambda, or a schedule t -> lambda_t such as
        ``WarmupDecay`` (t counts steps from 1)."""
        lam = self.weight_decay
        if callable(lam):
            lam = lam(self.t)
        if lam:
            self.w *= 1.0 - self.lr * lam

    def step(self):
        raise NotImplementedError


def move_into(params, w, g):
    """Make every parameter's value and gradient views of the flat arrays ``w``
    and ``g``, in order, with the same values; returns the ``(value, grad)``
    views. Each layer's ``parameters_moved()`` runs once its arrays have
    moved; an InputError names any other array of the layer still sharing
    memory with a moved one: a view like ``self.Wt = self.W.T`` that would
    silently stop following W from the first update on.
    """
    xp = get_array_module(w)
    views, offset, old = [], 0, {}
    for p in params:
        shape, size = p.value.shape, p.value.size
        value = w[offset:offset + size].reshape(shape)
        grad = g[offset:offset + size].reshape(shape)
        value[...] = p.value
        if p.grad is not None:
            grad[...] = p.grad
        old.setdefault(id(p.layer), (p.layer, []))[1].append((p.name, p.value))
        p.value, p.grad = value, grad
        views.append((value, grad))
        offset += size
    for layer, moved in old.values():
        layer.parameters_moved()
        for attr, a in vars(layer).items():
            for name, before in moved:
                if attr not in (name, "d" + name) and isinstance(a, type(before)) and \
                        xp.may_share_memory(a, before):
                    raise InputError(
                        f"{type(layer).__name__}.{attr} is a view of {name}, which the "
                        f"optimizer has moved into its flat storage, so {attr} would stop "
                        f"following {name}: rebuild it in parameters_moved(), or compute it "
                        "from the current weights when it is used (docs/writing-a-rule.md)")
    return views


class WarmupDecay:
    """Weight decay ``lambda_t = start`` for the first ``steps`` steps, then ``then``.

    A strong decay while the weights are still their random draw removes most
    of that draw, by the factor (1 - lr * start)^steps, before much is learned.
    Kolen-Pollack needs exactly that: the part of ``W - B.T`` that training
    never changes is the random start, and only decay shrinks it (Akrout et
    al. 2019). With Adam 3e-4, start=100 over 75 steps gives e^-2.25 ~ 0.1;
    the factor depends on lr, so a recipe holds for the lr it was measured
    at. docs/learning-rules.md has the measurements.
    """

    def __init__(self, start, steps, then=0.0):
        self.start, self.steps, self.then = float(start), int(steps), float(then)
        if min(self.start, self.then) < 0 or self.steps < 0:
            raise InputError(f"{self!r}: decays and steps must not be negative")

    def __call__(self, t):
        return self.start if t <= self.steps else self.then

    def max(self):
        return max(self.start, self.then) if self.steps else self.then

    def __repr__(self):
        return f"WarmupDecay(start={self.start!r}, steps={self.steps}, then={self.then!r})"


def check_hyper(name, value, low=0.0, high=math.inf, low_open=False, high_open=True):
    """``value`` as a Python float, or InputError unless it is finite and in range
    (``low`` and ``high`` excluded where ``*_open``)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    low_ok = x > low if low_open else x >= low
    high_ok = x < high if high_open else x <= high
    if not (math.isfinite(x) and low_ok and high_ok):
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high == math.inf else f" and {'<' if high_open else '<='} {high:g}"
        raise InputError(f"{name} must be a finite number {lo}{hi}, got {value!r}")
    return x


def check_decay(lr, weight_decay):
    """0 <= lr * lambda < 1, or the decay factor (1 - lr * lambda) flips or zeroes W."""
    if callable(weight_decay):
        if not hasattr(weight_decay, "max"):
            return  # a plain function: its values are its author's to check
        lam = weight_decay.max()
    else:
        lam = weight_decay
    if not math.isfinite(lam) or lam < 0:
        raise InputError(f"weight decay {weight_decay!r} must be a finite number >= 0")
    if lr * lam >= 1.0:
        raise InputError(f"weight decay {weight_decay!r} with learning rate {lr:g} gives the "
                         f"factor 1 - lr * lambda = {1.0 - lr * lam:g}, which flips or zeroes "
                         "the weights: lower the decay (weight_decay, --weight-decay) or the "
                         "learning rate (lr, --lr)")

class SGD(Optimizer):
    """Stochastic gradient descent, with momentum mu if asked:

        u <- mu u + dW                  (mu = 0: u = dW)
        W <- W - lr u

    With ``weight_decay`` lambda, W is first scaled by (1 - lr * lambda).
    """

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = check_hyper("momentum", momentum, high=1.0)
        self.u = self.xp.zeros_like(self.w)
        self.state_names = ("u",)

    def step(self):
        self.gather()
        self.t += 1
        self.decay()
        if self.momentum:
            self.u *= self.momentum
            self.u += self.g  # u = mu u + dW, in place
            self.w -= self.lr * self.u
        else:
            self.w -= self.lr * self.g


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), bias-corrected as in PyTorch and Flux:

        m <- b1 m + (1 - b1) g            v <- b2 v + (1 - b2) g^2
        W <- W - lr * (m / c1) / (sqrt(v / c2) + eps),   c_i = 1 - b_i^t

    ``plain_step`` runs these lines as written (``fast=False``). By default
    ``step`` runs ``minifa.fast.adam_step``, the same update folded into ten
    in-place passes over the flat arrays (one kernel on a GPU, one compiled loop
    with Numba), equal up to rounding; its buffers ``mu``, ``nu`` hold the
    moments scaled by 1 / (1 - b).
    ``weight_decay`` lambda is decoupled, as in AdamW: W <- (1 - lr * lambda) W
    before the step.

    Moments of units that stopped receiving gradient (dead ReLUs) decay
    geometrically into subnormal floats, which run 10-100x slower on CPUs;
    every ``flush_every`` steps they are set to exact zero, where they stay.
    """

    def __init__(self, params, lr=3e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 flush_every=100, fast=True):
        super().__init__(params, lr, weight_decay)
        if len(tuple(betas)) != 2:
            raise InputError(f"betas must be a pair (b1, b2), got {betas!r}")
        self.b1 = check_hyper("betas[0]", betas[0], high=1.0)
        self.b2 = check_hyper("betas[1]", betas[1], high=1.0)
        self.eps = check_hyper("eps", eps, low_open=True)
        self.flush_every = int(check_hyper("flush_every", flush_every))
        self.fast = bool(fast)
        self.state_names = ("mu", "nu") if self.fast else ("m", "v")
        for name in self.state_names:
            setattr(self, name, self.xp.zeros_like(self.w))
        self.s = None  # the folded NumPy passes' scratch, made by the first that runs
        if self.fast:
            prepare_adam(self)  # compiles a fused kernel before the first step

    def step(self):
        self.gather()
        self.t += 1
        self.decay()
        if self.fast:
            adam_step(self)  # plain_step's lines, folded (and fused: Numba, GPU)
        else:
            self.plain_step()
        if self.flush_every and self.t % self.flush_every == 0:
            self.flush_subnormals()

    def plain_step(self):
        b1, b2, g, t = self.b1, self.b2, self.g, self.t
        self.m[...] = b1 * self.m + (1.0 - b1) * g  # first moment
        self.v[...] = b2 * self.v + (1.0 - b2) * g * g  # second moment
        m_hat = self.m / (1.0 - b1**t)  # bias corrections
        v_hat = self.v / (1.0 - b2**t)
        self.w -= self.lr * m_hat / (self.xp.sqrt(v_hat) + self.eps)

    def flush_subnormals(self):
        """Set moments below the dtype's smallest normal number to exact zero."""
        tiny = float(self.xp.finfo(self.w.dtype).tiny)
        for name in self.state_names:
            a = getattr(self, name)
            a *= self.xp.abs(a) >= tiny  # a mask product: no boolean indexing, no sync
