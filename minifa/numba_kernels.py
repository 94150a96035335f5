"""Fused CPU loops compiled by Numba, where it is installed: the one module that
knows about Numba, as backend.py is the one that knows about CuPy.

A chain of NumPy operations makes one pass over memory per operation, and a
strided copy pays per row of its innermost axis. On a large array the passes,
not the arithmetic, are the cost: Adam's ten passes over a 784-2048-1024-10
net's 3.7M weights took 8.9 ms where one loop reading each element once took
1.7 ms, and 103 against 30 us on a 784-128-64-10 net's 109k (medians, one
thread, 2-core machine). Each loop here is the plain NumPy line it replaces,
written element by element: the same operations in the same order, in the
arrays' dtype, without fast-math, so that tests/test_fast.py finds the same
numbers to the bit.

The NumPy backend hands them out by name: ``Backend.elementwise`` those that
mirror a CuPy kernel of the same name (Adam), ``Backend.cpu_loop`` those with
no GPU counterpart (col2im). The loops are serial and release the GIL, so
Numba's own threading layer (GNU OpenMP on Linux, which spins beside the BLAS
threads and aborts a forked child) never starts; a serial loop also ran Adam
faster than Numba's parallel one here. Loops for im2col, max pooling and a
batch's gather, written the same way, ran slower than NumPy's strided copies on
LeNet's shapes, so those stay NumPy.

Optional: ``pip install 'minifa[fast]'``. Without Numba, or with the environment
variable ``MINIFA_NUMBA=0``, both hooks return None and the NumPy lines run.
Unlike NumPy, a compiled loop ignores ``numpy.errstate``: an overflow gives inf
without a warning (``minifa.train``'s guard then stops the run with one error).
"""

import os

import numpy

ENV_VAR = "MINIFA_NUMBA"
_COMPILED = {}


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
    """The loop called ``name``, compiled on first use, or None (no Numba,
    switched off, or no loop of that name)."""
    if name not in LOOPS or not enabled():
        return None
    if name not in _COMPILED:
        _COMPILED[name] = LOOPS[name]()
    return _COMPILED[name]


def jit(f):
    """Numba's compiler as these loops use it: no Python objects, the GIL released,
    NumPy's error model (a division by zero gives inf instead of a branch that
    keeps the loop from vectorizing), compiled code cached on disk."""
    import numba

    return numba.njit(nogil=True, error_model="numpy", cache=True)(f)


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


# --------------------------------------------------------------------------- CPU-only loops


def col2im():
    """Conv2d.col2im into dx laid out (c, n, h, w), as the plain lines lay it out:
    ``dx[c, i, p + stride*r, q + stride*s] += dcols[c, p, q, i, r, s]``, summed
    over (p, q) in their order, the padding's share dropped."""

    @jit
    def loop(dcols, stride, pad, dx):
        c_in, kh, kw, n, oh, ow = dcols.shape
        h, w = dx.shape[2], dx.shape[3]
        dx[...] = 0
        for p in range(kh):
            for q in range(kw):
                for c in range(c_in):
                    for i in range(n):
                        for r in range(oh):
                            y = p + stride * r - pad
                            if 0 <= y < h:
                                for s in range(ow):
                                    u = q + stride * s - pad
                                    if 0 <= u < w:
                                        dx[c, i, y, u] += dcols[c, p, q, i, r, s]

    return loop


LOOPS = {"minifa_adam": adam, "col2im": col2im}
