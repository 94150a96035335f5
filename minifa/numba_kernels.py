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
fast-math, so that tests/test_fast.py finds the same numbers to the bit. The
exception is a small convolution's products (conv_lines_forward,
conv_weight_grad), which a BLAS sums in an order of its own: the loops sum in
theirs, and agree with it to rounding.

The NumPy backend hands them out by name: ``Backend.elementwise`` those that
mirror a CuPy kernel of the same name (Adam, ReLU's backward, softmax
cross-entropy's backward), ``Backend.cpu_loop`` those with no GPU counterpart
(ReLU, softmax cross-entropy's lines around NumPy's exp, a batch's scaled rows,
im2col, col2im, a small convolution's products, 2x2 max pooling). The
loops are serial and release the GIL, so Numba's own threading layer (GNU
OpenMP on Linux, which spins beside the BLAS threads and aborts a forked
child) never starts; a serial loop also ran Adam faster than Numba's parallel
one here, and splitting the weight-gradient loop over two threads made
LeNet's step slower (4.52 -> 4.67 ms). What keeps a loop fast is indices that
are sums of loop counters: the compiler then drops the negative-index checks
and vectorizes. Copies with a stride or window size as a factor in the index
ran slower than NumPy's strided copies, so im2col and col2im at other strides
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
    return jit_with()(f)


def jit_with(**options):
    """``jit`` with Numba's further ``options`` (a loop's fast-math flags)."""
    import numba

    def compile_with(f):
        try:
            return numba.njit(nogil=True, error_model="numpy", cache=True, **options)(f)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(nogil=True, error_model="numpy", **options)(f)

    return compile_with


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


def softmax_ce_backward():
    """``minifa_softmax_ce_backward``: SoftmaxCrossEntropy.backward's lines,
    ``e = p.copy(); e[rows, y] -= 1; e *= 1 / n``, as one loop over the rows of p
    (n, k): each element p times 1 / n, less 1 first at the label's column (a
    negative label counts from the end, as NumPy's indexing does)."""

    @jit
    def loop(p, y, one, inv_n, e):
        n, k = p.shape
        for i in range(n):
            c = y[i] + k if y[i] < 0 else y[i]
            for j in range(k):
                e[i, j] = ((p[i, j] - one) if j == c else p[i, j]) * inv_n

    def kernel(p, y, k, inv_n):
        T = p.dtype.type
        e = numpy.empty(p.shape, dtype=p.dtype)  # C order, as the plain line's p.copy()
        loop(p, y, T(1), T(inv_n), e)
        return e

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


def softmax_shift():
    """SoftmaxCrossEntropy.forward's ``z - z.max(axis=1, keepdims=True)`` into ``out``
    (n, k), and each row's label entry of it into ``z_y`` (n,); False, at once,
    for a row holding a NaN (NumPy's maximum is then a NaN, but which one, sign
    and payload, depends on its SIMD code: the caller runs NumPy's lines). A
    label outside -k..k-1 raises IndexError (a negative one counts from the end)."""

    @jit
    def loop(z, y, out, z_y):
        n, k = z.shape
        for i in range(n):
            m = z[i, 0]
            for j in range(1, k):
                if z[i, j] > m or z[i, j] != z[i, j]:
                    m = z[i, j]
            if m != m:
                return False
            for j in range(k):
                out[i, j] = z[i, j] - m
            if y[i] < -k or y[i] >= k:
                raise IndexError("a label lies outside the outputs")
            z_y[i] = out[i, y[i] + k if y[i] < 0 else y[i]]
        return True

    return loop


PAIRWISE_BLOCK = 128  # NumPy sums up to this many values as one block of eight running sums


def softmax_normalize():
    """SoftmaxCrossEntropy.forward's ``s = p.sum(axis=1); p /= s[:, None]`` for p
    (n, k) of at most PAIRWISE_BLOCK columns (the caller sees to it), each row
    summed as NumPy sums one: up to 8 values one after the other, more in eight
    running sums added as ((0+1)+(2+3))+((4+5)+(6+7)), then the values left
    over the last whole eight, one by one (its pairwise summation, a single
    block of it)."""

    @jit
    def loop(p, s):
        n, k = p.shape
        for i in range(n):
            if k < 8:
                total = p[i, 0]
                for j in range(1, k):
                    total += p[i, j]
            else:
                r0, r1, r2, r3 = p[i, 0], p[i, 1], p[i, 2], p[i, 3]
                r4, r5, r6, r7 = p[i, 4], p[i, 5], p[i, 6], p[i, 7]
                j = 8
                while j + 8 <= k:
                    r0 += p[i, j]
                    r1 += p[i, j + 1]
                    r2 += p[i, j + 2]
                    r3 += p[i, j + 3]
                    r4 += p[i, j + 4]
                    r5 += p[i, j + 5]
                    r6 += p[i, j + 6]
                    r7 += p[i, j + 7]
                    j += 8
                total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
                while j < k:
                    total += p[i, j]
                    j += 1
            s[i] = total
            for j in range(k):
                p[i, j] /= total

    return loop


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
    than NumPy's strided copies (at other strides they stay NumPy)."""

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


def conv_lines_forward():
    """Conv2d.forward's ``z = W_mat @ cols + b`` read off the padded input's lines
    (fast.conv_lines): row k of cols is ``lines[c_k, t + shift_k]``, so

        z[c, t] = (...((0 + W[c, 0] x_0[t]) + W[c, 1] x_1[t]) ...) + b[c],
        x_k[t] = lines[c_k, t + shift_k]                       for every t < T

    each product and sum rounded to the dtype in index order (no fused
    multiply-add, no fast-math): the same bits on every CPU, and the same as
    NumPy adding the rows of cols one by one (tests/test_fast.py). A stretch of
    ``CHUNK`` positions of two rows of z stays in L1 cache while four shifted
    stretches of lines at a time are added in; for an odd c_out the last row's
    partner is a scratch row."""
    CHUNK = 1024

    @jit
    def loop(W, b, lines, shifts, T, zero, scratch, z):
        C, K = W.shape
        for j0 in range(0, T, CHUNK):
            n = min(CHUNK, T - j0)
            for c in range(0, C, 2):
                d = min(c + 1, C - 1)  # the pair's second row (c itself for the last of odd C)
                za = z[c, j0:j0 + n]
                zb = z[d, j0:j0 + n] if d != c else scratch[:n]
                for j in range(n):
                    za[j] = zero
                    zb[j] = zero
                for k in range(0, K - 3, 4):
                    x0 = lines[shifts[k, 0], j0 + shifts[k, 1]:]
                    x1 = lines[shifts[k + 1, 0], j0 + shifts[k + 1, 1]:]
                    x2 = lines[shifts[k + 2, 0], j0 + shifts[k + 2, 1]:]
                    x3 = lines[shifts[k + 3, 0], j0 + shifts[k + 3, 1]:]
                    a0, a1, a2, a3 = W[c, k], W[c, k + 1], W[c, k + 2], W[c, k + 3]
                    b0, b1, b2, b3 = W[d, k], W[d, k + 1], W[d, k + 2], W[d, k + 3]
                    for j in range(n):
                        v0, v1, v2, v3 = x0[j], x1[j], x2[j], x3[j]
                        za[j] = (((za[j] + a0 * v0) + a1 * v1) + a2 * v2) + a3 * v3
                        zb[j] = (((zb[j] + b0 * v0) + b1 * v1) + b2 * v2) + b3 * v3
                for k in range(K - K % 4, K):
                    x, a, bk = lines[shifts[k, 0], j0 + shifts[k, 1]:], W[c, k], W[d, k]
                    for j in range(n):
                        za[j] += a * x[j]
                        zb[j] += bk * x[j]
                ba, bb = b[c], b[d]
                for j in range(n):
                    za[j] += ba
                    zb[j] += bb

    def kernel(W, b, lines, shifts, T, z):
        loop(W, b, lines, shifts, T, z.dtype.type(0), numpy.empty(CHUNK, z.dtype), z)

    return kernel


def conv_weight_grad():
    """Conv2d.grads' ``dW = delta_mat @ cols.T``, (c_out, m) @ (m, K) -> (c_out, K),
    for a small dW and a long m, the shape a BLAS is slowest at (it packs the
    long operands for blocks of the short sides): LeNet's conv 1 on MNIST, (6,
    50176) @ (50176, 25), took 632 us in OpenBLAS's product and 146 in this loop
    (medians, 2 cores). Row k of cols is ``lines[c_k, t + shift_k]``: cols
    itself with shifts (k, 0) and T = m, or the padded input's lines
    (fast.conv_lines), with delta_mat zero at the positions that are no output
    pixel.

    ``dW[c, k] = sum_{t < T} delta_mat[c, t] * lines[c_k, t + shift_k]``, the classic
    register block of a matrix product: a 4 x 4 block of dW is 16 running sums
    over one stretch of ``CHUNK`` positions (which stays in L1 cache), each
    row read once per block, and each stretch's sums added to dW in order.
    Rows past dW's edge repeat its last row and are not written. The sums over
    a stretch run in the order the compiler vectorizes them (``reassoc``), with
    fused multiply-adds (``contract``), so the last bits depend on the CPU, as
    a BLAS's do on its kernels; no other fast-math: NaN and inf propagate (an
    inf or NaN input pixel also meets the zeros placed between the output
    pixels, so dW entries the plain product leaves finite may be NaN)."""
    CHUNK = 1024

    @jit_with(fastmath={"reassoc", "contract"})
    def loop(delta, lines, shifts, T, zero, dW):
        C = delta.shape[0]
        K = shifts.shape[0]
        dW[:] = zero
        for j0 in range(0, T, CHUNK):
            n = min(CHUNK, T - j0)
            for k0 in range(0, K, 4):
                k1, k2, k3 = min(k0 + 1, K - 1), min(k0 + 2, K - 1), min(k0 + 3, K - 1)
                x0 = lines[shifts[k0, 0], j0 + shifts[k0, 1]:]
                x1 = lines[shifts[k1, 0], j0 + shifts[k1, 1]:]
                x2 = lines[shifts[k2, 0], j0 + shifts[k2, 1]:]
                x3 = lines[shifts[k3, 0], j0 + shifts[k3, 1]:]
                for c0 in range(0, C, 4):
                    d0 = delta[c0, j0:]
                    d1 = delta[min(c0 + 1, C - 1), j0:]
                    d2 = delta[min(c0 + 2, C - 1), j0:]
                    d3 = delta[min(c0 + 3, C - 1), j0:]
                    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
                    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
                    for j in range(n):  # row a of the block: delta row a times x0..x3
                        v0, v1, v2, v3 = x0[j], x1[j], x2[j], x3[j]
                        u = d0[j]
                        s00, s01, s02, s03 = s00 + u * v0, s01 + u * v1, s02 + u * v2, s03 + u * v3
                        u = d1[j]
                        s10, s11, s12, s13 = s10 + u * v0, s11 + u * v1, s12 + u * v2, s13 + u * v3
                        u = d2[j]
                        s20, s21, s22, s23 = s20 + u * v0, s21 + u * v1, s22 + u * v2, s23 + u * v3
                        u = d3[j]
                        s30, s31, s32, s33 = s30 + u * v0, s31 + u * v1, s32 + u * v2, s33 + u * v3
                    block = ((s00, s01, s02, s03), (s10, s11, s12, s13),
                             (s20, s21, s22, s23), (s30, s31, s32, s33))
                    for a in range(min(4, C - c0)):
                        for b in range(min(4, K - k0)):
                            dW[c0 + a, k0 + b] += block[a][b]

    def kernel(delta, lines, shifts, T, dW):
        loop(delta, lines, shifts, T, dW.dtype.type(0), dW)

    return kernel


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


LOOPS = {"minifa_adam": adam, "minifa_relu_backward": relu_backward,
         "minifa_softmax_ce_backward": softmax_ce_backward, "relu": relu,
         "softmax_shift": softmax_shift, "softmax_normalize": softmax_normalize,
         "scaled_rows": scaled_rows, "im2col": im2col, "col2im": col2im,
         "conv_lines_forward": conv_lines_forward, "conv_weight_grad": conv_weight_grad,
         "max_pool_2x2": max_pool_2x2,
         "max_pool_2x2_backward": max_pool_2x2_backward}
