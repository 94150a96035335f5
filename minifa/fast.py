"""Fast paths: the fused, folded and sliced forms of equations written plainly elsewhere.

Every function here computes the numbers of one plain equation, named in its
docstring, and tests/test_fast.py checks that they agree: to the bit, but for
a small convolution's products, which a BLAS and the loops each sum in an
order of their own (to rounding). The layers, losses
and optimizers read as their equations and call in here for speed alone:

    relu                  ReLU.forward            maximum(z, 0)                one CPU loop (Numba)
    relu_backward         ReLU.backward           delta * 1[z > 0]             one kernel (GPU,
                                                                               Numba)
    scaled_rows           DataLoader.features     x[idx] / scale               one CPU loop (Numba)
    softmax_cross_entropy SoftmaxCrossEntropy     mean(logsumexp(z) - z_y),    two CPU loops around
                                                  softmax(z)                   NumPy's exp and log
                                                                               (Numba)
    softmax_ce_backward   SoftmaxCrossEntropy     (softmax(z) - onehot(y)) / n one kernel (GPU,
                                                                               Numba)
    adam_step             Adam.plain_step         textbook Adam                ten in-place passes,
                                                                               or one kernel (GPU,
                                                                               Numba); slices on
                                                                               several cores
                                                                               without one
    conv_lines,           Conv2d.forward          cols = im2col(x),            CPU loops that read
    conv_forward                                  W_mat @ cols + b             cols off the padded
                                                                               input (Numba, stride
                                                                               1, a small W)
    conv_weight_grad      Conv2d.grads            delta_mat @ cols.T           the same, or one
                                                                               loop on cols (a
                                                                               small W), else its
                                                                               transpose
    im2col                Conv2d.im2col           kh*kw strided copies         one CPU loop (Numba,
                                                                               stride 1)
    col2im                Conv2d.col2im           kh*kw strided sums           one CPU loop (Numba,
                                                                               stride 1)
    max_pool(_backward)   MaxPool2d               k*k strided maxima, masks    one CPU loop (Numba,
                                                                               2x2 windows)

A kernel comes from the backend's ``elementwise`` hook: CuPy's
``ElementwiseKernel`` on a GPU, the Numba loop of the same name on NumPy where
Numba is installed (minifa.numba_kernels, ``pip install 'minifa[fast]'``). A
CPU loop with no GPU counterpart comes from the ``cpu_loop`` hook. Where a hook
gives None (no such kernel, no Numba, or the backend's ``fused`` switched off)
the plain lines run as written; Adam's folded passes run on every backend.
"""

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy

from . import threads
from .backend import backend_of
from .numba_kernels import PAIRWISE_BLOCK

# --------------------------------------------------------------------------- layers and loss


FLOATS = (numpy.float32, numpy.float64)  # the dtypes a model computes in, and its loops


def relu(z):
    """``ReLU.forward``'s ``maximum(z, 0)`` as one CPU loop (Numba), or None where
    there is none (on a GPU, CuPy's maximum is already one kernel). h keeps z's
    layout (a conv's maps lie channel by channel)."""
    loop = backend_of(z).cpu_loop("relu")
    if loop is None or z.dtype not in FLOATS:  # other dtypes: NumPy's maximum
        return None
    h = numpy.empty_like(z)  # z's layout
    flat = in_memory_order(z, h)
    if flat is None:
        return None
    loop(*flat)
    return h


def relu_backward(delta, z):
    """``delta * (z > 0)`` as one kernel, the boolean multiplied in as the plain line
    does: CuPy's on a GPU, a Numba loop on NumPy (LeNet's conv 1 maps, medians:
    75 -> 38 us), or None where there is neither."""
    backend = backend_of(delta)
    kernel = backend.elementwise(
        "T delta, T z", "T out", "out = delta * (z > 0 ? (T)1 : (T)0);", "minifa_relu_backward")
    if kernel is None or delta.dtype != z.dtype or z.dtype not in FLOATS:  # the line's casts
        return None
    if backend.xp is not numpy:
        return kernel(delta, z)  # CuPy's kernel walks any strides and broadcasts
    out = numpy.empty_like(z)  # z's layout
    flat = in_memory_order(delta, z, out)
    if flat is None:  # delta laid out otherwise: the plain line
        return None
    kernel(*flat)
    return out


def scaled_rows(x, idx, scale, dtype):
    """``DataLoader.features(x[idx])``, ``divide(x[idx], scale, dtype=dtype)``, as one
    CPU loop (Numba) for uint8 pixels x (n, d) and a shuffled batch's rows idx,
    or None where there is none. A row index outside x raises IndexError, as
    NumPy's indexing does (negative ones count from the end). A batch of 64 of
    MNIST's 60,000 rows, medians of a loader's batches: 19.5 -> 14.9 us (reading
    the scattered rows stays)."""
    loop = backend_of(x).cpu_loop("scaled_rows")
    if loop is None or type(x) is not numpy.ndarray or type(idx) is not numpy.ndarray \
            or x.dtype != numpy.uint8 or x.ndim != 2 or not x.flags.c_contiguous \
            or dtype not in FLOATS or idx.dtype != numpy.intp or idx.ndim != 1:
        return None
    out = numpy.empty((idx.shape[0], x.shape[1]), dtype=dtype)
    loop(x, idx, scale, out)
    return out


def in_memory_order(*arrays):
    """The NumPy arrays as 1-D views, each element where it lies in memory, if they
    all have the same shape, dtype and strides and fill their memory without gaps
    (C order, or a transposed view of it, like a conv's channel-by-channel maps);
    else None (subclasses such as masked arrays and 0-d arrays included). An
    elementwise loop over these views is the loop over the arrays."""
    a = arrays[0]
    shape, dtype, strides = a.shape, a.dtype, a.strides
    for b in arrays:
        if type(b) is not numpy.ndarray or b.shape != shape or b.dtype != dtype \
                or b.strides != strides:
            return None
    if a.ndim == 0:  # NumPy's ufuncs give a scalar there
        return None
    if not a.flags.c_contiguous:
        axes = sorted(range(a.ndim), key=lambda d: -a.strides[d])  # outermost first
        arrays = [b.transpose(axes) for b in arrays]
        if not arrays[0].flags.c_contiguous:
            return None
    return [b.reshape(-1) for b in arrays]


def softmax_cross_entropy(z, y):
    """``SoftmaxCrossEntropy.forward``'s lines for logits z (n, k) and labels y (n,),

        p = softmax(z),   L = mean_n( log sum_k exp(z_nk - m_n) - (z_ny - m_n) ),  m_n = max_k z_nk

    as two CPU loops (Numba) around NumPy's own exp and log, so the same bits:
    returns ``(L, p)``, or None where the NumPy lines run instead: no loops, z not
    a C-ordered float32/float64 array of at most numba_kernels.PAIRWISE_BLOCK
    columns (NumPy sums other rows in another order), labels not native signed
    integers, or a row whose maximum is NaN (which NaN NumPy's maximum keeps
    depends on its SIMD code). A label outside the outputs raises IndexError, as
    the plain line's indexing does; an overflow in ``z - m`` gives inf without
    NumPy's warning. On the reference MLP's (64, 10) logits, medians, forward
    and backward took 16 -> 8 us: the plain lines' time is NumPy's start-up per
    line, not their arithmetic."""
    backend = backend_of(z)
    shift, normalize = backend.cpu_loop("softmax_shift"), backend.cpu_loop("softmax_normalize")
    if shift is None or type(z) is not numpy.ndarray or type(y) is not numpy.ndarray \
            or z.dtype not in FLOATS or not signed_labels(y) or z.ndim != 2 or y.ndim != 1 \
            or z.shape[0] != y.shape[0] or not 0 < z.shape[1] <= PAIRWISE_BLOCK \
            or not z.flags.c_contiguous:
        return None
    n = z.shape[0]
    p, z_y, s = numpy.empty_like(z), numpy.empty(n, z.dtype), numpy.empty(n, z.dtype)
    if not shift(z, y, p, z_y):  # p = z - z.max(axis=1, keepdims=True); z_y = p[rows, y]
        return None  # a NaN maximum
    numpy.exp(p, out=p)
    normalize(p, s)  # s = p.sum(axis=1); p /= s[:, None]
    return ((numpy.log(s) - z_y) * (1.0 / n)).sum(), p


def signed_labels(y):
    """Whether labels y are signed integers in the machine's byte order, as the
    compiled loops take them."""
    return y.dtype.kind == "i" and y.dtype.isnative


def softmax_ce_backward(p, y):
    """``(p - onehot(y)) / n`` for softmax probabilities p (n, k) as one kernel:
    CuPy's on a GPU, a Numba loop on NumPy (signed integer labels), or None
    where there is neither."""
    kernel = backend_of(p).elementwise(
        "T p, raw I y, int32 k, T inv_n", "T e",
        "e = (p - (i % k == y[i / k] ? (T)1 : (T)0)) * inv_n;", "minifa_softmax_ce_backward")
    if kernel is None or p.ndim != 2:
        return None
    if type(p) is numpy.ndarray and (type(y) is not numpy.ndarray or not signed_labels(y)
                                     or p.dtype not in FLOATS or y.shape != p.shape[:1]):
        return None
    n, k = p.shape
    return kernel(p, y, k, 1.0 / n)


def conv_lines(conv, x):
    """Conv2d's input for the loops that need no cols, or None where they do not
    run (a stride other than 1, a filter bank of more than ``LOOP_MAX_W``
    entries, no Numba, not a float32/float64 ndarray, an empty batch): x padded
    and laid out channel by channel, image after image, as ``lines`` (c_in,
    n*H*W) with (H, W) the padded image's size. Pixel (i, y, x) of channel c
    sits at t = i*H*W + y*W + x on line c, output pixel (i, r, s) at
    t = i*H*W + r*W + s, and the input under its kernel offset (p, q) p*W + q
    further on. So row k = (c, p, q) of cols is line c shifted, and
    ``line_shifts`` (K, 2) holds (c, p*W + q) for each k:

        cols[k, (i, r, s)] = lines[c_k, t + shift_k]     "implicit im2col"

    The loops compute on every position t < T (one past the last output pixel;
    the kernel at T - 1 reaches the last padded pixel, n*H*W - 1), and keep
    the output pixels: T/m = 1.31 times the products for LeNet's conv 1, but no
    cols (25 times its input) to write and read twice. LeNet's training step on
    MNIST, 2 cores, the two forms interleaved: 3.96 -> 2.83 ms."""
    if conv.stride != 1 or conv.W.size > LOOP_MAX_W or x.shape[0] == 0 \
            or not same_floats(x, conv.W, conv.b) or line_loops(backend_of(x)) is None:
        return None
    # (n, c, H, W) -> (c, n, H, W), a copy unless c is 1 -> (c, n*H*W)
    return numpy.ascontiguousarray(conv.pad(x).transpose(1, 0, 2, 3)).reshape(x.shape[1], -1)


LINE_LOOPS = ("conv_lines_forward", "conv_weight_grad")


def line_loops(backend):
    """The loops of LINE_LOOPS from ``backend``, or None unless it has every one."""
    loops = [backend.cpu_loop(name) for name in LINE_LOOPS]
    return None if any(loop is None for loop in loops) else loops


@functools.lru_cache(maxsize=64)
def line_shifts(c_in, kh, kw, width):
    """(K, 2) intp, row k = (c, p, q) of cols as (c, p*width + q): its line and shift."""
    k = numpy.arange(c_in * kh * kw)
    c, pq = numpy.divmod(k, kh * kw)
    p, q = numpy.divmod(pq, kw)
    shifts = numpy.stack([c, p * width + q], axis=1).astype(numpy.intp)
    shifts.flags.writeable = False
    return shifts


def lines_geometry(conv):
    """(H, W, T) for conv's lines: the padded image's size, and the number of
    positions the loops compute, one past the last output pixel's."""
    n, _, h, w = conv.x_shape
    H, W = h + 2 * conv.padding, w + 2 * conv.padding
    return H, W, (n - 1) * H * W + (conv.oh - 1) * W + conv.ow


def output_pixels(a, conv):
    """The output pixels' positions of ``a`` (c_out, n*H*W), one value per position
    on the lines: each image's first oh rows and ow columns, (c_out, n, oh, ow),
    a view."""
    H, W, _ = lines_geometry(conv)
    return a.reshape(conv.c_out, conv.x_shape[0], H, W)[:, :, :conv.oh, :conv.ow]


def lines_input(conv):
    """x as forward saw it, (n, c_in, h, w): a view of conv's lines."""
    n, c, h, w = conv.x_shape
    pad = conv.padding
    xpad = conv.lines.reshape(c, n, h + 2 * pad, w + 2 * pad)
    return xpad[:, :, pad:pad + h, pad:pad + w].transpose(1, 0, 2, 3)


def conv_forward(conv, lines):
    """``Conv2d.forward``'s ``z = W_mat @ cols + b[:, None]`` read off ``lines``
    (conv_lines) in one compiled loop (minifa.numba_kernels.conv_lines_forward),
    which sums each z[c, j] over k in index order, then the output pixels kept:
    (c_out, n, oh, ow). Its last bits differ from the BLAS product's (float32
    rounding, tested)."""
    forward, _ = line_loops(backend_of(lines))
    _, W, T = lines_geometry(conv)
    z = numpy.empty((conv.c_out, lines.shape[1]), dtype=lines.dtype)  # the loop fills t < T
    W_mat = numpy.ascontiguousarray(conv.W.reshape(conv.c_out, -1))
    forward(W_mat, conv.b, lines, line_shifts(conv.c_in, conv.kh, conv.kw, W), T, z)
    return numpy.ascontiguousarray(output_pixels(z, conv))  # (c_out, n, oh, ow)


def conv_weight_grad(conv, delta_mat):
    """``Conv2d.grads``' ``dW = delta_mat @ cols.T``, (c_out, m) @ (m, K) -> (c_out,
    K). Where forward kept the lines (conv_lines), one compiled loop reads cols
    off them, with delta placed at the output pixels' positions and zero
    between (if the loops were switched off since, cols is built from the
    lines, the plain way). Where it kept cols and dW is small (at most
    ``LOOP_MAX_W`` entries), the same loop reads cols
    (minifa.numba_kernels.conv_weight_grad): a BLAS is slowest at a tiny result
    summed over a long m (LeNet on MNIST, medians, 2 cores: conv 1's weight
    gradient 632 -> 146 us; CIFAR-10's 2121 -> 1003). The loop's sums run in
    its own order, so the last bits differ from the product's (float32
    rounding, tested). Otherwise ``(cols @ delta_mat.T).T``, the same product
    laid out the other way, which OpenBLAS runs faster (conv 1's 785 -> 632 us,
    conv 2's 422 -> 226) in the BLAS's order either way: the same bits on one
    machine."""
    cols = conv.cols
    if conv.lines is not None:
        loops = line_loops(backend_of(conv.lines))
        if loops is None:  # switched off since forward
            cols = conv.im2col(lines_input(conv))
        else:
            _, loop = loops
            _, W, T = lines_geometry(conv)
            placed = numpy.zeros((conv.c_out, conv.lines.shape[1]), dtype=conv.lines.dtype)
            # delta at the output pixels' positions, zero between
            output_pixels(placed, conv)[...] = delta_mat.reshape(
                conv.c_out, conv.x_shape[0], conv.oh, conv.ow)
            dW = numpy.empty((conv.c_out, conv.W[0].size), dtype=conv.lines.dtype)
            loop(placed, conv.lines, line_shifts(conv.c_in, conv.kh, conv.kw, W), T, dW)
            return dW
    loop = backend_of(cols).cpu_loop("conv_weight_grad") if conv.W.size <= LOOP_MAX_W else None
    if loop is not None and same_floats(delta_mat, cols) \
            and delta_mat.shape == (conv.c_out, cols.shape[1]) \
            and delta_mat.flags.c_contiguous and cols.flags.c_contiguous:
        dW = numpy.empty((conv.c_out, cols.shape[0]), dtype=cols.dtype)
        # cols as lines itself: the lines of a 1 x 1 kernel over K channels, row k unshifted
        loop(delta_mat, cols, line_shifts(cols.shape[0], 1, 1, 0), cols.shape[1], dW)
        return dW
    return (cols @ delta_mat.T).T  # (K, m) @ (m, c_out) -> (K, c_out) -> (c_out, K)


def same_floats(*arrays):
    """Whether the arrays are all NumPy ndarrays (no subclass) of one dtype in FLOATS."""
    dtype = arrays[0].dtype
    return dtype in FLOATS and all(type(a) is numpy.ndarray and a.dtype == dtype for a in arrays)


# Filter-bank entries (c_out * c_in * kh * kw) up to which the loops beat OpenBLAS: LeNet's
# conv 1 (6 x 25) and CIFAR-10's (6 x 75) gained; LeNet's conv 2 (16 x 150), whose lines
# hold twice its output pixels, gained nothing from the weight-gradient loop on cols
LOOP_MAX_W = 1024


def im2col(conv, x):
    """``Conv2d.im2col(x)`` at stride 1 as one compiled CPU loop over the padded
    input instead of kh*kw strided copies, or None where there is none (other
    strides included). LeNet, 2-core machine, medians: conv 1's 364 -> 262 us,
    conv 2's 677 -> 300 us."""
    loop = None if conv.stride != 1 else backend_of(x).cpu_loop("im2col")
    if loop is None or x.shape != conv.x_shape:  # the loop trusts the shapes forward set
        return None
    n, c = x.shape[:2]
    cols = numpy.empty((c, conv.kh, conv.kw, n, conv.oh, conv.ow), dtype=x.dtype)
    loop(conv.pad(x).transpose(1, 0, 2, 3), cols)  # (c, n, h+2*padding, w+2*padding)
    return cols.reshape(c * conv.kh * conv.kw, n * conv.oh * conv.ow)  # (K, m)


def col2im(conv, dcols):
    """``Conv2d.col2im(dcols)`` at stride 1 as one compiled CPU loop, each pixel's
    sum in the plain lines' order, or None where there is none (other strides
    included). The kh*kw strided sums pay per row of ow pixels; the loop does
    not: LeNet's conv 2 (6 -> 16 channels, 5x5, 14x14 maps, batch 64) took 205
    against 887 us (medians, 2-core machine)."""
    loop = None if conv.stride != 1 else backend_of(dcols).cpu_loop("col2im")
    if loop is None:
        return None
    n, c, h, w = conv.x_shape
    pad = conv.padding
    dx = numpy.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    loop(dcols.reshape(c, conv.kh, conv.kw, n, conv.oh, conv.ow), dx)
    dx = dx[:, :, pad:pad + h, pad:pad + w]  # drop the padding's gradient
    return dx.transpose(1, 0, 2, 3)  # (c, n, h, w) -> (n, c, h, w), as the plain lines


def max_pool(x, k):
    """``MaxPool2d.forward``'s maximum over each 2x2 window as one compiled CPU
    loop, or None where there is none (other windows included). Maps laid out
    image by image or channel by channel (a conv's) keep their layout in z.
    LeNet's two pools, medians: 163 -> 75 and 107 -> 36 us."""
    loop = None if k != 2 else backend_of(x).cpu_loop("max_pool_2x2")
    if loop is None:
        return None
    swap = channel_major(x)
    xs = walk_order(x, swap)
    a, b, h, w = xs.shape
    z = numpy.empty((a, b, h // 2, w // 2), dtype=x.dtype)
    loop(xs, z)
    return walk_order(z, swap)


def max_pool_backward(x, z, delta, k):
    """``MaxPool2d.bp_feedback``, delta to each 2x2 window's first maximum, as one
    compiled CPU loop, or None where there is none; dx keeps x's layout (image by
    image or channel by channel). LeNet's two pools, medians: 425 -> 285 and
    263 -> 127 us."""
    loop = None if k != 2 else backend_of(x).cpu_loop("max_pool_2x2_backward")
    if loop is None or delta.shape != z.shape:  # the loop trusts the shapes
        return None
    swap = channel_major(x)
    # a delta laid out otherwise than x (after a Flatten) is copied: the loop reads it
    # in one pass, where strided reads cost more than the copy (LeNet's pool 2)
    views = [numpy.ascontiguousarray(walk_order(a, swap)) for a in (x, z, delta)]
    dx = numpy.empty(views[0].shape, dtype=delta.dtype)
    loop(*views, dx)
    return walk_order(dx, swap)


def channel_major(x):
    """Whether maps (n, c, h, w) lie in memory channel by channel, as a conv's do:
    a loop over (c, n, h, w) then walks them straight through."""
    return x.strides[1] > x.strides[0]


def walk_order(a, swap):
    """``a`` (n, c, h, w) as the (c, n, h, w) view where ``swap``, else as it is;
    applied twice, the identity (back to (n, c, h, w))."""
    return a.transpose(1, 0, 2, 3) if swap else a


# --------------------------------------------------------------------------- Adam


def adam_step(opt):
    """``Adam.plain_step``'s update, folded. The buffers hold the moments scaled,
    ``mu = m / (1 - b1)`` and ``nu = v / (1 - b2)``, so each moment update is one
    scale and one add, and the constants fold into two Python floats:

        mu <- b1 mu + g                   nu <- b2 nu + g^2
        W <- W - k_t * mu / (sqrt(nu) + eps_t),   r = sqrt(c2 / (1 - b2)),
        k_t = lr (1 - b1) r / c1,                 eps_t = eps r,   c_i = 1 - b_i^t

    the same number as the textbook lines up to rounding, in ten passes over
    one flat array, each written into an existing buffer (a fresh 400 kB
    temporary costs page faults that double the step). On a GPU the ten passes
    are one fused kernel, and on NumPy with Numba installed one compiled loop
    (minifa.numba_kernels: the same operations per element, so the same bits;
    784-2048-1024-10 net, 2 cores, in training steps: 6.9 -> 2.3 ms). Without
    Numba, a model of at least ``PARALLEL_MIN`` parameters runs the passes on
    NumPy slice by slice (``CHUNK`` elements, small enough that all ten stay in
    cache), the slices shared among the step's threads: for the same net, on
    an earlier, slower machine, that took Adam from 19 to 16 ms a step. Each
    element sees the same operations either way, so the slices give the folded
    result to the bit.
    """
    b1, b2, t = opt.b1, opt.b2, opt.t
    c1, c2 = 1.0 - b1**t, 1.0 - b2**t
    r = math.sqrt(c2 / (1.0 - b2))
    k_t, eps_t = opt.lr * (1.0 - b1) * r / c1, opt.eps * r
    kernel = adam_kernel(opt.w)
    if kernel is not None:
        kernel(opt.g, b1, b2, k_t, eps_t, opt.w, opt.mu, opt.nu)
        return
    if opt.s is None:  # the passes' scratch, made when they first run
        opt.s = opt.xp.empty_like(opt.w)
    arrays = (opt.w, opt.g, opt.mu, opt.nu, opt.s)
    if opt.xp is numpy and opt.w.size >= PARALLEL_MIN and workers() > 1:
        sliced(adam_passes, arrays, b1, b2, k_t, eps_t)  # threads for NumPy's loops alone
    else:
        adam_passes(*arrays, b1, b2, k_t, eps_t)


def adam_kernel(w):
    """The fused Adam kernel for arrays like ``w``: CuPy's on a GPU, Numba's on
    NumPy where it is installed (minifa.numba_kernels), else None."""
    return backend_of(w).elementwise(
        "T g, T b1, T b2, T k, T eps", "T w, T mu, T nu",
        "mu = b1 * mu + g; nu = b2 * nu + g * g; w -= mu / (sqrt(nu) + eps) * k;",
        "minifa_adam")


def prepare_adam(opt):
    """Call the fused kernel once on empty slices, so that a Numba loop compiles
    (or loads from its cache) now and not in the first training step. CuPy
    returns at once on empty arrays and compiles at the first step, as before."""
    kernel = adam_kernel(opt.w)
    if kernel is not None:
        kernel(opt.g[:0], opt.b1, opt.b2, 0.0, opt.eps, opt.w[:0], opt.mu[:0], opt.nu[:0])


def adam_passes(w, g, mu, nu, s, b1, b2, k_t, eps_t):
    """The ten passes of ``adam_step`` on arrays (or slices of them)."""
    xp = backend_of(w).xp
    mu *= b1
    mu += g  # mu = b1 mu + g
    nu *= b2
    nu += xp.multiply(g, g, out=s)  # nu = b2 nu + g^2
    xp.sqrt(nu, out=s)
    s += eps_t
    xp.divide(mu, s, out=s)
    s *= k_t
    w -= s  # W -= k_t mu / (sqrt(nu) + eps_t)


# --------------------------------------------------------------------------- slices on threads

PARALLEL_MIN = 1 << 19
CHUNK = 1 << 17
_POOL = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.clear)  # a forked child has none of the threads


def sliced(passes, arrays, *args):
    """``passes(*arrays, *args)`` on consecutive slices of CHUNK elements, one
    share of the slices per worker (NumPy's elementwise loops release the GIL)."""
    slices = [slice(i, i + CHUNK) for i in range(0, arrays[0].size, CHUNK)]
    n = workers()
    errors = numpy.geterr()  # floating-point error handling is per thread: carry the caller's

    def run(share):
        with numpy.errstate(**errors):
            for sl in share:
                passes(*(a[sl] for a in arrays), *args)

    list(_pool().map(run, [slices[i::n] for i in range(n)]))  # re-raises a worker's error


def workers():
    """Threads for the slices: the BLAS threads of the step running now
    (minifa.threads chooses them from the load), at most the cores this process
    may run on, and at most 8."""
    cores = min(len(threads.cpus()), 8)
    return min(threads.current() or cores, cores)


def _pool():
    """One thread pool for every optimizer, made on first use."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(min(len(threads.cpus()), 8),
                                        thread_name_prefix="minifa-fast"))
    return _POOL[0]
