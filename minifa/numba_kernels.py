"""Fused CPU loops compiled by Numba, where it is installed: the one module that
knows about Numba, as backend.py is the one that knows about CuPy.

A chain of NumPy operations makes one pass over memory per operation, and a
strided copy pays per row of its innermost axis. On a large array the passes,
not the arithmetic, are the cost: in training steps on a 2-core machine
(medians, the two forms interleaved) Adam took 6.9 ms as ten passes over a
784-2048-1024-10 net's 3.7M weights and 2.3 ms as one loop reading each
element once, 138 against 47 us on a 784-128-64-10 net's 109k. Each loop here
is the plain NumPy lines it replaces, written element by element (the CuPy
kernel's operation string is not compiled here: the loop is written out beside
it): the same operations in the same order, in the arrays' dtype, without
fast-math, so that tests/test_fast.py finds the same numbers to the bit.

The NumPy backend hands them out by name: ``Backend.elementwise`` those that
mirror a CuPy kernel of the same name (Adam, ReLU's backward),
``Backend.cpu_loop`` those with no GPU counterpart (ReLU, a batch's scaled
rows, im2col, col2im, 2x2 max pooling). The loops are serial and release the
GIL, so Numba's own threading layer (GNU OpenMP on Linux, which spins beside
the BLAS threads and aborts a forked child) never starts; a serial loop also
ran Adam faster than Numba's parallel one here. What keeps a loop fast is
indices that are sums of loop counters: the compiler then drops the
negative-index checks and vectorizes. Loops with a stride or window size as a
factor in the index ran slower than NumPy's strided copies, so other strides
stay NumPy.

Optional: ``pip install 'minifa[fast]'``. Without Numba, or with the environment
variable ``MINIFA_NUMBA=0`` (read when a backend first asks for a loop), both
hooks return None and the NumPy lines run; ``Backend.fused = False`` switches
them off at any time. Compiled code is cached beside this module (or in
Numba's user cache folder, $NUMBA_CACHE_DIR); where neither can be written the
loops compile afresh in each process. Unlike NumPy, a compiled loop ignores
``numpy.errstate``: an overflow gives inf without a warning (``minifa.train``'s
guard then stops the run with one error).
"""

import os

import numpy

ENV_VAR = "MINIFA_NUMBA"


def enabled():
    """Whether fused CPU loops are used: Numba importable and $MINIFA_NUMBA not 0."""
    if os.environ.get(ENV_VAR, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def compile_kernel(in_params, out_params, operation, name):
    """The NumPy backend's ``elementwise`` hook: the loop mirroring the CuPy kernel
    ``name``, called as that kernel is (inputs, then outputs; scalars may be
    Python floats), or None."""
    return compile_loop(name)


def compile_loop(name):
    """The loop called ``name`` (compiled on its first call), or None (no Numba,
    switched off, or no loop of that name)."""
    if name not in LOOPS or not enabled():
        return None
    return LOOPS[name]()  # the backend keeps it


def jit(f):
    """Numba's compiler as these loops use it: no Python objects, the GIL released,
    NumPy's error model (a division by zero gives inf instead of a branch that
    keeps the loop from vectorizing), compiled code cached on disk where a cache
    folder can be written."""
    import numba

    try:
        return numba.njit(nogil=True, error_model="numpy", cache=True)(f)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, error_model="numpy")(f)


def version():
    """Numba's version, or None where it is not installed."""
    try:
        import numba
    except ImportError:
        return None
    return numba.__version__


# ------------------------------------------------------------------ mirrors of CuPy kernels


def adam():
    """``minifa_adam``: fast.adam_passes' ten passes as one loop over flat arrays,

        mu <- b1 mu + g        nu <- b2 nu + g^2        W <- W - mu / (sqrt(nu) + eps) * k

    with the scalars cast to the arrays' dtype first, as NumPy computes a float32
    array times a Python float in float32."""

    @jit
    def loop(g, b1, b2, k, eps, w, mu, nu):
        for i in range(w.size):
            mu[i] = b1 * mu[i] + g[i]
            nu[i] = b2 * nu[i] + g[i] * g[i]
            w[i] -= mu[i] / (numpy.sqrt(nu[i]) + eps) * k

    def kernel(g, b1, b2, k, eps, w, mu, nu):
        T = w.dtype.type
        loop(g, T(b1), T(b2), T(k), T(eps), w, mu, nu)

    return kernel


def relu_backward():
    """``minifa_relu_backward``: ReLU.backward's ``delta * 1[z > 0]`` over flat arrays,
    the indicator a 1 or a 0 of the arrays' dtype multiplied in as NumPy
    multiplies the boolean (so a negative delta gives -0.0 and a NaN stays NaN)."""

    @jit
    def loop(delta, z, one, zero, out):
        for i in range(out.size):
            out[i] = delta[i] * (one if z[i] > 0 else zero)

    def kernel(delta, z, out):
        T = out.dtype.type
        loop(delta, z, T(1), T(0), out)

    return kernel


# --------------------------------------------------------------------------- CPU-only loops


def relu():
    """ReLU.forward, ``maximum(z, 0)``, over flat arrays, each element taken as
    NumPy's maximum takes it: z if it is larger than 0 or NaN, else +0 (so
    -0.0 gives +0.0). NumPy's maximum took 100 us on LeNet's conv 1 maps (301k
    floats), four times a copy; this loop 26."""

    @jit
    def loop(z, zero, h):
        for i in range(h.size):
            v = z[i]
            h[i] = v if v > zero or v != v else zero

    def kernel(z, h):
        loop(z, h.dtype.type(0), h)

    return kernel


def scaled_rows():
    """DataLoader's batch ``divide(x[idx], scale, dtype=out.dtype)``: rows ``idx`` of
    integer pixels x, each value divided by ``scale`` in out's dtype, as NumPy
    divides them. Each row index is checked against x once (IndexError past
    either end; a negative one counts from the end, as in NumPy)."""

    @jit
    def loop(x, idx, scale, out):
        n, d = out.shape
        rows = x.shape[0]
        for i in range(n):
            row = idx[i]
            if row < -rows or row >= rows:
                raise IndexError("a batch row index lies outside the data")
            for j in range(d):
                out[i, j] = x[row, j] / scale

    def kernel(x, idx, scale, out):
        loop(x, idx, out.dtype.type(scale), out)

    return kernel


def im2col():
    """Conv2d.im2col at stride 1, from the padded input laid out (c, n, h, w):
    ``cols[c, p, q, i, r, s] = xpad[c, i, p + r, q + s]``. Every index is a sum of
    loop counters, so the compiler drops the negative-index checks and copies
    whole rows; with a stride factor in the index it does not, and ran slower
    than NumPy's strided copies (other strides stay NumPy)."""

    @jit
    def loop(xpad, cols):
        c_in, kh, kw, n, oh, ow = cols.shape
        for c in range(c_in):
            for p in range(kh):
                for q in range(kw):
                    for i in range(n):
                        for r in range(oh):
                            for s in range(ow):
                                cols[c, p, q, i, r, s] = xpad[c, i, p + r, q + s]

    return loop


def col2im():
    """Conv2d.col2im at stride 1, into the padded gradient laid out (c, n, h, w),
    zeros to begin with: ``dxpad[c, i, p + r, q + s] += dcols[c, p, q, i, r, s]``,
    each pixel's sum taken over (p, q) in the plain lines' order. Indices are
    sums of loop counters, as in im2col."""

    @jit
    def loop(dcols, dxpad):
        c_in, kh, kw, n, oh, ow = dcols.shape
        for c in range(c_in):
            for p in range(kh):
                for q in range(kw):
                    for i in range(n):
                        for r in range(oh):
                            for s in range(ow):
                                dxpad[c, i, p + r, q + s] += dcols[c, p, q, i, r, s]

    return loop


def max_pool_2x2():
    """MaxPool2d.forward for 2x2 windows: ``z[a, b, r, s]`` the maximum of
    ``x[a, b, 2r + p, 2s + q]`` over (p, q) in row-major order, each step taken as
    NumPy's ``maximum(m, v)`` takes it: m only if it is larger or NaN, so of two
    equal values (+0.0 and -0.0) the second.
    ``2r`` is written ``r + r``, a sum of loop counters, as in im2col."""

    @jit
    def loop(x, z):
        n0, n1, oh, ow = z.shape
        for a in range(n0):
            for b in range(n1):
                for r in range(oh):
                    for s in range(ow):
                        m = x[a, b, r + r, s + s]
                        v = x[a, b, r + r, s + s + 1]
                        m = m if m > v or m != m else v
                        v = x[a, b, r + r + 1, s + s]
                        m = m if m > v or m != m else v
                        v = x[a, b, r + r + 1, s + s + 1]
                        m = m if m > v or m != m else v
                        z[a, b, r, s] = m

    return loop


def max_pool_2x2_backward():
    """MaxPool2d.bp_feedback for 2x2 windows: ``dx = first * delta`` at each window
    entry, ``first`` true at the first (p, q) in row-major order where ``x == z``;
    the boolean multiplied as NumPy does (so -0.0 and NaN come out alike)."""

    @jit
    def loop(x, z, delta, one, zero, dx):
        n0, n1, oh, ow = z.shape
        for a in range(n0):
            for b in range(n1):
                for r in range(oh):
                    for p in range(2):
                        for s in range(ow):
                            zz, d = z[a, b, r, s], delta[a, b, r, s]
                            free = True  # no maximum yet in this window
                            if p == 1:  # the window's first row came before
                                free = not (x[a, b, r + r, s + s] == zz or
                                            x[a, b, r + r, s + s + 1] == zz)
                            for q in range(2):
                                is_max = x[a, b, r + r + p, s + s + q] == zz
                                first = one if is_max and free else zero
                                dx[a, b, r + r + p, s + s + q] = first * d
                                if is_max:
                                    free = False

    def kernel(x, z, delta, dx):
        T = dx.dtype.type
        loop(x, z, delta, T(1), T(0), dx)

    return kernel


LOOPS = {"minifa_adam": adam, "minifa_relu_backward": relu_backward, "relu": relu,
         "scaled_rows": scaled_rows, "im2col": im2col, "col2im": col2im,
         "max_pool_2x2": max_pool_2x2, "max_pool_2x2_backward": max_pool_2x2_backward}
