"""Optimizers: they update ``Parameter.value`` in place from ``Parameter.grad``.

Feedback matrices are not parameters, so no optimizer ever touches them
(a rule that trains its feedback says so itself). Hyper-parameters are Python
floats: a NumPy float64 scalar would upcast every float32 expression it enters.
"""

import math
import os
from concurrent.futures import ThreadPoolExecutor

from .backend import backend_of, get_array_module
from .errors import InputError


class Optimizer:
    """Holds every parameter in one flat array ``w`` and every gradient in one
    flat array ``g``; each layer's ``W`` and ``dW`` become views into them.

    An update is then a few passes over one array instead of a few per
    parameter: on a 784-128-64-10 net that halves Adam's time per step. Layers
    write their gradients in place; one that rebinds ``dW`` instead still
    works (``gather`` copies it in).
    """

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
        self.views = []
        offset = 0
        for p in params:
            shape, size = p.value.shape, p.value.size
            w = self.w[offset:offset + size].reshape(shape)
            g = self.g[offset:offset + size].reshape(shape)
            w[...] = p.value
            if p.grad is not None:
                g[...] = p.grad
            p.value, p.grad = w, g
            self.views.append((w, g))
            offset += size

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
    """W <- W - lr * dW; with momentum, u <- mu * u + dW; W <- W - lr * u.
    With ``weight_decay`` lambda, W is first scaled by (1 - lr * lambda)."""

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = check_hyper("momentum", momentum, high=1.0)
        self.u = self.xp.zeros_like(self.w)
        self.s = self.xp.empty_like(self.w)

    def step(self):
        self.gather()
        self.t += 1
        w, g, u, s = self.w, self.g, self.u, self.s
        self.decay()
        if self.momentum:
            u *= self.momentum
            u += g  # u = mu u + dW
            g = u
        w -= self.xp.multiply(g, self.lr, out=s)  # W -= lr * u


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), bias-corrected as in PyTorch and Flux:

        m <- b1 m + (1 - b1) g            v <- b2 v + (1 - b2) g^2
        W <- W - lr * (m / c1) / (sqrt(v / c2) + eps),   c_i = 1 - b_i^t

    The buffers hold ``mu = m / (1 - b1)`` and ``nu = v / (1 - b2)``, so each
    moment update is one scale and one add, and the constants fold into two
    Python floats:

        W <- W - k_t * mu / (sqrt(nu) + eps_t),   r = sqrt(c2 / (1 - b2)),
        k_t = lr (1 - b1) r / c1,                 eps_t = eps r

    which is the same number as the plain form in ten passes instead of
    twelve. ``m`` and ``v`` give the plain moments back. ``weight_decay``
    lambda is decoupled, as in AdamW: W <- (1 - lr * lambda) W before the step.

    Moments of units that stopped receiving gradient (dead ReLUs) decay
    geometrically into subnormal floats, which run 10-100x slower on CPUs;
    every ``flush_every`` steps they are set to exact zero, where they stay.

    On NumPy, a model of at least ``PARALLEL_MIN`` parameters runs the same
    ten passes slice by slice (``CHUNK`` elements, small enough that all ten
    passes stay in cache), the slices shared among the CPU's cores. On 2
    cores, for a 784-2048-1024-10 net (3.7M parameters), that took Adam's
    share of a training step from 19 to 16 ms (on arrays alone, from 14 to
    6.5 ms); below about 0.5M parameters the threads cost more than they
    save. Each element sees the same operations either way, so the result
    is the same to the bit.
    """

    PARALLEL_MIN = 1 << 19
    CHUNK = 1 << 17

    def __init__(self, params, lr=3e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 flush_every=100):
        super().__init__(params, lr, weight_decay)
        if len(tuple(betas)) != 2:
            raise InputError(f"betas must be a pair (b1, b2), got {betas!r}")
        self.b1 = check_hyper("betas[0]", betas[0], high=1.0)
        self.b2 = check_hyper("betas[1]", betas[1], high=1.0)
        self.eps = check_hyper("eps", eps, low_open=True)
        self.flush_every = int(check_hyper("flush_every", flush_every))
        self.mu = self.xp.zeros_like(self.w)
        self.nu = self.xp.zeros_like(self.w)
        self.s = self.xp.empty_like(self.w)
        # On a GPU the ten passes below are ten kernel launches: one fused kernel
        # computes the same three lines (None on NumPy, which runs them as written).
        self.fused = backend_of(self.w).elementwise(
            "T g, T b1, T b2, T k, T eps", "T w, T mu, T nu",
            "mu = b1 * mu + g; nu = b2 * nu + g * g; w -= k * mu / (sqrt(nu) + eps);",
            "minifa_adam")

    @property
    def m(self):
        return (1.0 - self.b1) * self.mu

    @property
    def v(self):
        return (1.0 - self.b2) * self.nu

    def step(self):
        self.gather()
        self.t += 1
        b1, b2 = self.b1, self.b2
        w, g, mu, nu, s = self.w, self.g, self.mu, self.nu, self.s
        c1, c2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        r = math.sqrt(c2 / (1.0 - b2))
        k_t, eps_t = self.lr * (1.0 - b1) * r / c1, self.eps * r
        self.decay()
        if self.fused is not None:
            self.fused(g, b1, b2, k_t, eps_t, w, mu, nu)
        elif self.w.size >= self.PARALLEL_MIN and _workers() > 1:
            self.sliced_step(b1, b2, k_t, eps_t)
        else:
            self.plain_step(w, g, mu, nu, s, b1, b2, k_t, eps_t)
        if self.flush_every and self.t % self.flush_every == 0:
            self.flush_subnormals()

    def plain_step(self, w, g, mu, nu, s, b1, b2, k_t, eps_t):
        """The update as array code; the reference for the fused kernel."""
        xp = self.xp
        # Every pass writes into an existing array: a fresh 400 kB temporary
        # costs page faults that double the step's time.
        mu *= b1
        mu += g  # mu = b1 mu + g
        nu *= b2
        nu += xp.multiply(g, g, out=s)  # nu = b2 nu + g^2
        xp.sqrt(nu, out=s)
        s += eps_t
        xp.divide(mu, s, out=s)
        s *= k_t
        w -= s  # W -= k_t mu / (sqrt(nu) + eps_t)

    def sliced_step(self, b1, b2, k_t, eps_t):
        """``plain_step`` on consecutive slices of CHUNK elements, one share per core."""
        arrays = (self.w, self.g, self.mu, self.nu, self.s)
        slices = [slice(i, i + self.CHUNK) for i in range(0, self.w.size, self.CHUNK)]
        n = _workers()

        def run(share):
            for sl in share:
                self.plain_step(*(a[sl] for a in arrays), b1, b2, k_t, eps_t)

        list(_pool().map(run, [slices[i::n] for i in range(n)]))  # re-raises a worker's error

    def flush_subnormals(self):
        """Set moments below the dtype's smallest normal number to exact zero."""
        tiny = float(self.xp.finfo(self.w.dtype).tiny)
        for a in (self.mu, self.nu):
            a *= self.xp.abs(a) >= tiny  # a mask product: no boolean indexing, no sync


_POOL = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.clear)  # a forked child has none of the threads


def _workers():
    """The cores this process may run on (at most 8)."""
    if hasattr(os, "sched_getaffinity"):
        return min(len(os.sched_getaffinity(0)), 8)
    return min(os.cpu_count() or 1, 8)


def _pool():
    """One thread pool for every optimizer, made on first use (NumPy's
    elementwise loops release the GIL, so the threads run in parallel)."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(_workers(), thread_name_prefix="minifa-adam"))
    return _POOL[0]
